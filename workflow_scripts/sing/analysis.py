"""The analyses of the paper (and a leakage baseline beyond it) on top of the core math.

Every function here is pure math on arrays / polars tables; the workflow scripts only read inputs, call
these and write the results. Angles are in degrees everywhere. Everything is deterministic: random draws
come from ``numpy.random.default_rng`` seeded by the caller, rows are sorted by their key columns.

Levels (paper §3.5, §4; supplementary §2-5):

* image  — :func:`score_images`: AS (class prompt) and IS of null removal ``f̃ = f − Π_n f`` (eqs. 7-9), the
  two angles behind AS, ‖f‖, ‖Π_n f‖/‖f‖, the logit change of null removal (the built-in sanity check,
  ≈ 0) and the *leakage baseline*: the same scores after removing random subspaces of the null-space
  dimension (:class:`RandomSubspaces`).
* class / model — :func:`class_summary`, :func:`model_summary`: medians, means, IQRs, the IS/|AS| ratio
  with a (class-cluster) bootstrap CI (:func:`bootstrap_ratio`), leakage z-scores (:func:`leakage_z`).
* between models — :func:`rank_correlations` (Spearman of per-class |AS| between every pair of models),
  :func:`space_crosscheck` (Kendall τ / Spearman ρ between the model orderings in two CLIP spaces),
  :func:`robustness_correlation` (Pearson r, supp. §4).
* steering (Table 1), validation (supp. §2), robustness (supp. §4), open vocabulary (§4.3, Fig 5).

The correlation statistics (:func:`spearman`, :func:`kendall_tau`, :func:`pearson`) are implemented here
(vectorised, tie-aware) and tested against :mod:`scipy.stats`.
"""

from __future__ import annotations

import json
import logging
import math
import os
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import polars as pl

from .storage import write_frame

log = logging.getLogger(__name__)

# ---------------------------------------------------------------------------------------------------------
# Table schemas (column order is part of the contract; see README "Results layout")
# ---------------------------------------------------------------------------------------------------------
SCORE_COLUMNS = (
    "image_id", "wnid", "class_index", "pred_class", "correct",
    "as_deg", "is_deg", "angle_orig_deg", "angle_eq_deg", "feature_norm", "null_ratio",
    "logit_change", "logit_change_rel",
    "baseline_as_mean", "baseline_as_std", "baseline_is_mean", "baseline_is_std",
    "baseline_abs_as_seeds", "baseline_is_seeds",
)

STAT_COLUMNS = (
    "as_median", "as_mean", "as_iqr", "abs_as_median", "abs_as_mean",
    "abs_as_q05", "abs_as_q25", "abs_as_q75", "abs_as_q95",
    "is_median", "is_mean", "is_iqr", "is_q25", "is_q75", "ratio",
)

MODEL_SUMMARY_COLUMNS = (
    "model", "space", "rank", "nullity", "in_dim", "sv_max", "sv_min_nonzero", "sv_rank_gap",
    "n_images", "n_classes",
    *STAT_COLUMNS, "ratio_ci_low", "ratio_ci_high", "bootstrap_unit",
    "alpha", "r2", "cosine_mean", "accuracy", "max_logit_change_rel",
    "null_ratio_median", "baseline_abs_as_mean", "baseline_is_mean", "as_z", "is_z",
)

CLASS_SUMMARY_COLUMNS = (
    "model", "space", "wnid", "class_index", "class_name", "n",
    *STAT_COLUMNS, "accuracy", "null_ratio_median", "max_logit_change_rel",
    "baseline_abs_as_mean", "baseline_is_mean", "as_z", "is_z",
)

RANK_CORRELATION_COLUMNS = ("space", "model_a", "model_b", "n_classes", "spearman_rho", "spearman_p")

SPACE_CROSSCHECK_COLUMNS = (
    "model", "space_a", "space_b", "ratio_a", "ratio_b", "rank_a", "rank_b", "n_models",
    "kendall_tau", "kendall_p", "spearman_rho", "spearman_p",
)

STEERING_COLUMNS = ("model", "space", "image_id", "eps", "is_deg", "as_deg", "abs_as", "reachable", "reason")
STEERING_SUMMARY_COLUMNS = ("model", "space", "n", "n_reachable", "n_unreachable", "abs_as_mean", "abs_as_std",
                            "is_mean")
VALIDATION_COLUMNS = ("model", "space", "image_id", "kind", "seed", "norm", "logit_change", "logit_change_rel",
                      "clip_drift_deg")
ROBUSTNESS_COLUMNS = ("model", "space", "acc_principal", "acc_translated", "n_train", "n_test", "n_classes")
ROBUSTNESS_SUMMARY_COLUMNS = (*ROBUSTNESS_COLUMNS, "pearson_r", "pearson_p", "n_models")
OPEN_VOCABULARY_COLUMNS = ("model", "space", "wnid", "kind", "concept", "angle_orig_mean", "angle_eq_mean",
                           "as_mean", "as_std", "abs_as_mean", "n")

PERTURBATION_KINDS = ("null", "random", "principal")


# ---------------------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------------------
def _f64(x: Any, name: str, ndim: int | tuple[int, ...] = 2, allow_empty: bool = False) -> np.ndarray:
    """float64 C-contiguous copy of ``x`` with a ValueError naming ``name`` on bad shape / NaN / Inf."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    try:
        arr = np.ascontiguousarray(np.asarray(x, dtype=np.float64))
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name}: cannot convert to a float array ({e})") from e
    dims = (ndim,) if isinstance(ndim, int) else ndim
    if arr.ndim not in dims:
        raise ValueError(f"{name}: expected {' or '.join(map(str, dims))}-d array, got shape {arr.shape}")
    if arr.size == 0 and not allow_empty:
        raise ValueError(f"{name}: empty array (shape {arr.shape})")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: contains NaN or Inf")
    return arr


def _ratio(num: Any, den: Any) -> np.ndarray:
    """num / den, NaN where den is 0 (the IS/|AS| ratio is undefined without leakage, e.g. nullity 0)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def translate(translator: Any, F: np.ndarray) -> np.ndarray:
    """``T(F) = F Wᵀ + b`` in float64 for any object with ``.weight`` (n×m) and ``.bias`` (n)."""
    W = _f64(translator.weight, "translator.weight", 2)
    b = _f64(translator.bias, "translator.bias", 1)
    if F.shape[-1] != W.shape[1]:
        raise ValueError(f"F: feature dimension {F.shape[-1]} does not match the translator's input "
                         f"dimension {W.shape[1]}")
    return F @ W.T + b


