"""Files written by the core: atomic replacement, and safetensors with JSON metadata (head geometry,
translators, ridge statistics).

:func:`atomic_path` is the one way sing writes a file or directory: a crash or a killed job never leaves a
half-written output under the final name (Snakemake would otherwise take it for complete).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from pathlib import Path
from typing import Any, Iterator, Mapping

import numpy as np

__all__ = ["atomic_path", "read_safetensors", "read_safetensors_metadata", "write_safetensors"]


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling path ``<path>.tmp-<pid>``; on success it replaces ``path`` atomically.

    Works for files and for directories (write a whole directory into the yielded path).
    On error the temporary path is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    _remove(tmp)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"atomic_path: nothing was written to {tmp} (for {path})")
        if tmp.is_dir() and path.exists():
            _remove(path)  # os.replace cannot replace a non-empty directory
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
    elif p.exists() or p.is_symlink():
        p.unlink()


def write_safetensors(path: str | os.PathLike, tensors: Mapping[str, np.ndarray], metadata: Mapping[str, Any]) -> None:
    """Write numpy ``tensors`` and JSON-serialisable ``metadata`` atomically.

    The metadata dict is stored as one JSON string under the key ``"sing"`` (safetensors metadata
    values must be strings).
    """
    from safetensors.numpy import save_file

    with atomic_path(path) as tmp:
        save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()}, str(tmp),
                  metadata={"sing": json.dumps(metadata, sort_keys=True)})


def read_safetensors(path: str | os.PathLike, expect_kind: str) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a file written by :func:`write_safetensors`; check ``metadata["kind"] == expect_kind``."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    with safe_open(str(path), framework="numpy") as fh:
        raw = fh.metadata() or {}
        if "sing" not in raw:
            raise ValueError(f"{path}: no 'sing' metadata; not written by sing")
        metadata = json.loads(raw["sing"])
        if metadata.get("kind") != expect_kind:
            raise ValueError(f"{path}: holds a {metadata.get('kind')!r}, expected {expect_kind!r}")
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    return tensors, metadata


def read_safetensors_metadata(path: str | os.PathLike, expect_kind: str) -> dict[str, Any]:
    """The JSON metadata of a file written by :func:`write_safetensors`, from its header only (the 8-byte length
    and the JSON header of the safetensors format; no tensor is read, no safetensors import): what the workflow
    reads at planning time (e.g. a head geometry's ``in_dim`` / ``out_dim`` / ``rank``). ValueError for a file
    that is not safetensors, has no sing metadata, or holds another kind; FileNotFoundError for a missing file."""
    path = Path(path)
    with open(path, "rb") as fh:
        head = fh.read(8)
        size = int.from_bytes(head, "little") if len(head) == 8 else -1
        if not 2 <= size <= 100_000_000:
            raise ValueError(f"{path}: not a safetensors file (header length {size})")
        try:
            header = json.loads(fh.read(size))
            metadata = json.loads(header["__metadata__"]["sing"])
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"{path}: no 'sing' metadata in its safetensors header; not written by sing") from None
    if metadata.get("kind") != expect_kind:
        raise ValueError(f"{path}: holds a {metadata.get('kind')!r}, expected {expect_kind!r}")
    return metadata
