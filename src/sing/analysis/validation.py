"""Null-space validation (supp. §2, Fig 9): null-space removal and equal-norm null / random / principal perturbations,
their logit change and their CLIP drift.

Kinds (``kind`` column), per image f with null component ``Π_n f``:

* ``null_removal``: ``δ = −Π_n f`` — the paper's null perturbation (supp. §2: "null-space removal"; the same
  ``f̃ = f − Π_n f`` as every AS/IS of sing, eq. 9). Deterministic (``seed`` is null). Its logit change is
  ``‖W Π_n f‖ ≈ 0`` and its CLIP drift ``∠(T f, T(f − Π_n f))`` is exactly the image's IS.
* ``null``: a random Gaussian direction inside the null space (``δ = V_n g``), rescaled to ``‖Π_n f‖`` — sing's
  addition: a null-space move that is not the image's own null component.
* ``random``: an isotropic Gaussian direction in R^m, rescaled to ``‖Π_n f‖`` (supp. §2 (ii)).
* ``principal``: the predicted class's head row ``W[pred]`` (the steepest direction of its logit), rescaled to
  ``‖Π_n f‖`` (supp. §2 (iii)).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import polars as pl

from ..core.arrays import as_float64
from ..core.metrics import angle_deg
from ..core.perturb import PERTURBATION_KINDS, equal_norm_perturbation, logit_change
from .stats import row_norm, safe_div

__all__ = ["VALIDATION_COLUMNS", "VALIDATION_KINDS", "subsample", "validation_scores"]

#: one row per (image, perturbation kind, seed) (``tables/validation.parquet``)
VALIDATION_COLUMNS = ("model", "space", "image_id", "kind", "seed", "norm", "logit_change", "logit_change_rel",
                      "clip_drift_deg")
#: the perturbation kinds of the validation table, in table order (module docstring)
VALIDATION_KINDS = ("null_removal", *PERTURBATION_KINDS)


def subsample(n_rows: int, max_images: int, seed: int) -> np.ndarray | None:
    """Sorted indices of ``max_images`` rows drawn without replacement (``numpy.random.default_rng(seed)``), so the
    subset spans every class of the sample rather than its first few; None when ``n_rows <= max_images``."""
    if max_images < 1:
        raise ValueError(f"max_images: must be >= 1, got {max_images}")
    if n_rows <= max_images:
        return None
    return np.sort(np.random.default_rng(seed).choice(n_rows, size=max_images, replace=False))


def validation_scores(F: Any, image_ids: Sequence[str], W: Any, geometry: Any, translator: Any,
                      seeds: Sequence[int], pred: Any | None = None,
                      kinds: Sequence[str] = VALIDATION_KINDS) -> pl.DataFrame:
    """Null-space removal and equal-norm null / random / principal perturbations (norm = ‖Π_n f‖ per image;
    module docstring): logit change ‖W δ‖, its ratio to ‖W f‖, and the CLIP drift ∠(T f, T(f + δ)) in degrees
    (f and f + δ translated separately, so any translator works).

    F (N, m); image_ids (N); W (c, m) head weight; geometry: HeadGeometry; seeds: one row per seed for the random
    kinds, one row with a null seed for ``null_removal``; pred (N,) predicted classes (default argmax F Wᵀ);
    kinds: a subset of :data:`VALIDATION_KINDS`. Rows sorted by (image_id, kind, seed); columns
    ``VALIDATION_COLUMNS`` without model/space. ValueError for unknown kinds, no seed or mismatched ids."""
    F = as_float64(F, "F", ndim=2)
    W = as_float64(W, "W", ndim=2)
    n = F.shape[0]
    if len(image_ids) != n:
        raise ValueError(f"image_ids: expected {n} ids, got {len(image_ids)}")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds: need at least one seed")
    unknown = [k for k in kinds if k not in VALIDATION_KINDS]
    if unknown or not kinds:
        raise ValueError(f"kinds: expected a non-empty subset of {VALIDATION_KINDS}, got {list(kinds)}")
    if pred is None:
        pred = np.argmax(F @ W.T, axis=1)
    pred = np.asarray(pred, dtype=np.int64)
    PnF = np.asarray(geometry.project_null(F), dtype=np.float64)
    norm = row_norm(PnF)
    wf = row_norm(F @ W.T)
    z = translator(F)
    ids = list(map(str, image_ids))
    frames = []

    def frame(kind, seed, delta):
        lc = np.asarray(logit_change(W, delta), dtype=np.float64)
        drift = angle_deg(z, translator(F + delta), pairwise=False)
        return pl.DataFrame({"image_id": ids, "kind": [kind] * n,
                             "seed": pl.Series([seed] * n, dtype=pl.Int64), "norm": norm,
                             "logit_change": lc, "logit_change_rel": safe_div(lc, wf), "clip_drift_deg": drift})

    for kind in kinds:
        if kind == "null_removal":
            frames.append(frame(kind, None, -PnF))  # F + (−Π_n F) is bitwise F − Π_n F, the f̃ of every score
            continue
        for seed in seeds:
            if np.all(norm == 0):
                delta = np.zeros_like(F)
            else:
                delta = np.asarray(equal_norm_perturbation(F, geometry, kind, norm, seed, W=W, pred=pred),
                                   dtype=np.float64)
            frames.append(frame(kind, seed, delta))
    return pl.concat(frames).sort("image_id", "kind", "seed")
