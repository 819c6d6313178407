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

__all__ = ["Plan", "SAMPLES"]

#: the samples whose classes are processed in chunks (the ``{sample}`` wildcard)
SAMPLES = ("analysis", "openvocab", "robustness")


class Plan:
    """The resolved run of one config (already validated by :func:`sing.workflow.config.resolve_config`).

    Attributes: ``config``, ``schema``; ``models`` / ``spaces`` (key -> :class:`sing.registry.ModelEntry` /
    :class:`~sing.registry.SpaceEntry`, in ``run_models`` / ``run_spaces`` order); ``catalog`` (the dataset's
    :class:`sing.data.classes.ClassCatalog`); the class lists, each in the dataset's order: ``analysed``
    (``classes``), ``openvocab``, ``translator_classes``, ``text_classes``, ``robustness_classes``,
    ``study_classes`` (the translator study's; empty when it does not run); ``chunks``
    (sample -> chunk number -> its classes); ``figure_models``; ``warnings`` (messages for the user that do not
    stop the run). Raises :class:`sing.workflow.config.ConfigError` (a ValueError) naming the config key.
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
        # the translator study's held-out classes: checked only when the study runs
        self.study_classes = (self.dataset_classes(config["samples"]["translator_study"]["classes"],
                                                   "samples.translator_study.classes")
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
    def dataset_classes(self, value, key: str) -> list[str]:
        """``value`` (a class id, a list or ``all``) checked against the dataset, in the dataset's order: the
        error names ``key``, and says so when a folder dataset still has the paper's ImageNet default there."""
        try:
            return self.catalog.select([value] if isinstance(value, str) and value != "all" else value,
                                       what=f"config {key}")
        except ValueError as e:
            if self.catalog.kind != "imagenet" and value == schema_default(self.schema, key):
                raise ValueError(f"{e}. {value!r} is the paper's ImageNet default; on a {self.catalog.describe()} "
                                 f"set {key} to its own classes") from None
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
        """Resources of a GPU job: one GPU, plus the SLURM GPU model (``--gpus=MODEL:1``) and partition of
        ``slurm_gpu`` when set."""
        gpu = self.config["slurm_gpu"]
        extra = {"gpu_model": gpu["model"], "slurm_partition": gpu["partition"]}
        return {"gpu": 1, **{key: value for key, value in extra.items() if value}}

    def data_paths(self) -> list[str]:
        """Paths outside the results a job reads or writes: ``dataset.root`` (and the class-index / class-names
        files), ``weights_dir``, ``results_dir``, and the local model files (checkpoints, factory files)."""
        paths = [self.dataset["root"], self.config["weights_dir"], self.config["results_dir"]]
        paths += [self.dataset[key] for key in ("class_index", "class_names") if self.dataset[key]]
        paths += [f for entry in self.models.values() for f in entry.local_files()]
        return [str(p) for p in paths]

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


def apptainer_binds(binds: list[str], paths: list[str], cwd: str | Path) -> list[str]:
    """``binds`` (an APPTAINER_BIND list) plus the folders of ``paths`` that resolve outside ``cwd``.

    Snakemake mounts the working directory as the container's home, so only paths outside it (absolute paths,
    symlinks) need a bind. A path a job has yet to create (the demo's dataset root, a new weights_dir) is bound
    through its nearest existing parent: apptainer refuses a missing source. ``/`` and paths already bound are
    left out.
    """
    cwd = Path(cwd).resolve()
    out = list(binds)
    for path in paths:
        path = Path(path).resolve()
        while not path.exists():
            path = path.parent
        if path.is_relative_to(cwd) or path == Path("/") or str(path) in out:
            continue
        out.append(str(path))
    return out
