"""On-disk formats: the embedding parquet schema, ``sing.*`` key-value metadata, analysis tables.

Parquet schema of a feature / embedding file (one per (model, class), (space, class) or a whole sample):

====================  ===================================  ==========================================
column                type                                 meaning
====================  ===================================  ==========================================
image_id              string                               path relative to the ImageNet root
split                 string                               "train" | "val"
class_index           int32                                the class's index in the dataset's order (ImageNet: timm's)
class_id              string                               the class: a WordNet id (``n01440764``) or a folder name
feature               fixed_size_list<float32>[d]          f (classifier) or CLIP image embedding
pred_class            int32   (classifiers only)           argmax of W f + b
pred_logit            float32 (classifiers only)           its logit
correct               bool    (classifiers only)           pred_class == class_index
====================  ===================================  ==========================================

Key-value metadata: keys ``sing.kind`` ("classifier" | "clip" | "text"), ``sing.model``, ``sing.weights_id``,
``sing.preprocess``, ``sing.precision``, ``sing.versions``, ``sing.provenance``; every value is a JSON string.
Nothing time- or host-dependent is stored, so identical inputs give byte-identical files.

``polars.read_parquet(path)`` reads a file in one call (the vector column becomes an ``Array`` column);
:func:`read_embeddings` returns the scalar columns, the N×d float32 matrix and the decoded metadata.
Analysis tables are polars frames written by :func:`write_frame` with the same writer options and metadata
encoding. Every file is written through :func:`sing.core.files.atomic_path`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..core.files import atomic_path
from .provenance import package_versions

META_PREFIX = "sing."
REQUIRED_META = ("kind", "model", "weights_id", "preprocess", "precision", "versions", "provenance")
#: fixed writer configuration: the same table always gives the same bytes
PARQUET_OPTIONS = dict(compression="zstd", compression_level=3, use_dictionary=False, write_statistics=False,
                       version="2.6", data_page_version="1.0")


# ---------------------------------------------------------------- metadata
def _unprefixed(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {(k[len(META_PREFIX):] if k.startswith(META_PREFIX) else k): v for k, v in metadata.items()}


def _encode_metadata(metadata: Mapping[str, Any]) -> dict[bytes, bytes]:
    """``sing.<key>`` -> JSON value (sorted keys): the one metadata encoding of every sing parquet file."""
    meta = _unprefixed(metadata)
    try:
        return {(META_PREFIX + k).encode(): json.dumps(v, sort_keys=True, default=_json_default).encode()
                for k, v in sorted(meta.items())}
    except TypeError as e:  # pragma: no cover - message only
        raise ValueError(f"metadata values must be JSON-serialisable: {e}") from e


def _embedding_metadata(metadata: Mapping[str, Any], kind_default: str | None = None) -> dict[bytes, bytes]:
    """Metadata of a feature / embedding file: the keys of :data:`REQUIRED_META` (versions and provenance are
    filled in when absent)."""
    meta = _unprefixed(metadata)
    if kind_default is not None:
        meta.setdefault("kind", kind_default)
    meta.setdefault("versions", package_versions())  # from sing.io.provenance
    meta.setdefault("provenance", {})
    missing = [k for k in REQUIRED_META if k not in meta]
    if missing:
        raise ValueError(f"metadata is missing required key(s) {missing} (need {list(REQUIRED_META)})")
    return _encode_metadata(meta)


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, (tuple, set)):
        return list(o)
    if isinstance(o, os.PathLike):
        return os.fspath(o)
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")


class Metadata(dict):
    """Decoded ``sing.*`` metadata; keys without the prefix (``meta["model"]``), prefixed lookups also work."""

    def __getitem__(self, k):
        if not dict.__contains__(self, k) and isinstance(k, str) and k.startswith(META_PREFIX):
            k = k[len(META_PREFIX):]
        return dict.__getitem__(self, k)

    def __contains__(self, k):
        if isinstance(k, str) and k.startswith(META_PREFIX):
            return dict.__contains__(self, k) or dict.__contains__(self, k[len(META_PREFIX):])
        return dict.__contains__(self, k)

    def get(self, k, default=None):
        return self[k] if k in self else default


def _decode_metadata(raw: Mapping[bytes, bytes] | None) -> Metadata:
    out = Metadata()
    for k, v in (raw or {}).items():
        ks = k.decode()
        if ks.startswith(META_PREFIX):
            out[ks[len(META_PREFIX):]] = json.loads(v.decode())
    return out


# ---------------------------------------------------------------- generic table io
def _vector_array(mat: np.ndarray, name: str):
    import pyarrow as pa

    mat = np.asarray(mat)
    if mat.ndim != 2:
        raise ValueError(f"{name} must be a 2-d array (N×d), got shape {mat.shape}")
    if mat.shape[1] < 1:
        raise ValueError(f"{name} must have at least one column, got shape {mat.shape}")
    mat = np.ascontiguousarray(mat, dtype=np.float32)
    if not np.isfinite(mat).all():
        bad = int((~np.isfinite(mat)).any(axis=1).sum())
        raise ValueError(f"{name} contains non-finite values in {bad} row(s)")
    return pa.FixedSizeListArray.from_arrays(pa.array(mat.reshape(-1), type=pa.float32()), mat.shape[1])


def _write_vectors(path, columns: Mapping[str, Any], vectors: Mapping[str, np.ndarray], metadata: Mapping[str, Any],
                   kind_default: str | None = None) -> None:
    """Atomically write scalar ``columns`` (name -> pyarrow array or sequence) and fixed-size float32 ``vectors``."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrays, names = [], []
    n = None
    for name, col in list(columns.items()) + [(k, _vector_array(v, k)) for k, v in vectors.items()]:
        arr = col if isinstance(col, (pa.Array, pa.ChunkedArray)) else pa.array(col)
        if n is None:
            n = len(arr)
        elif len(arr) != n:
            raise ValueError(f"column {name!r} has {len(arr)} rows, expected {n}")
        arrays.append(arr)
        names.append(name)
    table = pa.Table.from_arrays(arrays, names=names)
    table = table.replace_schema_metadata(_embedding_metadata(metadata, kind_default))
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, **PARQUET_OPTIONS)


