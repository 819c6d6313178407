"""Non-linear translators (supp. §1.1, Table 2, Figs. 7-8): torch modules from classifier features (m-d) to CLIP
image embeddings (n-d), the training objectives, and :class:`NonlinearTranslator`, which scores and persists them
like :class:`sing.core.translator.LinearTranslator`.

Architectures (supp. §1.1; the block is LayerNorm–GELU–Dropout–FC; ``h`` = ``hidden_dim``, default ``m`` as in
the authors' translator metadata):

* ``linear``: ``FC(m→n)``, the paper's translator trained by gradient descent (the closed-form ridge is
  :class:`~sing.core.translator.LinearTranslator`);
* ``mlp3``: ``FC(m→h)``, block(h→h), block(h→n): three linear layers;
* ``mlp4``: ``FC(m→h)``, block(h→h), block(h→h), block(h→n): four linear layers;
* ``residual``: ``x = FC(m→h)``; ``x = x + block(h→h)(x)`` (one residual block); block(h→n) (the projection).

The module layout (parameter names ``layers.<i>.*``, ``input_proj``, ``residual``, ``output_proj``, ``weight`` /
``bias`` for ``linear``) matches the authors' published translator loader (their architecture names ``3layer``,
``4layer``, ``residual``, ``linear``), so a state dict of theirs loads with ``strict=True``.

Objectives (supp. eqs. 14-15; ``e`` = the CLIP embedding, batch means):

* ``mse``: ``mean_i ‖T(f_i) − e_i‖² / n`` (eq. 14 divided by the constant n: PyTorch's ``mse_loss``; Adam(W) is
  invariant to a constant loss scale, so the minimiser and the training path are those of eq. 14 up to Adam's ε);
* ``cosine``: ``mean_i (1 − cos(T(f_i), e_i))`` (eq. 15);
* ``mse_cosine``: ``mse + cosine_weight · cosine`` (the paper gives no weighting; default 1).

The paper's L2 regularisation is AdamW's decoupled weight decay (λ = 0.1, lr 1e-4); training lives in
:func:`sing.analysis.translator_study.train_translator`.

Linearity is lost: for a non-linear T, ``T(f − Π_n f) ≠ T(f) − T(Π_n f) + b``, so AS and IS must translate f and
f̃ separately (every scorer in sing does) and null-space steering, which needs the translator's matrix ``W_T``, is
only defined for linear translators (``.weight`` raises AttributeError for the others).

This module imports torch at import time; :mod:`sing.core.translator` imports it lazily (``load_translator``).
"""

from __future__ import annotations

import os
from typing import Any, Mapping

import numpy as np
import torch
from torch import nn

from .arrays import as_float64, check_same_last_dim, kind_of, restore
from .files import read_safetensors, write_safetensors

__all__ = ["ARCHITECTURES", "KIND", "LOSSES", "NonlinearTranslator", "build_module", "translator_loss",
           "count_parameters"]

#: architecture names of the translator study (supp. §1.1)
ARCHITECTURES = ("linear", "mlp3", "mlp4", "residual")
#: training objectives (supp. eqs. 14-15 and their sum)
LOSSES = ("mse", "cosine", "mse_cosine")
#: ``metadata["kind"]`` of a saved non-linear translator
KIND = "nonlinear_translator"
FORMAT_VERSION = 1


def _check_choice(value: Any, name: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise ValueError(f"{name}: expected one of {choices}, got {value!r}")
    return str(value)


def _check_dim(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name}: expected an integer >= 1, got {value!r}")
    return int(value)


def _block(d_in: int, d_out: int, dropout: float) -> list[nn.Module]:
    """LayerNorm–GELU–Dropout–FC (supp. §1.1)."""
    return [nn.LayerNorm(d_in), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_in, d_out)]


