"""Everything one job computes with: its settings, the content of its manifest and its only config param.

Convention (``schemas/config.schema.yaml``, walked by :mod:`sing.io.schema`): every leaf config key carries
either ``x-decides: [rule, rule(wildcard=value|value), ...]`` (the jobs that compute with its value) or
``x-cosmetic: <why>`` (it changes no output of any job); tests/test_reruns.py fails on an unannotated key and
on a selector naming an unknown rule or wildcard.

For every job, :meth:`JobSettings.__call__` (``settings(rule, wildcards)``) collects the keys that select it,
with the value that job computes with (:data:`RESOLVED`: a chunk's classes, the job's own model entry, ``all``
/ ``paper`` expanded), plus the weights lock entries of the models and spaces it depends on (``weights``).
The workflow passes the dict as the job's ``params.settings`` and writes it, with the hash of the code the
job runs (:mod:`sing.workflow.code`), into the job's manifest, rewritten only when its content changes: so
every ``--rerun-triggers`` choice reruns exactly the jobs whose settings or code changed.

Adding a key: annotate it in the schema; if a job computes with something other than its raw value (its
chunk's part of a list, a keyword expanded), add a :data:`RESOLVED` entry here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping

from ..io.schema import decided_by
from ..models.lock import locked_entry, read_lock
from ..unclip.pipeline import TINY_MODEL_ID

if TYPE_CHECKING:
    from .plan import Plan

__all__ = ["JobSettings", "RESOLVED", "RESOLVED_BY_STEP"]

Wildcards = Mapping[str, str]

#: rules whose outputs depend on no model (their settings carry no weights lock entries)
NO_WEIGHTS = {"synthetic_dataset", "synthetic_checkpoints", "dataset_classes", "prefetch_weights", "front_page"}
#: the collection of a registry-entry key (``models.<key>.seed``) -> the wildcard naming one of its entries
WILDCARD = {"models": "model", "spaces": "space"}


def _chunk(plan: "Plan", sample: str, w: Wildcards) -> list[str]:
    return plan.chunks[sample][int(w["chunk"])]


#: keys whose value for a job is not the raw config value: dotted key -> f(plan, wildcards)
RESOLVED: dict[str, Callable[["Plan", Wildcards], Any]] = {
    "classes": lambda p, w: _chunk(p, "analysis", w) if "chunk" in w else p.analysed,
    "analyses.open_vocabulary.classes": lambda p, w: _chunk(p, "openvocab", w) if "chunk" in w else p.openvocab,
    "analyses.open_vocabulary.concepts": lambda p, w: p.concepts,
    "samples.translator.classes": lambda p, w: p.translator_classes,
    "samples.translator_study.classes": lambda p, w: p.study_classes,
    "samples.robustness.classes": lambda p, w: (_chunk(p, "robustness", w) if "chunk" in w
                                                else p.robustness_classes),
    "text.classes": lambda p, w: p.text_classes,
    "run_models": lambda p, w: p.model_keys,
    "run_spaces": lambda p, w: p.space_keys,
    "figures.paper_models": lambda p, w: p.figure_models,
    "unclip.model_id": lambda p, w: p.config["unclip"]["model_id"] if p.config["unclip"]["enabled"] else None,
    "synthetic_checkpoints": lambda p, w: {key: p.models[key].spec() for key in p.config["synthetic_checkpoints"]},
    # an import job: its own pair's file; prefetch_weights: every run pair's (model -> space -> path)
    "translator.published": lambda p, w: (p.published[(w["model"], w["space"])] if "model" in w else
                                          {m: {s: path for (m2, s), path in p.published.items() if m2 == m}
                                           for m in dict.fromkeys(m for m, _ in p.published)}),
    # a concept_dictionary job: its own dictionary's entry (builtin: None, text.vocabulary decides it)
    "text.dictionaries": lambda p, w: None if w["dictionary"] == "builtin" else p.dictionaries[w["dictionary"]],
    "analyses.open_vocabulary.dictionaries": lambda p, w: p.concept_dictionaries[w["space"]],
}


def job_classes(plan: "Plan", step: str, w: Wildcards) -> list[str]:
    """The classes a job computes with: a chunk's, a sample's, or every class of the dataset."""
    if "chunk" in w:
        return _chunk(plan, w["sample"], w)
    if step == "embed_translator_images":
        return plan.translator_classes
    if step == "embed_study_images":
        return plan.study_classes
    if step == "embed_texts":
        return plan.openvocab if w["part"] == "concepts" else plan.text_classes
    if step == "aggregate_model":
        return plan.analysed
    if step == "figures" or step.startswith("table_preview"):
        return sorted({*plan.analysed, *plan.openvocab}, key=plan.catalog.index)
    return list(plan.catalog.ids)


def class_order(plan: "Plan", step: str, w: Wildcards):
    """dataset.class_index as a job computes with it: every class in order where a head is checked or written
    (its rows follow this order), else {class: index} of the job's classes (a class folder added before them in
    sorted order moves their indices: exactly those jobs rerun)."""
    if step in ("dataset_classes", "synthetic_checkpoints", "export_head") or step.startswith("extract_"):
        return list(plan.catalog.ids)
    return {c: plan.catalog.index(c) for c in job_classes(plan, step, w)}


def class_names(plan: "Plan", step: str, w: Wildcards):
    """dataset.class_names as a job computes with it: prompt names for the text embeddings, display names for
    the tables and figures that print them, both for classes.parquet."""
    column = {"embed_texts": 1, "dataset_classes": None}.get(step, 0)
    return {c: (list(plan.catalog.name(c)[:2]) if column is None else plan.catalog.name(c)[column])
            for c in job_classes(plan, step, w)}


#: keys whose value depends on the job's rule too: dotted key -> f(plan, rule, wildcards)
RESOLVED_BY_STEP: dict[str, Callable[["Plan", str, Wildcards], Any]] = {
    "dataset.class_index": class_order,
    "dataset.class_names": class_names,
}


def _put(tree: dict, path: tuple[str, ...], value: Any) -> None:
    for part in path[:-1]:
        tree = tree.setdefault(part, {})
    tree[path[-1]] = value


def _config_value(config: Mapping, path: tuple[str, ...]) -> Any:
    value: Any = config
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return value


class JobSettings:
    """``settings(rule, wildcards)`` -> the settings dict of that job (cached; callers must not mutate it).

    ``plan``: the run; the weights lock is read once from ``weights_dir`` when this is built.
    """

    def __init__(self, plan: "Plan"):
        self.plan = plan
        self.decided = decided_by(plan.schema)
        self.entries = {"models": plan.models, "spaces": plan.spaces}
        self.lock = read_lock(plan.config["weights_dir"])
        self._cache: dict[tuple, dict] = {}

    def __call__(self, step: str, wildcards: Wildcards) -> dict[str, Any]:
        w = dict(wildcards)
        cache_key = (step, tuple(w.items()))
        if cache_key in self._cache:
            return self._cache[cache_key]
        out: dict[str, Any] = {}
        for path, conditions in self.decided.get(step, []):
            if any(w.get(name) not in values for name, values in conditions.items()):
                continue
            dotted = ".".join(path)
            if path[1:2] == ("<key>",):
                for key in self._in_scope(w, WILDCARD[path[0]], self.entries[path[0]]):
                    entry = self.entries[path[0]][key]
                    fields = {**entry.spec(), "display": entry.display}
                    if path[2] in fields:
                        _put(out, (path[0], key, path[2]), fields[path[2]])
            elif dotted in RESOLVED:
                _put(out, path, RESOLVED[dotted](self.plan, w))
            elif dotted in RESOLVED_BY_STEP:
                _put(out, path, RESOLVED_BY_STEP[dotted](self.plan, step, w))
            else:
                _put(out, path, _config_value(self.plan.config, path))
        if step not in NO_WEIGHTS:
            out["weights"] = self._weights(step, w)
        self._cache[cache_key] = out
        return out

    @staticmethod
    def _in_scope(w: Wildcards, wildcard: str, keys) -> list[str]:
        """The models (or spaces) a job depends on: its own, or every one for a job over all of them."""
        if wildcard in w:
            return [w[wildcard]]
        return [] if "model" in w or "space" in w else list(keys)

    def _lock(self, collection: str, key: str):
        entry = self.entries[collection][key]
        if collection == "models" and key in self.plan.config["synthetic_checkpoints"]:
            return {"files": []}  # random weights the workflow writes itself: nothing to lock
        return locked_entry(self.lock, collection, key, entry.spec())

    def _unclip_lock(self) -> dict:
        model_id = self.plan.config["unclip"]["model_id"]
        if model_id == TINY_MODEL_ID:  # random weights, nothing to lock
            return {model_id: {"files": []}}
        return {model_id: locked_entry(self.lock, "unclip", model_id, {"model_id": model_id})}

    def _weights(self, step: str, w: Wildcards) -> dict[str, Any]:
        """Weights lock entries of what the job depends on (None: not locked yet; files []: random weights)."""
        models = self._in_scope(w, "model", self.plan.models)
        spaces = self._in_scope(w, "space", self.plan.spaces)
        out: dict[str, Any] = {}
        if step in ("unclip_pictures", "unclip_paper_figures"):
            spaces = [self.plan.config["unclip"]["space"]]
            out["unclip"] = self._unclip_lock()
        if step == "import_translator":
            key = f"{w['model']}/{w['space']}"
            spec = {"published": self.plan.published[(w["model"], w["space"])]}
            out["translators"] = {key: locked_entry(self.lock, "translators", key, spec)}
        if models:
            out["models"] = {key: self._lock("models", key) for key in models}
        if spaces:
            out["spaces"] = {key: self._lock("spaces", key) for key in spaces}
        return out