def _angle(x: np.ndarray, y: np.ndarray, pairwise: bool = False) -> np.ndarray:
    """Row-wise angles (N,d)×(N,d) or (N,d)×(d,) -> (N,); pairwise=True: (N,d)×(P,d) -> (N,P)."""
    from .metrics import angle_deg

    return np.asarray(angle_deg(x, y, pairwise=pairwise if y.ndim == 2 else None), dtype=np.float64)


def _row_norm(x: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("ij,ij->i", x, x))


def _safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(b > 0, a / np.where(b > 0, b, 1.0), np.where(a == 0, 0.0, np.nan))
    return out


# ---------------------------------------------------------------------------------------------------------
# Leakage baseline: random subspaces of the null-space dimension
# ---------------------------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------------------------
# Image level: scores of null removal (table 1)
# ---------------------------------------------------------------------------------------------------------
def score_images(F: Any, Z_text: Any, geometry: Any, translator: Any, W: Any | None = None,
                 baseline: RandomSubspaces | None = None) -> dict[str, np.ndarray]:
    """Per-image scores of null removal.

    F: (N, m) classifier features; Z_text: (N, d) the text embedding each image is scored against (its
    class prompt) or (d,) for all; geometry: HeadGeometry; translator: has .weight/.bias; W: head weight
    (c×m) for the logit change (omitted -> NaN); baseline: RandomSubspaces for the leakage baseline.

    Returns float64 arrays: as_deg, is_deg, angle_orig_deg, angle_eq_deg, feature_norm, null_ratio,
    logit_change (‖W Π_n f‖), logit_change_rel (÷ ‖W f‖), and for the baseline (N, S) arrays
    baseline_abs_as_seeds (|AS| after removing random subspace s) and baseline_is_seeds plus their per-image
    mean / sample std (ddof=1; 0 when S == 1) as baseline_as_mean / _std (of |AS|), baseline_is_mean / _std.
    Nullity 0: AS = IS = 0 and a zero baseline.
    """
    F = _f64(F, "F", 2)
    n, m = F.shape
    if m != geometry.in_dim:
        raise ValueError(f"F: feature dimension {m} does not match the head geometry's in_dim {geometry.in_dim}")
    Zt = _f64(Z_text, "Z_text", (1, 2))
    if Zt.ndim == 2 and Zt.shape[0] != n:
        raise ValueError(f"Z_text: expected one text embedding per image ({n}), got {Zt.shape[0]}")
    PnF = np.asarray(geometry.project_null(F), dtype=np.float64)
    F_eq = F - PnF
    z = translate(translator, F)
    z_eq = translate(translator, F_eq)
    angle_orig = _angle(z, Zt)
    if geometry.nullity == 0:
        angle_eq = angle_orig.copy()
        is_deg = np.zeros(n)
    else:
        angle_eq = _angle(z_eq, Zt)
        is_deg = _angle(z, z_eq)
    out = {
        "as_deg": angle_orig - angle_eq,
        "is_deg": is_deg,
        "angle_orig_deg": angle_orig,
        "angle_eq_deg": angle_eq,
        "feature_norm": _row_norm(F),
        "null_ratio": _safe_div(_row_norm(PnF), _row_norm(F)),
    }
    if W is not None:
        W = _f64(W, "W", 2)
        if W.shape[1] != m:
            raise ValueError(f"W: head input dimension {W.shape[1]} does not match the features ({m})")
        lc = _row_norm(PnF @ W.T)
        out["logit_change"] = lc
        out["logit_change_rel"] = _safe_div(lc, _row_norm(F @ W.T))
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
            z_r = translate(translator, baseline.remove(F, s))
            b_as[:, s] = np.abs(angle_orig - _angle(z_r, Zt))
            b_is[:, s] = _angle(z, z_r)
    out["baseline_abs_as_seeds"] = b_as
    out["baseline_is_seeds"] = b_is
    ddof = 1 if S > 1 else 0
    out["baseline_as_mean"] = b_as.mean(axis=1) if S else np.zeros(n)
    out["baseline_as_std"] = b_as.std(axis=1, ddof=ddof) if S else np.zeros(n)
    out["baseline_is_mean"] = b_is.mean(axis=1) if S else np.zeros(n)
    out["baseline_is_std"] = b_is.std(axis=1, ddof=ddof) if S else np.zeros(n)
    return out


