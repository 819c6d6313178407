"""Linear translator ``T(f) = W_T f + b_T`` from classifier features to CLIP image space (paper §3.3).

The translator minimises eq. 4, ``‖T(f) − z‖² + λ‖W_T‖²`` (ridge regression with an unpenalised
intercept, exactly scikit-learn's ``Ridge(alpha=λ, fit_intercept=True)``; supp. §1.1).

:class:`RidgeStats` accumulates float64 sufficient statistics per cross-validation fold in a single
streaming pass (``n_k, Σf, Σz, FᵀF, FᵀZ, Σz²``). From them it solves the ridge problem on any union of
folds and scores each held-out fold *exactly* (the held-out squared error is a quadratic form in the
fold's statistics), so k-fold model selection never revisits the data, statistics from shards can be
merged, and the features never need to be in memory together. For each training split the centred
Gram matrix is eigendecomposed once and reused for every alpha.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, Iterable, Sequence

import numpy as np
import scipy.linalg

from .arrays import as_float64, check_positive, check_same_last_dim, is_tensor, kind_of, restore
from .files import read_safetensors, write_safetensors

__all__ = [
    "LinearTranslator",
    "RidgeStats",
    "fit_ridge",
    "fold_ids_for",
    "is_linear",
    "load_translator",
    "translation_metrics",
    "translator_params",
]

FORMAT_VERSION = 1
SCORINGS = ("mse", "r2")


# ---------------------------------------------------------------------------------------------
# Fold assignment
# ---------------------------------------------------------------------------------------------
def fold_ids_for(keys: Iterable[Any], folds: int, seed: int = 0) -> np.ndarray:
    """Deterministic fold of each sample from its key (e.g. the image id).

    ``fold = blake2b(f"{seed}\\x1f{key}") mod folds``. The fold of a sample depends only on its key
    (via ``str(key)``), ``folds`` and ``seed`` - not on the order of the keys or on which other samples
    exist - so features can be processed in any order or in shards. Returns int64 ``(N,)``.
    """
    folds = _check_folds(folds)
    if isinstance(keys, (str, bytes)):
        raise ValueError("keys: expected a sequence of per-sample keys, got a single string")
    if is_tensor(keys):
        keys = keys.tolist()
    keys = list(np.asarray(keys).tolist()) if isinstance(keys, np.ndarray) else list(keys)
    if not keys:
        raise ValueError("keys: is empty")
    prefix = f"{int(seed)}\x1f".encode()
    out = np.empty(len(keys), dtype=np.int64)
    for i, key in enumerate(keys):
        digest = hashlib.blake2b(prefix + str(key).encode(), digest_size=8).digest()
        out[i] = int.from_bytes(digest, "little") % folds
    return out


def _symmetric_eigh(G: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.linalg.eigh`` with BLAS limited to one thread.

    The tridiagonal reduction inside LAPACK's eigensolver is made of BLAS-2 calls with many
    synchronisation points; multithreaded OpenBLAS on a busy machine made it ~7x slower than one
    thread (m = 2048: 43 s vs 6 s at load 8 on 2 cores), while unloaded the two are within ~1 s.
    """
    try:
        from threadpoolctl import threadpool_limits  # installed with scikit-learn
    except ImportError:  # pragma: no cover
        return np.linalg.eigh(G)
    with threadpool_limits(limits=1, user_api="blas"):
        return np.linalg.eigh(G)


def _check_folds(folds: Any) -> int:
    if isinstance(folds, bool) or not isinstance(folds, (int, np.integer)) or folds < 1:
        raise ValueError(f"folds: expected an integer >= 1, got {folds!r}")
    return int(folds)


def _check_alphas(alphas: Any) -> np.ndarray:
    arr = as_float64(alphas, "alphas", ndim=(0, 1)).reshape(-1)
    if np.any(arr <= 0):
        raise ValueError(f"alphas: every alpha must be > 0, got {arr[arr <= 0].tolist()}")
    return arr


def _check_scoring(scoring: str) -> str:
    if scoring not in SCORINGS:
        raise ValueError(f"scoring: expected one of {SCORINGS}, got {scoring!r}")
    return scoring


