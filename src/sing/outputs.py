"""Every table and figure the workflow writes, declared once: a :class:`TableSpec` per global table and a
:class:`FigureSpec` per figure.

Everything that must agree with these names is derived from them: the workflow's targets, the inputs and
outputs of the ``figures`` rule, the tables the ``collect_table`` rule may build (its wildcard constraint), the
tables the report embeds as previews only, the builder :func:`sing.figures.render.build` calls, the report
caption of each figure, and the outputs table of the README (``.ci/config_reference.py``). Tests check the
rest against them: one caption file per figure (``report/captions/<caption>``), one documented row per table in
``results/README.md``, a builder that resolves for every figure.

Read by the Snakefile at parse time, so it imports only the standard library and nothing from ``sing``: a
figure's builder is named by ``"module:function"`` and imported only when the figure is drawn.

Adding a table or a figure (CONTRIBUTING.md): append its spec to :data:`TABLES` / :data:`FIGURES` below.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Callable, Mapping

__all__ = ["FIGURES", "FIGURE_INPUT_FILES", "FigureSpec", "TABLES", "TableSpec", "collected_tables", "enabled",
           "figure", "figure_names", "figure_tables", "inline_markup", "per_image_tables", "table", "table_names"]

#: inputs of the ``figures`` rule that are not tables: name -> what they are (the rule provides each under this name)
FIGURE_INPUT_FILES = MappingProxyType({"geometries": "the head geometry file of every run model"})


def enabled(when: str, config: Mapping[str, Any] | None) -> bool:
    """Whether an output declared with ``when`` (a dotted config key, "" = always) exists under ``config`` (a
    resolved config, defaults filled; None = every output). KeyError naming the key when the config lacks it."""
    if not when or config is None:
        return True
    value: Any = config
    for part in when.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise KeyError(f"config has no key {when!r} (an output's `when`)")
        value = value[part]
    return bool(value)


@dataclass(frozen=True)
class TableSpec:
    """A global table, ``tables/<name>.parquet`` under the results folder.

    ``collected``: the table is the concatenation of one part per (model, space),
    ``tables/per_model/<model>/<space>/<name>.parquet``, written by the analysis's own rule; the workflow's
    ``collect_table`` rule joins them (sorted by their key columns). Otherwise one rule writes the whole table
    (``compare_models`` for the model-level summaries).
    ``per_image``: one row per analysed image at full scale (tens of MB): the report attaches its HTML preview
    only, not the parquet (benchmarks/report_size.py).
    ``rows`` / ``summary``: what one row is and, in a line, what it holds (the README's outputs table);
    ``columns``: every column with its unit (results/README.md "Scores and tables"). Markdown; both tables are
    generated from here by ``.ci/config_reference.py``.
    ``when``: a dotted boolean config key; the table exists only when it is true (e.g. the translator study's
    tables: ``translator.study.enabled``); "" = always.
    ``fitted_only``: rows exist only for the translators sing fits (a ``translator.published`` pair has no
    translator-sample statistics, no cross-validated α and no study); with no fitted pair the table is not made.
    """

    name: str
    rows: str
    summary: str
    columns: str
    collected: bool = False
    per_image: bool = False
    when: str = ""
    fitted_only: bool = False

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"table name {self.name!r}: must be an identifier (it is a file stem and a wildcard)")


@dataclass(frozen=True)
class FigureSpec:
    """A figure: ``figures/<name>.<fmt>`` for each of ``figures.formats``, plus ``figures/<name>.data.parquet``
    (the exact data it plots), drawn by the ``figures`` rule.

    ``builder``: ``"module:function"``; called as ``function(*tables, *files, settings, **options)`` with the
    polars frames of ``tables`` (in order), then the path lists of ``files`` (names of
    :data:`FIGURE_INPUT_FILES`), then the figure settings dict; returns ``(altair chart, plotted data frame)``.
    ``caption``: the report caption, a reStructuredText file under ``report/captions/`` (default
    ``<name>.rst``). ``paper``: the paper figure or table it reproduces ("" when it goes beyond the paper).
    ``title``: what a reader calls it, plain text (the report's figure rows and the front page's links:
    :attr:`heading` prefixes the paper figure). ``when``: as :attr:`TableSpec.when` (a figure reading a
    conditional table must share its ``when``).
    """

    name: str
    builder: str
    tables: tuple[str, ...]
    summary: str
    paper: str = ""
    files: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    caption: str = ""
    title: str = ""
    when: str = ""

    def __post_init__(self) -> None:
        if not self.name.isidentifier():
            raise ValueError(f"figure name {self.name!r}: must be an identifier")
        module, sep, function = self.builder.partition(":")
        if not (sep and module and function.isidentifier()):
            raise ValueError(f"figure {self.name}: builder {self.builder!r} is not 'module:function'")
        unknown = [f for f in self.files if f not in FIGURE_INPUT_FILES]
        if unknown:
            raise ValueError(f"figure {self.name}: unknown input files {unknown} (known: {list(FIGURE_INPUT_FILES)})")
        object.__setattr__(self, "tables", tuple(self.tables))
        object.__setattr__(self, "files", tuple(self.files))
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))
        object.__setattr__(self, "caption", self.caption or f"{self.name}.rst")
        object.__setattr__(self, "title", self.title or self.name.replace("_", " ").capitalize())

    @property
    def heading(self) -> str:
        """The title with the paper figure first: "Fig. 3a — |AS| and IS per image, paper models"."""
        return f"{self.paper} — {self.title}" if self.paper else self.title

    def load(self) -> Callable[..., Any]:
        """The builder function (imports its module)."""
        module, _, function = self.builder.partition(":")
        return getattr(importlib.import_module(module), function)


#: every global table, in the order the workflow lists its targets
TABLES: tuple[TableSpec, ...] = (
    TableSpec(
        "model_summary", "model × space",
        summary=("rank, nullity, rank threshold used, AS/IS medians, IS/\\|AS\\| ratio (ratio of medians and median of "
                 "per-image ratios, each with a bootstrap CI), (\\|AS\\|, IS) covariance, translator fit"),
        columns=("`rank`, `nullity`, `in_dim`, `sv_max`, `sv_min_nonzero`, `sv_rank_gap`, `rank_threshold` (the σ "
                 "threshold actually used: max(`head.atol`, `head.rtol` · σ_max), 1e-5 by default), `n_images`, "
                 "`n_classes`; `as_median/mean/iqr`, `abs_as_median/mean/q05/q25/q75/q95`, "
                 '`is_median/mean/iqr/q25/q75`; both readings of the paper\'s "median ratio", each with a bootstrap CI '
                 "over the same resamples (unit `bootstrap_unit`): `ratio` = median IS / median \\|AS\\| (ratio of "
                 "medians; what the figures plot) with `ratio_ci_low/high`, and `image_ratio_median` = median over "
                 "images of IS / \\|AS\\| with `image_ratio_ci_low/high`; `abs_as_var`, `is_var`, `abs_as_is_cov` (the "
                 "covariance of the Fig. 3a ellipses); translator `alpha`, held-out `r2`, `cosine_mean` and "
                 '`translator_flags` (comma-separated, "" when none: `low_r2` = held-out R² below '
                 "`translator.min_heldout_r2`, `alpha_at_edge` = the chosen α is the smallest or largest of "
                 "`translator.alphas`, `few_samples` = fewer translator images than `translator.min_samples_per_dim` "
                 "× the feature dimension; each is also a warning in the `aggregate_model` log and on the report's "
                 "front page); `accuracy`; `max_logit_change_rel`; `null_ratio_median`; leakage baseline "
                 "`baseline_abs_as_mean`, `baseline_is_mean`, `as_z`, `is_z`; `random_weights` (true when the "
                 "classifier or the CLIP space has random weights: a code-path check, never a finding)"),
    ),
    TableSpec(
        "class_summary", "model × space × class",
        summary=("per-class AS/IS statistics, leakage z-scores vs random subspaces"),
        columns=("`class_id`, `class_index`, `class_name` (`classes.parquet` `name`), `n`, the same statistics per "
                 "class, `accuracy`, and the leakage z-scores `as_z`, `is_z` (null-space \\|AS\\| / IS against random "
                 "subspaces of the same dimension)"),
    ),
    TableSpec(
        "rank_correlation", "space × pair of models",
        summary=("Spearman ρ (p) of per-class \\|AS\\| rankings"),
        columns=("`model_a`, `model_b`, `n_classes`, `spearman_rho`, `spearman_p` of per-class median \\|AS\\|"),
    ),
    TableSpec(
        "space_crosscheck", "model set × pair of spaces × model",
        summary=("IS/AS ratio in both CLIP spaces; Kendall τ / Spearman ρ of the orderings, over the paper models "
                 "and over every run model"),
        columns=("`models` (`paper`: the models of `figures.paper_models` that ran, the paper's 5 by default; `all`: "
                 "every run model; the correlations are over that set), `space_a`, `space_b`, `ratio_a`, `ratio_b`, "
                 "`rank_a`, `rank_b`, `n_models`, `kendall_tau`, `kendall_p`, `spearman_rho`, `spearman_p` (EVA02 "
                 "cross-check, paper Fig. 12a)"),
    ),
    TableSpec(
        "steering", "model × space × calibration × image",
        summary=("text-gradient null steering to IS = 40°: one step per model (mean IS, paper Table 1) and one per "
                 "image"),
        columns=("`calibration` (`mean_is`: one step per model, mean IS = 40°; `per_image`: each image at IS = 40°), "
                 "`eps` (step length in feature space), `is_deg`, `as_deg` / `abs_as` toward the target prompt, "
                 "`included` (counted in Table 1), `reason` (`ok`, `no_direction`, `unreachable`, `no_null_space`); "
                 "paper Table 1 = `figures/steering.data.parquet` (the calibration of `analyses.steering.calibration`:"
                 " mean ± std of \\|AS\\| and IS, counts, the step)"),
        collected=True,
    ),
    TableSpec(
        "validation", "model × space × image × kind × seed",
        summary=("logit change and CLIP drift of null removal and of equal-norm null / random / principal steps on "
                 "held-out images"),
        columns=("held-out analysis images (val; those in the translator sample are left out): `kind` "
                 "(`null_removal`: δ = −Π_n f, the paper's null perturbation, one row per image, `seed` null; `null`: "
                 "a random direction inside the null space; `random`: an isotropic random direction; `principal`: the "
                 "predicted class's head row; all of norm ‖Π_n f‖), `norm` (= ‖Π_n f‖), `logit_change`, "
                 "`logit_change_rel`, `clip_drift_deg` (paper supp. §2, Fig. 9; for `null_removal` it equals the IS "
                 "of the image)"),
        collected=True, per_image=True,
    ),
    TableSpec(
        "robustness", "model × space",
        summary=("held-out accuracy of probes trained on 500k images of Π_p f vs T(Π_p f); Pearson r across models"),
        columns=("`acc_principal` (probe on the principal coordinates V_pᵀ f ≅ Π_p f), `acc_translated` (probe on "
                 "T(Π_p f)), both on the held-out analysis images; `train_acc_principal`, `train_acc_translated`, "
                 "`n_train` (robustness-sample images), `n_test`, `n_test_excluded` (analysis images seen in training "
                 "or of a class the probes do not know), `n_classes`, `l2_principal`, `l2_translated` (the penalty "
                 "each probe chose on its held-out training images), `converged` (both probes reached the gradient "
                 "tolerance), `pearson_r`, `pearson_p`, `n_models` across models per space (paper Fig. 12c). Per "
                 "model: `tables/per_model/{model}/robustness.parquet`"),
    ),
    TableSpec(
        "open_vocabulary", "model × space × class × concept",
        summary=("angles before/after null removal, AS"),
        columns=("`class_id`, `kind` (`class` prompt or `concept`), `concept`, `angle_orig_mean`, `angle_eq_mean`, "
                 "`as_mean`, `as_std`, `abs_as_mean`, `n` (paper Fig. 5)"),
        collected=True,
    ),
    TableSpec(
        "translator_eval", "model × space × image",
        summary=("held-out cosine and error of the translator on val images"),
        columns=("held-out check on the analysis sample: `translator` (`fitted`, or `published`: "
                 "translator.published), `class_id`, `cosine` (T f vs real CLIP z), `squared_error`, `target_sq_norm` "
                 "(R² = 1 − Σ squared_error / Σ ‖z − z̄‖²)"),
        collected=True, per_image=True,
    ),
    TableSpec(
        "joint_sample", "model × space × image (subsample)",
        summary=("a bounded subsample of (\\|AS\\|, IS) pairs: the point clouds of Fig. 3a"),
        columns=("`image_id`, `class_id`, `class_index`, `abs_as`, `is_deg`: at most `analyses.joint_points` images "
                 "per (model, space), drawn uniformly (the Fig. 3a point clouds)"),
        collected=True,
    ),
    TableSpec(
        "class_concepts", "model × space × dictionary × class × concept (its top)",
        summary=("each analysed class's concepts ranked by \\|AS\\| of null removal, over concept dictionaries"),
        columns=("`dictionary` (`builtin`: sing's vocabulary; or a `text.dictionaries` name), `class_id`, `rank` (1 = "
                 "largest mean \\|AS\\|; the first `analyses.open_vocabulary.top` per class), `concept`, `as_mean`, "
                 "`as_std`, `abs_as_mean`, `angle_orig_mean`, `angle_eq_mean` (°), `n` (images); AS < 0: the null "
                 "component carried the concept"),
        collected=True,
    ),
    TableSpec(
        "model_concepts", "model × space × dictionary × concept",
        summary=("per model, the concepts whose \\|AS\\| is largest across its analysed classes"),
        columns=("`dictionary`, `rank`, `concept`, `abs_as_mean` (mean over classes of the class's mean \\|AS\\|, each "
                 "class weighs the same), `abs_as_max` and `class_of_max`, `as_mean` (signed), `n_top` (classes where "
                 "it ranks within `analyses.open_vocabulary.top`), `n_classes`"),
        collected=True,
    ),
    TableSpec(
        "translator_sensitivity", "model × space × translator variant",
        summary=("median \\|AS\\|, median IS and both ratio readings under the CV-chosen ridge, the ridge at α × "
                 "`translator.sensitivity.factors` and the study's best non-linear translator (beyond the paper)"),
        columns=("`variant` (`default`: the CV-chosen ridge every other table uses; `alpha_x<f>`: the ridge refitted "
                 "exactly at α × f from its sufficient statistics; `best_nonlinear`: the translator study's best "
                 "non-linear translator by `translator.study.select_by`, f and f̃ translated separately), `translator` "
                 "(its description), `alpha`, `alpha_factor`, `n_images` (every analysed image, or a fixed subsample "
                 "of `translator.sensitivity.max_images`), `median_abs_as`, `median_is` (°), `ratio` (median IS / "
                 "median \\|AS\\|), `image_ratio_median` (median of per-image IS / \\|AS\\|)"),
        collected=True, fitted_only=True,
    ),
    TableSpec(
        "translator_stability", "space × translator variant × statistic",
        summary=("Kendall τ / Spearman ρ of the model ordering under each translator variant against the default "
                 "translator; `stable` = τ = 1"),
        columns=("`variant`, `statistic` (`ratio`, `image_ratio_median`), `n_models`, `kendall_tau`, `kendall_p`, "
                 "`spearman_rho`, `spearman_p` (scipy's τ-b and ρ rules), `order_default`, `order_variant` (the models "
                 "by decreasing statistic), `stable` (τ = 1; null with fewer than 2 models)"), fitted_only=True,
    ),
    TableSpec(
        "translator_study", "model × space × architecture × loss",
        summary=("the translator study (supp. Table 2): ridge and 3 MLP architectures × 3 losses, held-out mse, "
                 "cosine, R²"),
        columns=("`architecture` (`linear`, `mlp3`, `mlp4`, `residual`), `loss` (`mse`, `cosine`, `mse_cosine`), "
                 "`method` (`ridge`: the closed-form ridge at the production translator's CV-chosen α; `adamw`), "
                 "`hidden_dim`, `n_params`, `alpha`, `n_train` / `n_stop` (translator-sample images trained on / used "
                 "for early stopping), `n_eval`, `n_eval_classes` (held-out study images), `epochs_run`, `best_epoch`, "
                 "`mse` (per coordinate), `sq_error_mean` (per image, eq. 14), `r2`, `cosine_mean`, `cosine_median`, "
                 "`cosine_q05/q25/q75/q95`, `cosine_min`, `wall_s` (the only non-deterministic column), `device`, "
                 "`rank_mse`, `rank_cosine` (1 = best within the model and space)"),
        collected=True, when="translator.study.enabled", fitted_only=True,
    ),
    TableSpec(
        "translator_curves", "model × space × architecture × loss × epoch",
        summary=("training curves of the gradient-trained translators (supp. Fig. 7)"),
        columns=("`epoch` (0 = before training), `train_loss`, `train_mse`, `train_cosine_mean`, `stop_loss`, "
                 "`stop_mse`, `stop_cosine_mean` (on the early-stopping images)"),
        collected=True, when="translator.study.enabled", fitted_only=True,
    ),
    TableSpec(
        "translator_cosines", "model × space × architecture × loss × held-out image",
        summary=("per-image cosine between the translated feature and the real CLIP embedding (supp. Fig. 8)"),
        columns=("`image_id`, `class_id`, `cosine` (T f vs the image's CLIP embedding, held-out study images)"),
        collected=True, per_image=True, when="translator.study.enabled", fitted_only=True,
    ),
)

#: every figure the ``figures`` rule draws, in the order the workflow lists its outputs
FIGURES: tuple[FigureSpec, ...] = (
    FigureSpec("ratio_scatter", "sing.figures.ratios:ratio_scatter", ("model_summary", "joint_sample"),
               "joint (\\|AS\\|, IS) distribution of the paper models with covariance ellipses", "Fig. 3a",
               title="|AS| and IS per image, paper models",
               options={"subset": True}),
    FigureSpec("ratio_scatter_all", "sing.figures.ratios:ratio_scatter", ("model_summary", "joint_sample"),
               "the same over every run model", "Fig. 3a (all models)", options={"subset": False},
               title="|AS| and IS per image, every model"),
    FigureSpec("ratio_bars", "sing.figures.ratios:ratio_bars", ("model_summary",),
               "IS/\\|AS\\| ratio of the paper models with bootstrap CIs", "Fig. 3b", options={"subset": True},
               title="IS/|AS| ratio, paper models"),
    FigureSpec("ratio_bars_all", "sing.figures.ratios:ratio_bars", ("model_summary",),
               "the same over every run model", "supp. Fig. 12b", options={"subset": False},
               title="IS/|AS| ratio, every model"),
    FigureSpec("class_violins", "sing.figures.classes:class_violins", ("class_summary",),
               "per-class \\|AS\\| of the most and least leaking classes", "Fig. 4, supp. Fig. 14",
               title="|AS| per class"),
    FigureSpec("open_vocabulary", "sing.figures.experiments:open_vocabulary", ("open_vocabulary",),
               "concept angles before and after null removal", "Fig. 5",
               title="Open-vocabulary concepts before and after null removal"),
    FigureSpec("model_concepts", "sing.figures.experiments:model_concepts", ("model_concepts",),
               "per model, the dictionary concepts with the largest \\|AS\\| across classes",
               title="The concepts each model's null space carries most"),
    FigureSpec("validation", "sing.figures.experiments:validation", ("validation",),
               "logit change and CLIP drift of null removal and of null / random / principal perturbations",
               "supp. Fig. 9", title="Null-space validation: logit change and CLIP drift"),
    FigureSpec("space_crosscheck", "sing.figures.ratios:space_crosscheck", ("space_crosscheck",),
               "the ratio of the paper models in two CLIP spaces", "supp. Fig. 12a", options={"subset": True},
               title="The ratio in two CLIP spaces, paper models"),
    FigureSpec("space_crosscheck_all", "sing.figures.ratios:space_crosscheck", ("space_crosscheck",),
               "the same over every run model", "supp. Fig. 12a (all models)", options={"subset": False},
               title="The ratio in two CLIP spaces, every model"),
    FigureSpec("robustness", "sing.figures.ratios:robustness", ("robustness",),
               "probe accuracy on Π_p f vs its translation", "supp. Fig. 12c",
               title="Translator robustness: probe accuracy on Π_p f and T(Π_p f)"),
    FigureSpec("spectra", "sing.figures.spectra:spectra_of_files", (),
               "singular-value spectra of the heads with their rank thresholds", files=("geometries",),
               title="Singular-value spectra of the heads"),
    FigureSpec("leakage_heatmap", "sing.figures.classes:leakage_heatmap", ("class_summary",),
               "leakage z-scores against random subspaces of the null-space dimension",
               title="Leakage against random subspaces of the null-space dimension"),
    FigureSpec("steering", "sing.figures.experiments:steering", ("steering",),
               "null-space steering toward a target prompt", "Table 1",
               title="Null-space steering toward a target prompt"),
    FigureSpec("translator_sensitivity", "sing.figures.translators:translator_sensitivity",
               ("translator_sensitivity", "translator_stability"),
               "each model's IS/\\|AS\\| ratio under other translators, with Kendall τ of the model ordering",
               title="How much the translator moves the ratio and the model ordering"),
    FigureSpec("translator_study", "sing.figures.translators:translator_study", ("translator_study",),
               "held-out cosine and mse of linear and non-linear translators", "supp. Table 2",
               when="translator.study.enabled", title="Translator study: linear and non-linear translators"),
    FigureSpec("translator_curves", "sing.figures.translators:training_curves", ("translator_curves",),
               "training curves of the non-linear translators", "supp. Fig. 7", when="translator.study.enabled",
               title="Training curves of the non-linear translators"),
    FigureSpec("translator_cosines", "sing.figures.translators:cosine_histograms", ("translator_cosines",),
               "histograms of the per-image cosine between translated and real CLIP embeddings", "supp. Fig. 8",
               when="translator.study.enabled", title="Per-image cosine of translated and real CLIP embeddings"),
)


def inline_markup(text: str, to: str) -> str:
    """A spec's Markdown (`` `code` ``, ``\\|`` escapes for Markdown tables) as reStructuredText (``to="rst"``:
    the report captions) or HTML (``to="html"``: the table previews; the text is escaped)."""
    import html
    import re

    if to == "rst":
        return re.sub(r"`([^`]+)`", r"``\1``", text)
    if to == "html":
        return re.sub(r"`([^`]+)`", r"<code>\1</code>", html.escape(text.replace("\\|", "|"), quote=False))
    raise ValueError(f"inline_markup: to must be 'rst' or 'html', not {to!r}")


def _by_name(specs, what):
    out = {spec.name: spec for spec in specs}
    if len(out) != len(specs):
        raise ValueError(f"{what}: duplicate names in {[s.name for s in specs]}")
    return out


_TABLES = _by_name(TABLES, "sing.outputs.TABLES")
_FIGURES = _by_name(FIGURES, "sing.outputs.FIGURES")
for _spec in FIGURES:
    _missing = [t for t in _spec.tables if t not in _TABLES]
    if _missing:
        raise ValueError(f"figure {_spec.name}: reads unknown tables {_missing} (declare them in sing.outputs.TABLES)")
    _conditional = [t for t in _spec.tables if _TABLES[t].when not in ("", _spec.when)]
    if _conditional:
        raise ValueError(f"figure {_spec.name}: reads tables {_conditional} that exist only when "
                         f"{_TABLES[_conditional[0]].when!r}; declare the figure with the same `when`")


def table(name: str) -> TableSpec:
    """The spec of table ``name``; ValueError listing the known tables."""
    if name not in _TABLES:
        raise ValueError(f"table: unknown table {name!r} (known: {', '.join(_TABLES)})")
    return _TABLES[name]


def figure(name: str) -> FigureSpec:
    """The spec of figure ``name``; ValueError listing the known figures."""
    if name not in _FIGURES:
        raise ValueError(f"figure: unknown figure {name!r} (known: {', '.join(_FIGURES)})")
    return _FIGURES[name]


def table_names(config: Mapping[str, Any] | None = None, *, fitted: bool = True) -> list[str]:
    """Every global table's name, in declaration order; with ``config``, only those it produces (``when``);
    ``fitted=False`` (no translator of the run is fitted by sing: all are ``translator.published``) leaves out
    the ``fitted_only`` tables."""
    return [t.name for t in TABLES if enabled(t.when, config) and (fitted or not t.fitted_only)]


def figure_names(config: Mapping[str, Any] | None = None, *, fitted: bool = True) -> list[str]:
    """Every figure's name, in declaration order; with ``config``, only those it produces (``when``, and every
    table it reads made: :func:`table_names` with ``fitted``)."""
    made = set(table_names(config, fitted=fitted))
    return [f.name for f in FIGURES if enabled(f.when, config) and made.issuperset(f.tables)]


def collected_tables() -> list[str]:
    """The tables the ``collect_table`` rule joins from per-(model, space) parts."""
    return [t.name for t in TABLES if t.collected]


def per_image_tables() -> list[str]:
    """The tables the report attaches as previews only."""
    return [t.name for t in TABLES if t.per_image]


def figure_tables(config: Mapping[str, Any] | None = None, *, fitted: bool = True) -> list[str]:
    """The tables the figures read (those of :func:`figure_names` of ``config`` and ``fitted``), each once, in
    table declaration order."""
    used = {t for name in figure_names(config, fitted=fitted) for t in figure(name).tables}
    return [t for t in _TABLES if t in used]
