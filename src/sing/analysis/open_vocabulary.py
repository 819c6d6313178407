"""Open vocabulary (§4.3, Fig 5): per class and concept, the angles of T f and T f̃ to the concept and the AS of
null removal. The default concept lists are in :mod:`sing.analysis.concepts`.

Over a whole dictionary (:class:`sing.data.dictionaries.ConceptDictionary`: the built-in vocabulary or a
precomputed one) and every analysed class: :func:`class_concepts` ranks, per class, the concepts by mean |AS| —
which concepts the class's null space carries most (AS < 0: null removal moves T f away from the concept, the
null component carried it; AS > 0: it moves toward it, the null component pulled away) — and
:func:`model_concepts` summarises a model: the concepts whose |AS| is largest across classes."""

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

__all__ = ["CLASS_CONCEPT_COLUMNS", "MODEL_CONCEPT_COLUMNS", "OPEN_VOCABULARY_COLUMNS", "class_concepts",
           "class_concepts_table", "concept_tables", "model_concepts", "open_vocabulary_scores",
           "open_vocabulary_table"]

#: one row per (class, concept) of a (model, space) (``tables/open_vocabulary.parquet``)
OPEN_VOCABULARY_COLUMNS = ("model", "space", "class_id", "kind", "concept", "angle_orig_mean", "angle_eq_mean",
                           "as_mean", "as_std", "abs_as_mean", "n")
#: one row per (class, dictionary concept), ranked by mean |AS| within the class (rank 1 = largest)
CLASS_CONCEPT_COLUMNS = ("model", "space", "dictionary", "class_id", "rank", "concept", "as_mean", "as_std",
                         "abs_as_mean", "angle_orig_mean", "angle_eq_mean", "n")
#: one row per dictionary concept of a (model, space): its |AS| across the classes, ranked (rank 1 = largest)
MODEL_CONCEPT_COLUMNS = ("model", "space", "dictionary", "rank", "concept", "abs_as_mean", "abs_as_max",
                         "class_of_max", "as_mean", "n_top", "n_classes")
_SCHEMA = {"model": pl.String, "space": pl.String, "dictionary": pl.String, "class_id": pl.String, "rank": pl.Int64,
           "concept": pl.String, "as_mean": pl.Float64, "as_std": pl.Float64, "abs_as_mean": pl.Float64,
           "angle_orig_mean": pl.Float64, "angle_eq_mean": pl.Float64, "n": pl.Int64, "abs_as_max": pl.Float64,
           "class_of_max": pl.String, "n_top": pl.Int64, "n_classes": pl.Int64}


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
        F = _class_features(dirs, class_id)
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


def _class_features(dirs: Sequence[Path], class_id: str) -> np.ndarray:
    name = f"{file_key(class_id)}.parquet"
    found = [d / name for d in dirs if (d / name).is_file()]
    if not found:
        raise FileNotFoundError(f"open vocabulary class {class_id!r}: no {name} in {[str(d) for d in dirs]}")
    return read_features(found[0])[1]


def class_concepts(F: Any, geometry: Any, translator: Any, Z_concepts: Any, concepts: Sequence[str], *,
                   class_id: str, top: int | None = None) -> pl.DataFrame:
    """One class's concepts ranked by mean |AS| of null removal over its images (F: (N, m) features; Z_concepts:
    (P, d) text embeddings of ``concepts``), largest first, ties by concept name; ``rank`` counts from 1.
    ``top``: keep the first ``top`` rows (None: all). Columns: class_id, rank, concept, as_mean, as_std,
    abs_as_mean, angle_orig_mean, angle_eq_mean, n (angles in degrees; :func:`open_vocabulary_scores`)."""
    if top is not None and top < 1:
        raise ValueError(f"top: must be >= 1 or None, got {top}")
    df = (open_vocabulary_scores(F, geometry, translator, Z_concepts, concepts)
          .sort(["abs_as_mean", "concept"], descending=[True, False])
          .with_row_index("rank", offset=1)
          .with_columns(pl.col("rank").cast(pl.Int64), pl.lit(class_id).alias("class_id")))
    df = df.select("class_id", "rank", "concept", "as_mean", "as_std", "abs_as_mean", "angle_orig_mean",
                   "angle_eq_mean", "n")
    return df if top is None else df.head(top)


