"""Linear probe of the translator-robustness check (supp. §4, Fig. 12c): multinomial logistic regression (a linear
layer with softmax cross-entropy) trained on up to 500k × 1000 inputs with 1000 classes.

Objective (the one scikit-learn's ``LogisticRegression(C=1 / (l2 · N))`` minimises, intercept unpenalised)::

    (1/N) Σ_i CE(W x̂_i + b, y_i) + (l2 / 2) ‖W‖²_F,    x̂ = (x − μ) / s

with μ the training mean and ``s² = mean_i ‖x_i − μ‖² / k`` (k = number of input columns): one scalar, so the
average coordinate variance is 1 and the probe is equivariant under rotations of the inputs (a probe on
``Π_p f`` ∈ R^m and one on its principal coordinates ``V_pᵀ f`` ∈ R^rank give the same predictions). It is
strictly convex in W, so the fitted probe does not depend on the optimiser's path.

Solver: full-batch L-BFGS with a strong-Wolfe line search (``torch.optim.LBFGS``) on the job's device (a GPU when
the workflow has one); the loss and gradient are accumulated over row blocks, so memory is the inputs (float32,
N × k) plus one block of logits. ``benchmarks/bench_probe.py`` compares it with scikit-learn's solvers.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..core.files import read_safetensors, write_safetensors

log = logging.getLogger(__name__)

__all__ = ["LinearProbe", "fit_probe", "select_probe", "standardisation"]

FORMAT_VERSION = 1


@dataclass(frozen=True, eq=False)
class LinearProbe:
    """A fitted probe (:func:`fit_probe`): logits ``((x − mean) / scale) @ weight.T + bias``.

    weight: (K, k) float64; bias: (K,); classes: (K,) int64 labels (sorted); mean: (k,); scale: float > 0;
    l2: the penalty it was fitted with; metrics: JSON-serialisable fit facts (n_train, train_accuracy, loss,
    grad_max, iterations, function_evals, stop = "tolerance" | "max_iter" | "max_eval", converged, device).
    """

    weight: np.ndarray
    bias: np.ndarray
    classes: np.ndarray
    mean: np.ndarray
    scale: float
    l2: float
    metrics: dict = field(default_factory=dict)

    @property
    def in_dim(self) -> int:
        return int(self.weight.shape[1])

    def decision_function(self, X: Any, block_rows: int = 65536) -> np.ndarray:
        """Logits (N, K) float64 of inputs X (N, k); computed in row blocks."""
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.in_dim:
            raise ValueError(f"X: expected shape (N, {self.in_dim}), got {X.shape}")
        out = np.empty((X.shape[0], len(self.classes)))
        for s in range(0, X.shape[0], block_rows):
            xb = (np.asarray(X[s:s + block_rows], dtype=np.float64) - self.mean) / self.scale
            out[s:s + block_rows] = xb @ self.weight.T + self.bias
        return out

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels (N,) int64 (the class of the largest logit; ties: the smaller label)."""
        return self.classes[np.argmax(self.decision_function(X), axis=1)]

    def accuracy(self, X: Any, y: Any) -> float:
        """Fraction of rows whose predicted label equals ``y``; NaN for no rows."""
        y = np.asarray(y)
        if len(y) == 0:
            return float("nan")
        return float(np.mean(self.predict(X) == y))

    def save(self, path: str | os.PathLike) -> None:
        """Write the probe (float64 tensors, JSON metadata) to a safetensors file."""
        write_safetensors(path, {"weight": self.weight, "bias": self.bias, "classes": self.classes,
                                 "mean": self.mean},
                          {"kind": "linear_probe", "format_version": FORMAT_VERSION, "scale": self.scale,
                           "l2": self.l2, "metrics": self.metrics})

    @classmethod
    def load(cls, path: str | os.PathLike) -> "LinearProbe":
        t, meta = read_safetensors(path, "linear_probe")
        return cls(weight=t["weight"].astype(np.float64), bias=t["bias"].astype(np.float64),
                   classes=t["classes"].astype(np.int64), mean=t["mean"].astype(np.float64),
                   scale=float(meta["scale"]), l2=float(meta["l2"]), metrics=dict(meta.get("metrics") or {}))


def standardisation(X: np.ndarray, block_rows: int = 65536) -> tuple[np.ndarray, float]:
    """(μ, s) of :func:`fit_probe`: the column means (float64) and ``s = sqrt(mean_i ‖x_i − μ‖² / k)``, in one
    float64 pass per block (no float64 copy of X). ``s = 1`` when every row is the same (nothing to scale)."""
    n, k = X.shape
    total = np.zeros(k)
    for s in range(0, n, block_rows):
        total += np.asarray(X[s:s + block_rows], dtype=np.float64).sum(axis=0)
    mean = total / n
    sq = 0.0
    for s in range(0, n, block_rows):
        d = np.asarray(X[s:s + block_rows], dtype=np.float64) - mean
        sq += float(np.einsum("ij,ij->", d, d))
    scale = math.sqrt(sq / (n * k))
    return mean, (scale if scale > 0 else 1.0)


