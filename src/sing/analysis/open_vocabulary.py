"""Open vocabulary (§4.3, Fig 5): per class and concept, the angles of T f and T f̃ to the concept and the AS of
null removal. The default concept lists are in :mod:`sing.analysis.concepts`."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import polars as pl

from ..core.arrays import as_float64
from ..core.metrics import angle_deg
from ..data.classes import file_key
from ..io.tables import load_text, read_features

log = logging.getLogger(__name__)

__all__ = ["OPEN_VOCABULARY_COLUMNS", "open_vocabulary_scores", "open_vocabulary_table"]

#: one row per (class, concept) of a (model, space) (``tables/open_vocabulary.parquet``)
OPEN_VOCABULARY_COLUMNS = ("model", "space", "class_id", "kind", "concept", "angle_orig_mean", "angle_eq_mean",
                           "as_mean", "as_std", "abs_as_mean", "n")


def open_vocabulary_scores(F: Any, geometry: Any, translator: Any, Z_concepts: Any, concepts: Sequence[str]
                           ) -> pl.DataFrame:
    """For one class: per concept, the mean angle of T f and of T f̃ to the concept embedding, AS (mean, std
    with ddof=1, mean |AS|) and n. Rows in the order of ``concepts``."""
    F = as_float64(F, "F", ndim=2)
    Zc = as_float64(Z_concepts, "Z_concepts", ndim=2)
    if Zc.shape[0] != len(concepts):
        raise ValueError(f"concepts: {len(concepts)} names for {Zc.shape[0]} embeddings")
    z = translator(F)
    z_eq = translator(np.asarray(geometry.remove_null(F), dtype=np.float64))
    a0 = angle_deg(z, Zc, pairwise=True)
    a1 = a0.copy() if geometry.nullity == 0 else angle_deg(z_eq, Zc, pairwise=True)
    AS = a0 - a1
    n = F.shape[0]
    return pl.DataFrame({
        "concept": list(concepts),
        "angle_orig_mean": a0.mean(axis=0),
        "angle_eq_mean": a1.mean(axis=0),
        "as_mean": AS.mean(axis=0),
        "as_std": AS.std(axis=0, ddof=1) if n > 1 else np.zeros(len(concepts)),
        "abs_as_mean": np.abs(AS).mean(axis=0),
        "n": np.full(len(concepts), n, dtype=np.int64),
    })


def open_vocabulary_table(feature_dirs: Sequence[str | os.PathLike], text_path: str | os.PathLike,
                          concepts: Mapping[str, Sequence[str]], geometry: Any, translator: Any, *, model: str,
                          space: str) -> pl.DataFrame:
    """Fig 5 rows of one (model, space): for every class of ``concepts`` (class id -> concept keys of the text
    table) a row of kind "class" for its own class prompt and one row of kind "concept" per concept; the class's
    features are ``<dir>/<file key>.parquet`` (:func:`sing.data.classes.file_key`) in one of ``feature_dirs``.
    Sorted by (class_id, kind, concept).

    Raises FileNotFoundError naming the class and the directories when its features are missing, ValueError
    naming the text file and key when an embedding is missing.
    """
    dirs = [Path(d) for d in feature_dirs]
    frames = []
    for class_id in sorted(concepts):
        name = f"{file_key(class_id)}.parquet"
        found = [d / name for d in dirs if (d / name).is_file()]
        if not found:
            raise FileNotFoundError(f"open vocabulary class {class_id!r}: no {name} in {[str(d) for d in dirs]}")
        _, F = read_features(found[0])
        names = list(concepts[class_id])
        _, Zc = load_text(text_path, "concept", names)
        ctab, Zk = load_text(text_path, "class", class_id)
        rows = pl.concat([
            open_vocabulary_scores(F, geometry, translator, Zk, ctab["prompt"].to_list())
            .with_columns(pl.lit("class").alias("kind")),
            open_vocabulary_scores(F, geometry, translator, Zc, names).with_columns(pl.lit("concept").alias("kind")),
        ])
        frames.append(rows.with_columns(pl.lit(class_id).alias("class_id")))
        log.info("%s: %d images, %d concepts", class_id, F.shape[0], len(names))
    return (pl.concat(frames).with_columns(pl.lit(model).alias("model"), pl.lit(space).alias("space"))
            .select(OPEN_VOCABULARY_COLUMNS).sort("class_id", "kind", "concept"))
