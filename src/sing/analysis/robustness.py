"""Translator robustness (supp. §4, Fig 12c): a linear probe's held-out accuracy on the principal features
Π_p f versus on their translations T(Π_p f)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from ..core.arrays import as_float64

log = logging.getLogger(__name__)

__all__ = ["ROBUSTNESS_COLUMNS", "robustness_scores"]

#: one row per (model, space) (``tables/per_model/<model>/<space>/robustness.parquet``)
ROBUSTNESS_COLUMNS = ("model", "space", "acc_principal", "acc_translated", "n_train", "n_test", "n_classes")


def robustness_scores(F: Any, labels: Any, geometry: Any, translator: Any, test_fraction: float = 0.2,
                      seed: int = 0, max_iter: int = 200) -> dict[str, Any]:
    """Accuracy of a linear classifier (sklearn LogisticRegression on standardised inputs) trained on the
    principal features Π_p f versus on their translations T(Π_p f), on the same held-out split (stratified
    when every class has ≥ 2 samples)."""
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    F = as_float64(F, "F", ndim=2)
    y = np.asarray(labels)
    if y.shape != (F.shape[0],):
        raise ValueError(f"labels: expected one label per feature ({F.shape[0]}), got shape {y.shape}")
    if not (0 < test_fraction < 1):
        raise ValueError(f"test_fraction: must be in (0, 1), got {test_fraction}")
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise ValueError("labels: need at least two classes")
    P = np.asarray(geometry.project_principal(F), dtype=np.float64)
    Tp = translator(P)
    idx = np.arange(len(y))
    stratify = y if counts.min() >= 2 and round(test_fraction * len(y)) >= len(classes) else None
    tr, te = train_test_split(idx, test_size=test_fraction, random_state=seed, stratify=stratify)
    accs = {}
    for name, X in (("acc_principal", P), ("acc_translated", Tp)):
        clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=max_iter))
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            clf.fit(X[tr], y[tr])
        if any(issubclass(w.category, ConvergenceWarning) for w in caught):
            log.warning("%s: LogisticRegression did not converge in max_iter=%d", name, max_iter)
        accs[name] = float(np.mean(clf.predict(X[te]) == y[te]))
    return {**accs, "n_train": int(len(tr)), "n_test": int(len(te)), "n_classes": int(len(classes))}
