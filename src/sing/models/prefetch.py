"""Prefetch (run once on a node with internet): download every configured weight into ``weights_dir`` so the
compute jobs can run offline. Separate from :mod:`sing.models.weights` so that the cache layer imports no
loader (the loaders import the cache layer)."""

from __future__ import annotations

import logging
import os
from typing import Mapping

from .classifiers import load_classifier
from .clip_spaces import load_space
from .weights import WeightsCache

log = logging.getLogger(__name__)

__all__ = ["prefetch"]


def prefetch(models: Mapping[str, dict] | None, spaces: Mapping[str, dict] | None,
             weights_dir: str | os.PathLike) -> dict:
    """Download every pretrained weight of ``models`` and ``spaces`` (key -> spec) into ``weights_dir``.

    Builds each model once with its pretrained weights (this fills the hub caches exactly as the compute
    jobs will read them) and returns {"models": {key: weights_id}, "spaces": {key: weights_id}}; entries with
    random weights or a local checkpoint are listed as having nothing to fetch.
    """
    weights = WeightsCache(weights_dir, offline=False)
    out = {"models": {}, "spaces": {}}
    for key, entry in (models or {}).items():
        if not _wants_download(entry):
            out["models"][key] = "random-init (nothing to fetch)"
            continue
        log.info("prefetch model %s", key)
        out["models"][key] = load_classifier(key, entry, device="cpu", weights=weights, self_check=False).weights_id
    for key, entry in (spaces or {}).items():
        if entry.get("pretrained") in (None, False, "") and not entry.get("checkpoint"):
            out["spaces"][key] = "random-init (nothing to fetch)"
            continue
        log.info("prefetch space %s", key)
        out["spaces"][key] = load_space(key, entry, device="cpu", weights=weights).weights_id
    return out


def _wants_download(entry: dict) -> bool:
    if entry.get("checkpoint"):
        return False
    if entry.get("source") == "dino":
        return bool(entry.get("pretrained", True)) or str(entry.get("head", "")).startswith("http")
    return bool(entry.get("pretrained", True))
