"""Translator sensitivity (beyond the paper): how much the model-level verdict depends on the translator.

Per (model, space) and translator ``variant`` — the CV-chosen ridge (``default``, the translator every other table
uses), the ridge refitted at α × f for each configured factor f (``alpha_x0.1``, ``alpha_x10``; refitted exactly
from the ridge's sufficient statistics :class:`sing.core.translator.RidgeStats`, no feature is re-extracted) and,
when the translator study ran, its best non-linear translator (``best_nonlinear``) — the null-removal scores
(AS, IS; :func:`sing.analysis.scores.score_images`) of the same images give median |AS|, median IS and both
readings of the IS/|AS| ratio (ratio of medians, median of per-image ratios; :mod:`sing.analysis.stats`).

Per space, variant and statistic, Kendall τ-b and Spearman ρ compare the ordering of the models under the variant
with their ordering under ``default`` (:func:`ordering_stability`; τ = 1: the same order). :func:`ordering_sentence`
turns an unstable ordering into the sentence the report's front page and the model-level caption print.

All angles in degrees; ratios unitless.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import polars as pl

from ..core.arrays import as_float64, check_positive
from .scores import score_images
from .stats import image_ratios, kendall_tau, nan_ratio, spearman

__all__ = [
    "DEFAULT_VARIANT", "SENSITIVITY_COLUMNS", "STABILITY_COLUMNS", "STATISTICS", "factor_variant", "ordering_sentence",
    "ordering_stability", "ridge_variants", "sensitivity_rows", "stability_sentences", "variant_label",
]

DEFAULT_VARIANT = "default"
#: the statistics whose model ordering is compared (higher = "leaks less" for the ratios)
STATISTICS = ("ratio", "image_ratio_median", "median_abs_as", "median_is")
#: one row per (model, space, variant) (``tables/translator_sensitivity.parquet``)
SENSITIVITY_COLUMNS = ("model", "space", "variant", "translator", "alpha", "alpha_factor", "n_images",
                       "median_abs_as", "median_is", "ratio", "image_ratio_median")
#: one row per (space, variant, statistic) against the default variant
STABILITY_COLUMNS = ("space", "variant", "statistic", "n_models", "kendall_tau", "kendall_p", "spearman_rho",
                     "spearman_p", "order_default", "order_variant", "stable")


def _factor_text(factor: float) -> str:
    return f"{factor:g}"


def factor_variant(factor: float) -> str:
    """Variant name of the ridge refitted at α × ``factor``: ``alpha_x0.1``, ``alpha_x10`` (``%g`` of the factor)."""
    return f"alpha_x{_factor_text(check_positive(factor, 'factor'))}"


def variant_label(variant: str, translator: str | None = None) -> str:
    """Reader's label of a variant: ``default`` → "the CV-chosen α", ``alpha_x10`` → "α×10",
    ``best_nonlinear`` → "the best non-linear translator (<translator>)"; anything else is returned as is."""
    if variant == DEFAULT_VARIANT:
        return "the CV-chosen α"
    if variant.startswith("alpha_x"):
        return f"α×{variant.removeprefix('alpha_x')}"
    if variant == "best_nonlinear":
        return "the best non-linear translator" + (f" ({translator})" if translator else "")
    return variant


def ridge_variants(stats: Any, alpha: float, factors: Sequence[float] = (0.1, 10.0)) -> dict[str, Any]:
    """Ridge translators refitted from ``stats`` (:class:`~sing.core.translator.RidgeStats` of the translator
    sample, all folds) at α × f for every factor f: ``{factor_variant(f): LinearTranslator}`` in ``factors`` order
    (``RidgeStats.solve``, exact; the statistics are the ridge's sufficient statistics, so this equals refitting on
    the stored features). ``alpha``: the CV-chosen penalty of the default translator. ValueError for a factor ≤ 0,
    a duplicated factor or ``f == 1`` (that is the default translator itself)."""
    alpha = check_positive(alpha, "alpha")
    out: dict[str, Any] = {}
    for f in factors:
        f = check_positive(f, "factors")
        if f == 1.0:
            raise ValueError("factors: 1 is the default translator; list only the other factors")
        name = factor_variant(f)
        if name in out:
            raise ValueError(f"factors: {f:g} is listed twice")
        t = stats.solve(alpha * f)
        t.metrics = {"alpha": alpha * f, "alpha_factor": f, "default_alpha": alpha}
        out[name] = t
    return out


def sensitivity_rows(F: Any, Z_text: Any, geometry: Any, variants: Mapping[str, Any], *, model: str, space: str,
                     descriptions: Mapping[str, str] | None = None) -> pl.DataFrame:
    """Null-removal statistics of the same images under each translator of ``variants`` (name → translator, e.g.
    ``{"default": T, **ridge_variants(...), "best_nonlinear": T_nl}``).

    F (N, m): classifier features of the analysed images (or a fixed subsample); Z_text (N, n) or (n,): the class
    prompt each image is scored against; geometry: :class:`~sing.core.geometry.HeadGeometry`. A non-linear
    translator translates f and f̃ separately (:mod:`sing.core.nonlinear`). Per variant: ``median_abs_as`` and
    ``median_is`` (degrees), ``ratio`` = median IS / median |AS| (NaN where median |AS| = 0, e.g. nullity 0),
    ``image_ratio_median`` = median over images of IS/|AS| (images with IS = |AS| = 0 left out, +inf counts as
    largest; NaN if none is left), ``alpha`` and ``alpha_factor`` (ridge variants; null otherwise) and
    ``translator`` (``descriptions[variant]`` or a description built from the translator). Rows in ``variants``
    order; columns :data:`SENSITIVITY_COLUMNS`.
    """
    if not variants:
        raise ValueError("variants: need at least one translator")
    F64 = as_float64(F, "F", ndim=2)
    Zt = as_float64(Z_text, "Z_text", ndim=(1, 2))
    rows = []
    for name, translator in variants.items():
        s = score_images(F64, Zt, geometry, translator)
        abs_as, is_deg = np.abs(s["as_deg"]), s["is_deg"]
        r = image_ratios(is_deg, abs_as)
        r = r[~np.isnan(r)]
        metrics = dict(getattr(translator, "metrics", None) or {})
        alpha = getattr(translator, "alpha", None)
        factor = metrics.get("alpha_factor", 1.0 if name == DEFAULT_VARIANT and alpha is not None else None)
        rows.append({"model": model, "space": space, "variant": str(name),
                     "translator": (descriptions or {}).get(name) or _describe(translator),
                     "alpha": None if alpha is None else float(alpha),
                     "alpha_factor": None if factor is None else float(factor), "n_images": int(F64.shape[0]),
                     "median_abs_as": float(np.median(abs_as)), "median_is": float(np.median(is_deg)),
                     "ratio": float(nan_ratio(np.median(is_deg), np.median(abs_as))),
                     "image_ratio_median": float(np.median(r)) if r.size else math.nan})
    return pl.DataFrame(rows, schema_overrides={"alpha": pl.Float64, "alpha_factor": pl.Float64,
                                                "n_images": pl.Int64}).select(SENSITIVITY_COLUMNS)


def _describe(translator: Any) -> str:
    arch = getattr(translator, "architecture", None)
    if arch is not None:
        return f"{arch}/{getattr(translator, 'loss', '?')}"
    alpha = getattr(translator, "alpha", None)
    return "ridge" if alpha is None else f"ridge α={alpha:g}"


def _order(models: Sequence[str], values: np.ndarray) -> str:
    """Models by decreasing value (ties and NaN: by name), joined by ' > '."""
    keyed = sorted(zip(models, values), key=lambda mv: (not np.isfinite(mv[1]), -mv[1] if np.isfinite(mv[1])
                                                        else 0.0, mv[0]))
    return " > ".join(m for m, v in keyed if np.isfinite(v))


def ordering_stability(table: pl.DataFrame, statistics: Sequence[str] = ("ratio", "image_ratio_median"),
                       default: str = DEFAULT_VARIANT) -> pl.DataFrame:
    """Per space, non-default variant and statistic: Kendall τ-b and Spearman ρ (two-sided p-values;
    :func:`sing.analysis.stats.kendall_tau` / :func:`~sing.analysis.stats.spearman`, the rules of
    ``scipy.stats.kendalltau`` / ``spearmanr``) between the models' values under the variant and under
    ``default``, over the models with a finite value in both (``n_models``); ``order_*``: the models by decreasing
    value; ``stable``: τ = 1 (identical order; null when fewer than 2 models). Rows sorted by (space, variant,
    statistic); columns :data:`STABILITY_COLUMNS`. ValueError for an unknown statistic or a space without the
    default variant."""
    for s in statistics:
        if s not in STATISTICS:
            raise ValueError(f"statistics: {s!r} is not one of {STATISTICS}")
    rows = []
    for space in sorted(table["space"].unique().to_list()):
        sub = table.filter(pl.col("space") == space)
        base = sub.filter(pl.col("variant") == default)
        if base.height == 0:
            raise ValueError(f"space {space!r}: no {default!r} variant to compare with")
        for variant in sorted(set(sub["variant"].to_list()) - {default}):
            var = sub.filter(pl.col("variant") == variant)
            joined = base.join(var, on="model", suffix="_v")
            models = joined["model"].to_list()
            for stat in statistics:
                x = joined[stat].to_numpy().astype(np.float64)
                y = joined[f"{stat}_v"].to_numpy().astype(np.float64)
                keep = np.isfinite(x) & np.isfinite(y)
                n = int(keep.sum())
                tau, tp = kendall_tau(x[keep], y[keep]) if n >= 2 else (math.nan, math.nan)
                rho, rp = spearman(x[keep], y[keep]) if n >= 2 else (math.nan, math.nan)
                kept = [m for m, k in zip(models, keep) if k]
                rows.append({"space": space, "variant": variant, "statistic": stat, "n_models": n,
                             "kendall_tau": tau, "kendall_p": tp, "spearman_rho": rho, "spearman_p": rp,
                             "order_default": _order(kept, x[keep]), "order_variant": _order(kept, y[keep]),
                             "stable": None if n < 2 or not math.isfinite(tau) else bool(tau >= 1.0 - 1e-12)})
    schema = {"n_models": pl.Int64, "kendall_tau": pl.Float64, "kendall_p": pl.Float64, "spearman_rho": pl.Float64,
              "spearman_p": pl.Float64, "stable": pl.Boolean}
    if not rows:
        return pl.DataFrame(schema={c: schema.get(c, pl.String) for c in STABILITY_COLUMNS})
    return pl.DataFrame(rows, schema_overrides=schema).select(STABILITY_COLUMNS).sort("space", "variant", "statistic")


def ordering_sentence(stability: pl.DataFrame, space: str, *, statistic: str = "ratio",
                      space_label: str | None = None, translators: Mapping[str, str] | None = None) -> str | None:
    """The sentence for the report's front page and the model-level caption when the model ordering of ``space``
    under ``statistic`` is not stable (some variant with τ < 1), else None. E.g. "The ordering of models in CLIP
    ViT-L/14 is not stable under the translator: Kendall τ = 0.33 at α×10 and τ = 0.67 with the best non-linear
    translator (mlp3/mse) (IS/|AS| ratio of medians, 5 models)."

    stability : :func:`ordering_stability` rows; space_label : the space's display name (default its key);
    translators : variant → description (for the best non-linear translator's name).
    """
    rows = stability.filter((pl.col("space") == space) & (pl.col("statistic") == statistic)
                            & (pl.col("stable") == False))  # noqa: E712  (null = undecidable, not unstable)
    if rows.height == 0:
        return None
    what = {"ratio": "IS/|AS| ratio of medians", "image_ratio_median": "median per-image IS/|AS| ratio",
            "median_abs_as": "median |AS|", "median_is": "median IS"}[statistic]
    parts = []
    for r in rows.sort("kendall_tau", "variant").iter_rows(named=True):
        label = variant_label(r["variant"], (translators or {}).get(r["variant"]))
        where = f"with {label}" if r["variant"] == "best_nonlinear" else f"at {label}"
        parts.append(f"τ = {r['kendall_tau']:.2f} {where}")
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    n = int(rows["n_models"].max())
    return (f"The ordering of models in {space_label or space} is not stable under the translator: Kendall "
            f"{listed} ({what}, {n} models).")


def stability_sentences(stability: pl.DataFrame, sensitivity: pl.DataFrame | None = None, *, statistic: str = "ratio",
                        space_display: Mapping[str, str] | None = None) -> dict[str, str]:
    """``{space: sentence}`` for every space whose model ordering is not stable under the translator
    (:func:`ordering_sentence`; stable spaces are left out): what the report's front page
    (``sing.analysis.headline.headline_sentences(stability=...)``, issue 20) and the model-level figures print.
    ``sensitivity`` (the :data:`SENSITIVITY_COLUMNS` rows): when given and every model of a space has the same best
    non-linear translator, the sentence names it. ``space_display``: space key → display name."""
    out = {}
    for space in sorted(stability["space"].unique().to_list()):
        names = None
        if sensitivity is not None:
            best = sensitivity.filter((pl.col("space") == space) & (pl.col("variant") == "best_nonlinear"))
            described = best["translator"].unique().to_list()
            names = {"best_nonlinear": described[0]} if len(described) == 1 else None
        sentence = ordering_sentence(stability, space, statistic=statistic,
                                     space_label=(space_display or {}).get(space), translators=names)
        if sentence:
            out[space] = sentence
    return out
