"""Principal/null decomposition of a classifier head (paper §3.2, eqs. 1-3 and 9).

``W = U Σ Vᵀ`` with ``V = [V_p V_n]``: ``V_p`` spans the principal space (singular values above the
rank tolerance) and ``V_n`` the null space, so ``W (f + ν) = W f`` for every ``ν ∈ span(V_n)`` (eq. 2).
The projectors ``Π_p = V_p V_pᵀ`` and ``Π_n = V_n V_nᵀ`` (eq. 3) are never formed: projections are
computed with the thinner of the two bases (``Π_n F = F − F V_p V_pᵀ`` when ``rank < nullity``).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .arrays import as_float64, check_same_last_dim, kind_of, restore
from .files import read_safetensors, write_safetensors

__all__ = ["AUTHORS_ATOL", "HeadGeometry", "NUMPY_RTOL", "head_geometry", "weight_sha256"]

FORMAT_VERSION = 1


def weight_sha256(W: Any, bias: Any = None) -> str:
    """sha256 hex digest of ``W`` as C-contiguous little-endian float32 bytes (shape not included), followed by
    the bytes of ``bias`` when given (the digest of a whole head (W, b))."""
    h = hashlib.sha256()
    for arr in (W,) if bias is None else (W, bias):
        if hasattr(arr, "detach"):  # torch tensor (possibly bfloat16 / on a GPU)
            arr = arr.detach().float().cpu().numpy()
        h.update(np.ascontiguousarray(np.asarray(arr), dtype="<f4").tobytes())
    return h.hexdigest()


#: the authors' rule (FACTS §1): rank = number of singular values > 1e-5, absolute
AUTHORS_ATOL = 1e-5
#: ``rtol="numpy"``: NumPy's matrix_rank rule for float32 weights
NUMPY_RTOL = "numpy"


def default_rtol(out_dim: int, in_dim: int) -> float:
    """``max(c, m) · eps(float32)``: numpy's ``matrix_rank`` convention for float32 weights."""
    return float(max(out_dim, in_dim) * np.finfo(np.float32).eps)


@dataclass(frozen=True, eq=False)
class HeadGeometry:
    """SVD geometry of a head ``W`` (c×m). Build with :func:`head_geometry`.

    Attributes
    ----------
    singular_values : (min(c, m),) float64, descending.
    principal_basis : (m, rank) float64, orthonormal columns ``V_p``.
    null_basis : (m, nullity) float64, orthonormal columns ``V_n`` (``nullity`` may be 0).
    rank, nullity : ``rank + nullity == in_dim``.
    in_dim, out_dim : ``m`` and ``c``.
    rtol, atol : tolerances used (rtol as a number, also for ``rtol="numpy"``).
    threshold : ``max(atol, rtol · σ_max)``, the value actually used: rank = #{σ > threshold}.
    weight_sha256 : :func:`weight_sha256` of the W this was computed from.
    """

    singular_values: np.ndarray
    principal_basis: np.ndarray
    null_basis: np.ndarray
    in_dim: int
    out_dim: int
    rtol: float
    atol: float
    weight_sha256: str
    threshold: float = field(default=0.0)

    @property
    def rank(self) -> int:
        return int(self.principal_basis.shape[1])

    @property
    def nullity(self) -> int:
        return int(self.null_basis.shape[1])

    def __repr__(self) -> str:
        return (f"HeadGeometry(out_dim={self.out_dim}, in_dim={self.in_dim}, rank={self.rank}, "
                f"nullity={self.nullity}, rtol={self.rtol:g}, atol={self.atol:g})")

    # -- projections -------------------------------------------------------------------------
    def _features(self, F: Any, name: str = "F") -> np.ndarray:
        arr = as_float64(F, name, ndim=(1, 2))
        check_same_last_dim(arr, name, self.in_dim, "the head's in_dim")
        return arr

    def _project(self, F64: np.ndarray, onto_null: bool) -> np.ndarray:
        target = self.null_basis if onto_null else self.principal_basis
        other = self.principal_basis if onto_null else self.null_basis
        if target.shape[1] <= other.shape[1]:
            return (F64 @ target) @ target.T
        return F64 - (F64 @ other) @ other.T

    def project_null(self, F: Any) -> Any:
        """``Π_n F`` row-wise (eq. 3). F: (N, m) or (m,); same kind/shape back."""
        return restore(self._project(self._features(F), True), kind_of(F))

    def project_principal(self, F: Any) -> Any:
        """``Π_p F`` row-wise (eq. 3). F: (N, m) or (m,); same kind/shape back."""
        return restore(self._project(self._features(F), False), kind_of(F))

    def remove_null(self, F: Any) -> Any:
        """The equivalent feature ``f̃ = f − Π_n f`` (eq. 9); identity when ``nullity == 0``."""
        F64 = self._features(F)
        return restore(F64 - self._project(F64, True), kind_of(F))

    # -- persistence -------------------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        return {
            "kind": "head_geometry",
            "format_version": FORMAT_VERSION,
            "in_dim": self.in_dim,
            "out_dim": self.out_dim,
            "rank": self.rank,
            "nullity": self.nullity,
            "rtol": self.rtol,
            "atol": self.atol,
            "threshold": self.threshold,
            "weight_sha256": self.weight_sha256,
        }

    def save(self, path: str | os.PathLike, provenance: dict[str, Any] | None = None) -> None:
        """Write bases and singular values (float64) plus JSON metadata to a safetensors file; ``provenance``
        (JSON-serialisable, e.g. :func:`sing.io.provenance.provenance`) is stored with the metadata."""
        meta = self.metadata() if provenance is None else {**self.metadata(), "provenance": provenance}
        write_safetensors(path, {
            "singular_values": self.singular_values,
            "principal_basis": self.principal_basis,
            "null_basis": self.null_basis,
        }, meta)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "HeadGeometry":
        tensors, meta = read_safetensors(path, "head_geometry")
        geom = cls(
            singular_values=tensors["singular_values"].astype(np.float64),
            principal_basis=tensors["principal_basis"].astype(np.float64),
            null_basis=tensors["null_basis"].astype(np.float64),
            in_dim=int(meta["in_dim"]),
            out_dim=int(meta["out_dim"]),
            rtol=float(meta["rtol"]),
            atol=float(meta["atol"]),
            weight_sha256=str(meta["weight_sha256"]),
            threshold=float(meta.get("threshold", 0.0)),
        )
        if geom.rank != meta["rank"] or geom.nullity != meta["nullity"]:
            raise ValueError(f"{path}: stored bases do not match the recorded rank/nullity")
        return geom