def scores_frame(meta: pl.DataFrame, scores: Mapping[str, np.ndarray]) -> pl.DataFrame:
    """Table-1 rows from the feature table's scalar columns (image_id, wnid, class_index, pred_class,
    correct) and :func:`score_images` output; sorted by image_id."""
    n = meta.height
    need = ("image_id", "wnid", "class_index")
    missing = [c for c in need if c not in meta.columns]
    if missing:
        raise ValueError(f"features: missing column(s) {missing}")
    cols: dict[str, Any] = {
        "image_id": meta["image_id"].cast(pl.String),
        "wnid": meta["wnid"].cast(pl.String),
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


# ---------------------------------------------------------------------------------------------------------
# Bootstrap of the IS/|AS| ratio
# ---------------------------------------------------------------------------------------------------------
def weighted_medians(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Medians of the samples that repeat ``values[j]`` ``weights[b, j]`` times (integer weights), one per row
    of ``weights`` (B×N): exactly ``np.median(np.repeat(values, weights[b]))``, without expanding."""
    values = np.asarray(values, dtype=np.float64)
    weights = np.asarray(weights)
    if weights.ndim == 1:
        weights = weights[None, :]
    order = np.argsort(values, kind="stable")
    v = values[order]
    cw = np.cumsum(weights[:, order], axis=1)
    total = cw[:, -1]
    if np.any(total <= 0):
        raise ValueError("weights: every row needs a positive total weight")
    lo = (total - 1) // 2
    hi = total // 2
    i_lo = (cw > lo[:, None]).argmax(axis=1)
    i_hi = (cw > hi[:, None]).argmax(axis=1)
    return (v[i_lo] + v[i_hi]) / 2.0


def bootstrap_counts(n_units: int, n_boot: int, seed: int) -> np.ndarray:
    """Resampling counts (n_boot × n_units): how often each unit is drawn in each bootstrap replicate."""
    rng = np.random.default_rng([int(seed), 104729])
    draws = rng.integers(0, n_units, size=(n_boot, n_units))
    counts = np.zeros((n_boot, n_units), dtype=np.int64)
    np.add.at(counts, (np.repeat(np.arange(n_boot), n_units), draws.reshape(-1)), 1)
    return counts


def resolve_bootstrap_unit(unit: str, n_groups: int) -> str:
    if unit not in ("auto", "class", "image"):
        raise ValueError(f"unit: must be 'auto', 'class' or 'image', got {unit!r}")
    if unit == "auto":
        return "class" if n_groups >= 10 else "image"
    return unit


def bootstrap_ratio(is_deg: Any, abs_as_deg: Any, groups: Any | None = None, n_boot: int = 1000,
                    ci: float = 0.95, seed: int = 0, unit: str = "auto",
                    return_replicates: bool = False):
    """Point estimate and percentile bootstrap CI of ``median(IS) / median(|AS|)``.

    unit="class" resamples whole classes (``groups``: class label per image; images of a class are not
    independent), "image" resamples images, "auto" = class when there are >= 10 classes, else image.
    Both medians of a replicate use the same resample. Vectorised via :func:`weighted_medians` over
    resampling counts, so 1000 replicates of 50k images take about a second.

    Returns (ratio, ci_low, ci_high, unit) [+ replicates]. NaN where median |AS| is 0 (e.g. nullity 0).
    """
    is_deg = _f64(is_deg, "is_deg", 1)
    abs_as = _f64(abs_as_deg, "abs_as_deg", 1)
    if is_deg.shape != abs_as.shape:
        raise ValueError(f"is_deg and abs_as_deg: shapes differ ({is_deg.shape} vs {abs_as.shape})")
    if not (0 < ci < 1):
        raise ValueError(f"ci: must be in (0, 1), got {ci}")
    if n_boot < 1:
        raise ValueError(f"n_boot: must be >= 1, got {n_boot}")
    if groups is None:
        codes = np.arange(len(is_deg))
    else:
        groups = np.asarray(groups)
        if groups.shape != is_deg.shape:
            raise ValueError(f"groups: expected one label per image ({len(is_deg)}), got shape {groups.shape}")
        _, codes = np.unique(groups, return_inverse=True)
    n_groups = int(codes.max()) + 1
    unit = resolve_bootstrap_unit(unit, n_groups)
    point = float(_ratio(np.median(is_deg), np.median(abs_as)))
    reps = np.empty(n_boot)
    batch = max(1, int(2_000_000 // max(1, len(is_deg))))
    n_units = n_groups if unit == "class" else len(is_deg)
    counts_all = bootstrap_counts(n_units, n_boot, seed)
    for start in range(0, n_boot, batch):
        counts = counts_all[start:start + batch]
        w = counts[:, codes] if unit == "class" else counts
        keep = w.sum(axis=1) > 0
        r = np.full(len(w), np.nan)
        if keep.any():
            r[keep] = _ratio(weighted_medians(is_deg, w[keep]), weighted_medians(abs_as, w[keep]))
        reps[start:start + batch] = r
    alpha = (1.0 - ci) / 2.0
    finite = reps[np.isfinite(reps)]
    if len(finite) == 0 or not np.isfinite(point):
        lo = hi = float("nan")
    else:
        lo, hi = (float(v) for v in np.quantile(finite, [alpha, 1.0 - alpha]))
    out = (point, lo, hi, unit)
    return (*out, reps) if return_replicates else out


# ---------------------------------------------------------------------------------------------------------
# Class / model statistics
# ---------------------------------------------------------------------------------------------------------
def _stat_exprs() -> list[pl.Expr]:
    a = pl.col("as_deg")
    aa = pl.col("as_deg").abs()
    i = pl.col("is_deg")

    def q(e, p):
        return e.quantile(p, interpolation="linear")

    return [
        a.median().alias("as_median"),
        a.mean().alias("as_mean"),
        (q(a, 0.75) - q(a, 0.25)).alias("as_iqr"),
        aa.median().alias("abs_as_median"),
        aa.mean().alias("abs_as_mean"),
        q(aa, 0.05).alias("abs_as_q05"),
        q(aa, 0.25).alias("abs_as_q25"),
        q(aa, 0.75).alias("abs_as_q75"),
        q(aa, 0.95).alias("abs_as_q95"),
        i.median().alias("is_median"),
        i.mean().alias("is_mean"),
        (q(i, 0.75) - q(i, 0.25)).alias("is_iqr"),
        q(i, 0.25).alias("is_q25"),
        q(i, 0.75).alias("is_q75"),
    ]


def _ratio_col(df: pl.DataFrame) -> pl.DataFrame:
    return df.with_columns(pl.Series("ratio", _ratio(df["is_median"].to_numpy(), df["abs_as_median"].to_numpy())))


def leakage_z(null_stat: Any, baseline_stats: Any) -> np.ndarray:
    """z-score of a null-removal statistic against the same statistic under random-subspace removal.

    null_stat: (G,); baseline_stats: (G, S) — one value per random subspace (seed). Returns
    ``(null − mean_s) / std_s`` (sample std, ddof=1). Where the baseline std is 0: 0 if the difference is
    0 as well (e.g. nullity 0), else NaN. S < 2 gives NaN.
    """
    x = np.asarray(null_stat, dtype=np.float64)
    B = np.asarray(baseline_stats, dtype=np.float64)
    if B.ndim != 2 or B.shape[0] != x.shape[0]:
        raise ValueError(f"baseline_stats: expected shape ({x.shape[0]}, S), got {B.shape}")
    if B.shape[1] < 2:
        return np.full(x.shape, np.nan)
    mu = B.mean(axis=1)
    sd = B.std(axis=1, ddof=1)
    diff = x - mu
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(sd > 0, diff / np.where(sd > 0, sd, 1.0), np.where(np.abs(diff) <= 1e-12, 0.0, np.nan))
    return z


def _group_means(values: np.ndarray, codes: np.ndarray, n_groups: int) -> np.ndarray:
    """Per-group means of the columns of ``values`` (N,) or (N, S)."""
    cnt = np.bincount(codes, minlength=n_groups).astype(np.float64)
    if values.ndim == 1:
        return np.bincount(codes, weights=values, minlength=n_groups) / cnt
    return np.stack([np.bincount(codes, weights=values[:, s], minlength=n_groups) for s in
                     range(values.shape[1])], axis=1) / cnt[:, None]


def _seed_matrix(scores: pl.DataFrame, column: str) -> np.ndarray:
    s = scores[column]
    if s.dtype == pl.Object or s.len() == 0:
        return np.zeros((s.len(), 0))
    arr = s.to_numpy()
    if arr.dtype == object:
        arr = np.stack([np.asarray(v, dtype=np.float64) for v in arr]) if len(arr) else np.zeros((0, 0))
    return np.asarray(arr, dtype=np.float64).reshape(scores.height, -1)


def _leakage(scores: pl.DataFrame, codes: np.ndarray, n_groups: int) -> dict[str, np.ndarray]:
    abs_as = np.abs(scores["as_deg"].to_numpy().astype(np.float64))
    is_deg = scores["is_deg"].to_numpy().astype(np.float64)
    b_as = _seed_matrix(scores, "baseline_abs_as_seeds")
    b_is = _seed_matrix(scores, "baseline_is_seeds")
    m_as = _group_means(abs_as, codes, n_groups)
    m_is = _group_means(is_deg, codes, n_groups)
    if b_as.shape[1] == 0:
        nan = np.full(n_groups, np.nan)
        return {"baseline_abs_as_mean": nan, "baseline_is_mean": nan.copy(), "as_z": nan.copy(), "is_z": nan.copy()}
    g_as = _group_means(b_as, codes, n_groups)
    g_is = _group_means(b_is, codes, n_groups)
    return {
        "baseline_abs_as_mean": g_as.mean(axis=1),
        "baseline_is_mean": g_is.mean(axis=1),
        "as_z": leakage_z(m_as, g_as),
        "is_z": leakage_z(m_is, g_is),
    }


def class_names_for(indices: Iterable[int], wnids: Iterable[str]) -> list[str]:
    """Human-readable ImageNet class names (sing.data), falling back to the wnid."""
    indices, wnids = list(indices), list(wnids)
    try:
        from .data import imagenet_classes

        table = imagenet_classes()
        if isinstance(table, pl.DataFrame):
            rows = table.select(table.columns[:3]).rows()
        elif hasattr(table, "to_pylist"):
            rows = [tuple(r.values()) for r in table.to_pylist()]
        else:
            rows = list(table)
        by_wnid = {str(r[1]): str(r[2]) for r in rows}
    except Exception as e:  # noqa: BLE001 - names are cosmetic; never fail an analysis on them
        log.warning("class names unavailable (%s); using WordNet ids", e)
        by_wnid = {}
    return [by_wnid.get(w, w) for w in wnids]


def class_summary(scores: pl.DataFrame, model: str, space: str, class_names: Mapping[str, str] | None = None
                  ) -> pl.DataFrame:
    """Per-class statistics of table 1 rows (one model, one space); sorted by class_index."""
    if scores.height == 0:
        raise ValueError("scores: no rows to summarise")
    stats = (scores.group_by("class_index", "wnid")
             .agg(pl.len().alias("n"), *_stat_exprs(),
                  pl.col("correct").cast(pl.Float64).mean().alias("accuracy"),
                  pl.col("null_ratio").median().alias("null_ratio_median"),
                  pl.col("logit_change_rel").max().alias("max_logit_change_rel"))
             .sort("class_index", "wnid"))
    stats = _ratio_col(stats)
    keys = stats.select("class_index", "wnid").with_row_index("code")
    codes = scores.select("class_index", "wnid").join(keys, on=["class_index", "wnid"], how="left",
                                                      maintain_order="left")["code"].to_numpy()
    lk = _leakage(scores, codes.astype(np.int64), stats.height)
    wnids = stats["wnid"].to_list()
    names = ([class_names.get(w, w) for w in wnids] if class_names is not None
             else class_names_for(stats["class_index"].to_list(), wnids))
    stats = stats.with_columns(
        pl.lit(model).alias("model"), pl.lit(space).alias("space"),
        pl.Series("class_name", names, dtype=pl.String),
        pl.col("n").cast(pl.Int64),
        *(pl.Series(k, v) for k, v in lk.items()),
    )
    return stats.select(CLASS_SUMMARY_COLUMNS)


def _mean_or_nan(s: pl.Series) -> float:
    v = s.mean()
    return float("nan") if v is None else float(v)


def _geometry_stats(geometry: Any) -> dict[str, Any]:
    sv = np.asarray(geometry.singular_values, dtype=np.float64)
    rank = int(geometry.rank)
    sv_max = float(sv[0]) if sv.size else float("nan")
    sv_min = float(sv[rank - 1]) if rank > 0 else float("nan")
    if rank < sv.size:
        nxt = float(sv[rank])
        gap = float("inf") if nxt == 0 else sv_min / nxt
    else:
        gap = float("nan")  # no singular value below the threshold (rank = min(c, m))
    return {"rank": rank, "nullity": int(geometry.nullity), "in_dim": int(geometry.in_dim), "sv_max": sv_max,
            "sv_min_nonzero": sv_min, "sv_rank_gap": gap}


def _translator_stats(translator: Any) -> dict[str, float]:
    metrics = dict(getattr(translator, "metrics", None) or {})

    def num(*keys):
        for k in keys:
            v = metrics.get(k)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                return float(v)
        return float("nan")

    alpha = getattr(translator, "alpha", None)
    return {"alpha": float(alpha) if alpha is not None else float("nan"),
            "r2": num("heldout_r2", "r2", "train_r2"),
            "cosine_mean": num("heldout_cosine_mean", "cosine_mean", "train_cosine_mean")}


def model_summary(scores: pl.DataFrame, model: str, space: str, geometry: Any, translator: Any,
                  n_boot: int = 1000, ci: float = 0.95, seed: int = 0, unit: str = "auto") -> pl.DataFrame:
    """One-row table 2 for (model, space) from all its table-1 rows."""
    if scores.height == 0:
        raise ValueError("scores: no rows to summarise")
    stats = _ratio_col(scores.select(*_stat_exprs()))
    ratio, lo, hi, used = bootstrap_ratio(scores["is_deg"].to_numpy(), np.abs(scores["as_deg"].to_numpy()),
                                          scores["class_index"].to_numpy(), n_boot=n_boot, ci=ci, seed=seed,
                                          unit=unit)
    lk = _leakage(scores, np.zeros(scores.height, dtype=np.int64), 1)
    row: dict[str, Any] = {"model": model, "space": space, **_geometry_stats(geometry),
                           "n_images": scores.height, "n_classes": scores["class_index"].n_unique()}
    row.update({k: stats[k][0] for k in stats.columns})
    row.update({"ratio_ci_low": lo, "ratio_ci_high": hi, "bootstrap_unit": used, **_translator_stats(translator),
                "accuracy": _mean_or_nan(scores["correct"].cast(pl.Float64)),
                "max_logit_change_rel": float(scores["logit_change_rel"].max()),
                "null_ratio_median": float(scores["null_ratio"].median()),
                **{k: float(v[0]) for k, v in lk.items()}})
    df = pl.DataFrame([row], schema_overrides={"rank": pl.Int64, "nullity": pl.Int64, "in_dim": pl.Int64,
                                               "n_images": pl.Int64, "n_classes": pl.Int64})
    return df.select(MODEL_SUMMARY_COLUMNS)


# ---------------------------------------------------------------------------------------------------------
# Correlations (own implementations; tested against scipy.stats)
# ---------------------------------------------------------------------------------------------------------
def _clean_pair(x: Any, y: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64).ravel()
    y = np.asarray(y, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"{name}: x and y have different lengths ({x.size} vs {y.size})")
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def rankdata(x: np.ndarray) -> np.ndarray:
    """Average ranks (1-based), ties get the mean of their ranks."""
    x = np.asarray(x, dtype=np.float64)
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    n = len(x)
    starts = np.r_[True, xs[1:] != xs[:-1]]
    idx = np.flatnonzero(starts)
    ends = np.r_[idx[1:], n]
    avg = (idx + ends + 1) / 2.0  # mean of 1-based ranks idx+1 .. ends
    ranks = np.empty(n)
    ranks[order] = np.repeat(avg, ends - idx)
    return ranks


def _t_pvalue(r: float, n: int) -> float:
    from scipy.special import stdtr

    if n < 3 or not np.isfinite(r):
        return float("nan")
    if abs(r) >= 1.0:
        return 0.0
    dof = n - 2
    t = r * math.sqrt(dof / ((1.0 + r) * (1.0 - r)))
    return float(min(1.0, 2.0 * stdtr(dof, -abs(t))))


def pearson(x: Any, y: Any) -> tuple[float, float]:
    """Pearson r and two-sided p-value (t test, n−2 dof). NaN pairs dropped; constant input -> NaN."""
    x, y = _clean_pair(x, y, "pearson")
    n = len(x)
    if n < 2:
        return float("nan"), float("nan")
    xd, yd = x - x.mean(), y - y.mean()
    den = math.sqrt(float(xd @ xd) * float(yd @ yd))
    if den == 0:
        return float("nan"), float("nan")
    r = float(np.clip((xd @ yd) / den, -1.0, 1.0))
    return r, _t_pvalue(r, n)


def spearman(x: Any, y: Any) -> tuple[float, float]:
    """Spearman ρ (Pearson of average ranks) and two-sided p (t approximation, as scipy.stats.spearmanr)."""
    x, y = _clean_pair(x, y, "spearman")
    if len(x) < 2:
        return float("nan"), float("nan")
    return pearson(rankdata(x), rankdata(y))


def _mahonian(n: int) -> list[int]:
    """Counts of permutations of n items by number of inversions (0 .. n(n-1)/2)."""
    counts = [1]
    for k in range(2, n + 1):
        new = [0] * (len(counts) + k - 1)
        for i, c in enumerate(counts):
            for j in range(k):
                new[i + j] += c
        counts = new
    return counts


def kendall_tau(x: Any, y: Any) -> tuple[float, float]:
    """Kendall τ-b and two-sided p-value.

    p: exact permutation distribution when there are no ties and n ≤ 33 (or the statistic is extreme),
    otherwise the normal approximation with the tie-corrected variance — the rules of
    ``scipy.stats.kendalltau(method="auto")``.
    """
    from scipy.special import ndtr

    x, y = _clean_pair(x, y, "kendall_tau")
    n = len(x)
    if n < 2:
        return float("nan"), float("nan")
    iu = np.triu_indices(n, 1)
    sx = np.sign(x[iu[0]] - x[iu[1]])
    sy = np.sign(y[iu[0]] - y[iu[1]])
    tot = n * (n - 1) // 2
    s = float(np.sum(sx * sy))
    xtie_pairs = int(np.sum(sx == 0))
    ytie_pairs = int(np.sum(sy == 0))
    den = math.sqrt(float(tot - xtie_pairs) * float(tot - ytie_pairs))
    if den == 0:
        return float("nan"), float("nan")
    tau = float(np.clip(s / den, -1.0, 1.0))
    con = int(np.sum(sx * sy > 0))
    dis = int(np.sum(sx * sy < 0))
    if xtie_pairs == 0 and ytie_pairs == 0 and (n <= 33 or min(dis, tot - dis) <= 1):
        c = min(dis, tot - dis)
        counts = _mahonian(n)
        p = min(1.0, 2.0 * sum(counts[:c + 1]) / math.factorial(n))
        return tau, float(p)

    def tie_terms(v):
        _, cnt = np.unique(v, return_counts=True)
        cnt = cnt.astype(np.float64)
        return ((cnt * (cnt - 1) / 2).sum(), (cnt * (cnt - 1) * (cnt - 2)).sum(),
                (cnt * (cnt - 1) * (2 * cnt + 5)).sum())

    xt, x0, x1 = tie_terms(x)
    yt, y0, y1 = tie_terms(y)
    mm = n * (n - 1.0)
    var = ((mm * (2 * n + 5) - x1 - y1) / 18.0 + (2 * xt * yt) / mm + (x0 * y0 / (9 * mm * (n - 2)) if n > 2
                                                                       else 0.0))
    z = (con - dis) / math.sqrt(var)
    return tau, float(2.0 * ndtr(-abs(z)))


def rank_correlations(class_summaries: pl.DataFrame, value: str = "abs_as_median") -> pl.DataFrame:
    """Spearman ρ (and p) of the per-class ``value`` between every pair of models, per space, over the
    classes both models have; rows sorted by (space, model_a, model_b), model_a < model_b."""
    rows = []
    for space in sorted(class_summaries["space"].unique().to_list()):
        sub = class_summaries.filter(pl.col("space") == space)
        models = sorted(sub["model"].unique().to_list())
        wide = sub.pivot(on="model", index="wnid", values=value, aggregate_function="first").sort("wnid")
        for i, a in enumerate(models):
            for b in models[i + 1:]:
                xa = wide[a].cast(pl.Float64).fill_null(np.nan).to_numpy()
                xb = wide[b].cast(pl.Float64).fill_null(np.nan).to_numpy()
                n = int(np.sum(np.isfinite(xa) & np.isfinite(xb)))
                rho, p = spearman(xa, xb)
                rows.append((space, a, b, n, rho, p))
    return pl.DataFrame(rows, schema={"space": pl.String, "model_a": pl.String, "model_b": pl.String,
                                      "n_classes": pl.Int64, "spearman_rho": pl.Float64, "spearman_p": pl.Float64},
                        orient="row")


def _ordinal_rank_desc(values: np.ndarray) -> np.ndarray:
    """1 = largest; NaN last; ties by position (values are model ratios, already sorted by model key)."""
    v = np.where(np.isfinite(values), values, -np.inf)
    order = np.argsort(-v, kind="stable")
    r = np.empty(len(v), dtype=np.int64)
    r[order] = np.arange(1, len(v) + 1)
    return r


def space_crosscheck(model_summaries: pl.DataFrame, value: str = "ratio") -> pl.DataFrame:
    """Fig 12a: each model's ``value`` in two CLIP spaces, its rank in each, and Kendall τ / Spearman ρ
    (with p) between the two orderings (repeated on every row of the pair of spaces). One block per pair of
    spaces (space_a < space_b); empty with the schema when there is a single space."""
    schema = {"model": pl.String, "space_a": pl.String, "space_b": pl.String, "ratio_a": pl.Float64,
              "ratio_b": pl.Float64, "rank_a": pl.Int64, "rank_b": pl.Int64, "n_models": pl.Int64,
              "kendall_tau": pl.Float64, "kendall_p": pl.Float64, "spearman_rho": pl.Float64,
              "spearman_p": pl.Float64}
    spaces = sorted(model_summaries["space"].unique().to_list())
    rows = []
    for i, sa in enumerate(spaces):
        for sb in spaces[i + 1:]:
            a = model_summaries.filter(pl.col("space") == sa).select("model", pl.col(value).alias("ra"))
            b = model_summaries.filter(pl.col("space") == sb).select("model", pl.col(value).alias("rb"))
            j = a.join(b, on="model", how="inner").sort("model")
            ra = j["ra"].cast(pl.Float64).fill_null(np.nan).to_numpy()
            rb = j["rb"].cast(pl.Float64).fill_null(np.nan).to_numpy()
            tau, tp = kendall_tau(ra, rb)
            rho, rp = spearman(ra, rb)
            rka, rkb = _ordinal_rank_desc(ra), _ordinal_rank_desc(rb)
            for k, m in enumerate(j["model"].to_list()):
                rows.append((m, sa, sb, float(ra[k]), float(rb[k]), int(rka[k]), int(rkb[k]), j.height,
                             tau, tp, rho, rp))
    return pl.DataFrame(rows, schema=schema, orient="row").sort("space_a", "space_b", "model")


def robustness_correlation(robustness: pl.DataFrame) -> pl.DataFrame:
    """Per-model robustness rows plus the Pearson r (and p) across models of acc_principal vs
    acc_translated, computed per space (supp. §4, Fig 12c: paper r = 0.972)."""
    out = []
    for space in sorted(robustness["space"].unique().to_list()):
        sub = robustness.filter(pl.col("space") == space).sort("model")
        r, p = pearson(sub["acc_principal"].to_numpy(), sub["acc_translated"].to_numpy())
        out.append(sub.with_columns(pl.lit(r, dtype=pl.Float64).alias("pearson_r"),
                                    pl.lit(p, dtype=pl.Float64).alias("pearson_p"),
                                    pl.lit(sub.height, dtype=pl.Int64).alias("n_models")))
    if not out:
        return robustness.with_columns(pl.lit(None, dtype=pl.Float64).alias("pearson_r"),
                                       pl.lit(None, dtype=pl.Float64).alias("pearson_p"),
                                       pl.lit(None, dtype=pl.Int64).alias("n_models"))
    return pl.concat(out).select(ROBUSTNESS_SUMMARY_COLUMNS).sort("space", "model")


# ---------------------------------------------------------------------------------------------------------
# Steering (Table 1)
# ---------------------------------------------------------------------------------------------------------
def steering_scores(F: Any, image_ids: Sequence[str], geometry: Any, translator: Any, z_target: Any,
                    target_is_deg: float = 40.0) -> pl.DataFrame:
    """Null-space steering toward a target prompt, calibrated to IS = ``target_is_deg`` (eqs. 10-13).

    Per image: eps (step along the unit null-projected text gradient), is_deg (achieved IS), as_deg toward
    the target (positive = the steered feature is closer to the prompt), abs_as, reachable, reason:
    "ok"; "unreachable" (the target IS exceeds the limit angle ∠(T f, T d)); "no_direction" (the text
    gradient has no null component); "no_null_space" (nullity 0). Non-"ok" rows have null numbers.
    """
    from .perturb import null_text_direction, steer

    F = _f64(F, "F", 2)
    zt = _f64(z_target, "z_target", 1)
    n = F.shape[0]
    if len(image_ids) != n:
        raise ValueError(f"image_ids: expected {n} ids, got {len(image_ids)}")
    if not (0 < target_is_deg < 180):
        raise ValueError(f"target_is_deg: must be in (0, 180), got {target_is_deg}")
    eps = np.full(n, np.nan)
    is_deg = np.full(n, np.nan)
    as_deg = np.full(n, np.nan)
    if geometry.nullity == 0:
        reason = np.array(["no_null_space"] * n, dtype=object)
    else:
        D, _mask = null_text_direction(F, geometry, translator, zt)
        # target as one value per row (a scalar is documented too, but pass rows for robustness)
        F_eps, e, why = steer(F, np.asarray(D, dtype=np.float64), translator, np.full(n, float(target_is_deg)))
        F_eps = np.asarray(F_eps, dtype=np.float64)
        reason = np.array([str(w) for w in np.asarray(why).ravel()], dtype=object)
        ok = (reason == "ok") & np.isfinite(np.asarray(e, dtype=np.float64))
        reason[~ok & (reason == "ok")] = "unreachable"
        if ok.any():
            eps[ok] = np.asarray(e, dtype=np.float64)[ok]
            z = translate(translator, F[ok])
            z_e = translate(translator, F_eps[ok])
            is_deg[ok] = _angle(z, z_e)
            as_deg[ok] = _angle(z, zt) - _angle(z_e, zt)
    reachable = reason == "ok"
    df = pl.DataFrame({"image_id": list(map(str, image_ids)), "eps": eps, "is_deg": is_deg, "as_deg": as_deg,
                       "abs_as": np.abs(as_deg), "reachable": reachable.astype(bool),
                       "reason": reason.tolist()}, schema_overrides={"reason": pl.String})
    return df.with_columns(pl.col("eps", "is_deg", "as_deg", "abs_as").fill_nan(None)).sort("image_id")


def steering_summary(steering: pl.DataFrame) -> pl.DataFrame:
    """Table 1: per (model, space) mean ± std (ddof=1) of |AS| toward the target over reachable rows, counts."""
    return (steering.group_by("model", "space")
            .agg(pl.len().cast(pl.Int64).alias("n"),
                 pl.col("reachable").sum().cast(pl.Int64).alias("n_reachable"),
                 (~pl.col("reachable")).sum().cast(pl.Int64).alias("n_unreachable"),
                 pl.col("abs_as").filter(pl.col("reachable")).mean().alias("abs_as_mean"),
                 pl.col("abs_as").filter(pl.col("reachable")).std(ddof=1).alias("abs_as_std"),
                 pl.col("is_deg").filter(pl.col("reachable")).mean().alias("is_mean"))
            .select(STEERING_SUMMARY_COLUMNS).sort("space", "model"))


# ---------------------------------------------------------------------------------------------------------
# Validation (supp. §2, Fig 9)
# ---------------------------------------------------------------------------------------------------------
def validation_scores(F: Any, image_ids: Sequence[str], W: Any, geometry: Any, translator: Any,
                      seeds: Sequence[int], pred: Any | None = None) -> pl.DataFrame:
    """Equal-norm null / random / principal perturbations (norm = ‖Π_n f‖ per image): logit change
    ‖W δ‖, its ratio to ‖W f‖, and the CLIP drift ∠(T f, T(f + δ)) in degrees. Rows sorted by
    (image_id, kind, seed)."""
    from .perturb import equal_norm_perturbation, logit_change

    F = _f64(F, "F", 2)
    W = _f64(W, "W", 2)
    n = F.shape[0]
    if len(image_ids) != n:
        raise ValueError(f"image_ids: expected {n} ids, got {len(image_ids)}")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds: need at least one seed")
    if pred is None:
        pred = np.argmax(F @ W.T, axis=1)
    pred = np.asarray(pred, dtype=np.int64)
    norm = _row_norm(np.asarray(geometry.project_null(F), dtype=np.float64))
    wf = _row_norm(F @ W.T)
    z = translate(translator, F)
    frames = []
    for kind in PERTURBATION_KINDS:
        for seed in seeds:
            if np.all(norm == 0):
                delta = np.zeros_like(F)
            else:
                delta = np.asarray(equal_norm_perturbation(F, geometry, kind, norm, seed, W=W, pred=pred),
                                   dtype=np.float64)
            lc = np.asarray(logit_change(W, delta), dtype=np.float64)
            drift = _angle(z, translate(translator, F + delta))
            frames.append(pl.DataFrame({"image_id": list(map(str, image_ids)), "kind": [kind] * n,
                                        "seed": np.full(n, seed, dtype=np.int64), "norm": norm,
                                        "logit_change": lc, "logit_change_rel": _safe_div(lc, wf),
                                        "clip_drift_deg": drift}))
    return pl.concat(frames).sort("image_id", "kind", "seed")


# ---------------------------------------------------------------------------------------------------------
# Translator robustness (supp. §4, Fig 12c)
# ---------------------------------------------------------------------------------------------------------
def robustness_scores(F: Any, labels: Any, geometry: Any, translator: Any, test_fraction: float = 0.2,
                      seed: int = 0, max_iter: int = 200) -> dict[str, Any]:
    """Accuracy of a linear classifier (sklearn LogisticRegression on standardised inputs) trained on the
    principal features Π_p f versus on their translations T(Π_p f), on the same held-out split (stratified
    when every class has ≥ 2 samples)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    F = _f64(F, "F", 2)
    y = np.asarray(labels)
    if y.shape != (F.shape[0],):
        raise ValueError(f"labels: expected one label per feature ({F.shape[0]}), got shape {y.shape}")
    if not (0 < test_fraction < 1):
        raise ValueError(f"test_fraction: must be in (0, 1), got {test_fraction}")
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise ValueError("labels: need at least two classes")
    P = np.asarray(geometry.project_principal(F), dtype=np.float64)
    Tp = translate(translator, P)
    idx = np.arange(len(y))
    stratify = y if counts.min() >= 2 and round(test_fraction * len(y)) >= len(classes) else None
    tr, te = train_test_split(idx, test_size=test_fraction, random_state=seed, stratify=stratify)
    accs = {}
    for name, X in (("acc_principal", P), ("acc_translated", Tp)):
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            clf.fit(X[tr], y[tr])
        if any(issubclass(w.category, ConvergenceWarning) for w in caught):
            log.warning("%s: LogisticRegression did not converge in max_iter=%d", name, max_iter)
        accs[name] = float(np.mean(clf.predict(X[te]) == y[te]))
    return {**accs, "n_train": int(len(tr)), "n_test": int(len(te)), "n_classes": int(len(classes))}


# ---------------------------------------------------------------------------------------------------------
# Open vocabulary (§4.3, Fig 5)
# ---------------------------------------------------------------------------------------------------------
def open_vocabulary_scores(F: Any, geometry: Any, translator: Any, Z_concepts: Any, concepts: Sequence[str]
                           ) -> pl.DataFrame:
    """For one class: per concept, the mean angle of T f and of T f̃ to the concept embedding, AS (mean, std
    with ddof=1, mean |AS|) and n. Rows in the order of ``concepts``."""
    F = _f64(F, "F", 2)
    Zc = _f64(Z_concepts, "Z_concepts", 2)
    if Zc.shape[0] != len(concepts):
        raise ValueError(f"concepts: {len(concepts)} names for {Zc.shape[0]} embeddings")
    z = translate(translator, F)
    z_eq = translate(translator, np.asarray(geometry.remove_null(F), dtype=np.float64))
    a0 = _angle(z, Zc, pairwise=True)
    a1 = a0.copy() if geometry.nullity == 0 else _angle(z_eq, Zc, pairwise=True)
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


# ---------------------------------------------------------------------------------------------------------
# IO helpers for the workflow scripts
# ---------------------------------------------------------------------------------------------------------
def load_text(path: str | os.PathLike, kind: str, key: str | Sequence[str] | None = None
              ) -> tuple[pl.DataFrame, np.ndarray]:
    """Rows of the text-embedding table of ``kind`` ("class" | "concept" | "target"): (table, float64 P×d).

    key: None (all rows of that kind, in file order), a key (1 row) or a list of keys (rows in that order).
    A missing key is a ValueError naming the file, kind and key(s).
    """
    from .storage import read_text_embeddings

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
    """WordNet ids of a chunk manifest: JSON ({"classes": [...]} or a list) or text (one per line)."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"manifest not found: {p}")
    text = p.read_text()
    try:
        obj = json.loads(text)
    except json.JSONDecodeError:
        return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if isinstance(obj, dict):
        for k in ("classes", "wnids"):
            if k in obj:
                return [str(w) for w in obj[k]]
        raise ValueError(f"{p}: manifest JSON has no 'classes' list")
    if isinstance(obj, list):
        return [str(w) for w in obj]
    raise ValueError(f"{p}: manifest must be a JSON list/object or one wnid per line")


def read_features(path: str | os.PathLike) -> tuple[pl.DataFrame, np.ndarray]:
    """Classifier features parquet -> (scalar columns, float64 N×m)."""
    from .storage import read_embeddings

    df, F, _ = read_embeddings(path)
    return df, F.astype(np.float64)


def read_head(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """(W float64 c×m, b float64 c) from the head safetensors file."""
    from safetensors.numpy import load_file

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"head file not found: {p}")
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
    return pl.concat([pl.read_parquet(f) for f in files], how="vertical").sort("class_index", "image_id")


write_table = write_frame  # analysis tables: polars frames with sing.* metadata (see sing.storage)


def table_metadata(table: str, settings: Any = None, **extra: Any) -> dict[str, Any]:
    """Deterministic ``sing.*`` key-value metadata for an analysis table (provenance, no timestamps)."""
    from .provenance import provenance

    prov = provenance(settings if settings is not None else {}, **extra)
    return {"kind": "table", "table": table, "provenance": prov, **extra}


def sort_table(df: pl.DataFrame, keys: Sequence[str] | None = None) -> pl.DataFrame:
    """Sort by the given key columns, or by the known key columns present (space, model, wnid, ...)."""
    if keys is None:
        known = ("space", "model", "model_a", "model_b", "space_a", "space_b", "class_index", "wnid", "kind",
                 "concept", "image_id", "seed")
        keys = [k for k in known if k in df.columns]
    return df.sort(list(keys)) if keys else df
