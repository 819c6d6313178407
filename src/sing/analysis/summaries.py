"""Class and model level (the paper's tables 2 and 3): medians, means, IQRs and quantiles of AS/IS, the IS/|AS|
ratio with its bootstrap CI (both readings at model level), the (|AS|, IS) covariance and point subsample of
Fig. 3a, and leakage z-scores against the random-subspace baseline."""

from __future__ import annotations

import logging
from typing import Any, Mapping

import numpy as np
import polars as pl

from ..models.lock import random_weight_keys
from .stats import bootstrap_image_ratio, bootstrap_ratio, leakage_z, nan_ratio
from .translation import log_translator_flags, translator_flags

log = logging.getLogger(__name__)

__all__ = ["CLASS_SUMMARY_COLUMNS", "JOINT_SAMPLE_COLUMNS", "MODEL_SUMMARY_COLUMNS", "STAT_COLUMNS", "class_summary",
           "joint_sample", "model_summary", "uses_random_weights"]

#: per-group statistics of AS/IS shared by the class and model summaries
STAT_COLUMNS = (
    "as_median", "as_mean", "as_iqr", "abs_as_median", "abs_as_mean",
    "abs_as_q05", "abs_as_q25", "abs_as_q75", "abs_as_q95",
    "is_median", "is_mean", "is_iqr", "is_q25", "is_q75", "ratio",
)
#: one row per (model, space) (``tables/model_summary.parquet``)
MODEL_SUMMARY_COLUMNS = (
    "model", "space", "rank", "nullity", "in_dim", "sv_max", "sv_min_nonzero", "sv_rank_gap", "rank_threshold",
    "n_images", "n_classes",
    *STAT_COLUMNS, "ratio_ci_low", "ratio_ci_high", "image_ratio_median", "image_ratio_ci_low",
    "image_ratio_ci_high", "bootstrap_unit", "abs_as_var", "is_var", "abs_as_is_cov",
    "alpha", "r2", "cosine_mean", "translator_flags", "accuracy", "max_logit_change_rel",
    "null_ratio_median", "baseline_abs_as_mean", "baseline_is_mean", "as_z", "is_z", "random_weights",
)
#: one row per (model, space, class) (``tables/class_summary.parquet``)
CLASS_SUMMARY_COLUMNS = (
    "model", "space", "class_id", "class_index", "class_name", "n",
    *STAT_COLUMNS, "accuracy", "null_ratio_median", "max_logit_change_rel",
    "baseline_abs_as_mean", "baseline_is_mean", "as_z", "is_z",
)

#: a uniform subsample of the per-image (|AS|, IS) pairs of a (model, space) (``tables/joint_sample.parquet``)
JOINT_SAMPLE_COLUMNS = ("model", "space", "image_id", "class_id", "class_index", "abs_as", "is_deg")


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
    return df.with_columns(pl.Series("ratio", nan_ratio(df["is_median"].to_numpy(), df["abs_as_median"].to_numpy())))


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


def class_summary(scores: pl.DataFrame, model: str, space: str, class_names: Mapping[str, str] | None = None
                  ) -> pl.DataFrame:
    """Per-class statistics of table 1 rows (one model, one space); sorted by class_index. ``class_names``:
    class id -> display name (the dataset's ``classes.parquet``; a class without one, or None, shows its id)."""
    if scores.height == 0:
        raise ValueError("scores: no rows to summarise")
    stats = (scores.group_by("class_index", "class_id")
             .agg(pl.len().alias("n"), *_stat_exprs(),
                  pl.col("correct").cast(pl.Float64).mean().alias("accuracy"),
                  pl.col("null_ratio").median().alias("null_ratio_median"),
                  pl.col("logit_change_rel").max().alias("max_logit_change_rel"))
             .sort("class_index", "class_id"))
    stats = _ratio_col(stats)
    keys = stats.select("class_index", "class_id").with_row_index("code")
    codes = scores.select("class_index", "class_id").join(keys, on=["class_index", "class_id"], how="left",
                                                      maintain_order="left")["code"].to_numpy()
    lk = _leakage(scores, codes.astype(np.int64), stats.height)
    names = [(class_names or {}).get(c, c) for c in stats["class_id"].to_list()]
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
            "sv_min_nonzero": sv_min, "sv_rank_gap": gap, "rank_threshold": float(geometry.threshold)}


def _translator_stats(translator: Any) -> dict[str, float]:
    metrics = dict(getattr(translator, "metrics", None) or {})

    def num(*keys):
        for k in keys:
            v = metrics.get(k)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                return float(v)
        return float("nan")

    alpha = getattr(translator, "alpha", None)
    # a ridge's held-out CV numbers, or a non-linear translator's on the translator study's held-out images
    return {"alpha": float(alpha) if alpha is not None else float("nan"),
            "r2": num("heldout_r2", "eval_r2", "r2", "train_r2"),
            "cosine_mean": num("heldout_cosine_mean", "eval_cosine_mean", "cosine_mean", "train_cosine_mean")}


