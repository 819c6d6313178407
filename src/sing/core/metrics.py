"""Angles, Attribute Score and Image Score (paper §3.4, eqs. 5-8).

Angles are computed as ``2·atan2(‖x̂ − ŷ‖, ‖x̂ + ŷ‖)``, which equals ``arccos(x̂·ŷ)`` (eq. 5) but keeps
full relative precision for tiny angles and for angles near 180°; the arccos of a clamped cosine
(the authors' code) loses about half the digits there (error ~1e-6° at 1e-4°).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .arrays import as_float64, kind_of, restore

__all__ = ["angle_deg", "attribute_score", "image_score"]

# Pairs whose |cosine| exceeds this are recomputed with the difference/sum formula (pairwise mode).
_NEAR_PARALLEL = 0.999
_PAIR_BATCH_ELEMENTS = 1 << 22


def _unit_rows(a: np.ndarray, name: str) -> np.ndarray:
    norms = np.linalg.norm(a, axis=-1, keepdims=True)
    zero = norms[..., 0] == 0
    if np.any(zero):
        if a.ndim == 1:
            raise ValueError(f"{name}: has zero norm; the angle is undefined")
        rows = np.flatnonzero(zero)
        raise ValueError(f"{name}: {rows.size} row(s) have zero norm (first: row {rows[0]}); "
                         "the angle is undefined")
    return a / norms


def _rowwise_deg(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Angle in degrees between unit vectors, broadcasting over leading dimensions."""
    diff = np.linalg.norm(u - v, axis=-1)
    summ = np.linalg.norm(u + v, axis=-1)
    return np.degrees(2.0 * np.arctan2(diff, summ))


def _pairwise_deg(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(N, P) angles in degrees between unit rows of u (N, d) and v (P, d)."""
    cos = u @ v.T
    out = np.degrees(np.arccos(np.clip(cos, -1.0, 1.0)))
    # arccos is ill-conditioned near ±1: redo those pairs exactly, in bounded-memory batches.
    ii, jj = np.nonzero(np.abs(cos) > _NEAR_PARALLEL)
    step = max(1, _PAIR_BATCH_ELEMENTS // max(1, u.shape[1]))
    for start in range(0, ii.size, step):
        i, j = ii[start:start + step], jj[start:start + step]
        out[i, j] = _rowwise_deg(u[i], v[j])
    return out


def _angles(x: np.ndarray, y: np.ndarray, x_name: str, y_name: str, pairwise: bool | None) -> np.ndarray:
    if x.shape[-1] != y.shape[-1]:
        raise ValueError(f"{y_name}: last dimension {y.shape[-1]} does not match {x_name}'s {x.shape[-1]}")
    u = _unit_rows(x, x_name)
    v = _unit_rows(y, y_name)
    if u.ndim == 2 and v.ndim == 2:
        same_rows = u.shape[0] == v.shape[0]
        if pairwise is None:
            pairwise = not same_rows
        if pairwise:
            return _pairwise_deg(u, v)
        if not same_rows:
            raise ValueError(f"{y_name}: has {v.shape[0]} rows but {x_name} has {u.shape[0]}; "
                             "row-wise angles need equal rows (pass pairwise=True for all pairs)")
    elif pairwise:
        raise ValueError(f"pairwise=True needs 2-D {x_name} and {y_name}, got shapes "
                         f"{x.shape} and {y.shape}")
    return _rowwise_deg(u, v)


def angle_deg(x: Any, y: Any, *, pairwise: bool | None = None) -> Any:
    """Angle ``∠(x, y)`` in degrees (eq. 5), accurate to ~1e-12° relative even for tiny angles.

    Shapes (``d`` = vector dimension):

    * ``(d,) × (d,)`` → scalar (0-d); ``(N, d) × (d,)`` or ``(d,) × (N, d)`` → ``(N,)``;
    * ``(N, d) × (N, d)`` → ``(N,)`` row-wise (``pairwise=None`` or ``False``);
    * ``(N, d) × (P, d)`` → ``(N, P)`` all pairs: automatic when ``N != P`` (``pairwise=None``),
      forced with ``pairwise=True`` (use it whenever ``y`` is a list of prompts, even if ``P == N``).
      ``pairwise=False`` with ``N != P`` raises.

    Returns the kind of ``x`` (numpy or torch; float32 in → float32 out). Zero-norm vectors and
    NaN/Inf entries raise ``ValueError`` naming the argument.
    """
    x64 = as_float64(x, "x", ndim=(1, 2))
    y64 = as_float64(y, "y", ndim=(1, 2))
    return restore(_angles(x64, y64, "x", "y", pairwise), kind_of(x))


def image_score(z: Any, z_eq: Any) -> Any:
    """Image Score ``IS = ∠(T f, T f̃)`` in degrees (eq. 8), row-wise.

    ``z = T(f)`` and ``z_eq = T(f̃)``, both ``(N, n)`` (or both ``(n,)``) → ``(N,)`` (or scalar).
    """
    z64 = as_float64(z, "z", ndim=(1, 2))
    e64 = as_float64(z_eq, "z_eq", ndim=(1, 2))
    if z64.shape != e64.shape:
        raise ValueError(f"z_eq: shape {e64.shape} does not match z's {z64.shape}")
    return restore(_angles(z64, e64, "z", "z_eq", False), kind_of(z))


def attribute_score(z: Any, z_eq: Any, z_text: Any) -> Any:
    """Attribute Score ``AS = ∠(T f, t) − ∠(T f̃, t)`` in degrees (eq. 7).

    Positive AS means the equivalent feature is *closer* to the text. ``z``, ``z_eq``: ``(N, n)``
    (or ``(n,)``); ``z_text``: ``(n,)`` → ``(N,)``, or ``(P, n)`` (P prompts) → ``(N, P)`` (always
    all pairs, also when ``P == N``).
    """
    z64 = as_float64(z, "z", ndim=(1, 2))
    e64 = as_float64(z_eq, "z_eq", ndim=(1, 2))
    t64 = as_float64(z_text, "z_text", ndim=(1, 2))
    if z64.shape != e64.shape:
        raise ValueError(f"z_eq: shape {e64.shape} does not match z's {z64.shape}")
    if t64.ndim == 2 and z64.ndim == 1:
        z64, e64 = z64[None], e64[None]
        squeeze = True
    else:
        squeeze = False
    pairwise = t64.ndim == 2
    score = _angles(z64, t64, "z", "z_text", pairwise) - _angles(e64, t64, "z_eq", "z_text", pairwise)
    if squeeze:
        score = score[0]
    return restore(score, kind_of(z))
