"""Input validation and numpy/torch conversion shared by the core math modules.

Every public function of :mod:`sing.core.geometry`, :mod:`sing.core.translator`, :mod:`sing.core.metrics` and
:mod:`sing.core.perturb` (and the analyses built on them) accepts numpy arrays or torch tensors. Inputs are converted
to C-contiguous
float64 numpy arrays (:func:`as_float64`), the math runs in float64, and results are converted back to
the kind of the *first* array argument (:func:`restore`):

* numpy float32 in -> numpy float32 out; numpy float64 (or integer/bool) in -> float64 out;
* torch floating tensor in -> tensor of the same dtype on the same device; integer tensor -> float64.

Bad input raises :class:`ValueError` whose message starts with the argument name and states the
problem (wrong ndim, wrong shape, NaN/Inf, empty, ...).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

# torch is never imported here: a tensor can only exist if the caller already imported torch, so
# importing the math modules stays cheap (torch costs ~0.5 GB RSS and seconds of import time).

__all__ = [
    "ArrayKind",
    "as_float64",
    "check_positive",
    "check_same_last_dim",
    "kind_of",
    "restore",
]


@dataclass(frozen=True)
class ArrayKind:
    """What an input was, so that results can be returned as the same kind."""

    is_torch: bool
    dtype: Any  # numpy dtype or torch dtype of the input
    device: Any = None  # torch device, None for numpy


def is_tensor(x: Any) -> bool:
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


def kind_of(x: Any) -> ArrayKind:
    """Record whether ``x`` is numpy or torch, its dtype and device."""
    if is_tensor(x):
        return ArrayKind(True, x.dtype, x.device)
    return ArrayKind(False, np.asarray(x).dtype)


def _output_numpy_dtype(dtype: np.dtype) -> np.dtype:
    # float32 (and half) inputs come back as float32; everything else as float64.
    if np.dtype(dtype) in (np.dtype(np.float32), np.dtype(np.float16)):
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def restore(arr: np.ndarray, like: ArrayKind) -> Any:
    """Convert a float64 result back to the kind (numpy/torch), dtype and device of ``like``."""
    arr = np.asarray(arr)
    if like.is_torch:
        import torch

        dtype = like.dtype if like.dtype.is_floating_point else torch.float64
        return torch.from_numpy(np.ascontiguousarray(arr)).to(device=like.device, dtype=dtype)
    return arr.astype(_output_numpy_dtype(like.dtype), copy=False)


def _to_numpy(x: Any, name: str) -> np.ndarray:
    if is_tensor(x):
        import torch

        t = x.detach()
        if t.is_complex():
            raise ValueError(f"{name}: complex tensors are not supported")
        if t.dtype == torch.bfloat16:
            t = t.to(torch.float32)
        return t.cpu().numpy()
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name}: cannot be converted to an array ({exc})") from None
    return arr


def as_float64(
    x: Any,
    name: str,
    *,
    ndim: int | Iterable[int] | None = None,
    shape: tuple[int | None, ...] | None = None,
    allow_nan: bool = False,
    allow_empty: bool = False,
) -> np.ndarray:
    """Validate ``x`` and return it as a C-contiguous float64 numpy array.

    Parameters
    ----------
    x : array-like or torch.Tensor
    name : argument name used in error messages.
    ndim : allowed number(s) of dimensions.
    shape : expected shape; ``None`` entries are free. Checked after ``ndim``.
    allow_nan : allow NaN entries (Inf is never allowed).
    allow_empty : allow arrays with zero elements.
    """
    arr = _to_numpy(x, name)
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise ValueError(f"{name}: expected a numeric array, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise ValueError(f"{name}: complex arrays are not supported")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(str(a) for a in allowed)
            raise ValueError(f"{name}: expected {want} dimensions, got shape {tuple(arr.shape)}")
    if shape is not None:
        if len(shape) != arr.ndim or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
            want = "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name}: expected shape {want}, got {tuple(arr.shape)}")
    if arr.size == 0 and not allow_empty:
        raise ValueError(f"{name}: is empty (shape {tuple(arr.shape)})")
    out = np.asarray(arr, dtype=np.float64, order="C")  # (ascontiguousarray would make 0-d 1-d)
    if out.size:
        if allow_nan:
            if np.isinf(out).any():
                raise ValueError(f"{name}: contains Inf values")
        elif not np.isfinite(out).all():
            bad = "NaN" if np.isnan(out).any() else "Inf"
            raise ValueError(f"{name}: contains {bad} values")
    return out


def check_same_last_dim(a: np.ndarray, a_name: str, dim: int, what: str) -> None:
    """Raise if the last dimension of ``a`` differs from ``dim``."""
    if a.shape[-1] != dim:
        raise ValueError(f"{a_name}: last dimension is {a.shape[-1]} but {what} is {dim}")


def check_positive(value: Any, name: str) -> float:
    """Return ``value`` as a float, raising if it is not finite and > 0."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a positive number, got {value!r}") from None
    if not np.isfinite(v) or v <= 0:
        raise ValueError(f"{name}: must be finite and > 0, got {value!r}")
    return v


def as_scalar_or_rows(x: Any, name: str, n_rows: int) -> np.ndarray:
    """A scalar or a length-``n_rows`` vector, returned as a float64 vector of length ``n_rows``."""
    arr = as_float64(x, name, ndim=(0, 1))
    if arr.ndim == 0:
        return np.full(n_rows, float(arr))
    if arr.shape[0] != n_rows:
        raise ValueError(f"{name}: expected a scalar or {n_rows} values, got {arr.shape[0]}")
    return arr
