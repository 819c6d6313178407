"""ImageNet-1k class ids in canonical order, read from timm's package data without importing torch.

The workflow plans its DAG from these ids (never from the dataset on disk), so planning must be cheap:
``importlib.util.find_spec`` locates the timm package without executing it.
"""

from __future__ import annotations

import functools
import importlib.util
from pathlib import Path

NUM_CLASSES = 1000


@functools.cache
def imagenet_wnids() -> tuple[str, ...]:
    """WordNet ids of the 1000 ImageNet-1k classes; position = canonical class index."""
    spec = importlib.util.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError("timm is required for the ImageNet class list (pip install timm)")
    path = Path(spec.submodule_search_locations[0]) / "data" / "_info" / "imagenet_synsets.txt"
    wnids = tuple(line.strip() for line in path.read_text().splitlines() if line.strip())
    if len(wnids) != NUM_CLASSES:
        raise RuntimeError(f"{path}: expected {NUM_CLASSES} ImageNet synsets, found {len(wnids)}")
    return wnids


@functools.cache
def wnid_to_index() -> dict[str, int]:
    return {wnid: index for index, wnid in enumerate(imagenet_wnids())}


def class_index(wnid: str, *, what: str = "class") -> int:
    """Canonical ImageNet index of ``wnid``; ValueError naming ``what`` if it is not an ImageNet-1k class."""
    try:
        return wnid_to_index()[wnid]
    except KeyError:
        raise ValueError(f"{what}: {wnid!r} is not an ImageNet-1k WordNet id") from None


def select_classes(selection: str | list[str], *, what: str = "classes") -> list[str]:
    """Resolve a class selection ("all" or a list of wnids) to wnids in canonical index order."""
    if selection == "all":
        return list(imagenet_wnids())
    if isinstance(selection, str) or not isinstance(selection, (list, tuple)):
        raise ValueError(f"{what}: expected 'all' or a list of WordNet ids, got {selection!r}")
    duplicates = sorted({w for w in selection if list(selection).count(w) > 1})
    if duplicates:
        raise ValueError(f"{what}: duplicate class ids {duplicates}")
    return sorted(selection, key=lambda w: class_index(w, what=what))


def chunk_of(wnid: str, chunk_size: int) -> int:
    """The chunk a class belongs to. Depends only on its canonical index, so it never changes."""
    return class_index(wnid) // chunk_size


def group_by_chunk(wnids: list[str], chunk_size: int) -> dict[int, list[str]]:
    chunks: dict[int, list[str]] = {}
    for wnid in sorted(wnids, key=class_index):
        chunks.setdefault(chunk_of(wnid, chunk_size), []).append(wnid)
    return chunks