def fit_probe(X: Any, y: Any, *, l2: float = 1e-4, max_iter: int = 200, tol: float = 1e-6, device: Any = "cpu",
              dtype: str = "float32", block_rows: int = 65536, mean: np.ndarray | None = None,
              scale: float | None = None, init: LinearProbe | None = None) -> LinearProbe:
    """Fit the probe of the module docstring on inputs X (N, k) and labels y (N,) (any integers).

    l2 ≥ 0: the penalty on the mean loss (``l2 = 1 / (C · N)`` for scikit-learn's C); max_iter: L-BFGS iterations
    (``metrics["converged"]`` is False, and a warning is logged, when it stopped there or at 1.25 · max_iter
    function evaluations); tol: stop when the largest gradient entry is ≤ tol (or the objective stops changing
    at the working precision); device: a torch device ("cpu", "cuda"); dtype: "float32" (the workflow) or "float64";
    mean / scale:
    the standardisation (default :func:`standardisation` of X); init: a probe on the same classes and inputs
    whose (standardised-space) weights start L-BFGS (default zeros; the optimum does not depend on it). X is
    copied once into a tensor of ``dtype`` on the device; the float64 parameters of the returned probe act on
    standardised inputs.

    Raises ValueError (naming the argument) for fewer than 2 classes, mismatched lengths, non-finite inputs or
    bad settings. Source: torch.optim.LBFGS (strong Wolfe line search).
    """
    import torch

    X = np.asarray(X)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"X: expected a non-empty (N, k) array, got shape {X.shape}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"y: expected one label per row of X ({X.shape[0]}), got shape {y.shape}")
    if not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y: labels must be integers, got dtype {y.dtype}")
    if not (np.isfinite(l2) and l2 >= 0):
        raise ValueError(f"l2: must be finite and >= 0, got {l2!r}")
    if int(max_iter) < 1:
        raise ValueError(f"max_iter: must be >= 1, got {max_iter!r}")
    if dtype not in ("float32", "float64"):
        raise ValueError(f"dtype: must be 'float32' or 'float64', got {dtype!r}")
    classes, codes = np.unique(y, return_inverse=True)
    if len(classes) < 2:
        raise ValueError(f"y: need at least two classes, got {classes.tolist()}")
    if mean is None or scale is None:
        mean, scale = standardisation(X, block_rows)
    mean = np.asarray(mean, dtype=np.float64)
    tdtype = getattr(torch, dtype)
    device = torch.device(device)
    n, k = X.shape
    K = len(classes)

    Xt = torch.empty((n, k), dtype=tdtype, device=device)
    for s in range(0, n, block_rows):
        xb = (np.asarray(X[s:s + block_rows], dtype=np.float64) - mean) / scale
        if not np.isfinite(xb).all():
            raise ValueError(f"X: non-finite values in rows {s}..{s + len(xb) - 1}")
        Xt[s:s + len(xb)] = torch.from_numpy(xb).to(device=device, dtype=tdtype)
    yt = torch.from_numpy(codes.astype(np.int64)).to(device)
    if init is not None and (not np.array_equal(init.classes, classes) or init.weight.shape != (K, k)):
        raise ValueError("init: a probe of other classes or input width")
    W0, b0 = (np.zeros((K, k)), np.zeros(K)) if init is None else (init.weight, init.bias)
    W = torch.tensor(W0, dtype=tdtype, device=device, requires_grad=True)
    b = torch.tensor(b0, dtype=tdtype, device=device, requires_grad=True)
    opt = torch.optim.LBFGS([W, b], lr=1.0, max_iter=int(max_iter), max_eval=int(max_iter) * 5 // 4 + 1,
                            tolerance_grad=float(tol), tolerance_change=1e-3 * torch.finfo(tdtype).eps, history_size=20,
                            line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        total = 0.0
        for s in range(0, n, block_rows):
            logits = torch.addmm(b, Xt[s:s + block_rows], W.T)
            # per-row losses in the working dtype, their sum in float64 (the line search compares small changes)
            loss = torch.nn.functional.cross_entropy(logits, yt[s:s + block_rows], reduction="none").double().sum() / n
            loss.backward()
            total += float(loss.detach())
        if l2 > 0:
            reg = 0.5 * l2 * (W.double() ** 2).sum()
            reg.backward()
            total += float(reg.detach())
        return torch.tensor(total, dtype=torch.float64)

    opt.step(closure)
    state = opt.state[W]
    iterations, evals = int(state.get("n_iter", 0)), int(state.get("func_evals", 0))
    final = float(closure())  # the objective and gradient at the returned parameters (step() returns the first)
    grad_max = max(float(W.grad.abs().max()), float(b.grad.abs().max()))
    stop = ("max_iter" if iterations >= int(max_iter) else "max_eval" if evals >= opt.defaults["max_eval"]
            else "tolerance")
    weight = W.detach().to("cpu", torch.float64).numpy()
    bias = b.detach().to("cpu", torch.float64).numpy()
    probe = LinearProbe(weight=weight, bias=bias, classes=classes.astype(np.int64), mean=mean, scale=float(scale),
                        l2=float(l2), metrics={})
    metrics = {"n_train": int(n), "n_classes": int(K), "in_dim": int(k), "train_accuracy": probe.accuracy(X, y),
               "loss": final, "grad_max": grad_max, "iterations": iterations, "function_evals": evals, "stop": stop,
               "converged": stop == "tolerance", "max_iter": int(max_iter), "tol": float(tol), "device": str(device),
               "dtype": dtype}
    if stop != "tolerance":
        log.warning("probe: L-BFGS stopped at %s (%d iterations, %d evaluations) with largest gradient entry %.3g > "
                    "tol %g", stop, iterations, evals, grad_max, tol)
    return LinearProbe(weight=weight, bias=bias, classes=probe.classes, mean=mean, scale=float(scale), l2=float(l2),
                       metrics=metrics)


def select_probe(X: Any, y: Any, image_ids: Sequence[str], *, l2_grid: Sequence[float], holdout: float = 0.1,
                 seed: int = 0, **fit: Any) -> LinearProbe:
    """The probe with its L2 penalty chosen on held-out training images, refitted on all of them (the linear-probe
    protocol of CLIP's evaluation): an image is held out when ``fold_ids_for(id, 10000, seed) < holdout · 10000``
    (:func:`sing.core.translator.fold_ids_for`: it depends only on the image id and ``seed``); a probe is fitted on
    the other images for each λ of ``l2_grid`` (largest first, each warm-started from the previous), the λ with
    the best held-out accuracy wins (ties: the larger λ), and the final probe is fitted on every image with it.
    A one-value grid skips the selection. ``fit``: the other arguments of :func:`fit_probe`.

    ``metrics`` gains ``l2_grid``, ``holdout_accuracy`` (one per λ, None without selection) and ``n_holdout``.
    ValueError naming the argument for an empty or negative grid, a holdout outside (0, 1), or a split that
    leaves no image (or a single class) on either side.
    """
    from ..core.translator import fold_ids_for

    grid = sorted({float(v) for v in l2_grid}, reverse=True)
    if not grid or any(not np.isfinite(v) or v < 0 for v in grid):
        raise ValueError(f"l2_grid: expected non-negative numbers, got {list(l2_grid)!r}")
    X, y = np.asarray(X), np.asarray(y)
    if len(image_ids) != len(y):
        raise ValueError(f"image_ids: expected one id per row ({len(y)}), got {len(image_ids)}")
    if len(grid) == 1:
        probe = fit_probe(X, y, l2=grid[0], **fit)
        probe.metrics.update(l2_grid=grid, holdout_accuracy=None, n_holdout=0)
        return probe
    if not (0 < holdout < 1):
        raise ValueError(f"holdout: must be in (0, 1), got {holdout!r}")
    held = fold_ids_for(list(image_ids), 10_000, seed) < round(holdout * 10_000)
    for name, part in (("held-out", held), ("training", ~held)):
        if len(np.unique(y[part])) < (2 if name == "training" else 1):
            raise ValueError(f"holdout: {holdout} leaves no {name} images of enough classes ({int(part.sum())} "
                             f"images)")
    Xtr, ytr = X[~held], y[~held]
    known = np.isin(y[held], np.unique(ytr))  # a held-out image of a class absent from training counts as wrong
    accuracy, previous, fitted = {}, None, {}
    for l2 in grid:
        previous = fit_probe(Xtr, ytr, l2=l2, init=previous, **fit)
        pred = previous.predict(X[held])
        accuracy[l2] = float(np.mean((pred == y[held]) & known))
        fitted[l2] = previous
        log.info("probe: l2 %g, held-out accuracy %.4f (%d images)", l2, accuracy[l2], int(held.sum()))
    best = max(grid, key=lambda v: (accuracy[v], v))
    mean, scale = standardisation(X, fit.get("block_rows", 65536))
    start = fitted[best]
    init = LinearProbe(weight=start.weight * (scale / start.scale), bias=start.bias + start.weight @ (
        (mean - start.mean) / start.scale), classes=start.classes, mean=mean, scale=scale, l2=best)
    probe = fit_probe(X, y, l2=best, mean=mean, scale=scale,
                      init=init if np.array_equal(start.classes, np.unique(y)) else None, **fit)
    probe.metrics.update(l2_grid=grid, holdout_accuracy={f"{v:g}": accuracy[v] for v in grid},
                         n_holdout=int(held.sum()))
    return probe
