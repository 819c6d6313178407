"""Null-space steering toward a text prompt (§3.5 eqs. 10-13; Table 1 and Fig. 6), calibrated to a target IS.

Two calibrations of the step ``f_ε = f + ε d̂_null(f)`` (d̂ the unit null-projected text gradient, eq. 12):

* ``mean_is`` (Table 1: "each model is perturbed by a fixed null-space step calibrated to IS = 40°"): ONE ε per
  model, chosen so that the mean IS over its images equals the target (:func:`mean_is_step`). Every image takes
  the same step length ε in feature space; no image is dropped (an image whose text gradient has no null
  component cannot move: IS = AS = 0 and it is counted).
* ``per_image``: ε solved per image so that every image lands exactly on the target (:func:`steer_toward_text`);
  images that cannot reach it are left out and counted. The UnCLIP pictures (Fig. 6) use this one.

:func:`steer_toward_text` is the one orchestration of :func:`sing.core.perturb.null_text_direction` and
:func:`sing.core.perturb.steer` for per-image steps; the steering table (:func:`steering_scores`) and the UnCLIP
pictures (:func:`sing.unclip.embeddings.steering_embeddings`) both use it.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np
import polars as pl

from ..core.arrays import as_float64
from ..core.metrics import angle_deg
from ..core.perturb import REASON_NO_DIRECTION, REASON_OK, REASON_UNREACHABLE, null_text_direction, steer

__all__ = ["CALIBRATIONS", "REASON_NO_NULL_SPACE", "STEERING_COLUMNS", "STEERING_SUMMARY_COLUMNS", "MeanStep",
           "Steered", "mean_is_step", "steer_toward_text", "steering_scores", "steering_summary"]

#: how the step is calibrated to the target IS (see the module docstring)
CALIBRATIONS = ("mean_is", "per_image")
#: per-image steering table (``tables/steering.parquet``)
STEERING_COLUMNS = ("model", "space", "calibration", "image_id", "eps", "is_deg", "as_deg", "abs_as", "included",
                    "reason")
#: Table 1: one row per (model, space, calibration)
STEERING_SUMMARY_COLUMNS = ("model", "space", "calibration", "eps_mean", "n", "n_included", "n_excluded",
                            "n_no_direction", "abs_as_mean", "abs_as_std", "is_mean", "is_std")
#: reason of every row of a head without a null space (nullity 0): nothing to steer along
REASON_NO_NULL_SPACE = "no_null_space"


class Steered(NamedTuple):
    """Result of :func:`steer_toward_text`; rows whose ``reason`` is not ``"ok"`` are NaN."""

    features: np.ndarray  # (N, m) float64: f_ε = f + ε d̂_null, with W f_ε = W f
    eps: np.ndarray  # (N,) float64 step sizes ε ≥ 0
    reason: np.ndarray  # (N,) object: "ok" | "unreachable" | "no_direction" | "no_null_space"


class MeanStep(NamedTuple):
    """Result of :func:`mean_is_step`."""

    eps: float  # the model's step ε ≥ 0 (NaN when the target mean IS cannot be reached)
    features: np.ndarray  # (N, m) f + ε d̂ (f itself for rows without a direction); NaN when eps is NaN
    is_deg: np.ndarray  # (N,) IS of each image at ε (0 for rows without a direction)
    reason: np.ndarray  # (N,) object: "ok" | "no_direction" | "unreachable" | "no_null_space"


def _steering_inputs(F: Any, z_text: Any, target_is_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """F (N, m) and z_text (n,) as float64, after checking target_is_deg in (0, 180) degrees (ValueError naming
    the argument)."""
    F = as_float64(F, "F", ndim=2)
    zt = as_float64(z_text, "z_text", ndim=1)
    if not (0 < target_is_deg < 180):
        raise ValueError(f"target_is_deg: must be in (0, 180), got {target_is_deg}")
    return F, zt


def steer_toward_text(F: Any, geometry: Any, translator: Any, z_text: Any, target_is_deg: float) -> Steered:
    """Step every feature along its unit null-projected text gradient until ``IS(f, f_ε) = target_is_deg``.

    ``d̂ = Π_n ∇_f cos(T f, z_text) / ‖·‖`` (eq. 12, :func:`sing.core.perturb.null_text_direction`) and
    ``f_ε = f + ε d̂`` with the closed-form ε of :func:`sing.core.perturb.steer` (eq. 13).

    F: (N, m); z_text: (n,) the prompt's text embedding; target_is_deg in (0, 180) degrees. Reasons: "ok";
    "unreachable" (the target exceeds the limit angle ∠(T f, T d), or ε is not finite); "no_direction" (the
    text gradient has no null component); "no_null_space" (nullity 0). ValueError naming the argument on bad
    input.
    """
    F, zt = _steering_inputs(F, z_text, target_is_deg)
    n = F.shape[0]
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


def _image_scores(a_norm: np.ndarray, u_norm: np.ndarray, phi: np.ndarray, eps: float) -> np.ndarray:
    """IS (degrees) of every image at step ε: in the plane of a = T f and u = W_T d̂ (angle φ between them),
    ``∠(a, a + εu) = atan2(ε‖u‖ sin φ, ‖a‖ + ε‖u‖ cos φ)``; rises monotonically from 0 to φ."""
    return np.degrees(np.arctan2(eps * u_norm * np.sin(phi), a_norm + eps * u_norm * np.cos(phi)))


def mean_is_step(F: Any, geometry: Any, translator: Any, z_text: Any, target_is_deg: float) -> MeanStep:
    """One step ε for all images such that ``mean_i IS(f_i, f_i + ε d̂_i) = target_is_deg`` (Table 1's "fixed
    null-space step calibrated to IS = 40°").

    Each image's IS rises monotonically in ε from 0 toward its limit angle φ_i = ∠(T f_i, W_T d̂_i)
    (:func:`_image_scores`), so the mean does too: ε is the root of ``mean IS(ε) − target`` found by
    ``scipy.optimize.brentq`` on a doubling bracket. An image without a null direction (or whose direction the
    translator does not see) stays at f with IS 0 and is part of the mean. Reason "unreachable" on every row when
    the target is ≥ the mean limit angle; "no_null_space" when nullity is 0. F: (N, m); z_text: (n,).
    """
    from scipy.optimize import brentq

    F, zt = _steering_inputs(F, z_text, target_is_deg)
    n = F.shape[0]
    if n == 0:
        raise ValueError("F: no images")
    if geometry.nullity == 0:
        return MeanStep(float("nan"), np.full_like(F, np.nan), np.full(n, np.nan),
                        np.array([REASON_NO_NULL_SPACE] * n, dtype=object))
    D, mask = null_text_direction(F, geometry, translator, zt)
    mask = np.asarray(mask, dtype=bool)
    D = np.where(mask[:, None], np.nan_to_num(np.asarray(D, dtype=np.float64)), 0.0)
    W_T = np.asarray(translator.weight, dtype=np.float64)
    a = translator(F)
    u = D @ W_T.T
    a_norm, u_norm = np.linalg.norm(a, axis=1), np.linalg.norm(u, axis=1)
    cos_phi = np.zeros(n)
    moving = u_norm > 0
    cos_phi[moving] = np.einsum("ij,ij->i", a[moving], u[moving]) / (a_norm[moving] * u_norm[moving])
    phi = np.arccos(np.clip(cos_phi, -1.0, 1.0))
    reason = np.where(mask, REASON_OK, REASON_NO_DIRECTION).astype(object)
    limit = float(np.degrees(np.where(moving, phi, 0.0)).mean())
    if target_is_deg >= limit:
        return MeanStep(float("nan"), np.full_like(F, np.nan), np.full(n, np.nan),
                        np.array([REASON_UNREACHABLE] * n, dtype=object))

    def excess(eps: float) -> float:
        return float(_image_scores(a_norm, u_norm, phi, eps).mean()) - float(target_is_deg)

    hi = float(np.median(a_norm[moving] / u_norm[moving]))
    while excess(hi) < 0:
        hi *= 2.0
    eps = float(brentq(excess, 0.0, hi, xtol=1e-14 * hi, rtol=4 * np.finfo(float).eps, maxiter=500))
    return MeanStep(eps, F + eps * D, _image_scores(a_norm, u_norm, phi, eps), reason)


def steering_scores(F: Any, image_ids: Sequence[str], geometry: Any, translator: Any, z_target: Any,
                    target_is_deg: float = 40.0, calibration: str = "mean_is") -> pl.DataFrame:
    """Null-space steering toward a target prompt, calibrated to IS = ``target_is_deg`` (eqs. 10-13).

    Per image: calibration, eps (step along the unit null-projected text gradient), is_deg (its IS: the target
    for ``per_image``, the image's own value for ``mean_is``), as_deg toward the target (positive = the steered
    feature is closer to the prompt), abs_as, included (counted in Table 1) and reason: "ok"; "no_direction" (the
    text gradient has no null component: for ``mean_is`` the image stays put, IS = AS = 0, included); "unreachable"
    (``per_image``: the target exceeds the image's limit angle ∠(T f, T d); ``mean_is``: the target exceeds the
    mean limit angle, every row); "no_null_space" (nullity 0). Rows not included have null numbers. Sorted by
    image id. ValueError naming the argument on bad input.
    """
    F = as_float64(F, "F", ndim=2)
    zt = as_float64(z_target, "z_target", ndim=1)
    n = F.shape[0]
    if len(image_ids) != n:
        raise ValueError(f"image_ids: expected {n} ids, got {len(image_ids)}")
    if calibration not in CALIBRATIONS:
        raise ValueError(f"calibration: must be one of {CALIBRATIONS}, got {calibration!r}")
    if calibration == "per_image":
        st = steer_toward_text(F, geometry, translator, zt, target_is_deg)
        included = st.reason == REASON_OK
        eps, F_eps, reason = st.eps, st.features, st.reason
    else:
        ms = mean_is_step(F, geometry, translator, zt, target_is_deg)
        included = np.isin(ms.reason, [REASON_OK, REASON_NO_DIRECTION])
        eps = np.where(included, ms.eps, np.nan)  # the model's one step (rows without a direction do not move)
        F_eps, reason = ms.features, ms.reason
    is_deg = np.full(n, np.nan)
    as_deg = np.full(n, np.nan)
    if included.any():
        z = translator(F[included])
        z_e = translator(F_eps[included])
        is_deg[included] = angle_deg(z, z_e, pairwise=False)
        as_deg[included] = angle_deg(z, zt, pairwise=False) - angle_deg(z_e, zt, pairwise=False)
    df = pl.DataFrame({"calibration": [calibration] * n, "image_id": list(map(str, image_ids)), "eps": eps,
                       "is_deg": is_deg, "as_deg": as_deg, "abs_as": np.abs(as_deg),
                       "included": included.astype(bool), "reason": [str(r) for r in reason]},
                      schema_overrides={"reason": pl.String, "calibration": pl.String})
    return df.with_columns(pl.col("eps", "is_deg", "as_deg", "abs_as").fill_nan(None)).sort("image_id")


def steering_summary(steering: pl.DataFrame) -> pl.DataFrame:
    """Table 1: per (model, space, calibration) mean ± std (ddof=1) of |AS| toward the target and of IS over the
    included rows, the mean step, and the counts (all, included, excluded, without a null direction)."""
    inc = pl.col("included")
    return (steering.group_by("model", "space", "calibration")
            .agg(pl.col("eps").filter(inc).mean().alias("eps_mean"),
                 pl.len().cast(pl.Int64).alias("n"),
                 inc.sum().cast(pl.Int64).alias("n_included"),
                 (~inc).sum().cast(pl.Int64).alias("n_excluded"),
                 (pl.col("reason") == REASON_NO_DIRECTION).sum().cast(pl.Int64).alias("n_no_direction"),
                 pl.col("abs_as").filter(inc).mean().alias("abs_as_mean"),
                 pl.col("abs_as").filter(inc).std(ddof=1).alias("abs_as_std"),
                 pl.col("is_deg").filter(inc).mean().alias("is_mean"),
                 pl.col("is_deg").filter(inc).std(ddof=1).alias("is_std"))
            .select(STEERING_SUMMARY_COLUMNS).sort("space", "model", "calibration"))
