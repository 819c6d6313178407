"""Translator robustness (supp. §4, Fig. 12c) at the paper's protocol: linear probes (:mod:`.probe`) trained on the
principal features Π_p f and on their translations T(Π_p f) of a large sample of their own (the paper: 500k
training images, 500 per class), both evaluated on the held-out analysis images (ImageNet val), which neither the
probes nor the translator saw. The per-model accuracies and their Pearson r across models
(:func:`sing.analysis.comparisons.robustness_correlation`) are the paper's table.

Probe inputs: the principal probe reads the principal coordinates ``c = V_pᵀ f`` (rank columns), an isometric
image of ``Π_p f = V_p c`` (the probe is rotation-equivariant, so this is the same probe at ``rank/m`` of the
memory); the translated probe reads ``T(Π_p f) = (W_T V_p) c + b_T`` (n columns). Features are read one class file
at a time and mapped at once, so a job holds N × k float32 inputs, never the N × m features.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Collection, Mapping, NamedTuple, Sequence

import numpy as np

from ..io.storage import read_embeddings
from .probe import LinearProbe

log = logging.getLogger(__name__)

__all__ = ["ROBUSTNESS_COLUMNS", "ProbeData", "principal_coordinates", "read_probe_data", "robustness_rows",
           "translated_inputs"]

#: one row per (model, space) (``tables/per_model/<model>/<space>/robustness.parquet``)
ROBUSTNESS_COLUMNS = ("model", "space", "acc_principal", "acc_translated", "train_acc_principal",
                      "train_acc_translated", "l2_principal", "l2_translated", "n_train", "n_test", "n_test_excluded",
                      "n_classes", "converged")


class ProbeData(NamedTuple):
    """Principal coordinates read from class tables: X (N, rank) float32, y (N,) int64 class indices, image ids,
    and how many rows were left out (ids in ``exclude``, or classes outside ``classes``)."""

    X: np.ndarray
    y: np.ndarray
    image_ids: list
    n_excluded: int


def principal_coordinates(F: Any, geometry: Any) -> np.ndarray:
    """Principal coordinates ``c = V_pᵀ f`` (N, rank) float32 of features F (N, m): the principal probe's inputs.
    ValueError when the head has rank 0 (no principal space to probe) or F has the wrong width."""
    if geometry.rank == 0:
        raise ValueError("geometry: rank 0, the head has no principal space to probe")
    F = np.asarray(F, dtype=np.float64)
    if F.ndim != 2 or F.shape[1] != geometry.in_dim:
        raise ValueError(f"F: expected shape (N, {geometry.in_dim}), got {F.shape}")
    return (F @ geometry.principal_basis).astype(np.float32)


def translated_inputs(C: Any, geometry: Any, translator: Any, block_rows: int = 65536) -> np.ndarray:
    """The translated probe's inputs ``T(Π_p f) = (W_T V_p) c + b_T`` (N, n) float32 from principal coordinates
    C (N, rank) (:func:`principal_coordinates`), in row blocks of float64 arithmetic. A non-linear translator
    (:func:`sing.core.translator.is_linear` false) has no ``W_T``: it translates ``Π_p f = V_p c`` itself."""
    from ..core.translator import is_linear

    if not is_linear(translator):
        C = np.asarray(C)
        if C.ndim != 2 or C.shape[1] != geometry.rank:
            raise ValueError(f"C: expected shape (N, {geometry.rank}), got {C.shape}")
        if getattr(translator, "in_dim", geometry.in_dim) != geometry.in_dim:
            raise ValueError(f"translator: input dimension {translator.in_dim} does not match the head's "
                             f"{geometry.in_dim}")
        Vp = geometry.principal_basis
        blocks = [np.asarray(translator(np.asarray(C[s:s + block_rows], dtype=np.float64) @ Vp.T), dtype=np.float32)
                  for s in range(0, C.shape[0], block_rows)]
        return np.concatenate(blocks)
    W_T = np.asarray(translator.weight, dtype=np.float64)
    if W_T.shape[1] != geometry.in_dim:
        raise ValueError(f"translator: input dimension {W_T.shape[1]} does not match the head's {geometry.in_dim}")
    C = np.asarray(C)
    if C.ndim != 2 or C.shape[1] != geometry.rank:
        raise ValueError(f"C: expected shape (N, {geometry.rank}), got {C.shape}")
    A = W_T @ geometry.principal_basis
    b = np.asarray(translator.bias, dtype=np.float64)
    out = np.empty((C.shape[0], A.shape[0]), dtype=np.float32)
    for s in range(0, C.shape[0], block_rows):
        out[s:s + block_rows] = np.asarray(C[s:s + block_rows], dtype=np.float64) @ A.T + b
    return out


def read_probe_data(tables: Sequence[str | os.PathLike], geometry: Any, *, exclude: Collection[str] = (),
                    classes: Collection[int] | None = None) -> ProbeData:
    """Principal coordinates (:func:`principal_coordinates`) and class indices of the rows of feature ``tables``
    (one parquet per class, as the extraction writes them), read and mapped one table at a time; rows whose
    image id is in ``exclude`` or whose class is not in ``classes`` (None: any) are left out and counted. Rows
    keep the order of ``tables`` and of each table.

    Raises ValueError naming the file when a table's feature dimension does not match the head, and when no row
    is left.
    """
    import pyarrow.parquet as pq

    exclude = set(exclude)
    keep_classes = None if classes is None else np.asarray(sorted({int(c) for c in classes}), dtype=np.int64)
    total = sum(pq.read_metadata(os.fspath(p)).num_rows for p in tables)
    X = np.empty((total, geometry.rank), dtype=np.float32)
    y = np.empty(total, dtype=np.int64)
    ids: list[str] = []
    n = excluded = 0
    for path in tables:
        frame, F, _ = read_embeddings(path)
        if F.shape[0] == 0:
            continue
        if F.shape[1] != geometry.in_dim:
            raise ValueError(f"{path}: features have {F.shape[1]} columns, the head expects {geometry.in_dim}")
        rows_ids = frame["image_id"].to_list()
        labels = frame["class_index"].to_numpy().astype(np.int64)
        keep = np.array([i not in exclude for i in rows_ids], dtype=bool)
        if keep_classes is not None:
            keep &= np.isin(labels, keep_classes)
        excluded += int((~keep).sum())
        if not keep.any():
            continue
        block = principal_coordinates(F[keep], geometry)
        X[n:n + len(block)] = block
        y[n:n + len(block)] = labels[keep]
        ids.extend(i for i, k in zip(rows_ids, keep) if k)
        n += len(block)
    if n == 0:
        raise ValueError(f"no probe rows left in {len(tables)} table(s) ({excluded} excluded)")
    return ProbeData(X[:n], y[:n], ids, excluded)


def robustness_rows(principal: LinearProbe, translated: Mapping[str, tuple[LinearProbe, Any]],
                    test: ProbeData, geometry: Any, *, model: str) -> list[dict[str, Any]]:
    """Rows of ``ROBUSTNESS_COLUMNS``, one per space of ``translated`` (space -> (its probe, its translator)): the
    held-out accuracy of the principal probe on the test images' principal coordinates, and of the space's probe
    on their translations (:func:`translated_inputs`), with train accuracies, counts, and whether both probes
    converged (:func:`sing.analysis.probe.fit_probe`).

    ValueError when the probes were trained on different classes or numbers of images (they must see the same
    sample)."""
    acc_p = principal.accuracy(test.X, test.y)
    rows = []
    for space, (probe, translator) in translated.items():
        if not np.array_equal(principal.classes, probe.classes):
            raise ValueError(f"probes of {model}: principal and {space} were trained on different classes")
        n_p, n_t = principal.metrics.get("n_train"), probe.metrics.get("n_train")
        if n_p != n_t:
            raise ValueError(f"probes of {model}: principal and {space} were trained on {n_p} vs {n_t} images")
        rows.append({"model": model, "space": space, "acc_principal": acc_p,
                     "acc_translated": probe.accuracy(translated_inputs(test.X, geometry, translator), test.y),
                     "train_acc_principal": float(principal.metrics.get("train_accuracy", float("nan"))),
                     "train_acc_translated": float(probe.metrics.get("train_accuracy", float("nan"))),
                     "l2_principal": float(principal.l2), "l2_translated": float(probe.l2),
                     "n_train": int(n_p), "n_test": len(test.y), "n_test_excluded": int(test.n_excluded),
                     "n_classes": len(principal.classes),
                     "converged": bool(principal.metrics.get("converged")) and bool(probe.metrics.get("converged"))})
    return rows
