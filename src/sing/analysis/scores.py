"""Image level (the paper's table 1): AS and IS of null removal ``f̃ = f − Π_n f`` (eqs. 7-9) with the two angles
behind AS, ‖f‖, ‖Π_n f‖/‖f‖, the logit change of null removal (the built-in sanity check, ≈ 0) and the *leakage
baseline*: the same scores after removing random subspaces of the null-space dimension (:class:`RandomSubspaces`).
Angles in degrees; rows sorted by image id.
"""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np
import polars as pl

from ..core.arrays import as_float64
from ..core.metrics import angle_deg
from .stats import row_norm, safe_div

__all__ = ["SCORE_COLUMNS", "RandomSubspaces", "haar_basis", "score_images", "scores_frame"]

#: per-image score table (``scores/<model>/<space>/chunk-*/<class file key>.parquet``); column order is the contract
SCORE_COLUMNS = (
    "image_id", "class_id", "class_index", "pred_class", "correct",
    "as_deg", "is_deg", "angle_orig_deg", "angle_eq_deg", "feature_norm", "null_ratio",
    "logit_change", "logit_change_rel",
    "baseline_as_mean", "baseline_as_std", "baseline_is_mean", "baseline_is_std",
    "baseline_abs_as_seeds", "baseline_is_seeds",
)


