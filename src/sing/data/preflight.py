"""Checks of a whole run's configuration that need the libraries (torch, open_clip) and so cannot run at
Snakefile parse time (importing them costs every ``snakemake`` invocation, cluster jobs included, several
seconds): the workflow runs them once when it starts (``onstart``), before any job. A digest of what passed is
kept in a cache file, so an unchanged configuration costs nothing, not even the imports.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import logging
from pathlib import Path
from typing import Mapping

__all__ = ["check_text_settings"]

log = logging.getLogger(__name__)


def _digest(*parts) -> str:
    versions = []
    for dist in ("sing", "open_clip_torch", "transformers"):
        try:
            versions.append(importlib.metadata.version(dist))
        except importlib.metadata.PackageNotFoundError:
            versions.append(None)
    return hashlib.sha256(json.dumps([parts, versions], sort_keys=True, default=str).encode()).hexdigest()


def check_text_settings(spaces: Mapping[str, dict], text: dict, weights_dir=None, *, cache=None) -> list[str]:
    """Check what every space's text table will embed, before any job runs: each space's architecture against
    its pretrained tag (:func:`sing.models.clip_spaces.check_architecture`: e.g. OpenAI weights need a
    ``-quickgelu`` model) and every prompt against its tokenizer (:func:`sing.models.prompts.check_prompts`).

    ``spaces``: {key: spec}; ``text``: the settings of :func:`sing.data.text.embed_text_table`. Raises
    ValueError naming the space, the config key, the prompt and its token count. A tokenizer that comes from
    the hub and is not in ``weights_dir`` yet is skipped (logged): the ``embed_texts`` job checks again before
    encoding. ``cache``: JSON file of the digests (spaces, text settings, weights_dir, package versions) that
    passed. Returns the keys of the spaces checked now (not from the cache).
    """
    root = logging.getLogger()
    handlers = list(root.handlers)
    try:
        return _check(spaces, text, weights_dir, cache)
    finally:
        # open_clip logs at import time through the root logger; with no handler there, `logging.info` installs a
        # stderr one (logging.basicConfig) and, inside the snakemake process, every line is then printed twice
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)


def _check(spaces, text, weights_dir, cache) -> list[str]:
    cache = Path(cache) if cache else None
    done = json.loads(cache.read_text()) if cache is not None and cache.is_file() else {}
    todo = {k: _digest(e, text, str(weights_dir)) for k, e in spaces.items()}
    todo = {k: d for k, d in todo.items() if done.get(k) != d}
    if not todo:
        return []
    from ..models.clip_spaces import check_architecture, load_tokenizer
    from ..models.prompts import check_prompts
    from ..models.weights import MissingWeightsError, WeightsCache
    from .text import plan_text

    prompts = plan_text(text).prompts()
    checked = []
    for key, digest in todo.items():
        entry = spaces[key]
        if entry.get("pretrained") and not entry.get("checkpoint"):
            check_architecture(key, entry["model"], entry["pretrained"], entry.get("model_kwargs"))
        try:
            tokenizer = load_tokenizer(key, entry, WeightsCache(weights_dir, offline=True))
        except MissingWeightsError as e:
            log.info("space %s: tokenizer not cached yet, prompts are checked by its embed_texts job (%s)", key, e)
            continue
        check_prompts(tokenizer, prompts, where=f"space {key}")
        done[key] = digest
        checked.append(key)
    if cache is not None and checked:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(done, indent=1, sort_keys=True) + "\n")
    return checked
