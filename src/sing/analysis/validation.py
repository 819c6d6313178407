"""Null-space validation (supp. §2, Fig 9): equal-norm null / random / principal perturbations, their logit
change and their CLIP drift."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import polars as pl

from ..core.arrays import as_float64
from ..core.metrics import angle_deg
from ..core.perturb import PERTURBATION_KINDS, equal_norm_perturbation, logit_change
from .stats import row_norm, safe_div

__all__ = ["VALIDATION_COLUMNS", "subsample", "validation_scores"]

#: one row per (image, perturbation kind, seed) (``tables/validation.parquet``)
VALIDATION_COLUMNS = ("model", "space", "image_id", "kind", "seed", "norm", "logit_change", "logit_change_rel",
                      "clip_drift_deg")


def subsample(n_rows: int, max_images: int, seed: int) -> np.ndarray | None:
    """Sorted indices of ``max_images`` rows drawn without replacement (``numpy.random.default_rng(seed)``), so the
    subset spans every class of the sample rather than its first few; None when ``n_rows <= max_images``."""
    if max_images < 1:
        raise ValueError(f"max_images: must be >= 1, got {max_images}")
    if n_rows <= max_images:
        return None
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=max_images, replace=False))


def validation_scores(F: Any, image_ids: Sequence[str], W: Any, geometry: Any, translator: Any,
                      seeds: Sequence[int], pred: Any | None = None) -> pl.DataFrame:
    """Equal-norm null / random / principal perturbations (norm = ‖Π_n f‖ per image): logit change
    ‖W δ‖, its ratio to ‖W f‖, and the CLIP drift ∠(T f, T(f + δ)) in degrees. Rows sorted by
    (image_id, kind, seed)."""
    F = as_float64(F, "F", ndim=2)
    W = as_float64(W, "W", ndim=2)
    n = F.shape[0]
    if len(image_ids) != n:
        raise ValueError(f"image_ids: expected {n} ids, got {len(image_ids)}")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds: need at least one seed")
    if pred is None:
        pred = np.argmax(F @ W.T, axis=1)
    pred = np.asarray(pred, dtype=np.int64)
    norm = row_norm(np.asarray(geometry.project_null(F), dtype=np.float64))
    wf = row_norm(F @ W.T)
    z = translator(F)
    frames = []
    for kind in PERTURBATION_KINDS:
        for seed in seeds:
            if np.all(norm == 0):
                delta = np.zeros_like(F)
            else:
                delta = np.asarray(equal_norm_perturbation(F, geometry, kind, norm, seed, W=W, pred=pred),
                                   dtype=np.float64)
            lc = np.asarray(logit_change(W, delta), dtype=np.float64)
            drift = angle_deg(z, translator(F + delta), pairwise=False)
            frames.append(pl.DataFrame({"image_id": list(map(str, image_ids)), "kind": [kind] * n,
                                        "seed": np.full(n, seed, dtype=np.int64), "norm": norm,
                                        "logit_change": lc, "logit_change_rel": safe_div(lc, wf),
                                        "clip_drift_deg": drift}))
    return pl.concat(frames).sort("image_id", "kind", "seed")