class _Sequential(nn.Module):
    def __init__(self, layers: list[nn.Module]) -> None:
        super().__init__()
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class _Residual(nn.Module):
    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, dropout: float) -> None:
        super().__init__()
        self.input_proj = nn.Linear(in_dim, hidden_dim)
        self.residual = nn.Sequential(*_block(hidden_dim, hidden_dim, dropout))
        self.output_proj = nn.Sequential(*_block(hidden_dim, out_dim, dropout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.input_proj(x)
        return self.output_proj(h + self.residual(h))


class _Linear(nn.Module):
    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        layer = nn.Linear(in_dim, out_dim)  # PyTorch's default initialisation, then exposed as weight / bias
        self.weight = layer.weight
        self.bias = layer.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, self.weight, self.bias)


def build_module(architecture: str, in_dim: int, out_dim: int, hidden_dim: int | None = None,
                 dropout: float = 0.1) -> nn.Module:
    """A freshly initialised translator module (float32, CPU; PyTorch's default initialisation, drawn from the
    global torch RNG: seed it, or call inside ``torch.random.fork_rng``).

    architecture : one of :data:`ARCHITECTURES` (see the module docstring); in_dim m, out_dim n, hidden_dim h
    (default m; ignored by ``linear``); dropout : probability in [0, 1). Input (N, m) → output (N, n).
    Raises ValueError naming the argument.
    """
    architecture = _check_choice(architecture, "architecture", ARCHITECTURES)
    in_dim, out_dim = _check_dim(in_dim, "in_dim"), _check_dim(out_dim, "out_dim")
    hidden = in_dim if hidden_dim is None else _check_dim(hidden_dim, "hidden_dim")
    if not (isinstance(dropout, (int, float)) and 0.0 <= float(dropout) < 1.0):
        raise ValueError(f"dropout: expected a probability in [0, 1), got {dropout!r}")
    p = float(dropout)
    if architecture == "linear":
        return _Linear(in_dim, out_dim)
    if architecture == "residual":
        return _Residual(in_dim, hidden, out_dim, p)
    n_hidden_blocks = 1 if architecture == "mlp3" else 2
    layers: list[nn.Module] = [nn.Linear(in_dim, hidden)]
    for _ in range(n_hidden_blocks):
        layers += _block(hidden, hidden, p)
    layers += _block(hidden, out_dim, p)
    return _Sequential(layers)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable scalars of ``module``."""
    return int(sum(p.numel() for p in module.parameters() if p.requires_grad))


def translator_loss(pred: torch.Tensor, target: torch.Tensor, loss: str, cosine_weight: float = 1.0
                    ) -> torch.Tensor:
    """Batch objective (a 0-d tensor) of ``pred = T(F)`` and ``target = Z``, both (N, n) (module docstring).

    The cosine term uses ``torch.nn.functional.cosine_similarity`` (ε = 1e-8 on the norms). Raises ValueError
    for an unknown ``loss`` or mismatched shapes.
    """
    loss = _check_choice(loss, "loss", LOSSES)
    if pred.shape != target.shape or pred.ndim != 2:
        raise ValueError(f"pred/target: expected equal (N, n) shapes, got {tuple(pred.shape)} and "
                         f"{tuple(target.shape)}")
    out = None
    if loss in ("mse", "mse_cosine"):
        out = nn.functional.mse_loss(pred, target)
    if loss in ("cosine", "mse_cosine"):
        cos = (1.0 - nn.functional.cosine_similarity(pred, target, dim=1)).mean()
        out = cos if out is None else out + float(cosine_weight) * cos
    return out


class NonlinearTranslator:
    """A trained translator module ``T: R^m → R^n`` (any of :data:`ARCHITECTURES`), used like
    :class:`~sing.core.translator.LinearTranslator`: ``T(F)`` for F (N, m) or (m,), numpy or torch, returns the
    kind, dtype and device of ``F``.

    Translation runs the module in eval mode (dropout off) in **float64 on the CPU** (a float64 copy of the
    float32 trained weights), like the linear translator, so that small angles (IS of a small null component)
    are not drowned in float32 rounding; gradients do not flow through it. Non-linear: f and f̃ must be
    translated separately (see the module docstring); ``weight`` / ``bias`` exist only for ``architecture ==
    "linear"`` (AttributeError otherwise, so ``translator_params`` and the steering code refuse it).

    Parameters
    ----------
    module : the trained ``torch.nn.Module`` (from :func:`build_module` with the same arguments).
    architecture, loss : what was trained (:data:`ARCHITECTURES`, :data:`LOSSES`).
    in_dim, out_dim, hidden_dim, dropout : the module's shape arguments (``hidden_dim`` None: read from the
        module). ValueError when they do not match the module's layers.
    seed : training seed; metrics : JSON-serialisable training/evaluation summary.
    """

    alpha = None  # no ridge penalty (model_summary reads .alpha)

    def __init__(self, module: nn.Module, *, architecture: str, loss: str, in_dim: int, out_dim: int,
                 hidden_dim: int | None = None, dropout: float = 0.1, seed: int | None = None,
                 metrics: Mapping[str, Any] | None = None) -> None:
        self.architecture = _check_choice(architecture, "architecture", ARCHITECTURES)
        self.loss = _check_choice(loss, "loss", LOSSES)
        self.in_dim, self.out_dim = _check_dim(in_dim, "in_dim"), _check_dim(out_dim, "out_dim")
        linears = [m for m in module.modules() if isinstance(m, nn.Linear)] or [module]
        first, last = linears[0], linears[-1]
        got = (int(first.weight.shape[1]), int(last.weight.shape[0]))
        if got != (self.in_dim, self.out_dim):
            raise ValueError(f"module: maps {got[0]} → {got[1]} dimensions, but in_dim={self.in_dim}, "
                             f"out_dim={self.out_dim}")
        module_hidden = self.in_dim if architecture == "linear" else int(first.weight.shape[0])
        wanted = None if hidden_dim is None or architecture == "linear" else _check_dim(hidden_dim, "hidden_dim")
        if wanted is not None and wanted != module_hidden:
            raise ValueError(f"hidden_dim: {hidden_dim} does not match the module's hidden width {module_hidden}")
        self.hidden_dim = module_hidden if hidden_dim is None else int(hidden_dim)
        self.dropout = float(dropout)
        self.seed = None if seed is None else int(seed)
        self.metrics = dict(metrics or {})
        self.module = module
        self._eval64: nn.Module | None = None

    # -- identity ------------------------------------------------------------------------------
    @property
    def is_linear(self) -> bool:
        """True only for ``architecture == "linear"`` (then T(f + v) = T(f) + W_T v)."""
        return self.architecture == "linear"

    @property
    def weight(self) -> np.ndarray:
        """(n, m) float64 matrix of a ``linear`` translator; AttributeError for a non-linear one."""
        if not self.is_linear:
            raise AttributeError(f"a {self.architecture} translator is non-linear and has no weight matrix W_T: "
                                 "null-space steering and text gradients need a linear translator")
        return self.module.weight.detach().cpu().double().numpy().copy()

    @property
    def bias(self) -> np.ndarray:
        """(n,) float64 bias of a ``linear`` translator; AttributeError for a non-linear one."""
        if not self.is_linear:
            raise AttributeError(f"a {self.architecture} translator is non-linear and has no bias vector b_T")
        return self.module.bias.detach().cpu().double().numpy().copy()

    def __repr__(self) -> str:
        return (f"NonlinearTranslator(architecture={self.architecture!r}, loss={self.loss!r}, in_dim={self.in_dim}, "
                f"out_dim={self.out_dim}, hidden_dim={self.hidden_dim})")

    def config(self) -> dict[str, Any]:
        """The arguments that rebuild the module: architecture, in_dim, out_dim, hidden_dim, dropout."""
        return {"architecture": self.architecture, "in_dim": self.in_dim, "out_dim": self.out_dim,
                "hidden_dim": self.hidden_dim, "dropout": self.dropout}

    # -- translation ---------------------------------------------------------------------------
    def _module64(self) -> nn.Module:
        if self._eval64 is None:
            m = build_module(**self.config())
            m.load_state_dict({k: v.detach().cpu() for k, v in self.module.state_dict().items()})
            self._eval64 = m.double().eval()
            for p in self._eval64.parameters():
                p.requires_grad_(False)
        return self._eval64

    def __call__(self, F: Any) -> Any:
        """T(F) for F (N, m) or (m,) → (N, n) or (n,), computed in float64 on the CPU; returns the kind of F
        (numpy float32 in → float32 out, torch tensor → same dtype and device). ValueError for a wrong last
        dimension, NaN/Inf or an empty input."""
        F64 = as_float64(F, "F", ndim=(1, 2))
        check_same_last_dim(F64, "F", self.in_dim, "the translator's in_dim")
        x = torch.from_numpy(F64[None] if F64.ndim == 1 else F64)
        with torch.no_grad():
            out = self._module64()(x).numpy()
        return restore(out[0] if F64.ndim == 1 else out, kind_of(F))

    def refresh(self) -> None:
        """Drop the float64 evaluation copy (call after changing ``module``'s weights in place)."""
        self._eval64 = None

    # -- persistence -----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike, provenance: Mapping[str, Any] | None = None) -> None:
        """Write the module's state dict (float32, as trained) and JSON metadata (kind ``nonlinear_translator``,
        architecture, loss, in/out/hidden dims, dropout, seed, metrics[, provenance]) atomically as safetensors."""
        tensors = {k: v.detach().cpu().numpy() for k, v in self.module.state_dict().items()}
        meta = {"kind": KIND, "format_version": FORMAT_VERSION, **self.config(), "loss": self.loss,
                "seed": self.seed, "metrics": self.metrics}
        if provenance is not None:
            meta["provenance"] = dict(provenance)
        write_safetensors(path, tensors, meta)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "NonlinearTranslator":
        """Read a file written by :meth:`save`. ValueError naming the file when it holds another kind, an unknown
        format version or tensors that do not fit the recorded architecture."""
        tensors, meta = read_safetensors(path, KIND)
        if meta.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{path}: format_version {meta.get('format_version')!r}, expected {FORMAT_VERSION}")
        try:
            module = build_module(meta["architecture"], meta["in_dim"], meta["out_dim"], meta["hidden_dim"],
                                  meta["dropout"])
            module.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in tensors.items()}, strict=True)
        except (KeyError, RuntimeError, ValueError) as e:
            raise ValueError(f"{path}: does not hold a valid {meta.get('architecture')!r} translator: {e}") from None
        return cls(module, architecture=meta["architecture"], loss=meta["loss"], in_dim=meta["in_dim"],
                   out_dim=meta["out_dim"], hidden_dim=meta["hidden_dim"], dropout=meta["dropout"],
                   seed=meta.get("seed"), metrics=meta.get("metrics"))
