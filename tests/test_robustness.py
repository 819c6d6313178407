"""The robustness probes (sing.analysis.probe, sing.analysis.robustness) against scikit-learn's LogisticRegression and
planted data whose accuracy is known in closed form."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy.stats import norm

from sing.analysis.probe import LinearProbe, fit_probe, select_probe, standardisation
from sing.analysis.robustness import (
    ROBUSTNESS_COLUMNS,
    principal_coordinates,
    read_probe_data,
    robustness_rows,
    translated_inputs,
)
from sing.core.geometry import head_geometry
from sing.core.translator import LinearTranslator
from sing.io.storage import write_embeddings


def gaussian_classes(n_per_class, means, rng, sigma=1.0):
    K, k = means.shape
    y = np.repeat(np.arange(K), n_per_class)
    return means[y] + sigma * rng.standard_normal((len(y), k)), y


# ------------------------------------------------------------------------------------------------ the solver
def test_probe_equals_sklearn_logistic_regression():
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X, y = gaussian_classes(120, 1.2 * rng.standard_normal((5, 20)), rng)
    X = X * np.linspace(0.5, 3, 20) + 4.0  # unequal scales and an offset: the standardisation matters
    y = y * 7 + 3  # arbitrary integer labels
    l2 = 1e-2
    probe = fit_probe(X, y, l2=l2, max_iter=500, tol=1e-10, dtype="float64")
    mu, s = standardisation(X)
    assert s == pytest.approx(np.sqrt(np.sum((X - X.mean(0)) ** 2) / X.size))
    ref = LogisticRegression(C=1.0 / (l2 * len(y)), tol=1e-12, max_iter=10_000).fit((X - mu) / s, y)
    np.testing.assert_array_equal(probe.classes, ref.classes_)
    np.testing.assert_allclose(probe.weight, ref.coef_, atol=1e-5)
    logits = probe.decision_function(X)
    p = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(p / p.sum(1, keepdims=True), ref.predict_proba((X - mu) / s), atol=1e-6)
    np.testing.assert_array_equal(probe.predict(X), ref.predict((X - mu) / s))
    assert probe.metrics["converged"] and probe.metrics["n_train"] == len(y)
    # float32 (the workflow's dtype): the same optimum to float32 precision in the objective, the same predictions
    p32 = fit_probe(X, y, l2=l2, max_iter=500, tol=1e-6)

    def objective(probe):
        z = probe.decision_function(X)
        z -= z.max(1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(1, keepdims=True))
        return -logp[np.arange(len(y)), np.searchsorted(probe.classes, y)].mean() + 0.5 * l2 * np.sum(probe.weight ** 2)

    assert objective(p32) - objective(probe) < 1e-6 * objective(probe)
    assert objective(probe) <= objective(LinearProbe(ref.coef_, ref.intercept_, ref.classes_, mu, s, l2)) + 1e-12
    np.testing.assert_array_equal(p32.predict(X), probe.predict(X))


def test_probe_on_principal_coordinates_equals_probe_on_projected_features():
    """Π_p f ∈ R^m and its principal coordinates V_pᵀ f ∈ R^rank give the same probe (rotation equivariance)."""
    rng = np.random.default_rng(1)
    m, c = 12, 4
    W = rng.standard_normal((c, m))
    g = head_geometry(W)
    F, y = gaussian_classes(60, 2 * W, rng)
    C = principal_coordinates(F, g)
    np.testing.assert_allclose(C @ g.principal_basis.T, g.project_principal(F), atol=1e-5)
    a = fit_probe(C, y, l2=1e-3, max_iter=300, tol=1e-9, dtype="float64")
    P = g.project_principal(F)
    b = fit_probe(P, y, l2=1e-3, max_iter=300, tol=1e-9, dtype="float64", mean=g.principal_basis @ a.mean,
                  scale=a.scale)
    np.testing.assert_allclose(b.decision_function(P), a.decision_function(C), atol=1e-5)
    np.testing.assert_allclose(b.weight, a.weight @ g.principal_basis.T, atol=1e-5)


def test_probe_reaches_the_bayes_accuracy_of_planted_gaussians():
    """Two unit-variance Gaussian classes at ±δ along one axis: the Bayes accuracy is Φ(δ), and a logistic probe
    (log-odds linear, so consistent) trained on many images reaches it on a large test set."""
    rng = np.random.default_rng(2)
    delta = 1.0
    means = np.zeros((2, 6))
    means[:, 2] = [-delta, delta]
    X, y = gaussian_classes(20_000, means, rng)
    Xt, yt = gaussian_classes(20_000, means, rng)
    probe = fit_probe(X, y, l2=1e-6, max_iter=200)
    assert probe.accuracy(Xt, yt) == pytest.approx(norm.cdf(delta), abs=0.01)  # 0.8413; 3 s.e. = 0.0077


def test_separable_classes_are_all_right_and_a_blind_translator_is_at_chance():
    rng = np.random.default_rng(3)
    m, K = 10, 4
    W = np.zeros((K, m))
    W[np.arange(K), np.arange(K)] = 1.0  # principal space = the first 4 axes
    g = head_geometry(W)
    F, y = gaussian_classes(50, 10 * W + 0.0, rng, sigma=0.1)  # far apart: separable
    Ft, yt = gaussian_classes(25, 10 * W, rng, sigma=0.1)
    C, Ct = principal_coordinates(F, g), principal_coordinates(Ft, g)
    assert fit_probe(C, y, l2=1e-4).accuracy(Ct, yt) == 1.0
    # a translator that sees only the null space maps every Π_p f to its bias: all test inputs are equal, so
    # every prediction is the same class and the accuracy on a balanced test set is exactly 1/K
    blind = LinearTranslator(np.hstack([np.zeros((3, K)), rng.standard_normal((3, m - K))]), np.ones(3))
    Tt = translated_inputs(Ct, g, blind)
    np.testing.assert_allclose(Tt, 1.0, atol=1e-6)
    assert fit_probe(translated_inputs(C, g, blind), y, l2=1e-4).accuracy(Tt, yt) == pytest.approx(1 / K)


def test_translated_inputs_are_the_translated_principal_features():
    rng = np.random.default_rng(4)
    W = rng.standard_normal((5, 9))
    g = head_geometry(W)
    T = LinearTranslator(rng.standard_normal((7, 9)), rng.standard_normal(7))
    F = rng.standard_normal((30, 9))
    np.testing.assert_allclose(translated_inputs(principal_coordinates(F, g), g, T, block_rows=7),
                               T(g.project_principal(F)), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="C: expected"):
        translated_inputs(F, g, T)


def test_translated_inputs_of_a_nonlinear_translator_translate_the_principal_features():
    import torch

    from sing.core.nonlinear import NonlinearTranslator, build_module

    rng = np.random.default_rng(6)
    W = rng.standard_normal((5, 9))
    g = head_geometry(W)
    torch.manual_seed(0)
    T = NonlinearTranslator(build_module("residual", 9, 7, 6), architecture="residual", loss="mse", in_dim=9, out_dim=7)
    F = rng.standard_normal((30, 9))
    np.testing.assert_allclose(translated_inputs(principal_coordinates(F, g), g, T, block_rows=7),
                               T(g.project_principal(F)), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="C: expected"):
        translated_inputs(F, g, T)


def test_probe_bad_input_and_round_trip(tmp_path):
    rng = np.random.default_rng(5)
    X, y = gaussian_classes(10, rng.standard_normal((3, 4)), rng)
    with pytest.raises(ValueError, match="two classes"):
        fit_probe(X, np.zeros(len(y), dtype=int))
    with pytest.raises(ValueError, match="y: expected one label"):
        fit_probe(X, y[:-1])
    with pytest.raises(ValueError, match="integers"):
        fit_probe(X, y.astype(float))
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        fit_probe(bad, y)
    with pytest.raises(ValueError, match="l2"):
        fit_probe(X, y, l2=-1.0)
    probe = fit_probe(X, y, max_iter=20)
    probe.save(tmp_path / "p.safetensors")
    back = LinearProbe.load(tmp_path / "p.safetensors")
    np.testing.assert_array_equal(back.predict(X), probe.predict(X))
    assert back.metrics == probe.metrics and back.scale == probe.scale
    with pytest.raises(ValueError, match="X: expected shape"):
        probe.predict(X[:, :2])


# ------------------------------------------------------------------------------------------------ the protocol
def write_class_tables(directory, F, y, ids, wnids):
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    meta = {"kind": "classifier", "model": "toy", "weights_id": "x", "preprocess": {}, "precision": "fp32"}
    for k in np.unique(y):
        rows = np.flatnonzero(y == k)
        path = directory / f"{wnids[k]}.parquet"
        write_embeddings(path, image_ids=[ids[r] for r in rows], split="val", class_index=int(k), class_id=wnids[k],
                         features=F[rows].astype(np.float32), metadata=meta)
        paths.append(path)
    return paths


def test_read_probe_data_excludes_seen_images_and_unknown_classes(tmp_path):
    rng = np.random.default_rng(6)
    W = rng.standard_normal((3, 8))
    g = head_geometry(W)
    F, y = gaussian_classes(5, 2 * W, rng)
    ids = [f"val/{i:03d}.JPEG" for i in range(len(y))]
    paths = write_class_tables(tmp_path / "chunk-000", F, y, ids, ["n01440764", "n01443537", "n01484850"])
    data = read_probe_data(paths, g, exclude={ids[0], ids[7]}, classes=[0, 1])
    assert data.n_excluded == 2 + 5  # two seen images, the five images of class 2
    assert len(data.y) == 8 and set(data.y.tolist()) == {0, 1} and ids[0] not in data.image_ids
    keep = [ids.index(i) for i in data.image_ids]
    np.testing.assert_allclose(data.X, principal_coordinates(F[keep].astype(np.float32), g), atol=1e-5)
    with pytest.raises(ValueError, match="no probe rows"):
        read_probe_data(paths, g, classes=[9])


def test_robustness_rows_on_a_planted_translator(tmp_path):
    """Class information lives in the principal space; a translator that keeps it gives the principal accuracy, one
    that is blind to it gives chance; the rows name both spaces and the counts."""
    rng = np.random.default_rng(7)
    m, K = 12, 3
    W = np.zeros((K, m))
    W[np.arange(K), np.arange(K)] = 1.0
    g = head_geometry(W)
    means = 6 * W
    F, y = gaussian_classes(40, means, rng, sigma=0.3)
    Ft, yt = gaussian_classes(20, means, rng, sigma=0.3)
    keeps = LinearTranslator(rng.standard_normal((6, m)), rng.standard_normal(6))
    blind = LinearTranslator(np.hstack([np.zeros((6, K)), rng.standard_normal((6, m - K))]), np.zeros(6) + 0.5)
    C = principal_coordinates(F, g)
    principal = fit_probe(C, y)
    probes = {s: (fit_probe(translated_inputs(C, g, t), y), t) for s, t in (("keeps", keeps), ("blind", blind))}
    ids = [f"val/{i}" for i in range(len(yt))]
    test = read_probe_data(write_class_tables(tmp_path / "t", Ft, yt, ids, ["n01440764", "n01443537", "n01484850"]),
                           g, classes=principal.classes)
    rows = pl.DataFrame(robustness_rows(principal, probes, test, g, model="toy")).select(ROBUSTNESS_COLUMNS)
    assert rows["space"].to_list() == ["keeps", "blind"]
    assert rows["acc_principal"].to_list() == [1.0, 1.0]
    assert rows["acc_translated"].to_list() == [1.0, pytest.approx(1 / K)]
    assert rows["n_train"].to_list() == [120, 120] and rows["n_test"].to_list() == [60, 60]
    other = fit_probe(C[:-1], y[:-1])
    with pytest.raises(ValueError, match="119"):
        robustness_rows(principal, {"x": (other, keeps)}, test, g, model="toy")


# ------------------------------------------------------------------------------------------------ the penalty
def test_select_probe_picks_the_best_held_out_penalty_as_sklearn_does():
    from sklearn.linear_model import LogisticRegression

    from sing.core.translator import fold_ids_for

    rng = np.random.default_rng(8)
    X, y = gaussian_classes(40, 0.25 * rng.standard_normal((4, 30)), rng)  # overlapping classes: λ matters
    ids = [f"train/x/{i:04d}.JPEG" for i in range(len(y))]
    grid = [1e-4, 1e-2, 1.0]
    fit = dict(max_iter=1000, tol=1e-9, dtype="float64")
    probe = select_probe(X, y, ids, l2_grid=grid, holdout=0.25, seed=3, **fit)
    held = fold_ids_for(ids, 10_000, 3) < 2500
    mu, s = standardisation(X[~held])
    ref = {}
    for l2 in grid:  # the same split and objective, fitted by scikit-learn
        clf = LogisticRegression(C=1.0 / (l2 * int((~held).sum())), tol=1e-12, max_iter=10_000)
        clf.fit((X[~held] - mu) / s, y[~held])
        ref[f"{l2:g}"] = float(np.mean(clf.predict((X[held] - mu) / s) == y[held]))
    assert probe.metrics["holdout_accuracy"] == ref and probe.metrics["n_holdout"] == int(held.sum())
    best = max(grid, key=lambda v: (ref[f"{v:g}"], v))
    assert probe.l2 == best and len(set(ref.values())) > 1  # the grid matters on this problem
    cold = fit_probe(X, y, l2=best, **fit)  # the refit on every image: the same optimum as a cold start
    np.testing.assert_allclose(probe.weight, cold.weight, atol=1e-6)
    single = select_probe(X, y, ids, l2_grid=[1e-2], **fit)
    np.testing.assert_allclose(single.weight, fit_probe(X, y, l2=1e-2, **fit).weight, atol=1e-6)
    assert single.metrics["holdout_accuracy"] is None
    with pytest.raises(ValueError, match="l2_grid"):
        select_probe(X, y, ids, l2_grid=[])
    with pytest.raises(ValueError, match="holdout"):
        select_probe(X, y, ids, l2_grid=grid, holdout=1.0)
