"""A CLIP space's embedding dimension without building it or importing open_clip (standard library only: cheap
enough for the workflow's planning, before any job).

open_clip ships one JSON architecture config per model name (``open_clip/model_configs/<name>.json``, the file
``open_clip.get_model_config`` reads); its ``embed_dim`` is the dimension n of the space's image and text
embeddings. The package is located with :func:`importlib.util.find_spec`, which does not import it.
"""

from __future__ import annotations

import importlib.util
import json
from functools import cache
from pathlib import Path

__all__ = ["embed_dim"]


@cache
def _config_dir() -> Path | None:
    spec = importlib.util.find_spec("open_clip")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(list(spec.submodule_search_locations)[0]) / "model_configs"


@cache
def embed_dim(model: str) -> int | None:
    """The embedding dimension n of open_clip architecture ``model`` (e.g. 768 for ``ViT-L-14-quickgelu``, 384 for
    ``ViT-S-32``), or None when open_clip has no such config file here (a ``hf-hub:`` name, a config registered at
    run time, open_clip not installed): the caller then finds out by building the space."""
    folder = _config_dir()
    if folder is None or not model or "/" in model or ":" in model:
        return None
    path = folder / f"{model}.json"
    try:
        dim = json.loads(path.read_text()).get("embed_dim")
    except (OSError, ValueError):
        return None
    return int(dim) if isinstance(dim, int) else None
