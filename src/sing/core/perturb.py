"""Null-space perturbations (paper §3.5 eqs. 10-13) and the null-space validation (supp. §2, eqs. 16-17).

All functions take the batch argument first (``F`` or ``delta``: ``(N, m)`` or ``(m,)``) and return
arrays of its kind (numpy/torch, dtype, device). A ``translator`` is anything with ``.weight`` (n×m)
and ``.bias`` (n), e.g. :class:`sing.core.translator.LinearTranslator`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .arrays import as_float64, as_scalar_or_rows, check_same_last_dim, is_tensor, kind_of, restore
from .geometry import HeadGeometry
from .metrics import _rowwise_deg, _unit_rows
from .translator import translator_params

__all__ = [
    "REASON_NO_DIRECTION",
    "REASON_OK",
    "REASON_UNREACHABLE",
    "equal_norm_perturbation",
    "logit_change",
    "null_text_direction",
    "steer",
    "text_gradient",
]

REASON_OK = "ok"
REASON_UNREACHABLE = "unreachable"  # target IS ≥ limit angle ∠(T f, W_T d), or W_T d = 0
REASON_NO_DIRECTION = "no_direction"  # direction row is NaN (e.g. masked by null_text_direction) or zero

PERTURBATION_KINDS = ("null", "random", "principal")


def _features(F: Any, in_dim: int, what: str, name: str = "F", allow_nan: bool = False) -> np.ndarray:
    arr = as_float64(F, name, ndim=(1, 2), allow_nan=allow_nan)
    check_same_last_dim(arr, name, in_dim, what)
    return arr


def _mask_like(mask: np.ndarray, F: Any) -> Any:
    if is_tensor(F):
        import torch

        return torch.from_numpy(mask).to(F.device)
    return mask


def _text_gradient64(F64: np.ndarray, W: np.ndarray, b: np.ndarray, t64: np.ndarray) -> np.ndarray:
    z = F64 @ W.T + b
    z_norm = np.linalg.norm(z, axis=-1, keepdims=True)
    if np.any(z_norm == 0):
        raise ValueError("F: the translated feature T(f) has zero norm; the cosine gradient is undefined")
    z_hat = z / z_norm
    t_hat = t64 / np.linalg.norm(t64, axis=-1, keepdims=True)
    s = np.sum(z_hat * t_hat, axis=-1, keepdims=True)
    grad_z = (t_hat - s * z_hat) / z_norm  # ∇_z cos(z, t)
    return grad_z @ W


def _text_vectors(z_text: Any, F64: np.ndarray, out_dim: int) -> np.ndarray:
    t64 = as_float64(z_text, "z_text", ndim=(1, 2))
    check_same_last_dim(t64, "z_text", out_dim, "the translator's out_dim")
    if t64.ndim == 2 and (F64.ndim == 1 or t64.shape[0] != F64.shape[0]):
        raise ValueError(f"z_text: 2-D z_text must have one row per feature ({F64.shape[0] if F64.ndim == 2 else 1}), "
                         f"got {t64.shape[0]}")
    if np.any(np.linalg.norm(t64, axis=-1) == 0):
        raise ValueError("z_text: has zero norm; the cosine is undefined")
    return t64


def text_gradient(F: Any, translator: Any, z_text: Any) -> Any:
    """Semantic direction ``g = ∇_f cos(T f, z_text)`` (eqs. 10-11), closed form.

    With ``z = W_T f + b_T``, ``ẑ = z/‖z‖``, ``t̂ = t/‖t‖`` and ``s = ẑ·t̂``:
    ``∇_z s = (t̂ − s ẑ)/‖z‖`` and ``g = W_Tᵀ ∇_z s``. ``z_text``: ``(n,)`` shared by all rows or
    ``(N, n)`` one per row. Returns ``(N, m)`` (or ``(m,)``).
    """
    W, b = translator_params(translator)
    F64 = _features(F, W.shape[1], "the translator's in_dim")
    t64 = _text_vectors(z_text, F64, W.shape[0])
    return restore(_text_gradient64(F64, W, b, t64), kind_of(F))


def null_text_direction(F: Any, geometry: HeadGeometry, translator: Any, z_text: Any,
                        *, rtol: float = 1e-10) -> tuple[Any, Any]:
    """Unit null-space semantic direction ``d̂_null = Π_n g / ‖Π_n g‖`` (eq. 12).

    Returns ``(D, mask)``: ``D`` (N, m) and boolean ``mask`` (N,). Rows where the null component
    vanishes (``‖Π_n g‖ ≤ rtol·‖g‖``, ``g = 0``, or ``nullity == 0``) are NaN with ``mask=False``.
    """
    W, b = translator_params(translator)
    if geometry.in_dim != W.shape[1]:
        raise ValueError(f"geometry: in_dim {geometry.in_dim} does not match the translator's {W.shape[1]}")
    F64 = _features(F, W.shape[1], "the translator's in_dim")
    t64 = _text_vectors(z_text, F64, W.shape[0])
    g = _text_gradient64(F64, W, b, t64)
    if geometry.nullity == 0:
        return restore(np.full_like(g, np.nan), kind_of(F)), _mask_like(np.zeros(g.shape[:-1], bool), F)
    d = geometry._project(g, onto_null=True)
    d_norm = np.linalg.norm(d, axis=-1)
    mask = (d_norm > rtol * np.linalg.norm(g, axis=-1)) & (d_norm > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        D = d / d_norm[..., None]
    D[~mask] = np.nan
    return restore(D, kind_of(F)), _mask_like(np.asarray(mask), F)


def steer(F: Any, direction: Any, translator: Any, target_is_deg: Any) -> tuple[Any, Any, np.ndarray]:
    """Step ``f_ε = f + ε d`` (eq. 13) with ``ε ≥ 0`` chosen so that ``IS(f, f_ε) = target`` exactly.

    Because ``T`` is affine, ``T f_ε = a + ε u`` with ``a = T f`` and ``u = W_T d``; the angle
    ``θ(ε) = ∠(a, a + εu)`` rises monotonically from 0 towards the limit ``φ = ∠(a, u)``. In the
    triangle (0, a, a + εu) the law of sines gives the closed form
    ``ε = ‖a‖ sin θ / (‖u‖ sin(φ − θ))`` for ``0 ≤ θ < φ``. ``‖u‖ ≤ 1e-12·‖W_T‖_F·‖d‖`` counts as
    ``u = 0`` (unreachable for any target > 0).

    Parameters: F (N, m) or (m,); direction of the same shape or (m,) (NaN rows allowed, e.g. from
    :func:`null_text_direction`); target_is_deg: scalar or (N,) in [0, 180).

    Returns ``(F_eps, eps, reason)``: ``reason`` is a numpy str array (``"ok"``, ``"unreachable"``:
    the target is ≥ φ or ``W_T d = 0``; ``"no_direction"``: the direction row is NaN or zero). Rows not
    ``"ok"`` have NaN ``F_eps`` and ``eps``.
    """
    W, b = translator_params(translator)
    F64 = _features(F, W.shape[1], "the translator's in_dim")
    D64 = _features(direction, W.shape[1], "the translator's in_dim", name="direction", allow_nan=True)
    squeeze = F64.ndim == 1
    F2 = F64[None] if squeeze else F64
    N = F2.shape[0]
    D2 = np.broadcast_to(D64, F2.shape) if D64.ndim == 1 else D64
    if D2.shape != F2.shape:
        raise ValueError(f"direction: shape {D64.shape} does not match F's {F64.shape}")
    target = as_scalar_or_rows(target_is_deg, "target_is_deg", N)
    if np.any(target < 0) or np.any(target >= 180):
        raise ValueError("target_is_deg: must lie in [0, 180) degrees")

    a = F2 @ W.T + b
    a_norm = np.linalg.norm(a, axis=1)
    if np.any(a_norm == 0):
        raise ValueError("F: the translated feature T(f) has zero norm; the image score is undefined")
    reason = np.full(N, REASON_OK, dtype="<U12")
    no_dir = np.isnan(D2).any(axis=1) | (np.linalg.norm(np.nan_to_num(D2), axis=1) == 0)
    reason[no_dir] = REASON_NO_DIRECTION
    D_clean = np.where(no_dir[:, None], 0.0, D2)
    u = D_clean @ W.T
    u_norm = np.linalg.norm(u, axis=1)
    # W_T d at rounding level (d in the translator's null space) counts as zero: T f_ε never moves.
    u_norm[u_norm <= 1e-12 * np.linalg.norm(W) * np.linalg.norm(D_clean, axis=1)] = 0.0

    theta = np.radians(target)
    eps = np.full(N, np.nan)
    has_u = (u_norm > 0) & ~no_dir
    phi = np.full(N, np.nan)
    if has_u.any():
        phi[has_u] = np.radians(_rowwise_deg(_unit_rows(a[has_u], "a"), _unit_rows(u[has_u], "u")))
    zero_target = (theta == 0) & ~no_dir
    reachable = has_u & (theta < phi)
    reason[~no_dir & ~reachable & ~zero_target] = REASON_UNREACHABLE
    eps[zero_target] = 0.0
    ok = reachable & ~zero_target
    eps[ok] = a_norm[ok] * np.sin(theta[ok]) / (u_norm[ok] * np.sin(phi[ok] - theta[ok]))
    F_eps = F2 + eps[:, None] * D_clean  # NaN eps propagates to NaN rows
    if squeeze:
        F_eps, eps, reason = F_eps[0], eps[0], reason[0]
    return restore(F_eps, kind_of(F)), restore(np.asarray(eps), kind_of(F)), np.asarray(reason)


def equal_norm_perturbation(F: Any, geometry: HeadGeometry, kind: str, norm: Any, seed: int,
                            W: Any = None, pred: Any = None, *, bias: Any = None) -> Any:
    """Perturbations ``δ`` of a given per-row L2 norm for the null-space validation (supp. §2).

    kind: ``"null"`` - Gaussian in the null-basis coordinates, ``δ = V_n g`` (``W δ ≈ 0``, eq. 17);
    ``"random"`` - isotropic Gaussian in R^m; ``"principal"`` - the row ``W[pred]`` of the predicted
    class, the steepest-ascent direction of its logit (needs ``W``; ``pred`` defaults to
    ``argmax(F Wᵀ + bias)``). Each row is rescaled to ``norm`` (scalar or (N,), ≥ 0). Random draws
    come from ``numpy.random.default_rng(seed)`` (same result for numpy and torch input).
    Returns ``δ`` with the shape and kind of ``F`` (add it yourself: ``F + δ``).
    """
    if kind not in PERTURBATION_KINDS:
        raise ValueError(f"kind: expected one of {PERTURBATION_KINDS}, got {kind!r}")
    F64 = _features(F, geometry.in_dim, "the geometry's in_dim")
    squeeze = F64.ndim == 1
    F2 = F64[None] if squeeze else F64
    N, m = F2.shape
    norms = as_scalar_or_rows(norm, "norm", N)
    if np.any(norms < 0):
        raise ValueError("norm: must be >= 0")
    rng = np.random.default_rng(seed)
    if kind == "null":
        if geometry.nullity == 0:
            raise ValueError("geometry: nullity is 0, so no null-space perturbation exists")
        delta = rng.standard_normal((N, geometry.nullity)) @ geometry.null_basis.T
    elif kind == "random":
        delta = rng.standard_normal((N, m))
    else:
        if W is None:
            raise ValueError("W: required for kind='principal'")
        W64 = as_float64(W, "W", ndim=2)
        check_same_last_dim(W64, "W", m, "the feature dimension")
        if pred is None:
            logits = F2 @ W64.T
            if bias is not None:
                logits = logits + as_float64(bias, "bias", shape=(W64.shape[0],))
            classes = np.argmax(logits, axis=1)
        else:
            raw = pred.detach().cpu().numpy() if is_tensor(pred) else np.asarray(pred)
            raw = raw.reshape(-1)
            if raw.shape != (N,) or not np.issubdtype(raw.dtype, np.integer):
                raise ValueError(f"pred: expected {N} integer class indices, got shape {raw.shape}, dtype {raw.dtype}")
            if raw.min() < 0 or raw.max() >= W64.shape[0]:
                raise ValueError(f"pred: class indices must lie in [0, {W64.shape[0]})")
            classes = raw.astype(np.int64)
        delta = W64[classes]
    row_norm = np.linalg.norm(delta, axis=1)
    if np.any(row_norm == 0):
        raise ValueError(f"W: a {kind} direction has zero norm (zero row of W?)")
    delta = delta * (norms / row_norm)[:, None]
    return restore(delta[0] if squeeze else delta, kind_of(F))


def logit_change(W: Any, delta: Any) -> Any:
    """``Δℓ = ‖ℓ(f + δ) − ℓ(f)‖₂ = ‖W δ‖₂`` per row (supp. eq. 16; the bias cancels).

    W: (c, m); delta: (N, m) → (N,), or (m,) → scalar. Returns the kind of ``delta``.
    """
    W64 = as_float64(W, "W", ndim=2)
    d64 = as_float64(delta, "delta", ndim=(1, 2))
    check_same_last_dim(d64, "delta", W64.shape[1], "W's in_dim")
    return restore(np.linalg.norm(d64 @ W64.T, axis=-1), kind_of(delta))
