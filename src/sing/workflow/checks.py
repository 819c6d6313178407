"""Cross-reference checks of a config: what the schema cannot express. Every value that names a model, space or
class must name one the run has; each error names the key and the bad value.

A check is a function of the :class:`sing.workflow.plan.Plan` being built (its models, spaces, dataset classes
and class lists are resolved) that raises :class:`sing.workflow.config.ConfigError` (or ValueError) naming the
config key. :func:`check` registers it; :func:`run_checks` runs every registered check in the order of this
file, when the plan is built, before Snakemake plans any job. Adding a check: write one decorated function
here and a unit test in tests/test_workflow_plan.py (the error is then caught in milliseconds, without a
Snakemake run).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable

from ..io.paths import check_key, check_path
from ..models.prompts import check_template
from .config import ConfigError, config_error

if TYPE_CHECKING:
    from .plan import Plan

__all__ = ["CHECKS", "check", "run_checks"]

#: every check, in the order they run
CHECKS: list[Callable[["Plan"], None]] = []


def check(function: Callable[["Plan"], None]) -> Callable[["Plan"], None]:
    """Register ``function(plan)`` as a config check (decorator)."""
    CHECKS.append(function)
    return function


def run_checks(plan: "Plan") -> None:
    for function in CHECKS:
        function(plan)


def _require(key: str, wanted: Iterable[str], have: Iterable[str], what: str) -> None:
    have = set(have)
    missing = [w for w in wanted if w not in have]
    if missing:
        raise config_error(key, missing, f"not {what}")


@check
def model_and_space_keys(plan: "Plan") -> None:
    """Every model and space key of the config (run or not) can name result folders and be a wildcard value:
    letters, digits, ``_ . -`` (:func:`sing.io.paths.check_key` names the character)."""
    for what in ("models", "spaces"):
        for key in [*plan.config[what], *getattr(plan, what)]:
            try:
                check_key(key, f"config {what}")
            except ValueError as e:
                raise ConfigError(str(e)) from None


@check
def user_paths(plan: "Plan") -> None:
    """Every path the config gives (:meth:`Plan.data_paths`: results, weights, dataset, model and space files) can
    be written into the workflow's input and output patterns: no ``{`` or ``}`` (the error names the key, the
    character and why). What a container bind or command line cannot carry is checked when a run uses one
    (:func:`sing.io.paths.apptainer_environment`)."""
    for key, path in plan.data_paths().items():
        try:
            check_path(path, f"config {key}", uses=("pattern",))
        except ValueError as e:
            raise ConfigError(str(e)) from None


@check
def prompt_templates(plan: "Plan") -> None:
    """text.class_prompt / text.concept_prompt hold exactly one ``{}``."""
    for key in ("class_prompt", "concept_prompt"):
        check_template(plan.config["text"][key], f"text.{key}")


@check
def steering_source_class(plan: "Plan") -> None:
    """analyses.steering.source_class is a dataset class and an analysed one."""
    steering = plan.config["analyses"]["steering"]["source_class"]
    plan.dataset_classes(steering, "analyses.steering.source_class")
    _require("analyses.steering.source_class", [steering], plan.analysed, "an analysed class")


@check
def analysed_classes_have_prompts(plan: "Plan") -> None:
    """text.classes covers every analysed class."""
    _require("text.classes", plan.analysed, plan.text_classes, "covered (analysed classes need a prompt)")


@check
def unclip_space_and_class(plan: "Plan") -> None:
    """unclip.space is a run space, unclip.source_class an analysed class (when UnCLIP is enabled)."""
    unclip = plan.config["unclip"]
    if not unclip["enabled"]:
        return
    _require("unclip.space", [unclip["space"]], plan.spaces, "in run_spaces")
    plan.dataset_classes(unclip["source_class"], "unclip.source_class")
    _require("unclip.source_class", [unclip["source_class"]], plan.analysed, "an analysed class")


@check
def synthetic_dataset_classes(plan: "Plan") -> None:
    """On a synthetic dataset, every sampled class is one the generator makes."""
    synthetic = plan.dataset["synthetic"]
    if not synthetic:
        return
    sampled = {"classes": plan.analysed, "samples.translator.classes": plan.translator_classes,
               "samples.robustness.classes": plan.robustness_classes,
               "analyses.open_vocabulary.classes": plan.openvocab,
               "samples.translator_study.classes": plan.study_classes}
    for key, class_ids in sampled.items():
        _require(key, class_ids, synthetic["classes"], "in dataset.synthetic.classes")


@check
def head_sizes(plan: "Plan") -> None:
    """A head's declared class count equals the dataset's (models.<key>)."""
    n = len(plan.catalog.ids)
    for key in plan.models:
        declared = plan.declared_classes(key)
        if declared is not None and int(declared) != n:
            raise ValueError(f"config models.{key}: its head has {declared} outputs but the "
                             f"{plan.catalog.describe()} has {n} classes; the head must have one output per dataset "
                             "class")


@check
def synthetic_checkpoints(plan: "Plan") -> None:
    """synthetic_checkpoints names run models of source timm or python with a checkpoint path."""
    for key in plan.config["synthetic_checkpoints"]:
        entry = plan.models.get(key)
        if entry is None or not entry.checkpoint or entry.source not in ("timm", "python"):
            raise config_error("synthetic_checkpoints", key,
                               "must be a run model (run_models) of source timm or python with a checkpoint path")


@check
def model_files_exist(plan: "Plan") -> None:
    """The local files of every run model (checkpoint, head file, factory source file: :meth:`Plan.data_paths`)
    exist, relative to the working directory, except the checkpoints the workflow writes itself
    (synthetic_checkpoints). A missing one would otherwise surface as Snakemake's MissingInputException naming no
    config key."""
    import os

    made = {f"models.{key}.checkpoint" for key in plan.config["synthetic_checkpoints"]}
    for key, path in plan.data_paths().items():
        if key.startswith("models.") and key not in made and not os.path.exists(path):
            raise config_error(key, path, f"does not exist (seen from {os.getcwd()}); give the path of the file, "
                                          "absolute or relative to the folder Snakemake runs in")


@check
def robustness_classes_are_analysed(plan: "Plan") -> None:
    """samples.robustness.classes shares a class with the analysed classes (the probes are tested there)."""
    if not set(plan.analysed) & set(plan.robustness_classes):
        raise config_error("samples.robustness.classes", plan.robustness_classes,
                           "holds no analysed class (config classes): the probes are tested on the analysed images "
                           "of their classes")


@check
def no_space_named_principal(plan: "Plan") -> None:
    """No run space is called ``principal`` (the name of the robustness probe on Π_p f)."""
    if "principal" in plan.spaces:
        raise config_error("run_spaces", list(plan.spaces),
                           "has a space named 'principal', the name of the robustness probe on Π_p f")


@check
def open_vocabulary_concepts(plan: "Plan") -> None:
    """analyses.open_vocabulary.concepts gives a list for exactly the open-vocabulary classes."""
    plan.concepts  # noqa: B018  (resolving raises)


@check
def figure_models(plan: "Plan") -> None:
    """figures.paper_models names known models, each once."""
    plan.figure_models  # noqa: B018  (resolving raises, or warns)


@check
def synthetic_samples(plan: "Plan") -> None:
    """On a synthetic dataset, every sample's ``per_class`` is what the generator makes per class and split (the
    same check :class:`sing.workflow.machine.MachineChecks` runs on a real dataset's folders, from the
    generator's settings: nothing is read)."""
    synthetic = plan.dataset["synthetic"]
    if not synthetic:
        return
    from ..data.availability import check_samples, sample_requests

    requests = sample_requests(plan.config["samples"], {
        "translator": plan.translator_classes, "analysis": plan.analysed, "openvocab": plan.openvocab,
        "robustness": plan.robustness_classes})
    check_samples(plan.catalog, requests, synthetic=synthetic)


