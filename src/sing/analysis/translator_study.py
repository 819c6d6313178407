"""The translator study (supp. §1.1, Table 2, Figs. 7-8): the linear ridge translator against the three non-linear
translators of the paper (3-layer MLP, 4-layer MLP, residual MLP), each trained with the MSE, cosine and
MSE + cosine objectives (AdamW, lr 1e-4, weight decay 0.1 = the paper's L2), early-stopped on held-out translator
images, and all evaluated on the same held-out images of 16 classes.

Data, per (model, space):

* **training**: the translator sample (``samples.translator``; paper: 10 images × 1000 classes). Its images in
  fold ``stop_fold`` of :func:`sing.core.translator.fold_ids_for` (keyed by image id, ``folds`` and ``seed`` of the
  translator config) are the **early-stopping** set (the "held-out translator images"); every translator, the
  ridge included, trains on the other folds only, so all rows see the same training images. The ridge picks α
  by exact k-fold CV on those folds, exactly as :func:`sing.core.translator.fit_ridge` does for the production
  translator; the gradient-trained translators keep the epoch with the lowest early-stopping loss.
* **evaluation**: "a 2,000-image validation subset from 16 classes" (supp. Table 2, Fig. 8). ImageNet's val split
  has 50 images a class (800 for 16), so the 2,000 images are 125 a class taken from the *train* split after
  removing every translator-sample image (:func:`study_heldout_sample`); the classes are
  :data:`STUDY_CLASSES` (configurable). The paper does not list its 16 classes.

Outputs: :func:`translator_study` returns the Table 2 rows (:data:`STUDY_COLUMNS`), the per-epoch training
curves of Fig. 7 (:data:`CURVE_COLUMNS`), the per-image cosines of Fig. 8's histograms (:data:`COSINE_COLUMNS`)
and the fitted translators (scoring with a non-linear one: see :mod:`sing.core.nonlinear`).
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import polars as pl

from ..core.arrays import as_float64
from ..core.translator import fit_ridge, fold_ids_for
from ..data.images import sample_order

log = logging.getLogger(__name__)

__all__ = [
    "COSINE_COLUMNS", "CURVE_COLUMNS", "STUDY_CLASSES", "STUDY_COLUMNS", "TIMING_COLUMNS", "StudyResult",
    "best_translator", "EMBEDDING_COLUMNS", "REAL_EMBEDDING", "sheet_columns", "study_embeddings",
    "heldout_metrics", "study_heldout_sample", "training_device", "train_translator", "translate_all",
    "translator_study",
]

#: the study's 16 evaluation classes (configurable): WordNet id → why it is in the list. Chosen for spread over
#: ImageNet's hierarchy (10 animal groups, 6 man-made objects / scenes) and to include the classes the paper shows
#: (jellyfish and Arabian camel: main Fig. 5; a shark: supp. Fig. 10) and the demo's classes; the paper names none.
STUDY_CLASSES: Mapping[str, str] = {
    "n01440764": "tench: fish; the first ImageNet class, photographed with anglers (a known spurious cue)",
    "n01484850": "great white shark: cartilaginous fish (supp. Fig. 10 shows a shark)",
    "n01531178": "goldfinch: bird",
    "n01644373": "tree frog: amphibian",
    "n01910747": "jellyfish: cnidarian (main Fig. 5)",
    "n02106166": "Border collie: dog (one of the authors' sample images)",
    "n02123045": "tabby cat: cat",
    "n02206856": "bee: insect",
    "n02317335": "starfish: echinoderm (one of the authors' sample images)",
    "n02437312": "Arabian camel: ungulate (main Fig. 5)",
    "n02480855": "gorilla: primate",
    "n02690373": "airliner: aircraft",
    "n03452741": "grand piano: musical instrument, indoor scene",
    "n04285008": "sports car: road vehicle",
    "n07747607": "orange: food",
    "n09472597": "volcano: landscape",
}

#: Table 2: one row per (model, space, architecture, loss)
STUDY_COLUMNS = (
    "model", "space", "architecture", "loss", "method", "hidden_dim", "n_params", "alpha",
    "n_train", "n_stop", "n_eval", "n_eval_classes", "epochs_run", "best_epoch", "train_gflop",
    "mse", "sq_error_mean", "r2", "cosine_mean", "cosine_median", "cosine_q05", "cosine_q25", "cosine_q75",
    "cosine_q95", "cosine_min", "device", "rank_mse", "rank_cosine",
)
#: wall times, apart from the table so that two runs write byte-identical tables: one row per translator
TIMING_COLUMNS = ("model", "space", "architecture", "loss", "method", "device", "epochs_run", "wall_s")
#: Fig. 7: one row per (model, space, architecture, loss, epoch); epoch 0 = before training
CURVE_COLUMNS = ("model", "space", "architecture", "loss", "epoch", "train_loss", "train_mse", "train_cosine_mean",
                 "stop_loss", "stop_mse", "stop_cosine_mean")
#: Fig. 8: one row per (model, space, architecture, loss, evaluation image)
COSINE_COLUMNS = ("model", "space", "architecture", "loss", "image_id", "class_id", "cosine")

_QUANTILES = {"cosine_q05": 0.05, "cosine_q25": 0.25, "cosine_q75": 0.75, "cosine_q95": 0.95}


# ---------------------------------------------------------------------------------------------------------
# Samples and devices
# ---------------------------------------------------------------------------------------------------------
def study_heldout_sample(files_by_class: Mapping[str, Sequence[str]], per_class: int, seed: int,
                         exclude: Sequence[str] | set[str] = (), *, take_all_if_fewer: bool = False
                         ) -> dict[str, list[str]]:
    """The study's evaluation images: per class, the first ``per_class`` files of
    :func:`sing.data.images.sample_order` (``seed``, the class id as key) that are not in ``exclude`` (the
    translator sample's image ids, matched exactly). Disjoint from ``exclude`` by
    construction and deterministic (independent of listing order and of the other classes).

    files_by_class : class id → image ids of one split (e.g. :func:`sing.data.imagenet.list_classes` files).
    Returns class id → image ids, in ``files_by_class`` order. ValueError naming the class when fewer than
    ``per_class`` images remain (unless ``take_all_if_fewer``) or none remain.
    """
    if isinstance(per_class, bool) or not isinstance(per_class, (int, np.integer)) or per_class < 1:
        raise ValueError(f"per_class: expected an integer >= 1, got {per_class!r}")
    excluded = set(map(str, exclude))
    out: dict[str, list[str]] = {}
    for cls, files in files_by_class.items():
        order = [f for f in sample_order(list(files), seed, cls) if f not in excluded]
        if not order or (len(order) < per_class and not take_all_if_fewer):
            raise ValueError(f"class {cls}: {len(order)} images left after removing the translator sample, "
                             f"{per_class} needed (take_all_if_fewer: true uses what is left)")
        out[cls] = order[:per_class]
    return out


def training_device(device: Any) -> Any:
    """The torch device to train on: ``"cpu"``, ``"cuda"``, ``"cuda:<i>"`` or a ``torch.device``; ``"auto"`` picks
    CUDA when ``torch.cuda.is_available()`` and logs which. ValueError naming ``device`` when CUDA is asked for
    and absent (never a silent fallback to the CPU) or the device index does not exist."""
    import torch

    if device in (None, "auto"):
        chosen = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        log.info("device auto -> %s (torch.cuda.is_available() = %s)", chosen, torch.cuda.is_available())
        return chosen
    try:
        d = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"device: {device!r} is not a torch device ({e})") from None
    if d.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device: {device!r} requested but CUDA is not available (torch.cuda.is_available() "
                             "is False); use device 'cpu'")
        if d.index is not None and d.index >= torch.cuda.device_count():
            raise ValueError(f"device: {device!r} requested but only {torch.cuda.device_count()} CUDA device(s)")
    elif d.type != "cpu":
        raise ValueError(f"device: expected 'cpu', 'cuda[:i]' or 'auto', got {device!r}")
    return d


# ---------------------------------------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------------------------------------
def _row_cosines(pred: np.ndarray, Z: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(pred, axis=1) * np.linalg.norm(Z, axis=1)
    if np.any(norms == 0):
        raise ValueError("Z: a row of Z or of T(F) has zero norm; cosine similarity is undefined")
    return np.einsum("ij,ij->i", pred, Z) / norms


def heldout_metrics(pred: Any, Z: Any) -> dict[str, float]:
    """Held-out fit of ``pred = T(F)`` to ``Z`` (both (N, n), any units; cosines are unitless):

    ``mse`` = sklearn ``mean_squared_error`` (mean over samples and outputs), ``sq_error_mean`` = mean_i
    ‖T f_i − z_i‖² (eq. 14), ``r2`` = sklearn ``r2_score`` (uniform average over outputs; a constant output
    scores 1 if predicted exactly, else 0), and the per-image cosine's mean, median, 5/25/75/95 % quantiles
    (numpy ``linear`` interpolation) and minimum. ValueError for mismatched shapes, NaN/Inf or zero-norm rows.
    """
    P = as_float64(pred, "pred", ndim=2)
    Z64 = as_float64(Z, "Z", ndim=2)
    if P.shape != Z64.shape:
        raise ValueError(f"Z: shape {Z64.shape} does not match pred's {P.shape}")
    resid = Z64 - P
    sse = np.einsum("ij,ij->j", resid, resid)
    centred = Z64 - Z64.mean(axis=0)
    sst = np.einsum("ij,ij->j", centred, centred)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(sst > 0, 1.0 - sse / np.where(sst > 0, sst, 1.0), np.where(sse == 0, 1.0, 0.0))
    cos = _row_cosines(P, Z64)
    out = {"mse": float(sse.sum() / Z64.size), "sq_error_mean": float(sse.sum() / Z64.shape[0]),
           "r2": float(r2.mean()), "cosine_mean": float(cos.mean()), "cosine_median": float(np.median(cos))}
    out.update({k: float(np.quantile(cos, q)) for k, q in _QUANTILES.items()})
    out["cosine_min"] = float(cos.min())
    return out


# ---------------------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------------------
def _check_int(value: Any, name: str, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    return int(value)


def _check_float(value: Any, name: str, minimum: float = 0.0, strict: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a number, got {value!r}") from None
    if not math.isfinite(v) or v < minimum or (strict and v == minimum):
        raise ValueError(f"{name}: expected a finite number {'>' if strict else '>='} {minimum}, got {value!r}")
    return v


def train_translator(F: Any, Z: Any, F_stop: Any, Z_stop: Any, *, architecture: str, loss: str,
                     hidden_dim: int | None = None, dropout: float = 0.1, lr: float = 1e-4,
                     weight_decay: float = 0.1, batch_size: int = 256, max_epochs: int = 200, patience: int = 10,
                     min_delta: float = 0.0, cosine_weight: float = 1.0, seed: int = 0, device: Any = "cpu"):
    """Train one translator (supp. §1.1) with AdamW and early stopping.

    F (N, m), Z (N, n): training features and CLIP embeddings; F_stop, Z_stop: the early-stopping images (held-out
    translator images). architecture / loss: :data:`sing.core.nonlinear.ARCHITECTURES` / ``LOSSES``; hidden_dim
    (default m), dropout: the module (:func:`sing.core.nonlinear.build_module`). AdamW(lr, weight_decay) — the
    paper's 1e-4 and 0.1; minibatches of ``batch_size`` in a seeded random order each epoch. After every epoch the
    objective on the stopping set is computed (eval mode); the state with the lowest one (improving by more than
    ``min_delta``) is kept, and training stops after ``patience`` epochs without improvement or at ``max_epochs``.

    Deterministic for a given ``seed``, device and torch build: initialisation and dropout draw from the torch RNG
    seeded inside ``torch.random.fork_rng`` (the caller's RNG state is untouched), the batch order from its own
    CPU generator. Training runs in float32 on ``device`` (:func:`training_device`: no silent CPU fallback).

    Returns ``(translator, curves)``: a :class:`sing.core.nonlinear.NonlinearTranslator` holding the best state
    (``metrics``: epochs_run, best_epoch, best_stop_loss, wall_s, device, n_train, n_stop, n_params, lr,
    weight_decay, batch_size, cosine_weight) and a polars frame of the per-epoch curves (:data:`CURVE_COLUMNS`
    without model/space/architecture/loss; epoch 0 = before training, train columns NaN there; ``train_*`` are
    running means over the epoch's minibatches in train mode, ``stop_*`` eval-mode values).
    """
    import torch

    from ..core.nonlinear import NonlinearTranslator, build_module, count_parameters, translator_loss

    F64 = as_float64(F, "F", ndim=2)
    Z64 = as_float64(Z, "Z", ndim=2)
    Fs64 = as_float64(F_stop, "F_stop", ndim=2)
    Zs64 = as_float64(Z_stop, "Z_stop", ndim=2)
    if Z64.shape[0] != F64.shape[0]:
        raise ValueError(f"Z: has {Z64.shape[0]} rows but F has {F64.shape[0]}")
    if Zs64.shape[0] != Fs64.shape[0]:
        raise ValueError(f"Z_stop: has {Zs64.shape[0]} rows but F_stop has {Fs64.shape[0]}")
    if Fs64.shape[1] != F64.shape[1] or Zs64.shape[1] != Z64.shape[1]:
        raise ValueError(f"F_stop/Z_stop: dimensions {Fs64.shape[1]}/{Zs64.shape[1]} do not match F/Z's "
                         f"{F64.shape[1]}/{Z64.shape[1]}")
    batch_size = _check_int(batch_size, "batch_size", 1)
    max_epochs = _check_int(max_epochs, "max_epochs", 1)
    patience = _check_int(patience, "patience", 1)
    seed = _check_int(seed, "seed", 0)
    lr = _check_float(lr, "lr", 0.0, strict=True)
    weight_decay = _check_float(weight_decay, "weight_decay")
    min_delta = _check_float(min_delta, "min_delta")
    cosine_weight = _check_float(cosine_weight, "cosine_weight")
    dev = training_device(device)
    m, n = F64.shape[1], Z64.shape[1]

    Ft = torch.from_numpy(F64).to(dev, torch.float32)
    Zt = torch.from_numpy(Z64).to(dev, torch.float32)
    Fst = torch.from_numpy(Fs64).to(dev, torch.float32)
    Zst = torch.from_numpy(Zs64).to(dev, torch.float32)
    N = Ft.shape[0]
    order_gen = torch.Generator(device="cpu").manual_seed(seed)
    curves: dict[str, list[float]] = {c: [] for c in CURVE_COLUMNS[4:]}

    def evaluate(module) -> tuple[float, float, float]:
        module.eval()
        with torch.no_grad():
            pred = torch.cat([module(Fst[i:i + 4 * batch_size]) for i in range(0, Fst.shape[0], 4 * batch_size)])
            obj = float(translator_loss(pred, Zst, loss, cosine_weight))
            mse = float(torch.nn.functional.mse_loss(pred, Zst))
            cos = float(torch.nn.functional.cosine_similarity(pred, Zst, dim=1).mean())
        return obj, mse, cos

    def record(epoch, train, stop):
        for key, v in zip(CURVE_COLUMNS[4:], (epoch, *train, *stop)):
            curves[key].append(v)

    fork_devices = [dev] if dev.type == "cuda" else []
    start = time.perf_counter()
    with torch.random.fork_rng(devices=fork_devices):
        torch.manual_seed(seed)
        module = build_module(architecture, m, n, hidden_dim, dropout).to(dev)
        opt = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=weight_decay)
        best = evaluate(module)
        record(0, (math.nan,) * 3, best)
        best_loss, best_epoch = best[0], 0
        best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        epoch = 0
        for epoch in range(1, max_epochs + 1):
            module.train()
            perm = torch.randperm(N, generator=order_gen).to(dev)
            sums = torch.zeros(3, dtype=torch.float64, device=dev)  # on the device: one sync per epoch
            for i in range(0, N, batch_size):
                idx = perm[i:i + batch_size]
                pred = module(Ft[idx])
                obj = translator_loss(pred, Zt[idx], loss, cosine_weight)
                opt.zero_grad(set_to_none=True)
                obj.backward()
                opt.step()
                with torch.no_grad():
                    k = idx.numel()
                    sums[0] += obj.detach() * k
                    sums[1] += torch.nn.functional.mse_loss(pred, Zt[idx]) * k
                    sums[2] += torch.nn.functional.cosine_similarity(pred, Zt[idx], dim=1).sum()
            stop = evaluate(module)
            record(epoch, tuple(float(v) / N for v in sums.tolist()), stop)
            if not math.isfinite(stop[0]):
                raise FloatingPointError(f"{architecture}/{loss}: the early-stopping loss is {stop[0]} at epoch "
                                         f"{epoch} (lr {lr} too large?)")
            if stop[0] < best_loss - min_delta:
                best_loss, best_epoch = stop[0], epoch
                best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
            elif epoch - best_epoch >= patience:
                break
        module.load_state_dict(best_state)
        module.eval()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
    wall = time.perf_counter() - start
    module = module.cpu()
    metrics = {"epochs_run": epoch, "best_epoch": best_epoch, "best_stop_loss": best_loss, "wall_s": wall,
               "device": str(dev), "n_train": int(N), "n_stop": int(Fst.shape[0]), "n_params": count_parameters(module),
               "lr": lr, "weight_decay": weight_decay, "batch_size": batch_size, "cosine_weight": cosine_weight,
               "max_epochs": max_epochs, "patience": patience}
    translator = NonlinearTranslator(module, architecture=architecture, loss=loss, in_dim=m, out_dim=n,
                                     hidden_dim=hidden_dim, dropout=dropout, seed=seed, metrics=metrics)
    frame = pl.DataFrame(curves, schema={c: (pl.Int64 if c == "epoch" else pl.Float64) for c in CURVE_COLUMNS[4:]})
    return translator, frame


# ---------------------------------------------------------------------------------------------------------
# The study
# ---------------------------------------------------------------------------------------------------------
@dataclass
class StudyResult:
    """Output of :func:`translator_study` for one (model, space)."""

    table: pl.DataFrame  # STUDY_COLUMNS, one row per (architecture, loss)
    curves: pl.DataFrame  # CURVE_COLUMNS
    cosines: pl.DataFrame  # COSINE_COLUMNS
    translators: dict[tuple[str, str], Any] = field(default_factory=dict)  # (architecture, loss) -> translator
    timings: pl.DataFrame | None = None  # TIMING_COLUMNS (wall times: the only non-deterministic numbers)


def _ids(ids: Sequence[Any], n: int, name: str) -> list[str]:
    out = [str(i) for i in ids]
    if len(out) != n:
        raise ValueError(f"{name}: expected {n} ids, got {len(out)}")
    if len(set(out)) != len(out):
        raise ValueError(f"{name}: duplicated image ids")
    return out


def _ridge_at(F: np.ndarray, Z: np.ndarray, alpha: float) -> Any:
    """Ridge with intercept at one α (= sklearn ``Ridge(alpha)``): the primal solve of
    :meth:`sing.core.translator.RidgeStats.solve` when N ≥ m, else the dual ``W = F_cᵀ (F_c F_cᵀ + αI)⁻¹ Z_c``
    (the same solution through an N×N system; sklearn's choice too when m > N)."""
    import scipy.linalg

    from ..core.arrays import check_positive
    from ..core.translator import LinearTranslator, RidgeStats

    alpha = check_positive(alpha, "ridge_alpha")
    N, m = F.shape
    if N >= m:
        return RidgeStats(m, Z.shape[1]).update(F, Z).solve(alpha)
    mu_f, mu_z = F.mean(axis=0), Z.mean(axis=0)
    Fc = F - mu_f
    K = Fc @ Fc.T
    K[np.diag_indices_from(K)] += alpha
    W = Fc.T @ scipy.linalg.solve(K, Z - mu_z, assume_a="pos", check_finite=False)
    return LinearTranslator(W.T, mu_z - mu_f @ W, alpha, {"alpha": alpha}, n_train=N)


def translator_study(F_train: Any, Z_train: Any, train_ids: Sequence[Any], F_eval: Any, Z_eval: Any,
                     eval_ids: Sequence[Any], *, model: str, space: str, eval_classes: Sequence[Any] | None = None,
                     architectures: Sequence[str] = ("linear", "mlp3", "mlp4", "residual"),
                     losses: Sequence[str] = ("mse", "cosine", "mse_cosine"),
                     alphas: Sequence[float] = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0, 100000.0),
                     ridge_alpha: float | None = None, folds: int = 5, seed: int = 0, stop_fold: int = 0,
                     hidden_dim: int | None = None,
                     dropout: float = 0.1, lr: float = 1e-4, weight_decay: float = 0.1, batch_size: int = 256,
                     max_epochs: int = 200, patience: int = 10, min_delta: float = 0.0, cosine_weight: float = 1.0,
                     train_seed: int | None = None, device: Any = "cpu") -> StudyResult:
    """Table 2 / Figs. 7-8 of one (model, space) (module docstring for the data protocol).

    F_train (N, m), Z_train (N, n), train_ids (N): the translator sample; F_eval (M, m), Z_eval (M, n), eval_ids
    (M), eval_classes (M, optional): the held-out evaluation images (must not overlap the translator sample).
    ``linear`` with ``mse`` is the closed-form ridge (eq. 4; method "ridge") at ``ridge_alpha`` when given (the
    workflow passes the production translator's CV-chosen α: one Cholesky solve, in the dual when N < m), else
    with α chosen by k-fold CV over ``alphas`` on the training folds (:func:`sing.core.translator.fit_ridge`; one
    m×m eigendecomposition per fold, ~50 s for m = 2048 on a loaded 2-core machine); every other (architecture,
    loss) is trained by :func:`train_translator` (method
    "adamw") with the remaining keyword arguments. ``folds``/``seed``: the fold assignment (that of the
    translator config); fold ``stop_fold`` is the early-stopping set; ``train_seed`` (default ``seed``): the seed of
    the gradient-trained translators' initialisation, dropout and batch order.

    Ranks: ``rank_mse`` (1 = lowest held-out mse) and ``rank_cosine`` (1 = highest mean cosine), ties averaged.
    ``train_gflop``: the training compute of a gradient-trained row, (6 P n_train + 2 P n_stop) × epochs_run / 1e9
    for P parameters (forward + backward per training image, forward per stopping image; null for the ridge): a
    machine-independent cost. Wall times are in ``timings`` (:data:`TIMING_COLUMNS`), not in the table or in the
    translators' metrics, so the table is deterministic. Raises ValueError for overlapping train/eval ids, an empty
    training or stopping set, fewer than two training folds for the ridge's CV, or unknown names.
    """
    from ..core.nonlinear import ARCHITECTURES, LOSSES

    F = as_float64(F_train, "F_train", ndim=2)
    Z = as_float64(Z_train, "Z_train", ndim=2)
    Fe = as_float64(F_eval, "F_eval", ndim=2)
    Ze = as_float64(Z_eval, "Z_eval", ndim=2)
    if Z.shape[0] != F.shape[0] or Ze.shape[0] != Fe.shape[0]:
        raise ValueError(f"Z_train/Z_eval: rows {Z.shape[0]}/{Ze.shape[0]} do not match F_train/F_eval's "
                         f"{F.shape[0]}/{Fe.shape[0]}")
    if Fe.shape[1] != F.shape[1] or Ze.shape[1] != Z.shape[1]:
        raise ValueError("F_eval/Z_eval: dimensions do not match F_train/Z_train's")
    tr_ids = _ids(train_ids, F.shape[0], "train_ids")
    ev_ids = _ids(eval_ids, Fe.shape[0], "eval_ids")
    overlap = sorted(set(tr_ids) & set(ev_ids))
    if overlap:
        raise ValueError(f"eval_ids: {len(overlap)} evaluation image(s) are in the translator sample (e.g. "
                         f"{overlap[:3]}); the study evaluates on held-out images only")
    ev_classes = [None] * len(ev_ids) if eval_classes is None else [None if c is None else str(c)
                                                                     for c in eval_classes]
    if len(ev_classes) != len(ev_ids):
        raise ValueError(f"eval_classes: expected {len(ev_ids)} labels, got {len(ev_classes)}")
    archs = [a for a in architectures]
    for a in archs:
        if a not in ARCHITECTURES:
            raise ValueError(f"architectures: {a!r} is not one of {ARCHITECTURES}")
    for lo in losses:
        if lo not in LOSSES:
            raise ValueError(f"losses: {lo!r} is not one of {LOSSES}")
    folds = _check_int(folds, "folds", 2)
    stop_fold = _check_int(stop_fold, "stop_fold", 0)
    if stop_fold >= folds:
        raise ValueError(f"stop_fold: must be < folds ({folds}), got {stop_fold}")
    fold = fold_ids_for(tr_ids, folds, seed)
    stop = fold == stop_fold
    if not stop.any() or stop.all():
        raise ValueError(f"translator sample: fold {stop_fold} of {folds} holds {int(stop.sum())} of {len(stop)} "
                         "images; the early-stopping and the training set must both be non-empty")
    train = ~stop
    n_classes = len({c for c in ev_classes if c is not None}) if eval_classes is not None else None

    rows, curve_frames, cos_frames, translators, timings = [], [], [], {}, []
    for arch in archs:
        for loss_name in losses:
            if arch == "linear" and loss_name == "mse":
                t0 = time.perf_counter()
                if ridge_alpha is not None:
                    tr = _ridge_at(F[train], Z[train], ridge_alpha)
                else:
                    if len(np.unique(fold[train])) < 2 and len(alphas) > 1:
                        raise ValueError(f"folds: the ridge's CV needs >= 2 training folds besides the stopping "
                                         f"fold; folds={folds} leaves {len(np.unique(fold[train]))}")
                    tr = fit_ridge(F[train], Z[train], alphas, folds=folds, fold_ids=fold[train], seed=seed)
                wall = time.perf_counter() - t0
                info = {"method": "ridge", "hidden_dim": None, "n_params": int(tr.weight.size + tr.bias.size),
                        "alpha": float(tr.alpha), "epochs_run": None, "best_epoch": None, "train_gflop": None,
                        "device": "cpu", "n_train": int(train.sum()), "n_stop": int(stop.sum())}
            else:
                tr, curves = train_translator(
                    F[train], Z[train], F[stop], Z[stop], architecture=arch, loss=loss_name, hidden_dim=hidden_dim,
                    dropout=dropout, lr=lr, weight_decay=weight_decay, batch_size=batch_size, max_epochs=max_epochs,
                    patience=patience, min_delta=min_delta, cosine_weight=cosine_weight,
                    seed=seed if train_seed is None else train_seed, device=device)
                mt = tr.metrics
                wall = mt.pop("wall_s")  # kept out of the saved translator: its bytes stay deterministic
                gflop = (6 * mt["n_params"] * mt["n_train"] + 2 * mt["n_params"] * mt["n_stop"]) * mt["epochs_run"]
                info = {"method": "adamw", "hidden_dim": None if arch == "linear" else tr.hidden_dim,
                        "n_params": mt["n_params"], "alpha": None, "epochs_run": mt["epochs_run"],
                        "best_epoch": mt["best_epoch"], "train_gflop": gflop / 1e9, "device": mt["device"],
                        "n_train": mt["n_train"], "n_stop": mt["n_stop"]}
                curve_frames.append(curves.select(pl.lit(model).alias("model"), pl.lit(space).alias("space"),
                                                  pl.lit(arch).alias("architecture"), pl.lit(loss_name).alias("loss"),
                                                  *CURVE_COLUMNS[4:]))
            pred = np.asarray(tr(Fe), dtype=np.float64)
            metrics = heldout_metrics(pred, Ze)
            tr.metrics.update({f"eval_{k}": v for k, v in metrics.items()})
            translators[(arch, loss_name)] = tr
            rows.append({"model": model, "space": space, "architecture": arch, "loss": loss_name, **info,
                         "n_eval": len(ev_ids), "n_eval_classes": n_classes, **metrics})
            timings.append({"model": model, "space": space, "architecture": arch, "loss": loss_name,
                            "method": info["method"], "device": info["device"], "epochs_run": info["epochs_run"],
                            "wall_s": wall})
            cos_frames.append(pl.DataFrame({"model": model, "space": space, "architecture": arch, "loss": loss_name,
                                            "image_id": ev_ids, "class_id": ev_classes,
                                            "cosine": _row_cosines(pred, Ze)},
                                           schema_overrides={"class_id": pl.String}))
            log.info("%s/%s %s/%s: eval mse %.6g, cosine mean %.4f, R² %.4f (%s, %.1f s)", model, space, arch,
                     loss_name, metrics["mse"], metrics["cosine_mean"], metrics["r2"], info["method"], wall)
    schema = {"hidden_dim": pl.Int64, "n_params": pl.Int64, "alpha": pl.Float64, "epochs_run": pl.Int64,
              "train_gflop": pl.Float64,
              "best_epoch": pl.Int64, "n_eval_classes": pl.Int64, "n_train": pl.Int64, "n_stop": pl.Int64,
              "n_eval": pl.Int64}
    table = pl.DataFrame(rows, schema_overrides=schema)
    table = table.with_columns(pl.col("mse").rank("average").alias("rank_mse"),
                               (-pl.col("cosine_mean")).rank("average").alias("rank_cosine")).select(STUDY_COLUMNS)
    curves = (pl.concat(curve_frames) if curve_frames else
              pl.DataFrame(schema={c: (pl.String if i < 4 else pl.Int64 if c == "epoch" else pl.Float64)
                                   for i, c in enumerate(CURVE_COLUMNS)}))
    timing = pl.DataFrame(timings, schema_overrides={"epochs_run": pl.Int64, "wall_s": pl.Float64})
    return StudyResult(table, curves, pl.concat(cos_frames).select(COSINE_COLUMNS), translators,
                       timing.select(TIMING_COLUMNS))


def best_translator(table: pl.DataFrame, by: str = "cosine_mean", *, nonlinear_only: bool = True
                    ) -> tuple[str, str] | None:
    """(architecture, loss) of the best row of a study table (:data:`STUDY_COLUMNS`, one (model, space)):
    highest ``cosine_mean`` / ``cosine_median`` / ``r2`` or lowest ``mse`` / ``sq_error_mean``; ties go to the
    first row in table order. ``nonlinear_only`` skips architecture ``linear``. None when no row qualifies.
    ValueError for an unknown ``by`` or a table holding several (model, space)."""
    higher = {"cosine_mean", "cosine_median", "r2"}
    lower = {"mse", "sq_error_mean"}
    if by not in higher | lower:
        raise ValueError(f"by: expected one of {sorted(higher | lower)}, got {by!r}")
    if table.select("model", "space").unique().height > 1:
        raise ValueError("table: holds several (model, space); filter it to one first")
    rows = table.filter(pl.col("architecture") != "linear") if nonlinear_only else table
    if rows.height == 0:
        return None
    values = rows[by].to_numpy().astype(np.float64)
    i = int(np.nanargmax(values) if by in higher else np.nanargmin(values))
    return str(rows["architecture"][i]), str(rows["loss"][i])


def translate_all(translators: Mapping[tuple[str, str], Any], F: Any) -> dict[str, np.ndarray]:
    """``{"<architecture>/<loss>": T(F)}`` (float64 (N, n)) for every translator of a study, in the study's
    order: the columns of supp. Fig. 11 (:func:`sing.unclip.paper_figures.translator_sheet`). F: (N, m)."""
    F64 = as_float64(F, "F", ndim=(1, 2))
    F64 = F64[None] if F64.ndim == 1 else F64
    return {f"{arch}/{loss}": np.asarray(t(F64), dtype=np.float64) for (arch, loss), t in translators.items()}


#: one row per (image, translator) of :func:`study_embeddings` (the input of supp. Fig. 11)
EMBEDDING_COLUMNS = ("image_id", "class_id", "translator", "embedding")
#: the ``translator`` value of an image's real CLIP embedding in :func:`study_embeddings`
REAL_EMBEDDING = "clip"


def study_embeddings(translators: Mapping[tuple[str, str], Any], F_eval: Any, Z_eval: Any, eval_ids: Sequence[Any],
                     eval_classes: Sequence[Any]) -> pl.DataFrame:
    """Supp. Fig. 11's input, kept by the study: the first held-out image of each class (lowest image id), its
    real CLIP embedding (``translator`` = :data:`REAL_EMBEDDING`) and its translation by every translator of the
    study (``"<architecture>/<loss>"``, :func:`translate_all`). F_eval (M, m), Z_eval (M, n), eval_ids /
    eval_classes (M). Rows by class, then real embedding first and translators in study order; ``embedding``:
    float64 lists (n). Columns :data:`EMBEDDING_COLUMNS`."""
    Fe = as_float64(F_eval, "F_eval", ndim=2)
    Ze = as_float64(Z_eval, "Z_eval", ndim=2)
    ids, classes = [str(i) for i in eval_ids], [str(c) for c in eval_classes]
    if not (len(ids) == len(classes) == Fe.shape[0] == Ze.shape[0]):
        raise ValueError(f"eval_ids/eval_classes: expected {Fe.shape[0]} each, got {len(ids)}/{len(classes)}")
    first: dict[str, int] = {}
    for i in sorted(range(len(ids)), key=lambda k: ids[k]):
        first.setdefault(classes[i], i)
    idx = [first[c] for c in sorted(first)]
    columns = {REAL_EMBEDDING: Ze[idx], **translate_all(translators, Fe[idx])}
    rows = [{"image_id": ids[i], "class_id": classes[i], "translator": name, "embedding": E[k].tolist()}
            for k, i in enumerate(idx) for name, E in columns.items()]
    return pl.DataFrame(rows, schema={"image_id": pl.String, "class_id": pl.String, "translator": pl.String,
                                      "embedding": pl.List(pl.Float64)})


def sheet_columns(embeddings: pl.DataFrame, n_images: int) -> tuple[dict[str, np.ndarray], np.ndarray, list[str]]:
    """From :func:`study_embeddings` rows, the first ``n_images`` images (in row order): ``(columns, z_true,
    image_ids)`` for :func:`sing.unclip.paper_figures.translator_sheet` — translator → (k, n) array in study
    order, the real embeddings (k, n). ValueError when ``n_images`` < 1 or a translator lacks an image."""
    if n_images < 1:
        raise ValueError(f"n_images: expected >= 1, got {n_images}")
    ids = embeddings.unique("image_id", maintain_order=True)["image_id"].to_list()[:n_images]
    sub = embeddings.filter(pl.col("image_id").is_in(ids))
    out: dict[str, np.ndarray] = {}
    for name in sub.unique("translator", maintain_order=True)["translator"].to_list():
        rows = {r["image_id"]: r["embedding"] for r in sub.filter(pl.col("translator") == name).iter_rows(named=True)}
        missing = [i for i in ids if i not in rows]
        if missing:
            raise ValueError(f"embeddings: translator {name!r} has no row for images {missing}")
        out[name] = np.array([rows[i] for i in ids], dtype=np.float64)
    z_true = out.pop(REAL_EMBEDDING, None)
    if z_true is None:
        raise ValueError(f"embeddings: no {REAL_EMBEDDING!r} rows (the images' real CLIP embeddings)")
    return out, z_true, ids
