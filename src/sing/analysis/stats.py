"""Statistics of the analyses: ranks and correlations (Pearson, Spearman, Kendall τ-b with p-values), the
(class-cluster) bootstrap of both readings of the IS/|AS| ratio (ratio of medians, median of per-image ratios),
the leakage z-score, the NaN-aware ratios they share, and the covariance confidence ellipses of Fig. 3a.

The correlations are implemented here (vectorised, tie-aware) and tested against :mod:`scipy.stats`; the
bootstrap draws from ``numpy.random.default_rng`` seeded by the caller.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..core.arrays import as_float64

__all__ = [
    "bootstrap_counts", "bootstrap_image_ratio", "bootstrap_ratio", "covariance_ellipse", "image_ratios",
    "kendall_tau", "leakage_z", "nan_ratio", "pearson", "rankdata",
    "resolve_bootstrap_unit", "row_norm", "safe_div", "spearman", "weighted_medians",
]


def nan_ratio(num: Any, den: Any) -> np.ndarray:
    """num / den, NaN where den is 0 (the IS/|AS| ratio is undefined without leakage, e.g. nullity 0)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def safe_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(b > 0, a / np.where(b > 0, b, 1.0), np.where(a == 0, 0.0, np.nan))
    return out


def row_norm(x: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("ij,ij->i", x, x))


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


