"""The translator on real pairs: its fit from classifier features and CLIP embeddings joined by image id
(paper eq. 4, supp. §1.1), and its held-out check on images it never saw (supp. Fig. 8)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import polars as pl

from ..core.translator import LinearTranslator, RidgeStats, fit_ridge
from ..io.pairs import align_pairs

__all__ = ["TRANSLATOR_EVAL_COLUMNS", "fit_translator_from_pairs", "ridge_stats_from_pairs", "translation_errors",
           "translator_eval"]

#: one row per held-out image of a (model, space) (``tables/translator_eval.parquet``)
TRANSLATOR_EVAL_COLUMNS = ("model", "space", "image_id", "class_id", "cosine", "squared_error", "target_sq_norm")


def fit_translator_from_pairs(*, feature_ids: Sequence[str], features: np.ndarray, target_ids: Sequence[str],
                              targets: np.ndarray, alphas: Sequence[float], folds: int, seed: int
                              ) -> LinearTranslator:
    """Align features (N×m) with CLIP embeddings (N'×n) by image id, then fit the ridge translator with alpha
    chosen by k-fold CV (:func:`sing.core.translator.fit_ridge`); folds are keyed by image id, so they do not
    depend on row order or on other samples. ``metrics["n_train"]`` = number of aligned pairs."""
    ids, F, Z = align_pairs(feature_ids, features, target_ids, targets)
    translator = fit_ridge(F, Z, alphas, folds=folds, seed=seed, keys=ids)
    translator.metrics["n_train"] = len(ids)
    return translator


def ridge_stats_from_pairs(*, feature_ids: Sequence[str], features: np.ndarray, target_ids: Sequence[str],
                           targets: np.ndarray) -> RidgeStats:
    """The ridge's sufficient statistics (one fold) of the translator sample, aligned by image id as in
    :func:`fit_translator_from_pairs`: ``stats.solve(alpha)`` is the translator fitted on all pairs at ``alpha``
    (equal to the stored translator at its CV-chosen alpha up to summation order, ~1e-12 relative). One pass over
    stored features; memory m·(m+n)·8 bytes (VGG: 160 MB), so the translator sensitivity rebuilds them rather
    than storing them."""
    _, F, Z = align_pairs(feature_ids, features, target_ids, targets)
    return RidgeStats(F.shape[1], Z.shape[1], 1).update(F, Z)


def translation_errors(translator: Any, features: np.ndarray, targets: np.ndarray) -> dict[str, np.ndarray]:
    """Per-image cosine between T f and the real CLIP embedding z, the squared error ‖T f − z‖² and ‖z‖²
    (features N×m, targets N×n -> three (N,) float64 arrays). ValueError on a zero-norm row (cosine undefined)."""
    prediction = np.asarray(translator(np.asarray(features, dtype=np.float64)), dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    norms = np.linalg.norm(prediction, axis=1) * np.linalg.norm(targets, axis=1)
    if np.any(norms == 0):
        raise ValueError("zero-norm translated feature or CLIP embedding: cosine undefined")
    return {
        "cosine": np.einsum("ij,ij->i", prediction, targets) / norms,
        "squared_error": np.sum((prediction - targets) ** 2, axis=1),
        "target_sq_norm": np.sum(targets ** 2, axis=1),
    }


def translator_eval(translator: Any, feature_rows: pl.DataFrame, features: np.ndarray, clip_rows: pl.DataFrame,
                    clip: np.ndarray, *, model: str, space: str) -> pl.DataFrame:
    """Held-out rows of one translator: features and CLIP embeddings of the same sample (scalar columns with
    ``image_id`` and ``class_id``) aligned by image id, then :func:`translation_errors`; sorted by image id."""
    ids, F, Z = align_pairs(feature_rows["image_id"].to_list(), features, clip_rows["image_id"].to_list(), clip)
    errors = translation_errors(translator, F, Z)
    class_of = dict(zip(feature_rows["image_id"].to_list(), feature_rows["class_id"].to_list()))
    return pl.DataFrame({"model": [model] * len(ids), "space": [space] * len(ids), "image_id": ids,
                         "class_id": [class_of[i] for i in ids], **errors}).select(TRANSLATOR_EVAL_COLUMNS)
