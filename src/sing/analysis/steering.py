"""Null-space steering toward a text prompt (§3.5 eqs. 10-13; Table 1 and Fig. 6), calibrated to a target IS.

:func:`steer_toward_text` is the one orchestration of :func:`sing.core.perturb.null_text_direction` and
:func:`sing.core.perturb.steer`; the steering table (:func:`steering_scores`) and the UnCLIP pictures
(:func:`sing.unclip.embeddings.steering_embeddings`) both use it.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np
import polars as pl

from ..core.arrays import as_float64
from ..core.metrics import angle_deg
from ..core.perturb import REASON_OK, REASON_UNREACHABLE, null_text_direction, steer

__all__ = ["REASON_NO_NULL_SPACE", "STEERING_COLUMNS", "STEERING_SUMMARY_COLUMNS", "Steered", "steer_toward_text",
           "steering_scores", "steering_summary"]

#: per-image steering table (``tables/steering.parquet``)
STEERING_COLUMNS = ("model", "space", "image_id", "eps", "is_deg", "as_deg", "abs_as", "reachable", "reason")
#: Table 1: one row per (model, space)
STEERING_SUMMARY_COLUMNS = ("model", "space", "n", "n_reachable", "n_unreachable", "abs_as_mean", "abs_as_std",
                            "is_mean")
#: reason of every row of a head without a null space (nullity 0): nothing to steer along
REASON_NO_NULL_SPACE = "no_null_space"


class Steered(NamedTuple):
    """Result of :func:`steer_toward_text`; rows whose ``reason`` is not ``"ok"`` are NaN."""

    features: np.ndarray  # (N, m) float64: f_ε = f + ε d̂_null, with W f_ε = W f
    eps: np.ndarray  # (N,) float64 step sizes ε ≥ 0
    reason: np.ndarray  # (N,) object: "ok" | "unreachable" | "no_direction" | "no_null_space"


def steer_toward_text(F: Any, geometry: Any, translator: Any, z_text: Any, target_is_deg: float) -> Steered:
    """Step every feature along its unit null-projected text gradient until ``IS(f, f_ε) = target_is_deg``.

    ``d̂ = Π_n ∇_f cos(T f, z_text) / ‖·‖`` (eq. 12, :func:`sing.core.perturb.null_text_direction`) and
    ``f_ε = f + ε d̂`` with the closed-form ε of :func:`sing.core.perturb.steer` (eq. 13).

    F: (N, m); z_text: (n,) the prompt's text embedding; target_is_deg in (0, 180) degrees. Reasons: "ok";
    "unreachable" (the target exceeds the limit angle ∠(T f, T d), or ε is not finite); "no_direction" (the
    text gradient has no null component); "no_null_space" (nullity 0). ValueError naming the argument on bad
    input.
    """
    F = as_float64(F, "F", ndim=2)
    zt = as_float64(z_text, "z_text", ndim=1)
    n = F.shape[0]
    if not (0 < target_is_deg < 180):
        raise ValueError(f"target_is_deg: must be in (0, 180), got {target_is_deg}")
    if geometry.nullity == 0:
        return Steered(np.full_like(F, np.nan), np.full(n, np.nan),
                       np.array([REASON_NO_NULL_SPACE] * n, dtype=object))
    D, _mask = null_text_direction(F, geometry, translator, zt)
    F_eps, e, why = steer(F, np.asarray(D, dtype=np.float64), translator, np.full(n, float(target_is_deg)))
    F_eps = np.asarray(F_eps, dtype=np.float64)
    e = np.asarray(e, dtype=np.float64)
    reason = np.array([str(w) for w in np.asarray(why).ravel()], dtype=object)
    ok = (reason == REASON_OK) & np.isfinite(e)
    reason[~ok & (reason == REASON_OK)] = REASON_UNREACHABLE
    F_eps[~ok] = np.nan
    return Steered(F_eps, np.where(ok, e, np.nan), reason)


def steering_scores(F: Any, image_ids: Sequence[str], geometry: Any, translator: Any, z_target: Any,
                    target_is_deg: float = 40.0) -> pl.DataFrame:
    """Null-space steering toward a target prompt, calibrated to IS = ``target_is_deg`` (eqs. 10-13).

    Per image: eps (step along the unit null-projected text gradient), is_deg (achieved IS), as_deg toward
    the target (positive = the steered feature is closer to the prompt), abs_as, reachable, reason:
    "ok"; "unreachable" (the target IS exceeds the limit angle ∠(T f, T d)); "no_direction" (the text
    gradient has no null component); "no_null_space" (nullity 0). Non-"ok" rows have null numbers.
    """
    F = as_float64(F, "F", ndim=2)
    zt = as_float64(z_target, "z_target", ndim=1)
    n = F.shape[0]
    if len(image_ids) != n:
        raise ValueError(f"image_ids: expected {n} ids, got {len(image_ids)}")
    st = steer_toward_text(F, geometry, translator, zt, target_is_deg)
    ok = st.reason == REASON_OK
    is_deg = np.full(n, np.nan)
    as_deg = np.full(n, np.nan)
    if ok.any():
        z = translator(F[ok])
        z_e = translator(st.features[ok])
        is_deg[ok] = angle_deg(z, z_e, pairwise=False)
        as_deg[ok] = angle_deg(z, zt, pairwise=False) - angle_deg(z_e, zt, pairwise=False)
    df = pl.DataFrame({"image_id": list(map(str, image_ids)), "eps": st.eps, "is_deg": is_deg, "as_deg": as_deg,
                       "abs_as": np.abs(as_deg), "reachable": ok.astype(bool),
                       "reason": st.reason.tolist()}, schema_overrides={"reason": pl.String})
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