def uses_random_weights(model: str, space: str, translator: Any = None,
                        weights: Mapping[str, Any] | None = None) -> bool | None:
    """Whether the (model, space) pair rests on random weights (the classifier's or the CLIP space's; see
    :func:`sing.models.lock.random_weight_keys`), read from ``weights`` (a job's ``weights`` settings) or else
    from the provenance stored with the translator (its fit job's settings carry the same block). None when
    neither says."""
    if weights is None:
        weights = ((getattr(translator, "provenance", None) or {}).get("weights"))
    if not weights:
        return None
    random = random_weight_keys(weights)
    return model in random["models"] or space in random["spaces"]


def model_summary(scores: pl.DataFrame, model: str, space: str, geometry: Any, translator: Any,
                  n_boot: int = 1000, ci: float = 0.95, seed: int = 0, unit: str = "auto",
                  quality: Mapping[str, float] | None = None, random_weights: bool | None = None) -> pl.DataFrame:
    """One row of ``MODEL_SUMMARY_COLUMNS`` for (model, space) from all its per-image rows (table 1).

    Both readings of the paper's "median ratio", each with a percentile bootstrap CI over the same resamples
    (:mod:`.stats`; ``unit``: "class", "image" or "auto"): ``ratio`` = median IS / median |AS| (ratio of medians,
    what the figures plot) and ``image_ratio_median`` = median over images of IS / |AS|. Also the (ddof=1)
    covariance of (|AS|, IS) behind Fig. 3a's ellipses, and the head's rank threshold actually used.

    ``translator_flags``: the names of :func:`sing.analysis.translation.translator_flags` (thresholds
    ``quality``), comma-separated ("" when none); each flag is also logged as a WARNING. ``random_weights``:
    True when the classifier or the CLIP space has random weights (None: read from the translator's
    provenance, :func:`uses_random_weights`; null in the table when unknown).
    """
    if scores.height == 0:
        raise ValueError("scores: no rows to summarise")
    stats = _ratio_col(scores.select(*_stat_exprs()))
    is_deg = scores["is_deg"].to_numpy().astype(np.float64)
    abs_as = np.abs(scores["as_deg"].to_numpy().astype(np.float64))
    groups = scores["class_index"].to_numpy()
    ratio, lo, hi, used = bootstrap_ratio(is_deg, abs_as, groups, n_boot=n_boot, ci=ci, seed=seed, unit=unit)
    i_med, i_lo, i_hi, _ = bootstrap_image_ratio(is_deg, abs_as, groups, n_boot=n_boot, ci=ci, seed=seed, unit=unit)
    cov = np.cov(np.vstack([abs_as, is_deg]), ddof=1) if scores.height > 1 else np.full((2, 2), np.nan)
    lk = _leakage(scores, np.zeros(scores.height, dtype=np.int64), 1)
    row: dict[str, Any] = {"model": model, "space": space, **_geometry_stats(geometry),
                           "n_images": scores.height, "n_classes": scores["class_index"].n_unique()}
    row.update({k: stats[k][0] for k in stats.columns})
    flags = translator_flags(translator, quality)
    log_translator_flags(flags, f"{model} -> {space}")
    if random_weights is None:
        random_weights = uses_random_weights(model, space, translator)
    row.update({"translator_flags": ", ".join(flags), "random_weights": random_weights})
    row.update({"ratio_ci_low": lo, "ratio_ci_high": hi, "image_ratio_median": i_med, "image_ratio_ci_low": i_lo,
                "image_ratio_ci_high": i_hi, "bootstrap_unit": used, "abs_as_var": float(cov[0, 0]),
                "is_var": float(cov[1, 1]), "abs_as_is_cov": float(cov[0, 1]), **_translator_stats(translator),
                "accuracy": _mean_or_nan(scores["correct"].cast(pl.Float64)),
                "max_logit_change_rel": float(scores["logit_change_rel"].max()),
                "null_ratio_median": float(scores["null_ratio"].median()),
                **{k: float(v[0]) for k, v in lk.items()}})
    df = pl.DataFrame([row], schema_overrides={"rank": pl.Int64, "nullity": pl.Int64, "in_dim": pl.Int64,
                                               "n_images": pl.Int64, "n_classes": pl.Int64,
                                               "translator_flags": pl.String, "random_weights": pl.Boolean})
    return df.select(MODEL_SUMMARY_COLUMNS)


def joint_sample(scores: pl.DataFrame, model: str, space: str, n: int, seed: int = 0) -> pl.DataFrame:
    """At most ``n`` per-image (|AS|, IS) rows drawn uniformly without replacement
    (``numpy.random.default_rng([seed, 3])``), sorted by image id: the point cloud of Fig. 3a (the ellipses use
    every image, through :func:`model_summary`). Columns ``JOINT_SAMPLE_COLUMNS``."""
    if n < 1:
        raise ValueError(f"n: must be >= 1, got {n}")
    rows = scores.sort("image_id")
    if rows.height > n:
        keep = np.sort(np.random.default_rng([int(seed), 3]).choice(rows.height, size=n, replace=False))
        rows = rows[keep.tolist()]
    return rows.select(pl.lit(model).alias("model"), pl.lit(space).alias("space"), "image_id", "class_id",
                       pl.col("class_index").cast(pl.Int32), pl.col("as_deg").abs().alias("abs_as"), "is_deg")