def _as_column(value, n: int, name: str, pa_type):
    import pyarrow as pa

    if isinstance(value, (str, int, np.integer)):
        value = [value] * n
    value = list(value) if not isinstance(value, np.ndarray) else value
    if len(value) != n:
        raise ValueError(f"{name} has {len(value)} entries, expected {n} (one per image)")
    if pa_type == pa.int32():
        value = np.asarray(value, dtype=np.int64)
        if len(value) and (value.min() < -(2 ** 31) or value.max() >= 2 ** 31):
            raise ValueError(f"{name} does not fit int32")
        value = value.astype(np.int32)
    return pa.array(value, type=pa_type)


def write_embeddings(path, *, image_ids: Sequence[str], split, class_index, class_id, features: np.ndarray,
                     extra_columns: Mapping[str, Any] | None = None, metadata: Mapping[str, Any]) -> None:
    """Write one embedding / feature parquet (schema in the module docstring).

    ``split``, ``class_index`` and ``class_id`` are a scalar (same for every row) or one value per image.
    ``extra_columns`` (classifiers): ``pred_class`` (int32), ``pred_logit`` (float32), ``correct`` (bool),
    or any other column name -> sequence. ``metadata`` needs the keys ``kind, model, weights_id, preprocess,
    precision`` (``versions`` and ``provenance`` are filled in when absent).
    """
    import pyarrow as pa

    features = np.asarray(features)
    n = len(image_ids)
    if features.ndim != 2 or features.shape[0] != n:
        raise ValueError(f"features must be N×d with N = len(image_ids) = {n}, got shape {features.shape}")
    cols = {
        "image_id": _as_column(list(map(str, image_ids)), n, "image_ids", pa.string()),
        "split": _as_column(split, n, "split", pa.string()),
        "class_index": _as_column(class_index, n, "class_index", pa.int32()),
        "class_id": _as_column(class_id, n, "class_id", pa.string()),
    }
    types = {"pred_class": pa.int32(), "pred_logit": pa.float32(), "correct": pa.bool_()}
    for name, val in (extra_columns or {}).items():
        if name in cols or name == "feature":
            raise ValueError(f"extra column {name!r} clashes with a schema column")
        if name in types:
            cols[name] = _as_column(np.asarray(val) if name != "pred_class" else val, n, name, types[name])
        else:
            cols[name] = _as_column(val, n, name, pa.array(np.asarray(val)).type if n else pa.null())
    _write_vectors(path, cols, {"feature": features}, metadata)