def haar_basis(m: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """Orthonormal basis (m×k) of a uniformly (Haar) distributed random k-dim subspace of R^m."""
    if not (0 <= k <= m):
        raise ValueError(f"k: subspace dimension must be in [0, {m}], got {k}")
    if k == 0:
        return np.zeros((m, 0))
    G = rng.standard_normal((m, k))
    Q, R = np.linalg.qr(G)
    signs = np.sign(np.diag(R))
    signs[signs == 0] = 1.0
    return np.ascontiguousarray(Q * signs)


class RandomSubspaces:
    """Random subspaces of dimension ``k`` (= the head's nullity) in R^m, one per seed.

    ``remove(F, s)`` returns ``F − P_s F`` for the s-th subspace. Only the thinner of the subspace and
    its complement is stored (the complement of a Haar-random (m−k)-subspace is a Haar-random k-subspace),
    so VGG's 3096-dim null space costs a 4096×1000 basis. Subspaces depend only on (m, k, seed, s),
    never on which images or chunk are scored, so every chunk of a model sees the same baseline.
    """

    def __init__(self, m: int, k: int, n_seeds: int, seed: int):
        if n_seeds < 0:
            raise ValueError(f"baseline_seeds: must be >= 0, got {n_seeds}")
        if not (0 <= k <= m):
            raise ValueError(f"nullity: must be in [0, {m}], got {k}")
        self.m, self.k, self.n_seeds, self.seed = int(m), int(k), int(n_seeds), int(seed)
        self.complement = k > m - k
        thin = m - k if self.complement else k
        self.bases = [haar_basis(m, thin, np.random.default_rng([int(seed), 7919, s])) for s in range(n_seeds)]

    def remove(self, F: np.ndarray, s: int) -> np.ndarray:
        B = self.bases[s]
        if self.complement:  # F - P F = P_complement F
            return (F @ B) @ B.T
        return F - (F @ B) @ B.T


def score_images(F: Any, Z_text: Any, geometry: Any, translator: Any, W: Any | None = None,
                 baseline: RandomSubspaces | None = None) -> dict[str, np.ndarray]:
    """Per-image scores of null removal.

    F: (N, m) classifier features; Z_text: (N, d) the text embedding each image is scored against (its
    class prompt) or (d,) for all; geometry: HeadGeometry; translator: any callable (N, m) -> (N, d) — the linear
    ridge (:class:`sing.core.translator.LinearTranslator`, the default) or a non-linear
    :class:`sing.core.nonlinear.NonlinearTranslator`. f and f̃ are always translated separately, T(f) and
    T(f − Π_n f), so no linearity is assumed (for a non-linear T, T(f̃) ≠ T(f) − T(Π_n f) + b); W: head weight
    (c×m) for the logit change (omitted -> NaN); baseline: RandomSubspaces for the leakage baseline.

    Returns float64 arrays: as_deg, is_deg, angle_orig_deg, angle_eq_deg, feature_norm, null_ratio,
    logit_change (‖W Π_n f‖), logit_change_rel (÷ ‖W f‖), and for the baseline (N, S) arrays
    baseline_abs_as_seeds (|AS| after removing random subspace s) and baseline_is_seeds plus their per-image
    mean / sample std (ddof=1; 0 when S == 1) as baseline_as_mean / _std (of |AS|), baseline_is_mean / _std.
    Nullity 0: AS = IS = 0 and a zero baseline.
    """
    F = as_float64(F, "F", ndim=2)
    n, m = F.shape
    if m != geometry.in_dim:
        raise ValueError(f"F: feature dimension {m} does not match the head geometry's in_dim {geometry.in_dim}")
    Zt = as_float64(Z_text, "Z_text", ndim=(1, 2))
    if Zt.ndim == 2 and Zt.shape[0] != n:
        raise ValueError(f"Z_text: expected one text embedding per image ({n}), got {Zt.shape[0]}")
    PnF = np.asarray(geometry.project_null(F), dtype=np.float64)
    F_eq = F - PnF
    z = translator(F)
    z_eq = translator(F_eq)
    angle_orig = angle_deg(z, Zt, pairwise=False)
    if geometry.nullity == 0:
        angle_eq = angle_orig.copy()
        is_deg = np.zeros(n)
    else:
        angle_eq = angle_deg(z_eq, Zt, pairwise=False)
        is_deg = angle_deg(z, z_eq, pairwise=False)
    out = {
        "as_deg": angle_orig - angle_eq,
        "is_deg": is_deg,
        "angle_orig_deg": angle_orig,
        "angle_eq_deg": angle_eq,
        "feature_norm": row_norm(F),
        "null_ratio": safe_div(row_norm(PnF), row_norm(F)),
    }
    if W is not None:
        W = as_float64(W, "W", ndim=2)
        if W.shape[1] != m:
            raise ValueError(f"W: head input dimension {W.shape[1]} does not match the features ({m})")
        lc = row_norm(PnF @ W.T)
        out["logit_change"] = lc
        out["logit_change_rel"] = safe_div(lc, row_norm(F @ W.T))
    else:
        out["logit_change"] = np.full(n, np.nan)
        out["logit_change_rel"] = np.full(n, np.nan)
    S = 0 if baseline is None else baseline.n_seeds
    b_as = np.zeros((n, S))
    b_is = np.zeros((n, S))
    if baseline is not None and geometry.nullity > 0:
        if baseline.m != m or baseline.k != geometry.nullity:
            raise ValueError(f"baseline: built for m={baseline.m}, k={baseline.k}; the head has m={m}, "
                             f"nullity={geometry.nullity}")
        for s in range(S):
            z_r = translator(baseline.remove(F, s))
            b_as[:, s] = np.abs(angle_orig - angle_deg(z_r, Zt, pairwise=False))
            b_is[:, s] = angle_deg(z, z_r, pairwise=False)
    out["baseline_abs_as_seeds"] = b_as
    out["baseline_is_seeds"] = b_is
    ddof = 1 if S > 1 else 0
    out["baseline_as_mean"] = b_as.mean(axis=1) if S else np.zeros(n)
    out["baseline_as_std"] = b_as.std(axis=1, ddof=ddof) if S else np.zeros(n)
    out["baseline_is_mean"] = b_is.mean(axis=1) if S else np.zeros(n)
    out["baseline_is_std"] = b_is.std(axis=1, ddof=ddof) if S else np.zeros(n)
    return out


def scores_frame(meta: pl.DataFrame, scores: Mapping[str, np.ndarray]) -> pl.DataFrame:
    """Table-1 rows from the feature table's scalar columns (image_id, class_id, class_index, pred_class,
    correct) and :func:`score_images` output; sorted by image_id."""
    n = meta.height
    need = ("image_id", "class_id", "class_index")
    missing = [c for c in need if c not in meta.columns]
    if missing:
        raise ValueError(f"features: missing column(s) {missing}")
    cols: dict[str, Any] = {
        "image_id": meta["image_id"].cast(pl.String),
        "class_id": meta["class_id"].cast(pl.String),
        "class_index": meta["class_index"].cast(pl.Int32),
        "pred_class": (meta["pred_class"].cast(pl.Int32) if "pred_class" in meta.columns
                       else pl.Series([-1] * n, dtype=pl.Int32)),
        "correct": (meta["correct"].cast(pl.Boolean) if "correct" in meta.columns
                    else pl.Series([None] * n, dtype=pl.Boolean)),
    }
    for name in SCORE_COLUMNS[5:-2]:
        cols[name] = pl.Series(name, np.asarray(scores[name], dtype=np.float64))
    S = scores["baseline_abs_as_seeds"].shape[1]
    for name in ("baseline_abs_as_seeds", "baseline_is_seeds"):
        arr = np.asarray(scores[name], dtype=np.float32).reshape(n, S)
        cols[name] = pl.Series(name, arr, dtype=pl.Array(pl.Float32, S))
    return pl.DataFrame(cols).select(SCORE_COLUMNS).sort("image_id")