# ---------------------------------------------------------------------------------------------
# Translator
# ---------------------------------------------------------------------------------------------
def translator_params(translator: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(weight (n, m), bias (n,))`` as float64 numpy from anything with ``.weight`` and ``.bias``.

    Raises ValueError for a translator without them, e.g. a non-linear
    :class:`sing.core.nonlinear.NonlinearTranslator` (steering and text gradients need the matrix ``W_T``)."""
    if not (hasattr(translator, "weight") and hasattr(translator, "bias")):
        raise ValueError(f"translator: expected an object with .weight (n×m) and .bias (n), i.e. a linear "
                         f"translator; got {translator!r} (null-space steering and text gradients need W_T; a "
                         "non-linear translator can only score AS/IS, translating f and f̃ separately)")
    W = as_float64(translator.weight, "translator.weight", ndim=2)
    if translator.bias is None:
        b = np.zeros(W.shape[0])
    else:
        b = as_float64(translator.bias, "translator.bias", shape=(W.shape[0],))
    return W, b


class LinearTranslator:
    """``T(f) = f W_Tᵀ + b_T`` mapping ``m``-d classifier features to ``n``-d CLIP image embeddings.

    Parameters
    ----------
    weight : (n, m) array.  bias : (n,) array.
    alpha : ridge penalty it was fitted with (``None`` for a hand-made translator).
    metrics : fit diagnostics (JSON-serialisable), e.g. from :func:`fit_ridge`.
    n_train : number of training samples.
    source : where a translator not fitted by sing comes from (JSON-serialisable; e.g. a published file, its
        sha256 and metadata: :func:`sing.io.published.import_translator`); None for a fitted one.
    """

    #: affine: ``T(f̃) = T(f) − W_T Π_n f`` (see :func:`is_linear`)
    is_linear = True

    def __init__(self, weight: Any, bias: Any, alpha: float | None = None,
                 metrics: dict[str, Any] | None = None, *, n_train: int | None = None,
                 source: dict[str, Any] | None = None) -> None:
        self.weight = as_float64(weight, "weight", ndim=2)
        self.bias = as_float64(bias, "bias", shape=(self.weight.shape[0],))
        self.alpha = None if alpha is None else check_positive(alpha, "alpha")
        self.metrics = dict(metrics or {})
        self.n_train = None if n_train is None else int(n_train)
        self.source = None if source is None else dict(source)
        #: the provenance stored with the file (:meth:`save`; set by :meth:`load`), else None
        self.provenance: dict[str, Any] | None = None
        self._torch_cache: dict[Any, tuple[Any, Any]] = {}

    @property
    def in_dim(self) -> int:
        return int(self.weight.shape[1])

    @property
    def out_dim(self) -> int:
        return int(self.weight.shape[0])

    def __repr__(self) -> str:
        return f"LinearTranslator(in_dim={self.in_dim}, out_dim={self.out_dim}, alpha={self.alpha})"

    def __call__(self, F: Any) -> Any:
        """Translate features ``F`` (N, m) or (m,) in float64; returns the kind/dtype/device of ``F``."""
        if is_tensor(F):
            return self._call_torch(F)
        F64 = as_float64(F, "F", ndim=(1, 2))
        check_same_last_dim(F64, "F", self.in_dim, "the translator's in_dim")
        return restore(F64 @ self.weight.T + self.bias, kind_of(F))

    def _call_torch(self, F: Any) -> Any:
        import torch

        if F.ndim not in (1, 2):
            raise ValueError(f"F: expected 1 or 2 dimensions, got shape {tuple(F.shape)}")
        if F.shape[-1] != self.in_dim:
            raise ValueError(f"F: last dimension is {F.shape[-1]} but the translator's in_dim is {self.in_dim}")
        if F.numel() == 0:
            raise ValueError(f"F: is empty (shape {tuple(F.shape)})")
        if not bool(torch.isfinite(F).all()):
            raise ValueError("F: contains NaN or Inf values")
        if F.device not in self._torch_cache:
            self._torch_cache[F.device] = (torch.from_numpy(self.weight).to(F.device),
                                           torch.from_numpy(self.bias).to(F.device))
        W, b = self._torch_cache[F.device]
        out = F.to(torch.float64) @ W.T + b  # differentiable w.r.t. F
        return out.to(F.dtype if F.dtype.is_floating_point else torch.float64)

    def to_torch(self, dtype: Any = None, device: Any = None) -> Any:
        """A ``torch.nn.Linear(m, n)`` with this weight and bias (default float32, CPU)."""
        import torch

        dtype = torch.float32 if dtype is None else dtype
        layer = torch.nn.Linear(self.in_dim, self.out_dim, bias=True, dtype=dtype, device=device)
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(self.weight))
            layer.bias.copy_(torch.from_numpy(self.bias))
        return layer

    def save(self, path: str | os.PathLike, provenance: dict[str, Any] | None = None) -> None:
        """Write weight and bias (float64) and JSON metadata (alpha, n_train, metrics, source when set, and the
        content hash of :func:`sing.core.files.write_safetensors`) atomically; ``provenance`` (JSON-serialisable)
        is stored with the metadata."""
        meta = {
            "kind": "linear_translator",
            "format_version": FORMAT_VERSION,
            "in_dim": self.in_dim,
            "out_dim": self.out_dim,
            "alpha": self.alpha,
            "n_train": self.n_train,
            "metrics": self.metrics,
        }
        if self.source is not None:
            meta["source"] = self.source
        if provenance is not None:
            meta["provenance"] = provenance
        write_safetensors(path, {"weight": self.weight, "bias": self.bias}, meta)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "LinearTranslator":
        """Read a file written by :meth:`save`. Raises FileNotFoundError, ValueError naming the file when it is not
        a sing translator (a torch ``best.pt`` is named as such: import it with
        :func:`sing.io.published.import_translator`), :class:`sing.core.files.ModifiedFileError` when it was
        edited after sing wrote it."""
        tensors, meta = read_safetensors(path, "linear_translator")
        translator = cls(tensors["weight"], tensors["bias"], meta.get("alpha"), meta.get("metrics"),
                         n_train=meta.get("n_train"), source=meta.get("source"))
        translator.provenance = meta.get("provenance")
        return translator


def is_linear(translator: Any) -> bool:
    """True when ``translator`` is affine, ``T(f) = W_T f + b_T`` (then ``T(f̃) = T(f) − W_T Π_n f``): a
    :class:`LinearTranslator`, or anything exposing ``.weight`` and ``.bias`` (a
    :class:`~sing.core.nonlinear.NonlinearTranslator` only with ``architecture == "linear"``)."""
    flag = getattr(translator, "is_linear", None)
    if isinstance(flag, bool):
        return flag
    return hasattr(translator, "weight") and hasattr(translator, "bias")


def load_translator(path: str | os.PathLike) -> Any:
    """Load any translator sing writes, by the ``kind`` in its metadata: ``linear_translator`` →
    :class:`LinearTranslator` (imports no torch), ``nonlinear_translator`` →
    :class:`sing.core.nonlinear.NonlinearTranslator` (imports torch). FileNotFoundError for a missing file,
    ValueError naming the file for another kind."""
    import json
    from pathlib import Path

    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    with safe_open(str(path), framework="numpy") as fh:
        raw = (fh.metadata() or {}).get("sing")
    kind = json.loads(raw).get("kind") if raw else None
    if kind == "linear_translator":
        return LinearTranslator.load(path)
    if kind == "nonlinear_translator":
        from .nonlinear import NonlinearTranslator

        return NonlinearTranslator.load(path)
    raise ValueError(f"{path}: holds a {kind!r}, expected a 'linear_translator' or a 'nonlinear_translator'")


def _r2_per_output(sse: np.ndarray, sst: np.ndarray) -> np.ndarray:
    """sklearn ``r2_score`` per output with ``force_finite=True`` (constant target: 1 if perfect else 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = 1.0 - sse / sst
    constant = sst == 0
    r2[constant] = np.where(sse[constant] == 0, 1.0, 0.0)
    return r2


def translation_metrics(translator: Any, F: Any, Z: Any) -> dict[str, float]:
    """Fit diagnostics on (F, Z): ``r2`` (sklearn ``r2_score``, uniform average over outputs) and the
    mean/median per-sample cosine similarity between ``T(f)`` and ``z`` (supp. Table 2, Fig. 8)."""
    W, b = translator_params(translator)
    F64 = as_float64(F, "F", ndim=2)
    Z64 = as_float64(Z, "Z", ndim=2)
    check_same_last_dim(F64, "F", W.shape[1], "the translator's in_dim")
    check_same_last_dim(Z64, "Z", W.shape[0], "the translator's out_dim")
    if F64.shape[0] != Z64.shape[0]:
        raise ValueError(f"Z: has {Z64.shape[0]} rows but F has {F64.shape[0]}")
    return _prediction_metrics(F64 @ W.T + b, Z64)


def _prediction_metrics(pred: np.ndarray, Z64: np.ndarray) -> dict[str, float]:
    resid = Z64 - pred
    sse = np.einsum("ij,ij->j", resid, resid)
    centred = Z64 - Z64.mean(axis=0)
    sst = np.einsum("ij,ij->j", centred, centred)
    norms = np.linalg.norm(pred, axis=1) * np.linalg.norm(Z64, axis=1)
    if np.any(norms == 0):
        raise ValueError("Z: a row of Z or of T(F) has zero norm; cosine similarity is undefined")
    cos = np.einsum("ij,ij->i", pred, Z64) / norms
    return {
        "r2": float(_r2_per_output(sse, sst).mean()),
        "cosine_mean": float(cos.mean()),
        "cosine_median": float(np.median(cos)),
    }


# ---------------------------------------------------------------------------------------------
# Streaming ridge statistics
# ---------------------------------------------------------------------------------------------
class RidgeStats:
    """Float64 sufficient statistics of ``(F, Z)`` per fold, for exact streaming ridge + k-fold CV.

    Per fold ``k``: ``count[k]``, ``sum_f[k]`` (m), ``sum_z[k]`` (n), ``ftf[k] = F_kᵀF_k`` (m×m),
    ``ftz[k] = F_kᵀZ_k`` (m×n), ``zz[k]`` (n) = per-output ``Σ z²``. Memory: ``folds·m·(m+n)·8`` bytes,
    independent of the number of samples.
    """

    def __init__(self, in_dim: int, out_dim: int, folds: int = 1) -> None:
        for name, v in (("in_dim", in_dim), ("out_dim", out_dim)):
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"{name}: expected an integer >= 1, got {v!r}")
        self.in_dim, self.out_dim = int(in_dim), int(out_dim)
        self.folds = _check_folds(folds)
        k, m, n = self.folds, self.in_dim, self.out_dim
        self.count = np.zeros(k, dtype=np.int64)
        self.sum_f = np.zeros((k, m))
        self.sum_z = np.zeros((k, n))
        self.ftf = np.zeros((k, m, m))
        self.ftz = np.zeros((k, m, n))
        self.zz = np.zeros((k, n))

    def __repr__(self) -> str:
        return (f"RidgeStats(in_dim={self.in_dim}, out_dim={self.out_dim}, folds={self.folds}, "
                f"n={self.n})")

    @property
    def n(self) -> int:
        """Total number of samples seen."""
        return int(self.count.sum())

    # -- accumulation ------------------------------------------------------------------------
    def update(self, F: Any, Z: Any, fold_ids: Any = None) -> "RidgeStats":
        """Add a chunk: F (N, m), Z (N, n), fold_ids (N,) ints in ``[0, folds)`` (required if folds > 1)."""
        F64 = as_float64(F, "F", ndim=2)
        Z64 = as_float64(Z, "Z", ndim=2)
        check_same_last_dim(F64, "F", self.in_dim, "in_dim")
        check_same_last_dim(Z64, "Z", self.out_dim, "out_dim")
        N = F64.shape[0]
        if Z64.shape[0] != N:
            raise ValueError(f"Z: has {Z64.shape[0]} rows but F has {N}")
        if fold_ids is None:
            if self.folds > 1:
                raise ValueError(f"fold_ids: required when folds > 1 (folds={self.folds}); "
                                 "see fold_ids_for()")
            ids = np.zeros(N, dtype=np.int64)
        else:
            raw = fold_ids.detach().cpu().numpy() if is_tensor(fold_ids) else np.asarray(fold_ids)
            if raw.shape != (N,):
                raise ValueError(f"fold_ids: expected shape ({N},), got {raw.shape}")
            if not np.issubdtype(raw.dtype, np.integer):
                raise ValueError(f"fold_ids: expected integers, got dtype {raw.dtype}")
            ids = raw.astype(np.int64)
            if ids.min() < 0 or ids.max() >= self.folds:
                raise ValueError(f"fold_ids: values must lie in [0, {self.folds}), got "
                                 f"[{ids.min()}, {ids.max()}]")
        if N > 1 and np.any(ids[1:] < ids[:-1]):  # group rows by fold so each fold is one slice
            order = np.argsort(ids, kind="stable")
            ids, F64, Z64 = ids[order], F64[order], Z64[order]
        bounds = np.searchsorted(ids, np.arange(self.folds + 1))
        for k in range(self.folds):
            lo, hi = bounds[k], bounds[k + 1]
            if hi == lo:
                continue
            Fk, Zk = F64[lo:hi], Z64[lo:hi]
            self.count[k] += hi - lo
            self.sum_f[k] += Fk.sum(axis=0)
            self.sum_z[k] += Zk.sum(axis=0)
            self.ftf[k] += Fk.T @ Fk  # numpy dispatches Aᵀ·A to BLAS syrk
            self.ftz[k] += Fk.T @ Zk
            self.zz[k] += np.einsum("ij,ij->j", Zk, Zk)
        return self

    def merge(self, other: "RidgeStats") -> "RidgeStats":
        """Add another RidgeStats (same dims and folds) into this one, in place; returns self."""
        if not isinstance(other, RidgeStats):
            raise ValueError(f"other: expected a RidgeStats, got {type(other).__name__}")
        if (other.in_dim, other.out_dim, other.folds) != (self.in_dim, self.out_dim, self.folds):
            raise ValueError(f"other: dims/folds {(other.in_dim, other.out_dim, other.folds)} do not "
                             f"match {(self.in_dim, self.out_dim, self.folds)}")
        for name in ("count", "sum_f", "sum_z", "ftf", "ftz", "zz"):
            getattr(self, name).__iadd__(getattr(other, name))
        return self

    # -- solving -----------------------------------------------------------------------------
    def _split(self, exclude_fold: int | None) -> tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(n, Σf, Σz, FᵀF, FᵀZ) over all folds except ``exclude_fold``."""
        keep = np.ones(self.folds, dtype=bool)
        if exclude_fold is not None:
            if not (isinstance(exclude_fold, (int, np.integer)) and 0 <= exclude_fold < self.folds):
                raise ValueError(f"exclude_fold: expected an integer in [0, {self.folds}), got {exclude_fold!r}")
            keep[exclude_fold] = False
        n = int(self.count[keep].sum())
        if n == 0:
            raise ValueError("RidgeStats: no training samples (update() was never called or the only "
                             "non-empty fold was excluded)")
        if keep.all() and self.folds == 1:
            return n, self.sum_f[0], self.sum_z[0], self.ftf[0], self.ftz[0]
        return (n, self.sum_f[keep].sum(0), self.sum_z[keep].sum(0), self.ftf[keep].sum(0),
                self.ftz[keep].sum(0))

    @staticmethod
    def _centre(n: int, sf: np.ndarray, sz: np.ndarray, G: np.ndarray, C: np.ndarray):
        mu_f, mu_z = sf / n, sz / n
        Gc = G - n * np.outer(mu_f, mu_f)
        Cc = C - n * np.outer(mu_f, mu_z)
        return mu_f, mu_z, Gc, Cc

    def solve(self, alpha: float, exclude_fold: int | None = None) -> LinearTranslator:
        """Ridge solution with intercept (= sklearn ``Ridge(alpha, fit_intercept=True)``), eq. 4.

        ``W = (F_cᵀF_c + αI)⁻¹ F_cᵀZ_c`` on data centred with the training means,
        ``b = z̄ − Wᵀ f̄``. ``exclude_fold`` solves on all folds but one (out-of-fold models).
        """
        alpha = check_positive(alpha, "alpha")
        n, sf, sz, G, C = self._split(exclude_fold)
        mu_f, mu_z, Gc, Cc = self._centre(n, sf, sz, G, C)
        Gc[np.diag_indices_from(Gc)] += alpha
        try:
            W = scipy.linalg.solve(Gc, Cc, assume_a="pos", overwrite_a=True, check_finite=False)
        except np.linalg.LinAlgError:  # not numerically positive definite: fall back to eigh
            Gc[np.diag_indices_from(Gc)] -= alpha
            lam, Q = _symmetric_eigh(Gc)
            W = Q @ ((Q.T @ Cc) / (lam + alpha)[:, None])
        bias = mu_z - mu_f @ W
        return LinearTranslator(W.T, bias, alpha, n_train=n)

    # -- cross-validation --------------------------------------------------------------------
    def cv_scores(self, alphas: Sequence[float], scoring: str = "mse") -> np.ndarray:
        """Mean held-out score per alpha over the non-empty folds, computed from statistics only.

        ``scoring="mse"``: per fold, mean squared error over samples *and* outputs (sklearn
        ``mean_squared_error``), then the unweighted mean over folds - exactly what
        ``GridSearchCV(Ridge(), {"alpha": alphas}, cv=PredefinedSplit(fold_ids),
        scoring="neg_mean_squared_error")`` reports (negated). ``scoring="r2"``: per-fold
        ``r2_score`` (uniform average over outputs; the default score of sklearn ``RidgeCV(cv=k)``).
        """
        scoring = _check_scoring(scoring)
        alphas_arr = _check_alphas(alphas)
        folds = np.flatnonzero(self.count > 0)
        if folds.size < 2:
            raise ValueError(f"RidgeStats: cross-validation needs >= 2 non-empty folds, have {folds.size} "
                             f"(folds={self.folds})")
        per_fold = np.empty((folds.size, alphas_arr.size))
        for row, k in enumerate(folds):
            per_fold[row] = self._fold_scores(int(k), alphas_arr, scoring)
        return per_fold.mean(axis=0)

    def _fold_scores(self, k: int, alphas: np.ndarray, scoring: str) -> np.ndarray:
        n, sf, sz, G, C = self._split(k)
        mu_f, mu_z, Gc, Cc = self._centre(n, sf, sz, G, C)
        lam, Q = _symmetric_eigh(Gc)
        C_hat = Q.T @ Cc
        # Held-out fold statistics, centred at the *training* means (that is where the model's
        # intercept puts the origin): D = Σ(f−f̄)(f−f̄)ᵀ, E = Σ(f−f̄)(z−z̄)ᵀ, ee_j = Σ(z_j−z̄_j)².
        nk, sfk, szk = int(self.count[k]), self.sum_f[k], self.sum_z[k]
        D = (self.ftf[k] - np.outer(sfk, mu_f) - np.outer(mu_f, sfk) + nk * np.outer(mu_f, mu_f))
        E = (self.ftz[k] - np.outer(sfk, mu_z) - np.outer(mu_f, szk) + nk * np.outer(mu_f, mu_z))
        ee = self.zz[k] - 2.0 * mu_z * szk + nk * mu_z**2
        D_hat = Q.T @ D @ Q
        E_hat = Q.T @ E
        sst = self.zz[k] - szk**2 / nk  # around the fold's own mean, for R²
        scores = np.empty(alphas.size)
        for i, alpha in enumerate(alphas):
            B = C_hat / (lam + alpha)[:, None]  # W = Q B
            sse = ee - 2.0 * np.einsum("ij,ij->j", B, E_hat) + np.einsum("ij,ij->j", B, D_hat @ B)
            if scoring == "mse":
                scores[i] = sse.sum() / (nk * self.out_dim)
            else:
                scores[i] = _r2_per_output(sse, sst).mean()
        return scores

    def select_alpha(self, alphas: Sequence[float], scoring: str = "mse") -> float:
        """The alpha with the best :meth:`cv_scores` (lowest MSE / highest R²).

        Ties go to the alpha listed first, as in ``GridSearchCV`` (rank 1 with ``method="min"``,
        then ``argmin`` of the ranks).
        """
        scores = self.cv_scores(alphas, scoring)
        best = int(np.argmin(scores) if scoring == "mse" else np.argmax(scores))
        return float(_check_alphas(alphas)[best])

    # -- persistence -------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> None:
        write_safetensors(path, {
            "count": self.count, "sum_f": self.sum_f, "sum_z": self.sum_z,
            "ftf": self.ftf, "ftz": self.ftz, "zz": self.zz,
        }, {"kind": "ridge_stats", "format_version": FORMAT_VERSION, "in_dim": self.in_dim,
            "out_dim": self.out_dim, "folds": self.folds})

    @classmethod
    def load(cls, path: str | os.PathLike) -> "RidgeStats":
        tensors, meta = read_safetensors(path, "ridge_stats")
        stats = cls(int(meta["in_dim"]), int(meta["out_dim"]), int(meta["folds"]))
        for name in ("count", "sum_f", "sum_z", "ftf", "ftz", "zz"):
            value = tensors[name]
            if value.shape != getattr(stats, name).shape:
                raise ValueError(f"{path}: tensor {name!r} has shape {value.shape}, expected "
                                 f"{getattr(stats, name).shape}")
            setattr(stats, name, value.astype(getattr(stats, name).dtype))
        return stats


# ---------------------------------------------------------------------------------------------
# Convenience
# ---------------------------------------------------------------------------------------------
def fit_ridge(F: Any, Z: Any, alphas: Sequence[float], folds: int = 5, seed: int = 0, *,
              keys: Sequence[Any] | None = None, fold_ids: Any = None,
              scoring: str = "mse") -> LinearTranslator:
    """Fit a translator on in-memory (F, Z), choosing alpha by k-fold CV (via :class:`RidgeStats`).

    Folds come from ``fold_ids`` if given, else ``fold_ids_for(keys, folds, seed)`` with ``keys``
    defaulting to the row index. With a single alpha and ``folds=1`` no CV is run. ``metrics`` holds
    the CV curve, the training-set diagnostics (``train_*``) and out-of-fold diagnostics
    (``heldout_r2``, ``heldout_cosine_mean``, ``heldout_cosine_median``: every sample predicted by the
    model fitted without its fold, at the selected alpha).
    """
    scoring = _check_scoring(scoring)
    alphas_arr = _check_alphas(alphas)
    folds = _check_folds(folds)
    F64 = as_float64(F, "F", ndim=2)
    Z64 = as_float64(Z, "Z", ndim=2)
    N = F64.shape[0]
    if Z64.shape[0] != N:
        raise ValueError(f"Z: has {Z64.shape[0]} rows but F has {N}")
    if fold_ids is None:
        fold_ids = fold_ids_for(range(N) if keys is None else keys, folds, seed)
        if len(fold_ids) != N:
            raise ValueError(f"keys: expected {N} keys, got {len(fold_ids)}")
    ids = fold_ids.detach().cpu().numpy() if is_tensor(fold_ids) else np.asarray(fold_ids)
    stats = RidgeStats(F64.shape[1], Z64.shape[1], folds).update(F64, Z64, ids)
    metrics: dict[str, Any] = {"folds": folds, "seed": int(seed), "cv_scoring": scoring,
                               "cv_alphas": alphas_arr.tolist()}
    if folds == 1 or np.count_nonzero(stats.count) < 2:
        if alphas_arr.size > 1:
            raise ValueError("folds: choosing among several alphas needs >= 2 non-empty folds")
        alpha = float(alphas_arr[0])
    else:
        scores = stats.cv_scores(alphas_arr, scoring)
        best = int(np.argmin(scores) if scoring == "mse" else np.argmax(scores))
        alpha = float(alphas_arr[best])
        metrics["cv_scores"] = scores.tolist()
        oof = np.empty_like(Z64)
        for k in np.flatnonzero(stats.count):
            rows = ids == k
            oof[rows] = stats.solve(alpha, exclude_fold=int(k))(F64[rows])
        held = _prediction_metrics(oof, Z64)
        metrics.update({f"heldout_{key}": value for key, value in held.items()})
    translator = stats.solve(alpha)
    metrics["alpha"] = alpha
    metrics.update({f"train_{key}": value for key, value in translation_metrics(translator, F64, Z64).items()})
    translator.metrics = metrics
    return translator