def class_concepts_table(feature_dirs: Sequence[str | os.PathLike], class_ids: Sequence[str], geometry: Any,
                         translator: Any, dictionary: Any, *, model: str, space: str,
                         top: int | None = None) -> pl.DataFrame:
    """:func:`class_concepts` for every class of ``class_ids`` (features ``<dir>/<file key>.parquet`` in one of
    ``feature_dirs``) against every concept of ``dictionary`` (a :class:`sing.data.dictionaries.ConceptDictionary`
    checked against ``space``). Columns :data:`CLASS_CONCEPT_COLUMNS`, sorted by (class_id, rank).

    Raises FileNotFoundError naming the class and the directories when its features are missing, ValueError when
    the dictionary's dimension is not the translator's output dimension."""
    if dictionary.dim != translator.out_dim:
        raise ValueError(f"dictionary {dictionary.name!r}: dimension {dictionary.dim} but the translator of model "
                         f"{model!r} maps into dimension {translator.out_dim} (space {space!r})")
    dirs = [Path(d) for d in feature_dirs]
    frames = []
    for class_id in sorted(class_ids):
        F = _class_features(dirs, class_id)
        frames.append(class_concepts(F, geometry, translator, dictionary.embeddings, list(dictionary.labels),
                                     class_id=class_id, top=top))
        log.info("%s: %d images, %d concepts of %s", class_id, F.shape[0], len(dictionary), dictionary.name)
    return (pl.concat(frames).with_columns(pl.lit(model).alias("model"), pl.lit(space).alias("space"),
                                           pl.lit(dictionary.name).alias("dictionary"))
            .select(CLASS_CONCEPT_COLUMNS).sort("class_id", "rank"))


def model_concepts(class_table: pl.DataFrame, *, top: int = 10) -> pl.DataFrame:
    """The model-level table of a :func:`class_concepts_table` (one model, space and dictionary; every concept of
    every class, i.e. built with ``top=None``): per concept, ``abs_as_mean`` = the mean over classes of the class's
    mean |AS| (each class weighs the same), ``abs_as_max`` and the class it occurs in (``class_of_max``; ties: the
    first class id), ``as_mean`` = the mean over classes of the signed class means, ``n_top`` = in how many classes
    the concept ranks within ``top``, ``n_classes``. Ranked by abs_as_mean (largest first, ties by concept).

    Raises ValueError for a table of several models / spaces / dictionaries, or one cut to the top rows (a concept
    missing from some class would bias its mean)."""
    if top < 1:
        raise ValueError(f"top: must be >= 1, got {top}")
    keys = class_table.select("model", "space", "dictionary").unique()
    if keys.height != 1:
        raise ValueError(f"class_table: expected one (model, space, dictionary), got {keys.rows()}")
    per_class = class_table.group_by("class_id").agg(pl.len().alias("k"))
    n_concepts = class_table["concept"].n_unique()
    if per_class["k"].min() != n_concepts or per_class["k"].max() != n_concepts:
        raise ValueError("class_table: every class must hold every concept (build it with top=None); got "
                         f"{per_class['k'].min()}..{per_class['k'].max()} of {n_concepts} concepts per class")
    model, space, dictionary = keys.row(0)
    out = (class_table.sort("class_id")
           .group_by("concept")
           .agg(pl.col("abs_as_mean").mean().alias("abs_as_mean_over"),
                pl.col("abs_as_mean").max().alias("abs_as_max"),
                pl.col("class_id").sort_by(["abs_as_mean", "class_id"], descending=[True, False]).first()
                .alias("class_of_max"),
                pl.col("as_mean").mean().alias("as_mean_over"),
                (pl.col("rank") <= top).sum().cast(pl.Int64).alias("n_top"),
                pl.len().cast(pl.Int64).alias("n_classes"))
           .rename({"abs_as_mean_over": "abs_as_mean", "as_mean_over": "as_mean"})
           .sort(["abs_as_mean", "concept"], descending=[True, False])
           .with_row_index("rank", offset=1)
           .with_columns(pl.col("rank").cast(pl.Int64), pl.lit(model).alias("model"), pl.lit(space).alias("space"),
                         pl.lit(dictionary).alias("dictionary")))
    return out.select(MODEL_CONCEPT_COLUMNS)


def concept_tables(feature_dirs: Sequence[str | os.PathLike], class_ids: Sequence[str], geometry: Any,
                   translator: Any, dictionaries: Sequence[Any], *, model: str, space: str, top: int = 10
                   ) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The two concept tables of one (model, space) over ``dictionaries``
    (:class:`sing.data.dictionaries.ConceptDictionary`, each of this space), for every class of ``class_ids``:

    * ``class_concepts`` (:data:`CLASS_CONCEPT_COLUMNS`): each class's first ``top`` concepts by mean |AS| of null
      removal (:func:`class_concepts_table`), per dictionary;
    * ``model_concepts`` (:data:`MODEL_CONCEPT_COLUMNS`): every concept of each dictionary across the classes
      (:func:`model_concepts` of the full class table, ``n_top`` counting ranks ≤ ``top``).

    No dictionary: both tables empty (with their columns). Raises as :func:`class_concepts_table`.
    """
    classes, models = [], []
    for dictionary in dictionaries:
        full = class_concepts_table(feature_dirs, class_ids, geometry, translator, dictionary, model=model,
                                    space=space)
        models.append(model_concepts(full, top=top))
        classes.append(full.filter(pl.col("rank") <= top))

    def frame(frames: list[pl.DataFrame], columns: Sequence[str]) -> pl.DataFrame:
        if frames:
            return pl.concat(frames)
        return pl.DataFrame(schema={c: _SCHEMA[c] for c in columns})

    return frame(classes, CLASS_CONCEPT_COLUMNS), frame(models, MODEL_CONCEPT_COLUMNS)
