"""sing.translator: streaming ridge (paper eq. 4, supp. §1.1) against scikit-learn as the reference."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import Ridge
from sklearn.metrics import r2_score
from sklearn.model_selection import GridSearchCV, PredefinedSplit

from sing.core.translator import (
    LinearTranslator,
    RidgeStats,
    fit_ridge,
    fold_ids_for,
    translation_metrics,
)

ALPHAS = [1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0, 1e3]


def make_data(N=300, m=20, n=6, noise=0.3, seed=0, offset=2.0, spread=0.05):
    """Z = F Aᵀ + b + noise with known A (n×m) and b; correlated, shifted features."""
    rng = np.random.default_rng(seed)
    basis, _ = np.linalg.qr(rng.standard_normal((m, m)))
    mix = basis * np.geomspace(1.0, spread, m)[:, None]  # known spectrum, rotated
    F = rng.standard_normal((N, m)) @ mix + offset
    A = rng.standard_normal((n, m))
    b = rng.standard_normal(n)
    Z = F @ A.T + b + noise * rng.standard_normal((N, n))
    return F, Z, A, b


def sklearn_cv(F, Z, fold_ids, alphas, scoring):
    gs = GridSearchCV(Ridge(), {"alpha": alphas}, cv=PredefinedSplit(fold_ids), scoring=scoring).fit(F, Z)
    return gs.cv_results_["mean_test_score"], gs.best_params_["alpha"]


def test_solve_equals_sklearn_ridge():
    F, Z, _, _ = make_data()
    stats = RidgeStats(F.shape[1], Z.shape[1]).update(F, Z)
    for alpha in (1e-3, 1.0, 250.0):
        T = stats.solve(alpha)
        ref = Ridge(alpha=alpha, fit_intercept=True).fit(F, Z)
        np.testing.assert_allclose(T.weight, ref.coef_, rtol=1e-9, atol=1e-9 * np.abs(ref.coef_).max())
        np.testing.assert_allclose(T.bias, ref.intercept_, rtol=1e-9, atol=1e-9)
        assert T.alpha == alpha and T.n_train == F.shape[0]


@pytest.mark.parametrize("folds", [5, 3])
def test_cv_scores_equal_sklearn_predefined_split(folds):
    F, Z, _, _ = make_data(N=257, seed=1)
    ids = fold_ids_for([f"img_{i}.JPEG" for i in range(len(F))], folds, seed=3)
    stats = RidgeStats(F.shape[1], Z.shape[1], folds).update(F, Z, ids)
    ref_mse, ref_alpha = sklearn_cv(F, Z, ids, ALPHAS, "neg_mean_squared_error")
    np.testing.assert_allclose(stats.cv_scores(ALPHAS), -ref_mse, rtol=1e-9)
    assert stats.select_alpha(ALPHAS) == ref_alpha
    ref_r2, ref_alpha_r2 = sklearn_cv(F, Z, ids, ALPHAS, None)  # RidgeCV(cv=k)'s default score is R²
    np.testing.assert_allclose(stats.cv_scores(ALPHAS, scoring="r2"), ref_r2, rtol=1e-9)
    assert stats.select_alpha(ALPHAS, scoring="r2") == ref_alpha_r2


def test_cv_interior_optimum_and_empty_fold():
    # noisy, many features: a non-trivial alpha wins; fold 2 of 6 is left empty (PredefinedSplit skips it)
    F, Z, _, _ = make_data(N=120, m=60, noise=3.0, seed=2, offset=0.0)
    ids = np.random.default_rng(0).choice([0, 1, 3, 4, 5], size=len(F))
    stats = RidgeStats(60, Z.shape[1], folds=6).update(F, Z, ids)
    ref_mse, ref_alpha = sklearn_cv(F, Z, ids, ALPHAS, "neg_mean_squared_error")
    np.testing.assert_allclose(stats.cv_scores(ALPHAS), -ref_mse, rtol=1e-9)
    assert stats.select_alpha(ALPHAS) == ref_alpha
    assert ref_alpha not in (ALPHAS[0], ALPHAS[-1])


def test_streaming_shuffled_chunks_and_merge_equal_one_shot():
    F, Z, _, _ = make_data(N=400, seed=4)
    ids = fold_ids_for(range(len(F)), 5, seed=0)
    one = RidgeStats(F.shape[1], Z.shape[1], 5).update(F, Z, ids)
    order = np.random.default_rng(1).permutation(len(F))
    chunks = np.array_split(order, 10)
    a = RidgeStats(F.shape[1], Z.shape[1], 5)
    b = RidgeStats(F.shape[1], Z.shape[1], 5)
    for i, rows in enumerate(chunks):
        (a if i % 2 else b).update(F[rows], Z[rows], ids[rows])
    merged = a.merge(b)
    assert merged.n == one.n == len(F)
    for name in ("count", "sum_f", "sum_z", "ftf", "ftz", "zz"):
        np.testing.assert_allclose(getattr(merged, name), getattr(one, name), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(merged.cv_scores(ALPHAS), one.cv_scores(ALPHAS), rtol=1e-9)
    Ta, Tb = merged.solve(0.5), one.solve(0.5)
    np.testing.assert_allclose(Ta.weight, Tb.weight, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(Ta.bias, Tb.bias, rtol=1e-9, atol=1e-9)


@settings(max_examples=25, deadline=None)
@given(N=st.integers(12, 80), m=st.integers(1, 15), n=st.integers(1, 5), alpha=st.floats(1e-3, 1e3),
       seed=st.integers(0, 2**31 - 1))
def test_property_matches_sklearn(N, m, n, alpha, seed):
    F, Z, _, _ = make_data(N, m, n, seed=seed)
    T = RidgeStats(m, n).update(F, Z).solve(alpha)
    ref = Ridge(alpha=alpha).fit(F, Z)
    coef, intercept = np.reshape(ref.coef_, (n, m)), np.reshape(ref.intercept_, (n,))
    scale = np.abs(coef).max() + np.abs(intercept).max()
    np.testing.assert_allclose(T.weight, coef, rtol=1e-6, atol=1e-8 * scale)
    np.testing.assert_allclose(T.bias, intercept, rtol=1e-6, atol=1e-8 * scale)


def test_planted_map_is_recovered():
    F, Z, A, b = make_data(N=3000, m=12, n=5, noise=0.01, seed=5, offset=1.0, spread=1.0)
    T = fit_ridge(F, Z, [1e-6, 1e-4, 1e-2, 1.0, 100.0], folds=5, seed=0)
    np.testing.assert_allclose(T.weight, A, atol=0.01)
    np.testing.assert_allclose(T.bias, b, atol=0.02)
    assert T.alpha < 100.0 and T.metrics["heldout_r2"] > 0.999 and T.metrics["heldout_cosine_median"] > 0.999


def test_fit_ridge_metrics_against_sklearn():
    F, Z, _, _ = make_data(N=200, seed=6)
    ids = fold_ids_for(range(len(F)), 4, seed=9)
    T = fit_ridge(F, Z, ALPHAS, folds=4, seed=9)
    ref_mse, ref_alpha = sklearn_cv(F, Z, ids, ALPHAS, "neg_mean_squared_error")
    assert T.alpha == ref_alpha == T.metrics["alpha"]
    np.testing.assert_allclose(T.metrics["cv_scores"], -ref_mse, rtol=1e-9)
    oof = np.empty_like(Z)
    for k in range(4):
        oof[ids == k] = Ridge(alpha=ref_alpha).fit(F[ids != k], Z[ids != k]).predict(F[ids == k])
    assert T.metrics["heldout_r2"] == pytest.approx(r2_score(Z, oof), rel=1e-9)
    cos = np.sum(oof * Z, 1) / np.linalg.norm(oof, axis=1) / np.linalg.norm(Z, axis=1)
    assert T.metrics["heldout_cosine_mean"] == pytest.approx(cos.mean(), rel=1e-9)
    assert T.metrics["heldout_cosine_median"] == pytest.approx(np.median(cos), rel=1e-9)
    # explicit keys give the same folds as fold_ids_for(keys)
    keys = [f"k{i}" for i in range(len(F))]
    T2 = fit_ridge(F, Z, ALPHAS, folds=4, seed=1, keys=keys)
    T3 = fit_ridge(F, Z, ALPHAS, folds=4, fold_ids=fold_ids_for(keys, 4, 1))
    np.testing.assert_array_equal(T2.weight, T3.weight)
    # a single alpha without CV
    T1 = fit_ridge(F, Z, [2.0], folds=1)
    np.testing.assert_allclose(T1.weight, Ridge(alpha=2.0).fit(F, Z).coef_, rtol=1e-9, atol=1e-12)


def test_translation_metrics_reference():
    F, Z, _, _ = make_data(N=100, seed=7)
    T = RidgeStats(F.shape[1], Z.shape[1]).update(F[:60], Z[:60]).solve(1.0)
    m = translation_metrics(T, F[60:], Z[60:])
    pred = F[60:] @ T.weight.T + T.bias
    assert m["r2"] == pytest.approx(r2_score(Z[60:], pred), rel=1e-12)
    cos = np.sum(pred * Z[60:], 1) / np.linalg.norm(pred, axis=1) / np.linalg.norm(Z[60:], axis=1)
    assert m["cosine_mean"] == pytest.approx(cos.mean()) and m["cosine_median"] == pytest.approx(np.median(cos))


def test_fold_ids_for_is_deterministic_per_key():
    keys = [f"val/n01440764/ILSVRC2012_val_{i:08d}.JPEG" for i in range(2000)]
    ids = fold_ids_for(keys, 5, seed=0)
    assert ids.dtype == np.int64 and set(np.unique(ids)) == set(range(5))
    assert np.all(np.abs(np.bincount(ids) / len(keys) - 0.2) < 0.04)
    perm = np.random.default_rng(0).permutation(len(keys))
    np.testing.assert_array_equal(fold_ids_for([keys[i] for i in perm], 5, seed=0), ids[perm])  # order
    np.testing.assert_array_equal(fold_ids_for(keys[:37], 5, seed=0), ids[:37])  # other samples
    assert not np.array_equal(fold_ids_for(keys, 5, seed=1), ids)
    np.testing.assert_array_equal(fold_ids_for(np.arange(10), 3), fold_ids_for(range(10), 3))
    with pytest.raises(ValueError, match="folds: expected an integer >= 1"):
        fold_ids_for(keys, 0)
    with pytest.raises(ValueError, match="keys: is empty"):
        fold_ids_for([], 5)


def test_translator_call_kinds_and_torch():
    rng = np.random.default_rng(8)
    T = LinearTranslator(rng.standard_normal((4, 7)), rng.standard_normal(4), alpha=1.0)
    F = rng.standard_normal((3, 7))
    ref = F @ T.weight.T + T.bias
    np.testing.assert_allclose(T(F), ref, rtol=1e-14)
    assert T(F).dtype == np.float64 and T(F.astype(np.float32)).dtype == np.float32
    np.testing.assert_allclose(T(F[0]), ref[0], rtol=1e-14)
    out = T(torch.from_numpy(F).float())
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.device.type == "cpu"
    out64 = T(torch.from_numpy(F))
    assert out64.dtype == torch.float64
    np.testing.assert_allclose(out64.numpy(), ref, rtol=1e-14)
    layer = T.to_torch()
    assert isinstance(layer, torch.nn.Linear) and layer.weight.dtype == torch.float32
    with torch.no_grad():
        np.testing.assert_allclose(layer(torch.from_numpy(F).float()).numpy(), ref, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(T.to_torch(torch.float64)(torch.from_numpy(F)).numpy(), ref, rtol=1e-14)
    with pytest.raises(ValueError, match="F: last dimension is 6 but the translator's in_dim is 7"):
        T(torch.ones(2, 6))
    with pytest.raises(ValueError, match="F: contains NaN"):
        T(torch.full((2, 7), float("nan")))
    with pytest.raises(ValueError, match="F: last dimension is 6"):
        T(np.ones((2, 6)))


def test_translator_and_stats_save_load(tmp_path):
    F, Z, _, _ = make_data(N=120, seed=9)
    T = fit_ridge(F, Z, ALPHAS, folds=3)
    T.save(tmp_path / "t.safetensors")
    U = LinearTranslator.load(tmp_path / "t.safetensors")
    np.testing.assert_array_equal(U.weight, T.weight)
    np.testing.assert_array_equal(U.bias, T.bias)
    assert U.alpha == T.alpha and U.n_train == 120 and U.metrics == T.metrics
    from safetensors import safe_open

    with safe_open(str(tmp_path / "t.safetensors"), framework="numpy") as fh:
        meta = json.loads(fh.metadata()["sing"])
    assert meta["kind"] == "linear_translator" and meta["alpha"] == T.alpha and "heldout_r2" in meta["metrics"]

    ids = fold_ids_for(range(len(F)), 3)
    stats = RidgeStats(F.shape[1], Z.shape[1], 3).update(F, Z, ids)
    stats.save(tmp_path / "s.safetensors")
    back = RidgeStats.load(tmp_path / "s.safetensors")
    assert back.folds == 3 and back.n == stats.n
    np.testing.assert_array_equal(back.cv_scores(ALPHAS), stats.cv_scores(ALPHAS))
    with pytest.raises(ValueError, match="holds a 'ridge_stats', expected 'linear_translator'"):
        LinearTranslator.load(tmp_path / "s.safetensors")


def test_bad_inputs():
    F, Z, _, _ = make_data(N=30, m=5, n=3)
    with pytest.raises(ValueError, match="in_dim: expected an integer >= 1"):
        RidgeStats(0, 3)
    stats = RidgeStats(5, 3, folds=2)
    with pytest.raises(ValueError, match="fold_ids: required when folds > 1"):
        stats.update(F, Z)
    with pytest.raises(ValueError, match=r"fold_ids: values must lie in \[0, 2\)"):
        stats.update(F, Z, np.full(30, 2))
    with pytest.raises(ValueError, match="fold_ids: expected shape"):
        stats.update(F, Z, np.zeros(29, int))
    with pytest.raises(ValueError, match="fold_ids: expected integers"):
        stats.update(F, Z, np.zeros(30))
    with pytest.raises(ValueError, match="F: last dimension is 4 but in_dim is 5"):
        stats.update(F[:, :4], Z, np.zeros(30, int))
    with pytest.raises(ValueError, match="Z: has 29 rows but F has 30"):
        stats.update(F, Z[:29], np.zeros(30, int))
    with pytest.raises(ValueError, match="F: contains NaN"):
        stats.update(np.where(F > 1, np.nan, F), Z, np.zeros(30, int))
    with pytest.raises(ValueError, match="Z: contains Inf"):
        stats.update(F, np.full_like(Z, np.inf), np.zeros(30, int))
    with pytest.raises(ValueError, match="F: expected 2 dimensions"):
        stats.update(F[0], Z[0], np.zeros(1, int))
    with pytest.raises(ValueError, match="F: is empty"):
        stats.update(F[:0], Z[:0], np.zeros(0, int))
    with pytest.raises(ValueError, match="no training samples"):
        stats.solve(1.0)
    stats.update(F, Z, np.zeros(30, int))
    with pytest.raises(ValueError, match=">= 2 non-empty folds"):
        stats.cv_scores([1.0])
    for bad in (0.0, -1.0, np.nan):
        with pytest.raises(ValueError, match="alpha"):
            stats.solve(bad)
    stats.update(F, Z, np.ones(30, int))
    with pytest.raises(ValueError, match="alphas: every alpha must be > 0"):
        stats.cv_scores([1.0, 0.0])
    with pytest.raises(ValueError, match="alphas: is empty"):
        stats.cv_scores([])
    with pytest.raises(ValueError, match="scoring"):
        stats.cv_scores([1.0], scoring="mae")
    with pytest.raises(ValueError, match="other: dims/folds"):
        stats.merge(RidgeStats(5, 3, folds=3))
    with pytest.raises(ValueError, match="alpha: must be finite and > 0"):
        LinearTranslator(np.ones((2, 3)), np.ones(2), alpha=0.0)
    with pytest.raises(ValueError, match=r"bias: expected shape \(2\)"):
        LinearTranslator(np.ones((2, 3)), np.ones(3))
    with pytest.raises(ValueError, match="folds: choosing among several alphas"):
        fit_ridge(F, Z, [1.0, 2.0], folds=1)
    with pytest.raises(ValueError, match="translator: expected an object with .weight"):
        translation_metrics(object(), F, Z)
