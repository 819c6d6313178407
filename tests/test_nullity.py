"""Heads with few classes: nullity m − K for K = 2, 5, 37 through every analysis of one (model, space), against a
dense-projector reference (numpy SVD), with the leakage baseline's complement path (subspaces of dimension m − K
stored by their K-dimensional complement)."""

import numpy as np
import polars as pl
import pytest

from sing.analysis.comparisons import rank_correlations
from sing.analysis.probe import fit_probe
from sing.analysis.robustness import ProbeData, principal_coordinates, robustness_rows, translated_inputs
from sing.analysis.scores import RandomSubspaces, score_images, scores_frame
from sing.analysis.steering import steering_scores
from sing.analysis.summaries import class_summary, model_summary
from sing.analysis.validation import validation_scores
from sing.core.geometry import head_geometry
from sing.core.translator import LinearTranslator

M, D, PER_CLASS = 1024, 48, 6


def few_class_model(k, seed=0):
    rng = np.random.default_rng([seed, k])
    W = rng.standard_normal((k, M)) / np.sqrt(M)
    labels = np.repeat(np.arange(k), PER_CLASS)
    F = np.abs(rng.standard_normal((len(labels), M))) + 2.0 * W[labels]  # class signal in the principal space
    T = LinearTranslator(rng.standard_normal((D, M)) / np.sqrt(M), 0.1 * rng.standard_normal(D))
    Z = rng.standard_normal((k, D))
    return W, F, labels, T, Z


@pytest.mark.parametrize("k", [2, 5, 37])
def test_nullity_m_minus_k_through_every_analysis(k):
    W, F, labels, T, Z = few_class_model(k)
    g = head_geometry(W)
    assert (g.rank, g.nullity) == (k, M - k)
    assert g.null_basis.shape == (M, M - k) and g.principal_basis.shape == (M, k)
    _, _, Vt = np.linalg.svd(W)  # reference: dense projector onto the null space
    Pn = Vt[k:].T @ Vt[k:]
    np.testing.assert_allclose(g.project_null(F), F @ Pn, atol=1e-9)
    np.testing.assert_allclose(W @ g.null_basis, 0, atol=1e-12)

    baseline = RandomSubspaces(M, g.nullity, 4, seed=0)
    assert baseline.complement and all(b.shape == (M, k) for b in baseline.bases)  # K columns, not m − K
    out = score_images(F, Z[labels], g, T, W=W, baseline=baseline)
    F_eq = F - F @ Pn
    cos = np.sum(T(F) * T(F_eq), 1) / np.linalg.norm(T(F), axis=1) / np.linalg.norm(T(F_eq), axis=1)
    np.testing.assert_allclose(out["is_deg"], np.degrees(np.arccos(np.clip(cos, -1, 1))), atol=1e-6)
    assert out["logit_change_rel"].max() < 1e-10
    # removing a random (m − K)-dim subspace keeps a K-dim random projection: ‖P f‖²/‖f‖² ~ Beta(K/2, (m−K)/2),
    # mean K/m, sd ≈ sqrt(2K)/m per seed (the rows of F are strongly correlated: count one draw per seed)
    kept = np.mean([np.sum(baseline.remove(F, s) ** 2) / np.sum(F ** 2) for s in range(4)])
    assert abs(kept - k / M) < 4 * np.sqrt(2 * k) / M / np.sqrt(4)
    for name in ("baseline_as_mean", "baseline_is_mean", "as_deg", "null_ratio"):
        assert np.isfinite(out[name]).all(), name

    ids = [f"val/c{c}/{i}.JPEG" for i, c in enumerate(labels)]
    meta = pl.DataFrame({"image_id": ids, "class_id": [f"c{c}" for c in labels], "class_index": labels,
                         "pred_class": labels, "correct": [True] * len(labels)})
    scores = scores_frame(meta, out)
    ms = model_summary(scores, "few", "clip", g, T, n_boot=50)
    assert ms.row(0, named=True)["nullity"] == M - k and ms.row(0, named=True)["rank"] == k
    assert ms["n_classes"][0] == k and np.isfinite(ms["ratio"][0])
    cs = class_summary(scores, "few", "clip", class_names={})
    assert cs.height == k and np.isfinite(cs["as_z"].to_numpy()).all()
    pair = pl.concat([cs, cs.with_columns(pl.lit("twin").alias("model"))])
    assert rank_correlations(pair).height == 1

    steer = steering_scores(F, ids, g, T, Z[0], target_is_deg=20.0, calibration="per_image")
    assert steer["included"].to_numpy().all()
    np.testing.assert_allclose(steer["is_deg"].to_numpy(), 20.0, atol=1e-6)
    steer = steering_scores(F, ids, g, T, Z[0], target_is_deg=20.0, calibration="mean_is")  # one step, mean IS
    assert steer["included"].to_numpy().all() and steer["eps"].n_unique() == 1
    np.testing.assert_allclose(steer["is_deg"].mean(), 20.0, atol=1e-6)

    val = validation_scores(F, ids, W, g, T, seeds=[0], pred=labels)
    null_lc = val.filter(pl.col("kind") == "null")["logit_change_rel"].to_numpy()
    assert null_lc.max() < 1e-10
    assert val.filter(pl.col("kind") == "principal")["logit_change_rel"].min() > 1e-3

    C = principal_coordinates(F, g)  # the probes see the rank-k principal coordinates
    assert C.shape == (len(F), k)
    train = np.arange(len(labels)) % 3 != 0
    principal = fit_probe(C[train], labels[train], max_iter=300)
    translated = fit_probe(translated_inputs(C[train], g, T), labels[train], max_iter=300)
    test = ProbeData(C[~train], labels[~train], [f"img{i}" for i in np.flatnonzero(~train)], 0)
    (rob,) = robustness_rows(principal, {"s": (translated, T)}, test, g, model="toy")
    assert rob["n_classes"] == k and 0 <= rob["acc_principal"] <= 1 and 0 <= rob["acc_translated"] <= 1


def test_head_with_more_classes_than_features_has_no_null_space():
    W = np.random.default_rng(0).standard_normal((37, 16))
    g = head_geometry(W)
    assert (g.rank, g.nullity) == (16, 0)
