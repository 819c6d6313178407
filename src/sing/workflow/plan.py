"""What a run computes, resolved from a validated config before any job: the models and spaces, the dataset's
classes, the class lists of each sample and their chunks, the figure models, the open-vocabulary concepts.

:class:`Plan` is built once per workflow invocation (rules/common.smk) and by the tests directly. Building it
runs every cross-reference check of :mod:`sing.workflow.checks`, so a config that names a model, space or class
the run does not have fails here, naming the key and the bad value, before Snakemake plans a single job.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Any, Mapping

from ..analysis.concepts import default_concepts
from ..data.classes import ClassCatalog, catalog_from_settings
from ..registry import ModelEntry, SpaceEntry, resolve_figure_models, resolve_models, resolve_spaces
from .config import config_error, schema_default

__all__ = ["Plan", "SAMPLES", "check_replaced"]

#: the samples whose classes are processed in chunks (the ``{sample}`` wildcard)
SAMPLES = ("analysis", "openvocab", "robustness")


class Plan:
    """The resolved run of one config (already validated by :func:`sing.workflow.config.resolve_config`).

    Attributes: ``config``, ``schema``; ``models`` / ``spaces`` (key -> :class:`sing.registry.ModelEntry` /
    :class:`~sing.registry.SpaceEntry`, in ``run_models`` / ``run_spaces`` order); ``catalog`` (the dataset's
    :class:`sing.data.classes.ClassCatalog`); the class lists, each in the dataset's order: ``analysed``
    (``classes``), ``openvocab``, ``translator_classes``, ``text_classes``, ``robustness_classes``,
    ``study_classes`` (the translator study's; empty when it does not run); ``chunks``
    (sample -> chunk number -> its classes); ``figure_models``; ``published`` ((model, space) -> path of a
    published translator, run pairs only) and ``fitted`` (the other run pairs, in run order); ``dictionaries``
    (name -> resolved ``text.dictionaries`` entry, plus ``builtin``) and ``concept_dictionaries`` (space -> the
    names the open-vocabulary analysis ranks there); ``warnings`` (messages for the user that do not stop the
    run). Raises :class:`sing.workflow.config.ConfigError` (a ValueError) naming the config key.
    """

    def __init__(self, config: Mapping[str, Any], schema: Mapping[str, Any]):
        from .checks import run_checks

        self.config, self.schema = config, schema
        self.warnings: list[str] = []
        # errors name run_models / models.<key>, then dataset.<key>, then each class key, in this order
        self.models: dict[str, ModelEntry] = resolve_models(config["run_models"], config["models"])
        self.spaces: dict[str, SpaceEntry] = resolve_spaces(config["run_spaces"], config["spaces"])
        self.dataset = config["dataset"]
        self.catalog: ClassCatalog = catalog_from_settings(self.dataset, config["chunk_size"])
        self.analysed = self.dataset_classes(config["classes"], "classes")
        self.openvocab = self.dataset_classes(config["analyses"]["open_vocabulary"]["classes"],
                                              "analyses.open_vocabulary.classes")
        self.translator_classes = self.dataset_classes(config["samples"]["translator"]["classes"],
                                                       "samples.translator.classes")
        self.text_classes = self.dataset_classes(config["text"]["classes"], "text.classes")
        self.robustness_classes = self.dataset_classes(config["samples"]["robustness"]["classes"],
                                                       "samples.robustness.classes")
        published = config["translator"]["published"]
        self.published: dict[tuple[str, str], str] = {
            (model, space): str(published[model][space])
            for model in self.models for space in self.spaces if space in (published.get(model) or {})}
        self.fitted: list[tuple[str, str]] = [(m, s) for m in self.models for s in self.spaces
                                              if (m, s) not in self.published]
        # the translator study's held-out classes: checked only when the study runs
        self.study_classes = (self.dataset_classes(config["samples"]["translator_study"]["classes"],
                                                   "samples.translator_study.classes",
                                                   alternative="or turn the study off: translator.study.enabled: false")
                              if self.study_enabled else [])
        run_checks(self)
        self.chunks: dict[str, dict[int, list[str]]] = {
            "analysis": self.catalog.group_by_chunk(self.analysed),
            "openvocab": self.catalog.group_by_chunk(self.openvocab),
            "robustness": self.catalog.group_by_chunk(self.robustness_classes),
        }

    # ------------------------------------------------------------------------------------------ run keys
    @property
    def study_enabled(self) -> bool:
        """Whether the translator study runs (``translator.study.enabled``)."""
        return bool(self.config["translator"]["study"]["enabled"])

    @property
    def model_keys(self) -> list[str]:
        return list(self.models)

    @property
    def space_keys(self) -> list[str]:
        return list(self.spaces)

    @property
    def known_model_keys(self) -> set[str]:
        """Keys of the catalogue and of the config's ``models`` (run or not)."""
        from ..registry import MODELS

        return {*MODELS, *self.config["models"]}

    # ------------------------------------------------------------------------------------------ classes
    def dataset_classes(self, value, key: str, alternative: str = "") -> list[str]:
        """``value`` (a class id, a list or ``all``) checked against the dataset, in the dataset's order: the
        error names ``key``, and says so when a folder dataset still has the paper's ImageNet default there (with
        ``alternative``, another way out, e.g. the setting that turns the step off)."""
        try:
            return self.catalog.select([value] if isinstance(value, str) and value != "all" else value,
                                       what=f"config {key}")
        except ValueError as e:
            if self.catalog.kind != "imagenet" and value == schema_default(self.schema, key):
                fix = f"set {key} to its own classes" + (f", {alternative}" if alternative else "")
                raise ValueError(f"{e}. {value!r} is the paper's ImageNet default; on a {self.catalog.describe()} "
                                 f"{fix}") from None
            raise

    def chunk_ids(self, sample: str) -> list[str]:
        """The chunk ids (``000``, ``001``, ...) holding the classes of ``sample``."""
        return [f"{chunk:03d}" for chunk in self.chunks[sample]]

    def chunk_holding(self, class_id: str) -> str:
        """The id of the analysis chunk holding an analysed class; ValueError otherwise."""
        for chunk, class_ids in self.chunks["analysis"].items():
            if class_id in class_ids:
                return f"{chunk:03d}"
        raise ValueError(f"class {class_id!r} is not analysed")

    def declared_classes(self, key: str) -> int | None:
        """A model's class count as its config entry states it (``model_kwargs.num_classes``, or ``num_labels``
        of a local Hugging Face folder), or None: then the ``export_head`` job checks the loaded head."""
        entry = self.models[key]
        declared = dict(entry.model_kwargs or {}).get("num_classes")
        if declared is None and entry.source == "transformers" and entry.checkpoint:
            cfg = Path(entry.checkpoint) / "config.json"
            if cfg.is_file():
                hf = json.loads(cfg.read_text())
                declared = hf.get("num_labels") or len(hf.get("id2label") or {}) or None
        return declared

    # ------------------------------------------------------------------------------------------ translators
    def translator_sample_models(self) -> list[str]:
        """Models with at least one fitted translator: only those need the translator sample's features."""
        return [m for m in self.models if any(pair[0] == m for pair in self.fitted)]

    def translator_sample_spaces(self) -> list[str]:
        """Spaces with at least one fitted translator: only those embed the translator sample."""
        return [s for s in self.spaces if any(pair[1] == s for pair in self.fitted)]

    def check_published_heads(self, heads: Mapping[str, str | Path]) -> None:
        """Each published translator's in_dim against the width m of its model's exported head, where ``heads``
        (model -> head file) holds one exported from the model's current entry (its provenance records the
        entry's settings hash); otherwise the import job checks it, right after the export. Headers only.
        Raises :class:`sing.workflow.config.ConfigError` naming ``translator.published.<model>.<space>``."""
        from ..core.files import sing_metadata
        from ..io.provenance import settings_hash
        from ..io.published import TranslatorImportError, check_fit, read_translator_header

        for (model, space), path in self.published.items():
            head = Path(heads.get(model, ""))
            if not head.is_file():
                continue
            try:
                meta = sing_metadata(head)
            except ValueError:
                continue
            if (meta.get("provenance") or {}).get("settings_sha256") != settings_hash(self.models[model].spec()):
                continue  # exported from another entry: export_head runs again, the import job checks
            try:
                check_fit(read_translator_header(path), model=model, space=space, head_in_dim=int(meta["in_dim"]))
            except TranslatorImportError as e:
                raise config_error(f"translator.published.{model}.{space}", path, f"refused: {e}") from None

    # ------------------------------------------------------------------------------------------ dictionaries
    @cached_property
    def dictionaries(self) -> dict[str, dict[str, Any]]:
        """Every configured dictionary (``text.dictionaries``, defaults filled: ``templates`` None, ``row``
        ``mean``, ``fingerprint`` true) plus ``builtin`` (``space`` None: it is embedded with every run space)."""
        out: dict[str, dict[str, Any]] = {"builtin": {"path": None, "space": None, **self.config["text"]["vocabulary"]}}
        for name, entry in self.config["text"]["dictionaries"].items():
            out[name] = {"path": str(entry["path"]), "space": str(entry["space"]),
                         "templates": list(entry["templates"]) if entry.get("templates") else None,
                         "row": str(entry.get("row") or "mean"), "fingerprint": bool(entry.get("fingerprint", True))}
        return out

    @cached_property
    def concept_dictionaries(self) -> dict[str, list[str]]:
        """Run space -> the dictionaries ranked for every analysed class there (``analyses.open_vocabulary.
        dictionaries``: ``all`` = builtin plus every configured one whose space is run)."""
        key = "analyses.open_vocabulary.dictionaries"
        wanted = self.config["analyses"]["open_vocabulary"]["dictionaries"]
        names = list(self.dictionaries) if wanted == "all" else list(wanted)
        unknown = [n for n in names if n not in self.dictionaries]
        if unknown:
            raise config_error(key, unknown, f"not defined (builtin or a name of text.dictionaries: "
                                             f"{sorted(self.dictionaries)})")
        out: dict[str, list[str]] = {space: [] for space in self.spaces}
        for name in names:
            space = self.dictionaries[name]["space"]
            if space is None:
                for spaces in out.values():
                    spaces.append(name)
            elif space in out:
                out[space].append(name)
            elif wanted != "all":
                raise config_error(key, name, f"belongs to space {space!r} (text.dictionaries.{name}.space), which is "
                                              f"not in run_spaces {self.space_keys}")
        return out

    # ------------------------------------------------------------------------------------------ analyses
    @cached_property
    def concepts(self) -> dict[str, list[str]]:
        """Concept list per open-vocabulary class: ``default`` expanded, a mapping checked key by key."""
        concepts = self.config["analyses"]["open_vocabulary"]["concepts"]
        if concepts == "default":
            return default_concepts(self.openvocab)
        key = "analyses.open_vocabulary.concepts"
        for class_id in concepts:
            self.catalog.index(class_id, what=f"config {key}")
        missing = [c for c in self.openvocab if c not in concepts]
        if missing:
            raise config_error(key, missing, "not given a concept list")
        extra = [c for c in concepts if c not in self.openvocab]
        if extra:
            raise config_error(key, extra, "are not in analyses.open_vocabulary.classes (typo?)")
        return {class_id: list(concepts[class_id]) for class_id in self.openvocab}

    @cached_property
    def figure_models(self) -> list[str]:
        """``figures.paper_models`` as the figures use them: a preset (``authors``, ``paper_text``:
        :data:`sing.registry.FIGURE_MODEL_PRESETS`) or a list; each key must name a catalogue or config model (a
        typo is an error); keys of models this run does not run are left out, with a warning unless a preset was
        given (the paper's five, meant for any subset)."""
        value = self.config["figures"]["paper_models"]
        wanted = resolve_figure_models(value)
        unknown = [m for m in wanted if m not in self.known_model_keys]
        if unknown:
            raise config_error("figures.paper_models", unknown,
                               "not in the catalogue (sing.registry.MODELS) nor in config models")
        if len(set(wanted)) != len(wanted):
            raise config_error("figures.paper_models", wanted, "lists a model twice")
        not_run = [m for m in wanted if m not in self.models]
        if not_run and not isinstance(value, str):
            self.warnings.append(f"config figures.paper_models: {not_run} are not in run_models; the 5-model "
                                 "figures leave them out")
        return [m for m in wanted if m in self.models]

    # ------------------------------------------------------------------------------------------ scheduling
    def gpu_resources(self) -> dict[str, Any]:
        """Resources of a GPU job: one GPU as ``slurm_gpu.request`` says (``gpu=1`` -> ``--gpus=1``, with the
        model ``gpu_model`` -> ``--gpus=MODEL:1``; or ``gres=gpu[:MODEL]:1`` -> ``--gres=...``), plus the GPU
        partition of ``slurm_gpu`` when set."""
        gpu = self.config["slurm_gpu"]
        if gpu["request"] == "gres":
            out: dict[str, Any] = {"gres": f"gpu:{gpu['model']}:1" if gpu["model"] else "gpu:1"}
        else:
            out = {"gpu": 1, **({"gpu_model": gpu["model"]} if gpu["model"] else {})}
        return {**out, **({"slurm_partition": gpu["partition"]} if gpu["partition"] else {})}

    def data_paths(self) -> dict[str, str]:
        """Paths outside the results a job reads or writes, keyed by the config key that sets each: ``results_dir``,
        ``weights_dir``, ``dataset.root`` (and ``dataset.class_index`` / ``dataset.class_names`` when set), and the
        local files of every run model and space (``models.<key>.checkpoint``, ``.head``, ``.factory``,
        ``spaces.<key>.checkpoint``, ``translator.published.<model>.<space>``, ``text.dictionaries.<name>.path``).
        What a container must bind, and what :func:`sing.workflow.checks.user_paths`
        checks can be passed on."""
        paths = {"results_dir": self.config["results_dir"], "weights_dir": self.config["weights_dir"],
                 "dataset.root": self.dataset["root"]}
        paths.update({f"dataset.{key}": self.dataset[key] for key in ("class_index", "class_names")
                      if self.dataset[key]})
        for key, entry in self.models.items():
            files = set(entry.local_files())
            for field in ("checkpoint", "head", "factory"):
                value = getattr(entry, field)
                value = value.rpartition(":")[0] if field == "factory" and value else value
                if value in files:
                    paths[f"models.{key}.{field}"] = value
        paths.update({f"spaces.{key}.checkpoint": entry.checkpoint for key, entry in self.spaces.items()
                      if entry.checkpoint})
        paths.update({f"translator.published.{model}.{space}": path for (model, space), path in self.published.items()})
        paths.update({f"text.dictionaries.{name}.path": entry["path"] for name, entry in self.dictionaries.items()
                      if entry["path"]})
        return {key: str(path) for key, path in paths.items()}

    def preflight_text(self) -> dict[str, Any]:
        """Every prompt the run embeds, for :func:`sing.data.preflight.check_text_settings` (class prompt,
        templates, the classes with their prompt names, concepts, steering and UnCLIP targets)."""
        config = self.config
        unclip = config["unclip"]["prompts"] if config["unclip"]["enabled"] else []
        return {
            "class_prompt": config["text"]["class_prompt"],
            "templates": config["text"]["templates"],
            "classes": [[self.catalog.index(c), c, self.catalog.name(c)[1]]
                        for c in self.catalog.select(sorted({*self.text_classes, *self.openvocab}))],
            "concepts": self.concepts,
            "targets": {"analyses.steering.target": [config["analyses"]["steering"]["target"]],
                        "unclip.prompts": list(unclip)},
        }


def check_replaced(results_dir: str | Path, records: str | Path) -> None:
    """Stop when an intermediate file (head, geometry, translator, probe) holds other content than the job that
    wrote it recorded under ``records`` (:func:`sing.core.files.write_content_record`): it was replaced by hand
    since, and every job downstream would silently use it. Headers only (milliseconds). Raises
    :class:`sing.core.files.ReplacedFileError` naming each file and what to do."""
    from ..core.files import ReplacedFileError, find_replaced, recorded_contents

    replaced = find_replaced(recorded_contents(results_dir, records))
    if replaced:
        raise ReplacedFileError(replaced, hint=(
            "sing uses only what its own jobs wrote. Delete the file to have the workflow write it again (what "
            "depends on it reruns); to use a translator of your own, set translator.published (docs/published.md)"))


