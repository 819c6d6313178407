"""Prefetch (run once on a node with internet): download every configured weight into ``weights_dir`` so the
compute jobs can run offline, and lock what was downloaded (:mod:`sing.models.lock`). Separate from
:mod:`sing.models.weights` so that the cache layer imports no loader (the loaders import the cache layer)."""

from __future__ import annotations

import logging
import os
from typing import Mapping

from .classifiers import load_classifier
from .clip_spaces import load_space
from .lock import hub_records, local_records, needs_files
from .weights import WeightsCache

log = logging.getLogger(__name__)

__all__ = ["lock_entry", "prefetch"]


def lock_entry(spec: Mapping, weights_id: str, sources, weights: WeightsCache) -> dict:
    """The lock entry of one loaded model: its spec, weights id and a record per file it was read from
    (every file of each hub repository's cached snapshot, each local file). ValueError for a source that
    cannot be locked."""
    files = []
    for kind, ref in sources:
        if kind == "hub":
            files += hub_records(weights.hf_cache, ref)
        elif kind == "file":
            files += local_records([ref], weights.root)
        else:
            raise ValueError(f"unknown weight source {kind!r}")
    return {"spec": dict(spec), "weights_id": str(weights_id), "files": files}


def prefetch(models: Mapping[str, dict] | None, spaces: Mapping[str, dict] | None,
             weights_dir: str | os.PathLike, offline: bool = False) -> dict:
    """Download every pretrained weight of ``models`` and ``spaces`` (key -> spec) into ``weights_dir``.

    Builds each model once with its pretrained weights (this fills the hub caches exactly as the compute
    jobs will read them) and returns the lock entries {"models": {key: entry}, "spaces": {key: entry}}
    (:func:`lock_entry`); entries with random weights lock no file. ``offline=True`` downloads nothing and locks
    what the cache already holds (a cache copied from elsewhere); a missing weight is then a
    :class:`sing.models.weights.MissingWeightsError`.
    """
    weights = WeightsCache(weights_dir, offline=offline)
    out = {"models": {}, "spaces": {}}
    for collection, entries, load in (("models", models, _load_model), ("spaces", spaces, _load_space)):
        for key, spec in (entries or {}).items():
            if not needs_files(collection, spec):
                out[collection][key] = {"spec": dict(spec), "weights_id": "random", "files": []}
                continue
            log.info("prefetch %s %s", collection[:-1], key)
            loaded = load(key, spec, weights)
            out[collection][key] = lock_entry(spec, loaded.weights_id, loaded.weight_sources, weights)
            log.info("locked %s %s: %s", collection[:-1], key,
                     [f"{r.get('repo', '')}/{r['file']}" for r in out[collection][key]["files"]])
    return out


def _load_model(key, spec, weights):
    return load_classifier(key, spec, device="cpu", weights=weights, self_check=False)


def _load_space(key, spec, weights):
    return load_space(key, spec, device="cpu", weights=weights)
