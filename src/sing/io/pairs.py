"""Paired data: classifier features and CLIP embeddings of the same images, joined by image id.

Feature and embedding tables are written by separate jobs (one per model, one per CLIP space); the image
id is the only key that ties them, so every consumer goes through :func:`align_pairs`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Sequence

import numpy as np

from .storage import read_embeddings

log = logging.getLogger(__name__)

SKIPPED_TABLE = "skipped.parquet"


def align_pairs(feature_ids: Sequence[str], features: np.ndarray, target_ids: Sequence[str],
                targets: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Rows of ``features`` and ``targets`` for the image ids both have, in sorted id order.

    Images present on one side only (e.g. a bad image skipped by one job) are dropped and logged;
    duplicated ids or an empty intersection are errors.
    """
    for name, ids, mat in (("feature_ids", feature_ids, features), ("target_ids", target_ids, targets)):
        if len(ids) != len(mat):
            raise ValueError(f"{name}: {len(ids)} ids for {len(mat)} rows")
        if len(set(ids)) != len(ids):
            raise ValueError(f"{name}: duplicated image ids")
    f_pos = {image_id: i for i, image_id in enumerate(feature_ids)}
    t_pos = {image_id: i for i, image_id in enumerate(target_ids)}
    common = sorted(f_pos.keys() & t_pos.keys())
    if not common:
        raise ValueError("features and CLIP embeddings share no image id: were they made from the same sample?")
    dropped = len(f_pos) + len(t_pos) - 2 * len(common)
    if dropped:
        log.warning("%d images present on one side only were dropped", dropped)
    return (common, np.asarray(features)[[f_pos[i] for i in common]],
            np.asarray(targets)[[t_pos[i] for i in common]])


def class_tables(directory: str | Path) -> list[Path]:
    """The per-class parquet files of a chunk directory, in name order."""
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"no such chunk directory: {directory}")
    return sorted(p for p in directory.glob("*.parquet") if p.name != SKIPPED_TABLE)


def read_chunk_dirs(directories: Sequence[str | Path]):
    """Concatenate every class table of the given chunk directories: (polars frame, float32 matrix)."""
    import polars as pl

    frames, matrices = [], []
    for path in chunk_tables(directories):
        frame, matrix, _ = read_embeddings(path)
        frames.append(frame)
        matrices.append(matrix)
    if not frames:
        raise ValueError(f"no class tables in {list(map(str, directories))}")
    return pl.concat(frames, how="vertical"), np.concatenate(matrices)


def chunk_image_ids(directories: Sequence[str | Path]) -> list[str]:
    """The image ids of every class table of ``directories``, in :func:`read_chunk_dirs`' row order, reading only
    the ``image_id`` column (a few bytes per image): what a job selects its rows from before reading features."""
    import pyarrow.parquet as pq

    ids: list[str] = []
    for path in chunk_tables(directories):
        ids.extend(pq.read_table(path, columns=["image_id"]).column("image_id").to_pylist())
    return ids


def read_chunk_rows(directories: Sequence[str | Path], rows: Sequence[int]):
    """(polars frame, float32 matrix) of only the given rows of :func:`read_chunk_dirs` (indices into its row order,
    e.g. of :func:`chunk_image_ids`), in increasing order. Reads one class table at a time and keeps its selected
    rows, so memory is the selection plus one table, whatever the sample's size. ValueError for indices out of
    range or not increasing."""
    import polars as pl

    rows = np.asarray(rows, dtype=np.int64)
    if rows.ndim != 1 or (len(rows) and (rows[0] < 0 or np.any(np.diff(rows) <= 0))):
        raise ValueError("rows: expected strictly increasing non-negative row indices")
    frames, matrices, start, at = [], [], 0, 0
    tables = chunk_tables(directories)
    for path in tables:
        if at == len(rows):
            break
        frame, matrix, _ = read_embeddings(path)
        end = start + frame.height
        stop = at + int(np.searchsorted(rows[at:], end))
        if stop > at:
            local = rows[at:stop] - start
            frames.append(frame[local.tolist()])
            matrices.append(matrix[local])
        start, at = end, stop
    if at != len(rows):
        raise ValueError(f"rows: index {int(rows[at])} is past the last row ({start}) of {len(tables)} class tables")
    if not frames:
        raise ValueError(f"no rows selected from {list(map(str, directories))}")
    return pl.concat(frames, how="vertical"), np.concatenate(matrices)


def chunk_tables(directories: Sequence[str | Path]) -> list[Path]:
    """The per-class parquet files of several chunk directories (:func:`class_tables` of each, in order)."""
    return [path for directory in directories for path in class_tables(directory)]


def read_image_ids(paths: Sequence[str | Path]) -> set[str]:
    """Image ids of feature / embedding files or chunk directories (only the ``image_id`` column is read): the
    images a sample holds, e.g. those a translator or a probe was trained on."""
    import pyarrow.parquet as pq

    files: list[Path] = []
    for p in map(Path, paths):
        files.extend(class_tables(p) if p.is_dir() else [p])
    ids: set[str] = set()
    for f in files:
        if not f.is_file():
            raise FileNotFoundError(f"no such feature table: {f}")
        ids.update(pq.read_table(f, columns=["image_id"]).column("image_id").to_pylist())
    return ids