@check
def published_translators(plan: "Plan") -> None:
    """translator.published: model and space keys known (catalogue or config); for each pair of the run, the file
    exists and declares a linear translator whose out_dim is the space's dimension and whose metadata backend (if
    any) is the space's CLIP model — read without loading it (:func:`sing.io.published.read_translator_header`).
    The head width is checked by :meth:`Plan.check_published_heads` (needs the exported head) and by the job."""
    from ..io.published import TranslatorImportError, check_fit, read_translator_header
    from ..models.clip_configs import embed_dim
    from ..registry import SPACES

    published = plan.config["translator"]["published"]
    unknown = [m for m in published if m not in plan.known_model_keys]
    if unknown:
        raise config_error("translator.published", unknown, "not in the catalogue (sing.registry.MODELS) nor in "
                                                             "config models")
    known_spaces = {*SPACES, *plan.config["spaces"]}
    for model, by_space in published.items():
        unknown = [s for s in by_space or {} if s not in known_spaces]
        if unknown:
            raise config_error(f"translator.published.{model}", unknown,
                               "not in the catalogue (sing.registry.SPACES) nor in config spaces")
    if plan.published and plan.config["translator"]["use"] == "best_nonlinear":
        pairs = ", ".join(f"{m}/{s}" for m, s in plan.published)
        raise config_error("translator.use", "best_nonlinear", f"needs a translator study of every pair, but {pairs} "
                           "use a published translator (translator.published: no translator sample, no study); "
                           "use translator.use: linear with published translators")
    for (model, space), path in plan.published.items():
        key = f"translator.published.{model}.{space}"
        spec = plan.spaces[space].spec()
        try:
            header = read_translator_header(path)
            check_fit(header, model=model, space=space, space_dim=embed_dim(spec["model"]), space_entry=spec)
        except FileNotFoundError as e:
            raise config_error(key, path, f"does not exist ({e})") from None
        except TranslatorImportError as e:
            raise config_error(key, path, f"refused: {e}") from None