def _bootstrap_medians(columns: list[np.ndarray], combine, groups: Any | None, n_boot: int, ci: float, seed: int,
                       unit: str) -> tuple[float, float, float, str, np.ndarray]:
    """Point estimate and percentile bootstrap CI of ``combine(median(c) for c in columns)`` (same-length 1-D
    columns; every median of a replicate uses the same resample). Returns (point, lo, hi, unit, replicates)."""
    n = len(columns[0])
    if not (0 < ci < 1):
        raise ValueError(f"ci: must be in (0, 1), got {ci}")
    if n_boot < 1:
        raise ValueError(f"n_boot: must be >= 1, got {n_boot}")
    if n == 0:
        raise ValueError("no values to bootstrap")
    if groups is None:
        codes = np.arange(n)
    else:
        groups = np.asarray(groups)
        if groups.shape != (n,):
            raise ValueError(f"groups: expected one label per image ({n}), got shape {groups.shape}")
        _, codes = np.unique(groups, return_inverse=True)
    n_groups = int(codes.max()) + 1
    unit = resolve_bootstrap_unit(unit, n_groups)
    point = float(combine([np.median(c) for c in columns]))
    reps = np.empty(n_boot)
    batch = max(1, int(2_000_000 // max(1, n)))
    counts_all = bootstrap_counts(n_groups if unit == "class" else n, n_boot, seed)
    for start in range(0, n_boot, batch):
        counts = counts_all[start:start + batch]
        w = counts[:, codes] if unit == "class" else counts
        keep = w.sum(axis=1) > 0
        r = np.full(len(w), np.nan)
        if keep.any():
            r[keep] = combine([weighted_medians(c, w[keep]) for c in columns])
        reps[start:start + batch] = r
    alpha = (1.0 - ci) / 2.0
    finite = reps[np.isfinite(reps)]
    if len(finite) == 0 or not np.isfinite(point):
        lo = hi = float("nan")
    else:
        lo, hi = (float(v) for v in np.quantile(finite, [alpha, 1.0 - alpha]))
    return point, lo, hi, unit, reps


def _paired_scores(is_deg: Any, abs_as_deg: Any) -> tuple[np.ndarray, np.ndarray]:
    """IS and |AS| per image (degrees) as float64 vectors of one length (ValueError naming them otherwise)."""
    is_deg = as_float64(is_deg, "is_deg", ndim=1)
    abs_as = as_float64(abs_as_deg, "abs_as_deg", ndim=1)
    if is_deg.shape != abs_as.shape:
        raise ValueError(f"is_deg and abs_as_deg: shapes differ ({is_deg.shape} vs {abs_as.shape})")
    return is_deg, abs_as


def bootstrap_ratio(is_deg: Any, abs_as_deg: Any, groups: Any | None = None, n_boot: int = 1000,
                    ci: float = 0.95, seed: int = 0, unit: str = "auto",
                    return_replicates: bool = False):
    """Point estimate and percentile bootstrap CI of the ratio of medians ``median(IS) / median(|AS|)``.

    unit="class" resamples whole classes (``groups``: class label per image; images of a class are not
    independent), "image" resamples images, "auto" = class when there are >= 10 classes, else image.
    Both medians of a replicate use the same resample. Vectorised via :func:`weighted_medians` over
    resampling counts, so 1000 replicates of 50k images take about a second.

    Returns (ratio, ci_low, ci_high, unit) [+ replicates]. NaN where median |AS| is 0 (e.g. nullity 0).
    """
    is_deg, abs_as = _paired_scores(is_deg, abs_as_deg)
    point, lo, hi, unit, reps = _bootstrap_medians([is_deg, abs_as], lambda m: nan_ratio(m[0], m[1]), groups,
                                                   n_boot, ci, seed, unit)
    out = (point, lo, hi, unit)
    return (*out, reps) if return_replicates else out


def image_ratios(is_deg: Any, abs_as_deg: Any) -> np.ndarray:
    """Per-image ``IS / |AS|`` (float64): +inf where |AS| = 0 < IS, NaN where both are 0 (nullity 0)."""
    num, den = _paired_scores(is_deg, abs_as_deg)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.where(num > 0, np.inf, np.nan))


def bootstrap_image_ratio(is_deg: Any, abs_as_deg: Any, groups: Any | None = None, n_boot: int = 1000,
                          ci: float = 0.95, seed: int = 0, unit: str = "auto"):
    """Point estimate and percentile bootstrap CI of the median of per-image ratios ``median_i(IS_i / |AS_i|)``
    (:func:`image_ratios`; images with IS = |AS| = 0 are left out, +inf ratios count as the largest), with the
    resampling of :func:`bootstrap_ratio` (same ``seed``: the same resamples). Returns (median, ci_low, ci_high,
    unit); all NaN when no image has a ratio."""
    r = image_ratios(is_deg, abs_as_deg)
    keep = ~np.isnan(r)
    groups = None if groups is None else np.asarray(groups)
    if groups is not None and groups.shape != r.shape:
        raise ValueError(f"groups: expected one label per image ({len(r)}), got shape {groups.shape}")
    if not keep.any():
        return float("nan"), float("nan"), float("nan"), resolve_bootstrap_unit(
            unit, len(np.unique(groups)) if groups is not None else len(r))
    point, lo, hi, used, _ = _bootstrap_medians([r[keep]], lambda m: m[0], None if groups is None else groups[keep],
                                                n_boot, ci, seed, unit)
    return point, lo, hi, used


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


# ---------------------------------------------------------------------------------------------------------
# Confidence ellipses (Fig 3a)
# ---------------------------------------------------------------------------------------------------------
def covariance_ellipse(mean: Any, cov: Any, *, level: float | None = None, radius: float | None = None,
                       n_points: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """The ellipse ``{x : (x − μ)ᵀ Σ⁻¹ (x − μ) = r²}`` of a 2-D mean μ (2,) and covariance Σ (2, 2).

    Give exactly one of ``radius`` (r; 1 = the "1σ" ellipse) or ``level`` (the probability a bivariate normal puts
    inside: ``r² = chi2.ppf(level, df=2) = −2 ln(1 − level)``, e.g. 2.4477 for 0.95). With ``Σ = Q Λ Qᵀ``
    (``numpy.linalg.eigh``) the semi-axes are ``r √λ_i q_i``. Returns ``(points, axes)``: a closed polygon
    (n_points + 1, 2) and the semi-axis vectors as the columns of ``axes`` (2, 2), major axis first. A singular Σ
    gives a degenerate (flat) ellipse. ValueError for a non-symmetric or non-positive-semidefinite Σ, a non-finite
    input or a bad ``level``.
    """
    mu = as_float64(mean, "mean", shape=(2,))
    S = as_float64(cov, "cov", shape=(2, 2))
    if (radius is None) == (level is None):
        raise ValueError("give exactly one of radius and level")
    if level is not None:
        if not (0 < level < 1):
            raise ValueError(f"level: must be in (0, 1), got {level}")
        radius = math.sqrt(-2.0 * math.log1p(-level))  # chi2(df=2) quantile, in closed form
    if not (np.isfinite(radius) and radius >= 0):
        raise ValueError(f"radius: must be finite and >= 0, got {radius}")
    if not np.allclose(S, S.T, rtol=1e-10, atol=1e-12 * max(1.0, float(np.abs(S).max()))):
        raise ValueError(f"cov: not symmetric: {S.tolist()}")
    lam, Q = np.linalg.eigh((S + S.T) / 2)
    if lam.min() < -1e-10 * max(1.0, float(lam.max())):
        raise ValueError(f"cov: not positive semidefinite (eigenvalues {lam.tolist()})")
    lam = np.clip(lam, 0.0, None)[::-1]
    axes = Q[:, ::-1] * (radius * np.sqrt(lam))
    t = np.linspace(0.0, 2.0 * np.pi, int(n_points) + 1)
    points = mu + np.cos(t)[:, None] * axes[:, 0] + np.sin(t)[:, None] * axes[:, 1]
    return points, axes
