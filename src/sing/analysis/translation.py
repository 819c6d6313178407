"""The translator on real pairs: its fit from classifier features and CLIP embeddings joined by image id
(paper eq. 4, supp. §1.1), and its held-out check on images it never saw (supp. Fig. 8)."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import polars as pl

from ..core.translator import LinearTranslator, RidgeStats, fit_ridge
from ..io.pairs import align_pairs
from ..io.storage import read_embeddings

__all__ = ["QUALITY_DEFAULTS", "TRANSLATOR_EVAL_COLUMNS", "fit_translator_from_pairs", "log_translator_flags",
           "ridge_stats_from_pairs", "translation_errors", "translator_eval", "translator_eval_tables",
           "translator_flags"]

log = logging.getLogger(__name__)

#: thresholds of :func:`translator_flags` (proposed config keys ``translator.min_heldout_r2`` and
#: ``translator.min_samples_per_dim``): held-out R² below 0.5 = the translator explains less than half of the CLIP
#: embeddings' variance on images it did not see; fewer training images than feature dimensions = an
#: underdetermined fit that only the ridge penalty holds in place
QUALITY_DEFAULTS = {"min_heldout_r2": 0.5, "min_samples_per_dim": 1.0}

#: one row per held-out image of a (model, space) (``tables/translator_eval.parquet``)
TRANSLATOR_EVAL_COLUMNS = ("model", "space", "translator", "image_id", "class_id", "cosine", "squared_error",
                           "target_sq_norm")


def fit_translator_from_pairs(*, feature_ids: Sequence[str], features: np.ndarray, target_ids: Sequence[str],
                              targets: np.ndarray, alphas: Sequence[float], folds: int, seed: int,
                              quality: Mapping[str, float] | None = None, what: str = "") -> LinearTranslator:
    """Align features (N×m) with CLIP embeddings (N'×n) by image id, then fit the ridge translator with alpha
    chosen by k-fold CV (:func:`sing.core.translator.fit_ridge`); folds are keyed by image id, so they do not
    depend on row order or on other samples. ``metrics["n_train"]`` = number of aligned pairs. With ``quality``
    (thresholds of :func:`translator_flags`; {} for the defaults), each quality flag is logged as a WARNING
    naming the translator (``what``)."""
    ids, F, Z = align_pairs(feature_ids, features, target_ids, targets)
    translator = fit_ridge(F, Z, alphas, folds=folds, seed=seed, keys=ids)
    translator.metrics["n_train"] = len(ids)
    if quality is not None:
        log_translator_flags(translator_flags(translator, quality), what or "fit")
    return translator


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def translator_flags(translator: Any, quality: Mapping[str, float] | None = None) -> dict[str, str]:
    """Warnings about a fitted translator (:func:`sing.core.translator.fit_ridge`'s ``metrics``, ``alpha``,
    ``in_dim``, ``n_train``), as {flag: sentence naming the numbers and the config key that fixes it}:

    * ``low_r2``: held-out R² (out-of-fold, ``metrics["heldout_r2"]``) below ``quality["min_heldout_r2"]``;
    * ``alpha_at_edge``: the chosen α is the smallest or the largest of the grid (``metrics["cv_alphas"]``, at
      least two values): the cross-validation optimum may lie outside ``translator.alphas``;
    * ``few_samples``: fewer training pairs than ``quality["min_samples_per_dim"]`` × feature dimension.

    ``quality``: thresholds (missing keys: :data:`QUALITY_DEFAULTS`). A metric that was not computed (a single
    α, one fold) raises no flag. Empty dict: nothing to report."""
    q = {**QUALITY_DEFAULTS, **dict(quality or {})}
    metrics = dict(getattr(translator, "metrics", None) or {})
    flags: dict[str, str] = {}
    r2 = _number(metrics.get("heldout_r2"))
    if r2 is not None and r2 < q["min_heldout_r2"]:
        flags["low_r2"] = (f"held-out R² {r2:.3f} < {q['min_heldout_r2']:g} (translator.min_heldout_r2): the "
                           "translated features explain little of the CLIP embeddings; AS and IS rest on a weak map "
                           "(more translator images: samples.translator.per_class)")
    grid = sorted(v for v in (_number(a) for a in metrics.get("cv_alphas") or ()) if v is not None)
    alpha = _number(getattr(translator, "alpha", None)) or _number(metrics.get("alpha"))
    if alpha is not None and len(grid) >= 2 and alpha in (grid[0], grid[-1]):
        side, nxt = ("largest", "larger") if alpha == grid[-1] else ("smallest", "smaller")
        flags["alpha_at_edge"] = (f"α = {alpha:g} is the {side} value of translator.alphas {grid}: the "
                                  f"cross-validation optimum may lie beyond the grid (add {nxt} values)")
    n = _number(getattr(translator, "n_train", None)) or _number(metrics.get("n_train"))
    m = _number(getattr(translator, "in_dim", None))
    if n is not None and m and n < q["min_samples_per_dim"] * m:
        flags["few_samples"] = (f"{int(n)} training images for {int(m)} feature dimensions (< "
                                f"{q['min_samples_per_dim']:g} per dimension, translator.min_samples_per_dim): an "
                                "underdetermined fit held in place only by the ridge penalty (more images: "
                                "samples.translator.per_class)")
    return flags


def log_translator_flags(flags: Mapping[str, str], what: str) -> None:
    """One WARNING per flag of :func:`translator_flags`, naming the translator (``what``, e.g. "resnet ->
    openai_vitl14")."""
    for flag, text in flags.items():
        log.warning("translator %s: %s [%s]", what, text, flag)
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
    ``image_id`` and ``class_id``) aligned by image id, then :func:`translation_errors`; sorted by image id.
    Column ``translator``: "published" for an imported translator (its ``source`` says so), else "fitted"."""
    ids, F, Z = align_pairs(feature_rows["image_id"].to_list(), features, clip_rows["image_id"].to_list(), clip)
    errors = translation_errors(translator, F, Z)
    class_of = dict(zip(feature_rows["image_id"].to_list(), feature_rows["class_id"].to_list()))
    kind = _translator_kind(translator)
    return pl.DataFrame({"model": [model] * len(ids), "space": [space] * len(ids), "translator": [kind] * len(ids),
                         "image_id": ids,
                         "class_id": [class_of[i] for i in ids], **errors}).select(TRANSLATOR_EVAL_COLUMNS)


def _translator_kind(translator: Any) -> str:
    """The ``translator`` column: "published" for an imported translator (its ``source`` says so), else "fitted"."""
    return "published" if (getattr(translator, "source", None) or {}).get("kind") == "published" else "fitted"


def translator_eval_tables(translator: Any, feature_tables: Sequence[str | os.PathLike],
                           clip_tables: Sequence[str | os.PathLike], *, model: str, space: str,
                           block_rows: int = 1024) -> pl.DataFrame:
    """:func:`translator_eval` streamed over class tables: the feature and CLIP tables of one class (the same file
    name, ``<file key>.parquet``, in the two sets of chunk directories) are read together, aligned by image id and
    gathered into blocks of about ``block_rows`` rows evaluated in float64, so memory is one class plus one block,
    never the whole sample. Rows, order (by image id) and values are those of :func:`translator_eval` on the
    concatenated tables; images present on one side only are dropped and counted in one log line. ValueError for a
    class file name twice on one side, an image id in two tables, or no image on both sides."""
    def by_name(paths, side):
        out: dict[str, Path] = {}
        for p in map(Path, paths):
            if p.name in out:
                raise ValueError(f"{side}: two class tables named {p.name} ({out[p.name]}, {p})")
            out[p.name] = p
        return out

    feats, clips = by_name(feature_tables, "features"), by_name(clip_tables, "CLIP embeddings")
    parts, seen, dropped = [], set(), 0
    pending: list[tuple[list[str], list[str], np.ndarray, np.ndarray]] = []

    def flush():
        ids = [i for p in pending for i in p[0]]
        errors = translation_errors(translator, np.concatenate([p[2] for p in pending]),
                                    np.concatenate([p[3] for p in pending]))
        parts.append(pl.DataFrame({"image_id": ids, "class_id": [c for p in pending for c in p[1]], **errors}))
        pending.clear()

    for name, fpath in feats.items():
        frame, F, _ = read_embeddings(fpath)
        if name not in clips:
            dropped += frame.height
            continue
        cframe, Z, _ = read_embeddings(clips[name])
        f_ids, c_ids = frame["image_id"].to_list(), cframe["image_id"].to_list()
        for side, ids in (("features", f_ids), ("CLIP embeddings", c_ids)):
            if len(set(ids)) != len(ids):
                raise ValueError(f"{side}: duplicated image ids in {fpath if side == 'features' else clips[name]}")
        f_pos = {i: r for r, i in enumerate(f_ids)}
        c_pos = {i: r for r, i in enumerate(c_ids)}
        common = sorted(f_pos.keys() & c_pos.keys())
        dropped += len(f_ids) + len(c_ids) - 2 * len(common)
        if seen.intersection(common):
            raise ValueError(f"features: image id {sorted(seen.intersection(common))[0]!r} in two class tables")
        seen.update(common)
        fi = np.asarray([f_pos[i] for i in common], dtype=np.int64)
        ci = np.asarray([c_pos[i] for i in common], dtype=np.int64)
        class_ids = frame["class_id"].to_list()
        for s in range(0, len(common), block_rows):  # classes gathered into blocks: one matrix product per block
            rows = fi[s:s + block_rows]
            pending.append((common[s:s + block_rows], [class_ids[r] for r in rows], F[rows], Z[ci[s:s + block_rows]]))
            if sum(len(p[0]) for p in pending) >= block_rows:
                flush()
    if pending:
        flush()
    dropped += sum(pl.scan_parquet(clips[n], glob=False).select(pl.len()).collect().item()
                   for n in clips.keys() - feats.keys())
    if not parts:
        raise ValueError("features and CLIP embeddings share no image id: were they made from the same sample?")
    if dropped:
        log.warning("%d images present on one side only were dropped", dropped)
    table = pl.concat(parts).sort("image_id")
    kind = _translator_kind(translator)
    return table.with_columns(pl.lit(model).alias("model"), pl.lit(space).alias("space"),
                              pl.lit(kind).alias("translator")).select(
        TRANSLATOR_EVAL_COLUMNS)
