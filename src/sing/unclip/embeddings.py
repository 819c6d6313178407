"""The CLIP image embeddings the UnCLIP figures render (main Fig. 6, supp. Figs. 11 and 13): original and
null-removed features, null-space steering toward a prompt and equal-norm perturbations, each translated and
rescaled to the norm of the original translation (supp. eq. 19: only the angle, i.e. the semantics, changes)."""

from __future__ import annotations

from typing import Any, NamedTuple, Sequence

import numpy as np

from ..analysis.steering import steer_toward_text
from ..core.arrays import as_float64, kind_of, restore
from ..core.perturb import equal_norm_perturbation

__all__ = ["Steering", "equivalent_pair_embeddings", "lookup_prompts", "perturbed_embeddings", "rescale_to_reference",
           "steering_embeddings"]


def rescale_to_reference(z_eq: Any, z_ref: Any) -> Any:
    """``T̂(f̃) = T(f̃) · ‖T(f)‖₂ / ‖T(f̃)‖₂`` row-wise (supp. eq. 19).

    ``z_eq``: (N, n) or (n,); ``z_ref``: same shape, or (n,) shared by all rows. Numpy or torch (the kind, dtype
    and device of ``z_eq`` come back); computed in float64. NaN rows of ``z_eq`` (e.g. unreachable steering
    targets) stay NaN. Raises ValueError for a zero-norm row.
    """
    Z = as_float64(z_eq, "z_eq", ndim=(1, 2), allow_nan=True)
    R = as_float64(z_ref, "z_ref", ndim=(1, 2))
    if Z.shape[-1] != R.shape[-1]:
        raise ValueError(f"z_ref: last dimension {R.shape[-1]} does not match z_eq's {Z.shape[-1]}")
    if R.ndim == 2 and R.shape != Z.shape:
        raise ValueError(f"z_ref: shape {R.shape} does not match z_eq's {Z.shape} (or give one shared row)")
    n_eq = np.linalg.norm(Z, axis=-1, keepdims=True)
    n_ref = np.linalg.norm(R, axis=-1, keepdims=True)
    if np.any(n_eq == 0):
        raise ValueError("z_eq: a row has zero norm; its direction (and eq. 19) is undefined")
    if np.any(n_ref == 0):
        raise ValueError("z_ref: a row has zero norm")
    return restore(Z * (n_ref / n_eq), kind_of(z_eq))


def equivalent_pair_embeddings(F: Any, geometry: Any, translator: Any) -> tuple[Any, Any]:
    """``(T(f), T̂(f̃))`` for the original and the null-removed feature ``f̃ = f − Π_n f`` (eq. 9, eq. 19).

    Both have the kind of ``F``; the second row-wise has the norm of the first.
    """
    Z = translator(F)
    Z_eq = translator(geometry.remove_null(F))
    return Z, rescale_to_reference(Z_eq, Z)


class Steering(NamedTuple):
    """Result of :func:`steering_embeddings` (NaN rows where ``reason != "ok"``)."""

    embeddings: Any  # (N, n) T̂(f_ε): rescaled to ‖T f‖ (eq. 19)
    features: Any  # (N, m) f_ε = f + ε d̂_null
    eps: Any  # (N,) step sizes
    reason: np.ndarray  # (N,) "ok" | "unreachable" | "no_direction" | "no_null_space"


def steering_embeddings(F: Any, geometry: Any, translator: Any, z_text: Any, target_is_deg: float) -> Steering:
    """Null-space steering toward a prompt (main §4.3, Fig. 6), rescaled for rendering.

    The steering itself is :func:`sing.analysis.steering.steer_toward_text` (the same as the steering table):
    ``f_ε = f + ε d̂_null`` with ``∠(T f, T f_ε) = target_is_deg``; ``W f_ε = W f`` by construction. The translated
    ``T(f_ε)`` is rescaled to ``‖T f‖`` (eq. 19). F: (N, m), numpy or torch (its kind comes back); z_text: (n,).
    """
    F64 = as_float64(F, "F", ndim=2)
    st = steer_toward_text(F64, geometry, translator, z_text, float(target_is_deg))
    Z = translator(F64)
    Z_eps = np.full_like(Z, np.nan)
    ok = st.reason == "ok"
    if ok.any():
        Z_eps[ok] = rescale_to_reference(translator(st.features[ok]), Z[ok])
    like = kind_of(F)
    return Steering(restore(Z_eps, like), restore(st.features, like), restore(st.eps, like), st.reason)


def perturbed_embeddings(F: Any, geometry: Any, translator: Any, kind: str, norm: Any, seed: int,
                         W: Any = None, *, bias: Any = None, pred: Any = None) -> tuple[Any, Any]:
    """Supp. Fig. 13: ``(T̂(f + δ), δ)`` for an equal-norm ``null`` / ``random`` / ``principal`` perturbation δ
    (:func:`sing.core.perturb.equal_norm_perturbation`), rescaled to ``‖T f‖`` (eq. 19)."""
    delta = equal_norm_perturbation(F, geometry, kind, norm, seed, W=W, pred=pred, bias=bias)
    F64 = as_float64(F, "F", ndim=(1, 2))
    d64 = as_float64(delta, "delta", ndim=(1, 2))
    Z_p = rescale_to_reference(translator(F64 + d64), translator(F64))
    return restore(Z_p, kind_of(F)), delta


def lookup_prompts(table: Any, embeddings: np.ndarray, prompts: Sequence[str]) -> np.ndarray:
    """Rows of a text-embedding table (:func:`sing.io.storage.read_text_embeddings`) for ``prompts`` (P × d).

    A prompt matches the ``prompt`` column, else the ``key`` column; rows of kind ``"target"`` win over
    ``"concept"`` over ``"class"``. Raises ValueError naming the missing prompts.
    """
    cols = {c: list(table[c]) for c in ("kind", "key", "prompt")}
    rank = {"target": 0, "concept": 1, "class": 2}
    out, missing = [], []
    for p in prompts:
        hits = [i for i, v in enumerate(cols["prompt"]) if v == p] or [i for i, v in enumerate(cols["key"]) if v == p]
        if not hits:
            missing.append(p)
            continue
        out.append(min(hits, key=lambda i: (rank.get(cols["kind"][i], 3), i)))
    if missing:
        sample = sorted(set(cols["prompt"]))[:10]
        raise ValueError(f"prompts: {missing} not in the text table (prompt or key column; e.g. {sample})")
    return np.asarray(embeddings, dtype=np.float64)[out]