def head_geometry(W: Any, rtol: float | str = 0.0, atol: float = AUTHORS_ATOL) -> HeadGeometry:
    """SVD of the head ``W`` (c×m) in float64 and its principal/null split (eqs. 1, 3).

    rank = number of singular values ``> threshold = max(atol, rtol · σ_max)`` (stored as ``threshold``).
    The defaults (``atol = 1e-5``, ``rtol = 0``) are exactly the authors' rule: σ > 1e-5, absolute.
    ``rtol="numpy"`` means ``max(c, m) · eps(float32)`` (NumPy's ``matrix_rank`` rule for float32 weights);
    ``atol=0`` leaves only the relative term. ``W`` may be float32 or float64, numpy or torch. ValueError naming
    ``rtol`` / ``atol`` for a negative, non-finite or unknown value.
    """
    W64 = as_float64(W, "W", ndim=2)
    out_dim, in_dim = W64.shape
    for name, v in (("rtol", rtol), ("atol", atol)):
        if v is None or isinstance(v, bool):
            raise ValueError(f"{name}: must be a number >= 0{' or ' + repr(NUMPY_RTOL) if name == 'rtol' else ''}, "
                             f"got {v!r}")
    if isinstance(rtol, str):
        if rtol != NUMPY_RTOL:
            raise ValueError(f"rtol: must be a number >= 0 or {NUMPY_RTOL!r}, got {rtol!r}")
        rtol_v = default_rtol(out_dim, in_dim)
    else:
        rtol_v = float(rtol)
    atol_v = float(atol)
    for name, v in (("rtol", rtol_v), ("atol", atol_v)):
        if not np.isfinite(v) or v < 0:
            raise ValueError(f"{name}: must be finite and >= 0, got {v!r}")
    # full_matrices: the null basis needs all m right singular vectors when c < m.
    _, s, Vt = np.linalg.svd(W64, full_matrices=True)
    threshold = max(atol_v, rtol_v * (float(s[0]) if s.size else 0.0))
    rank = int(np.count_nonzero(s > threshold))
    V = Vt.T
    return HeadGeometry(
        singular_values=s,
        principal_basis=np.ascontiguousarray(V[:, :rank]),
        null_basis=np.ascontiguousarray(V[:, rank:]),
        in_dim=in_dim,
        out_dim=out_dim,
        rtol=rtol_v,
        atol=atol_v,
        weight_sha256=weight_sha256(W),
        threshold=threshold,
    )
