"""Readers of the workflow's intermediate files for the job scripts (text embeddings, manifests, features,
heads, scores) and the metadata / row order of the analysis tables they write (:func:`table_metadata`,
:func:`sort_table`; written with :func:`sing.io.storage.write_frame`)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import polars as pl

from .provenance import provenance
from .storage import read_embeddings, read_frames, read_text_embeddings

__all__ = ["load_text", "read_features", "read_head", "read_manifest", "read_scores", "sort_table", "table_metadata"]


def load_text(path: str | os.PathLike, kind: str, key: str | Sequence[str] | None = None
              ) -> tuple[pl.DataFrame, np.ndarray]:
    """Rows of the text-embedding table of ``kind`` ("class" | "concept" | "target"): (table, float64 P×d).

    key: None (all rows of that kind, in file order), a key (1 row) or a list of keys (rows in that order).
    A missing key is a ValueError naming the file, kind and key(s).
    """
    df, emb, _ = read_text_embeddings(path)
    if kind not in ("class", "concept", "target"):
        raise ValueError(f"kind: must be 'class', 'concept' or 'target', got {kind!r}")
    sel = df.with_row_index("_row").filter(pl.col("kind") == kind)
    if key is None:
        rows = sel["_row"].to_numpy()
        return sel.drop("_row"), emb[rows].astype(np.float64)
    keys = [key] if isinstance(key, str) else list(key)
    first = {}
    for k, r in zip(sel["key"].to_list(), sel["_row"].to_list()):
        first.setdefault(k, r)
    missing = [k for k in keys if k not in first]
    if missing:
        raise ValueError(f"{path}: no text embedding of kind {kind!r} for key(s) {missing[:10]}"
                         f"{' ...' if len(missing) > 10 else ''}")
    rows = np.array([first[k] for k in keys], dtype=np.int64)
    table = df[rows.tolist()]
    return table, emb[rows].astype(np.float64)


def read_manifest(path: str | os.PathLike) -> list[str]:
    """Class ids of a chunk manifest: JSON ({"classes": [...]} or a list) or text (one per line)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"manifest not found: {p}")
    text = p.read_text()
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if isinstance(obj, dict):
        if "classes" in obj:
            return [str(w) for w in obj["classes"]]
        raise ValueError(f"{p}: manifest JSON has no 'classes' list")
    if isinstance(obj, list):
        return [str(w) for w in obj]
    raise ValueError(f"{p}: manifest must be a JSON list/object or one class id per line")


def read_features(path: str | os.PathLike) -> tuple[pl.DataFrame, np.ndarray]:
    """Classifier features parquet -> (scalar columns, float64 N×m)."""
    df, F, _ = read_embeddings(path)
    return df, F.astype(np.float64)


def read_head(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(W float64 c×m, b float64 c) from the head safetensors file.

    A head written by sing (:func:`sing.data.extraction.write_head`) is checked against its content hash
    (:class:`sing.core.files.ModifiedFileError` naming the file when it was edited); a plain safetensors file
    with a ``weight`` (and optional ``bias``) is read as is."""
    from safetensors import safe_open
    from safetensors.numpy import load_file

    from ..core.files import verify_content

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"head file not found: {p}")
    with safe_open(str(p), framework="numpy") as fh:
        if "sing" in (fh.metadata() or {}):
            verify_content(p)
    t = load_file(str(p))
    if "weight" not in t:
        raise ValueError(f"{p}: no tensor 'weight' (have {sorted(t)})")
    W = t["weight"].astype(np.float64)
    b = t["bias"].astype(np.float64) if "bias" in t else np.zeros(W.shape[0])
    return W, b


def read_scores(paths: Iterable[str | os.PathLike]) -> pl.DataFrame:
    """Concatenate table-1 parquet files; each path is a score directory (all its *.parquet) or a file."""
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files.extend(sorted(p.glob("*.parquet")))
        elif p.is_file():
            files.append(p)
        else:
            raise FileNotFoundError(f"scores: no such file or directory: {p}")
    if not files:
        raise ValueError("scores: no score parquet files found")
    return read_frames(files).sort("class_index", "image_id")


def table_metadata(table: str, settings: Any = None, **extra: Any) -> dict[str, Any]:
    """Deterministic ``sing.*`` key-value metadata for an analysis table (provenance, no timestamps)."""
    prov = provenance(settings if settings is not None else {}, **extra)
    return {"kind": "table", "table": table, "provenance": prov, **extra}


def sort_table(df: pl.DataFrame, keys: Sequence[str] | None = None) -> pl.DataFrame:
    """Sort by the given key columns, or by the known key columns present (space, model, class_id, ...). Stable:
    rows equal in every key keep their order (e.g. a translator study's rows within one model and space), so the
    result is deterministic."""
    if keys is None:
        known = ("space", "model", "model_a", "model_b", "space_a", "space_b", "class_index", "class_id", "kind",
                 "concept", "image_id", "seed")
        keys = [k for k in known if k in df.columns]
    return df.sort(list(keys), maintain_order=True) if keys else df