def read_table(path, vector_column: str):
    """(polars DataFrame of the other columns, float32 N×d matrix, metadata) of any sing parquet file."""
    import polars as pl
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such parquet file: {path}")
    table = pq.read_table(path)
    if vector_column not in table.column_names:
        raise ValueError(f"{path}: no column {vector_column!r} (columns: {table.column_names})")
    col = table.column(vector_column).combine_chunks()
    d = col.type.list_size
    values = col.flatten().to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    mat = values.reshape(len(col), d) if len(col) else np.zeros((0, d), np.float32)
    rest = table.drop_columns([vector_column]).replace_schema_metadata(None)
    return pl.from_arrow(rest), np.ascontiguousarray(mat), _decode_metadata(table.schema.metadata)


def read_embeddings(path):
    """Read a feature / embedding parquet: (polars DataFrame without ``feature``, float32 N×d, metadata dict)."""
    return read_table(path, "feature")


def read_metadata(path) -> Metadata:
    import pyarrow.parquet as pq

    return _decode_metadata(pq.read_schema(path).metadata)


def write_text_embeddings(path, *, kind: Sequence[str], key: Sequence[str], prompt: Sequence[str],
                          class_index: Sequence[int], embeddings: np.ndarray, metadata: Mapping[str, Any]) -> None:
    """Text embedding table: kind ("class"|"concept"|"target"), key, prompt, class_index (int32, -1 = n/a),
    embedding fixed_size_list<float32>[d]."""
    import pyarrow as pa

    n = len(key)
    if np.asarray(embeddings).shape[0] != n:
        raise ValueError(f"embeddings has {np.asarray(embeddings).shape[0]} rows, expected {n}")
    bad = sorted(set(kind) - {"class", "concept", "target"})
    if bad:
        raise ValueError(f"kind must be one of class, concept, target; got {bad}")
    cols = {"kind": _as_column(list(kind), n, "kind", pa.string()),
            "key": _as_column(list(key), n, "key", pa.string()),
            "prompt": _as_column(list(prompt), n, "prompt", pa.string()),
            "class_index": _as_column(list(class_index), n, "class_index", pa.int32())}
    _write_vectors(path, cols, {"embedding": embeddings}, metadata, kind_default="text")


def read_text_embeddings(path):
    """(polars DataFrame kind/key/prompt/class_index, float32 P×d, metadata)."""
    return read_table(path, "embedding")


def write_skipped(path, rows: Sequence[dict]) -> None:
    """Table of the bad images an extraction skipped (``on_bad_image: skip``): image_id, class_id, error."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    t = pa.table({"image_id": pa.array([r["image_id"] for r in rows], pa.string()),
                  "class_id": pa.array([r.get("class_id", "") for r in rows], pa.string()),
                  "error": pa.array([r["error"] for r in rows], pa.string())})
    with atomic_path(path) as tmp:
        pq.write_table(t, tmp, **PARQUET_OPTIONS)


# ---------------------------------------------------------------- analysis tables
def write_frame(df, path: str | os.PathLike, metadata: Mapping[str, Any] | None = None) -> None:
    """Atomically write ``df`` as parquet with the storage module's fixed writer options and JSON
    ``sing.*`` metadata (byte-identical for identical inputs)."""
    import pyarrow.parquet as pq

    table = df.to_arrow().replace_schema_metadata(_encode_metadata(metadata or {}))
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, **PARQUET_OPTIONS)