@check
def concept_dictionaries(plan: "Plan") -> None:
    """text.dictionaries: each entry's space is known; the dictionaries the analysis ranks
    (analyses.open_vocabulary.dictionaries) exist, and each file reads with its ``row`` and ``templates`` and has
    the dimension of its space (the fingerprint needs the text tower: the concept_dictionary job checks it)."""
    from ..registry import SPACES

    known_spaces = {*SPACES, *plan.config["spaces"]}
    for name, entry in plan.config["text"]["dictionaries"].items():
        if name == "builtin":
            raise config_error("text.dictionaries", name, "is the name of sing's own vocabulary (text.vocabulary); "
                                                          "choose another name")
        if entry["space"] not in known_spaces:
            raise config_error(f"text.dictionaries.{name}.space", entry["space"],
                               "not in the catalogue (sing.registry.SPACES) nor in config spaces")
    used = {name for names in plan.concept_dictionaries.values() for name in names}
    for name in sorted(used - {"builtin"}):
        _check_dictionary_file(plan, name)


def _check_dictionary_file(plan: "Plan", name: str) -> None:
    from ..data.dictionaries import check_dimension, read_dictionary
    from ..models.clip_configs import embed_dim

    entry = plan.dictionaries[name]
    key = f"text.dictionaries.{name}"
    try:
        dictionary = read_dictionary(entry["path"], name=name, row=entry["row"], templates=entry["templates"])
    except FileNotFoundError as e:
        raise config_error(f"{key}.path", entry["path"], f"does not exist ({e})") from None
    except ValueError as e:
        raise config_error(key, entry["path"], f"cannot be used: {e}") from None
    dim = embed_dim(plan.spaces[entry["space"]].spec()["model"])
    if dim is not None:
        try:
            check_dimension(dictionary, entry["space"], dim)
        except ValueError as e:
            raise config_error(f"{key}.space", entry["space"], f"does not fit: {e}") from None


@check
def translator_study_settings(plan: "Plan") -> None:
    """translator.use: best_nonlinear needs the study; a study trains a non-linear translator and stops early on
    a fold the translator's cross-validation has."""
    translator = plan.config["translator"]
    study = translator["study"]
    if translator["use"] == "best_nonlinear" and not study["enabled"]:
        raise config_error("translator.use", "best_nonlinear", "needs the translator study "
                           "(translator.study.enabled: true), which trains the non-linear translators")
    if not study["enabled"]:
        return
    if not [a for a in study["architectures"] if a != "linear"]:
        raise config_error("translator.study.architectures", study["architectures"],
                           "lists no non-linear architecture (mlp3, mlp4, residual): the study compares them with "
                           "the ridge and keeps the best")
    if study["stop_fold"] >= translator["folds"]:
        raise config_error("translator.study.stop_fold", study["stop_fold"],
                           f"must be below translator.folds ({translator['folds']})")
