"""sing.analysis against independent references (numpy, scipy.stats, brute force) and planted truth."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import scipy.stats as st

from sing.analysis.comparisons import (
    RANK_CORRELATION_COLUMNS,
    ROBUSTNESS_SUMMARY_COLUMNS,
    SPACE_CROSSCHECK_COLUMNS,
    rank_correlations,
    robustness_correlation,
    space_crosscheck,
)
from sing.analysis.open_vocabulary import OPEN_VOCABULARY_COLUMNS, open_vocabulary_scores
from sing.analysis.robustness import ROBUSTNESS_COLUMNS
from sing.analysis.scores import SCORE_COLUMNS, RandomSubspaces, score_images, scores_frame
from sing.analysis.stats import (
    bootstrap_counts,
    bootstrap_ratio,
    kendall_tau,
    leakage_z,
    pearson,
    rankdata,
    spearman,
    weighted_medians,
)
from sing.analysis.steering import STEERING_COLUMNS
from sing.analysis.summaries import (
    CLASS_SUMMARY_COLUMNS,
    MODEL_SUMMARY_COLUMNS,
    _geometry_stats,
    class_summary,
    model_summary,
)
from sing.analysis.validation import VALIDATION_COLUMNS, validation_scores
from sing.core.geometry import head_geometry
from sing.core.translator import LinearTranslator
from sing.io.storage import write_frame
from sing.io.tables import load_text, read_manifest, read_scores, table_metadata


# ------------------------------------------------------------------------------------------------ references
def ref_angle(x, y):
    x = np.atleast_2d(x)
    y = np.atleast_2d(y)
    cos = np.sum(x * y, axis=1) / (np.linalg.norm(x, axis=1) * np.linalg.norm(y, axis=1))
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def ref_null_projector(W):
    _, s, Vt = np.linalg.svd(W)
    rank = int(np.sum(s > max(W.shape) * np.finfo(np.float32).eps * s[0]))
    Vn = Vt[rank:].T
    return Vn @ Vn.T


def toy(m=20, c=8, d=12, n=30, seed=0):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((c, m))
    T = LinearTranslator(rng.standard_normal((d, m)), rng.standard_normal(d) * 0.1)
    F = rng.standard_normal((n, m)) + 0.5
    Zt = rng.standard_normal((n, d))
    return W, T, F, Zt


# ------------------------------------------------------------------------------------------------ image level
def test_score_images_matches_brute_force():
    W, T, F, Zt = toy()
    g = head_geometry(W)
    out = score_images(F, Zt, g, T, W=W)
    Pn = ref_null_projector(W)
    F_eq = F - F @ Pn
    z, z_eq = F @ T.weight.T + T.bias, F_eq @ T.weight.T + T.bias
    a0, a1 = ref_angle(z, Zt), ref_angle(z_eq, Zt)
    np.testing.assert_allclose(out["angle_orig_deg"], a0, atol=1e-6)
    np.testing.assert_allclose(out["angle_eq_deg"], a1, atol=1e-6)
    np.testing.assert_allclose(out["as_deg"], a0 - a1, atol=1e-6)
    np.testing.assert_allclose(out["is_deg"], ref_angle(z, z_eq), atol=1e-6)
    np.testing.assert_allclose(out["null_ratio"], np.linalg.norm(F @ Pn, axis=1) / np.linalg.norm(F, axis=1),
                               rtol=1e-10)
    np.testing.assert_allclose(out["feature_norm"], np.linalg.norm(F, axis=1), rtol=1e-12)
    assert np.all(out["is_deg"] >= 0)
    assert np.max(out["logit_change_rel"]) < 1e-10  # null removal leaves the logits unchanged
    np.testing.assert_allclose(out["logit_change"], np.linalg.norm((F - F_eq) @ W.T, axis=1), atol=1e-9)


def test_score_images_single_text_vector_and_bad_input():
    W, T, F, Zt = toy()
    g = head_geometry(W)
    out = score_images(F, Zt[0], g, T)
    assert out["as_deg"].shape == (F.shape[0],)
    assert np.all(np.isnan(out["logit_change"]))
    with pytest.raises(ValueError, match="Z_text"):
        score_images(F, Zt[:3], g, T)
    with pytest.raises(ValueError, match="F"):
        score_images(F[:, :5], Zt, g, T)
    with pytest.raises(ValueError, match="F"):
        bad = F.copy()
        bad[0, 0] = np.nan
        score_images(bad, Zt, g, T)


def test_nullity_zero_is_all_zero_and_no_crash():
    rng = np.random.default_rng(1)
    W = rng.standard_normal((10, 10))  # square, full rank -> nullity 0
    g = head_geometry(W)
    assert g.nullity == 0
    T = LinearTranslator(rng.standard_normal((6, 10)), np.zeros(6))
    F = rng.standard_normal((7, 10))
    base = RandomSubspaces(10, 0, 3, seed=0)
    out = score_images(F, rng.standard_normal(6), g, T, W=W, baseline=base)
    for k in ("as_deg", "is_deg", "null_ratio", "logit_change", "baseline_as_mean", "baseline_is_std"):
        assert np.all(out[k] == 0), k
    assert out["baseline_abs_as_seeds"].shape == (7, 3)


@pytest.mark.parametrize("m,k", [(12, 3), (12, 9), (12, 6), (12, 12), (12, 0)])
def test_random_subspaces_are_orthogonal_projections_of_dim_k(m, k):
    rs = RandomSubspaces(m, k, 2, seed=3)
    eye = np.eye(m)
    for s in range(2):
        removed = eye - rs.remove(eye, s)  # = projector onto the random subspace (symmetric, idempotent)
        np.testing.assert_allclose(removed, removed.T, atol=1e-12)
        np.testing.assert_allclose(removed @ removed, removed, atol=1e-12)
        assert round(np.trace(removed)) == k
    # deterministic in (m, k, seed), independent of call order
    np.testing.assert_array_equal(RandomSubspaces(m, k, 2, seed=3).remove(eye, 1), rs.remove(eye, 1))


def test_random_subspaces_are_isotropic_on_average():
    m, k = 8, 6  # complement path
    rs = RandomSubspaces(m, k, 400, seed=0)
    eye = np.eye(m)
    mean = sum(eye - rs.remove(eye, s) for s in range(400)) / 400
    np.testing.assert_allclose(mean, (k / m) * eye, atol=0.06)  # E[P] = k/m I for a Haar subspace


def test_scores_frame_schema_sorted():
    W, T, F, Zt = toy(n=5)
    g = head_geometry(W)
    out = score_images(F, Zt, g, T, W=W, baseline=RandomSubspaces(20, g.nullity, 3, 0))
    meta = pl.DataFrame({"image_id": [f"val/n0/{i}.JPEG" for i in (4, 2, 0, 1, 3)], "class_id": ["n0"] * 5,
                         "class_index": [0] * 5, "pred_class": [0, 1, 0, 0, 2], "correct": [1, 0, 1, 1, 0]})
    df = scores_frame(meta, out)
    assert tuple(df.columns) == SCORE_COLUMNS
    assert df["image_id"].to_list() == sorted(df["image_id"].to_list())
    assert df.schema["baseline_abs_as_seeds"] == pl.Array(pl.Float32, 3)
    # rows moved with their image: image 0 was row 2
    np.testing.assert_allclose(df.filter(pl.col("image_id") == "val/n0/0.JPEG")["as_deg"][0], out["as_deg"][2])


# ------------------------------------------------------------------------------------------------ bootstrap
def test_weighted_medians_equal_expanded_median():
    rng = np.random.default_rng(0)
    v = rng.standard_normal(37)
    w = rng.integers(0, 4, size=(50, 37))
    w[:, 0] += 1
    got = weighted_medians(v, w)
    ref = [np.median(np.repeat(v, row)) for row in w]
    np.testing.assert_allclose(got, ref, rtol=0, atol=0)


@pytest.mark.parametrize("unit", ["class", "image"])
def test_bootstrap_ratio_equals_brute_force(unit):
    rng = np.random.default_rng(2)
    groups = np.repeat(np.arange(12), 7)
    is_deg = rng.gamma(3, 2, size=groups.size) + groups * 0.1
    abs_as = rng.gamma(2, 0.5, size=groups.size)
    ratio, lo, hi, used, reps = bootstrap_ratio(is_deg, abs_as, groups, n_boot=200, ci=0.9, seed=5, unit=unit,
                                                  return_replicates=True)
    assert used == unit
    assert ratio == pytest.approx(np.median(is_deg) / np.median(abs_as), rel=1e-12)
    n_units = 12 if unit == "class" else groups.size
    counts = bootstrap_counts(n_units, 200, 5)
    brute = []
    for row in counts:
        if unit == "class":
            idx = np.concatenate([np.flatnonzero(groups == g) for g in np.repeat(np.arange(12), row)])
        else:
            idx = np.repeat(np.arange(groups.size), row)
        brute.append(np.median(is_deg[idx]) / np.median(abs_as[idx]))
    np.testing.assert_allclose(reps, brute, rtol=1e-12)
    np.testing.assert_allclose([lo, hi], np.percentile(brute, [5, 95]), rtol=1e-12)
    assert lo <= ratio <= hi


def test_bootstrap_counts_are_uniform_resamples():
    c = bootstrap_counts(5, 2000, 0)
    assert np.all(c.sum(axis=1) == 5)
    np.testing.assert_allclose(c.mean(axis=0), 1.0, atol=0.08)


def test_bootstrap_auto_unit_and_errors():
    x = np.linspace(1, 2, 40)
    assert bootstrap_ratio(x, x, np.repeat(np.arange(4), 10), n_boot=10)[3] == "image"
    assert bootstrap_ratio(x, x, np.repeat(np.arange(20), 2), n_boot=10)[3] == "class"
    with pytest.raises(ValueError, match="ci"):
        bootstrap_ratio(x, x, ci=1.5)
    with pytest.raises(ValueError, match="unit"):
        bootstrap_ratio(x, x, unit="bogus")
    r = bootstrap_ratio(np.zeros(5), np.zeros(5), n_boot=5)
    assert np.isnan(r[0]) and np.isnan(r[1])


# ------------------------------------------------------------------------------------------------ summaries
def synthetic_scores(n_classes=6, per_class=9, seeds=4, seed=0):
    rng = np.random.default_rng(seed)
    n = n_classes * per_class
    ci = np.repeat(np.arange(n_classes) * 3, per_class)
    as_deg = rng.normal(0, 1 + ci / 10, size=n)
    b_as = np.abs(rng.normal(0, 1, size=(n, seeds)))
    b_is = rng.gamma(2, 2, size=(n, seeds))
    return pl.DataFrame({
        "image_id": [f"img{i:04d}" for i in range(n)], "class_id": [f"n{c:08d}" for c in ci],
        "class_index": ci.astype(np.int32), "pred_class": ci.astype(np.int32), "correct": rng.random(n) > 0.3,
        "as_deg": as_deg, "is_deg": rng.gamma(3, 3, size=n), "angle_orig_deg": rng.uniform(60, 80, n),
        "angle_eq_deg": rng.uniform(60, 80, n), "feature_norm": rng.uniform(1, 2, n),
        "null_ratio": rng.uniform(0, 1, n), "logit_change": rng.uniform(0, 1e-9, n),
        "logit_change_rel": rng.uniform(0, 1e-9, n),
        "baseline_as_mean": b_as.mean(1), "baseline_as_std": b_as.std(1, ddof=1),
        "baseline_is_mean": b_is.mean(1), "baseline_is_std": b_is.std(1, ddof=1),
        "baseline_abs_as_seeds": pl.Series(b_as.astype(np.float32), dtype=pl.Array(pl.Float32, seeds)),
        "baseline_is_seeds": pl.Series(b_is.astype(np.float32), dtype=pl.Array(pl.Float32, seeds)),
    })


def test_class_summary_matches_numpy():
    sc = synthetic_scores()
    cs = class_summary(sc, "m", "s", class_names={})
    assert tuple(cs.columns) == CLASS_SUMMARY_COLUMNS
    assert cs["class_index"].to_list() == sorted(cs["class_index"].to_list())
    for row in cs.iter_rows(named=True):
        sub = sc.filter(pl.col("class_index") == row["class_index"])
        a = sub["as_deg"].to_numpy()
        i = sub["is_deg"].to_numpy()
        assert row["n"] == len(a)
        assert row["as_median"] == pytest.approx(np.median(a))
        assert row["as_iqr"] == pytest.approx(np.subtract(*np.percentile(a, [75, 25])))
        assert row["abs_as_median"] == pytest.approx(np.median(np.abs(a)))
        assert row["abs_as_q05"] == pytest.approx(np.percentile(np.abs(a), 5))
        assert row["abs_as_q95"] == pytest.approx(np.percentile(np.abs(a), 95))
        assert row["is_iqr"] == pytest.approx(np.subtract(*np.percentile(i, [75, 25])))
        assert row["ratio"] == pytest.approx(np.median(i) / np.median(np.abs(a)))
        assert row["accuracy"] == pytest.approx(sub["correct"].cast(pl.Float64).mean())
        # leakage z: class mean |AS| against the per-seed class means of the random-subspace baseline
        b = np.stack(sub["baseline_abs_as_seeds"].to_numpy()).astype(np.float64).mean(axis=0)
        assert row["as_z"] == pytest.approx((np.abs(a).mean() - b.mean()) / b.std(ddof=1), rel=1e-6)
        assert row["class_name"] == row["class_id"]


def test_leakage_z_reference_and_edge_cases():
    B = np.array([[1.0, 2.0, 3.0], [1.0, 1.0, 1.0], [1.0, 1.0, 1.0], [0, 0, 0]])
    z = leakage_z([4.0, 1.0, 2.0, 0.0], B)
    assert z[0] == pytest.approx((4 - 2) / 1.0)
    assert z[1] == 0.0 and np.isnan(z[2]) and z[3] == 0.0
    assert np.all(np.isnan(leakage_z([1.0], [[1.0]])))
    with pytest.raises(ValueError, match="baseline_stats"):
        leakage_z([1.0, 2.0], [[1.0, 2.0]])


def test_model_summary_geometry_translator_and_bootstrap():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((6, 10))
    g = head_geometry(W)
    T = LinearTranslator(rng.standard_normal((4, 10)), np.zeros(4), alpha=3.0,
                         metrics={"heldout_r2": 0.5, "heldout_cosine_mean": 0.9})
    sc = synthetic_scores(n_classes=12)
    ms = model_summary(sc, "m", "s", g, T, n_boot=300, ci=0.95, seed=1)
    assert tuple(ms.columns) == MODEL_SUMMARY_COLUMNS
    row = ms.row(0, named=True)
    assert (row["rank"], row["nullity"], row["in_dim"]) == (6, 4, 10)
    s = np.linalg.svd(W, compute_uv=False)
    assert row["sv_max"] == pytest.approx(s[0]) and row["sv_min_nonzero"] == pytest.approx(s[-1])
    assert np.isnan(row["sv_rank_gap"])  # no singular value below the threshold
    assert (row["alpha"], row["r2"], row["cosine_mean"]) == (3.0, 0.5, 0.9)
    a = np.abs(sc["as_deg"].to_numpy())
    assert row["ratio"] == pytest.approx(np.median(sc["is_deg"].to_numpy()) / np.median(a))
    assert row["ratio_ci_low"] <= row["ratio"] <= row["ratio_ci_high"]
    assert row["image_ratio_median"] == pytest.approx(np.median(sc["is_deg"].to_numpy() / a))
    assert row["image_ratio_ci_low"] <= row["image_ratio_median"] <= row["image_ratio_ci_high"]
    cov = np.cov(a, sc["is_deg"].to_numpy())
    assert (row["abs_as_var"], row["abs_as_is_cov"], row["is_var"]) == pytest.approx((cov[0, 0], cov[0, 1], cov[1, 1]))
    assert row["rank_threshold"] == g.threshold == 1e-5  # the authors' absolute rule, reported
    assert row["bootstrap_unit"] == "class"
    assert row["n_images"] == sc.height and row["n_classes"] == 12
    assert row["accuracy"] == pytest.approx(sc["correct"].mean())


def test_sv_rank_gap_with_a_deficient_head():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((6, 3)) @ rng.standard_normal((3, 10))  # rank 3 < min(c, m) = 6
    stats = _geometry_stats(head_geometry(W))
    assert stats["rank"] == 3 and stats["nullity"] == 7
    assert stats["sv_rank_gap"] > 1e6


# ------------------------------------------------------------------------------------------------ planted leakage
def planted_model(planted=3, n_classes=8, per_class=12, m=64, c=56, d=32, seed=0):
    """A head whose null space contains (the pre-image of) class `planted`'s text direction: its images
    carry a large null component aligned with that text; other classes carry unrelated null noise."""
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((c, m))
    g = head_geometry(W)
    T = LinearTranslator(rng.standard_normal((d, m)) / np.sqrt(m), np.zeros(d))
    texts = rng.standard_normal((n_classes, d))
    Vn, Vp = g.null_basis, g.principal_basis
    feats, labels = [], []
    for k in range(n_classes):
        mu = Vp @ rng.standard_normal(Vp.shape[1]) * 0.6
        X = mu + 0.3 * rng.standard_normal((per_class, m)) @ (Vp @ Vp.T)
        if k == planted:
            u = Vn @ (Vn.T @ (T.weight.T @ texts[k]))  # null-space direction that moves T f toward the text
            X = X + 2.5 * u / np.linalg.norm(u)
        X = X + 0.05 * rng.standard_normal((per_class, g.nullity)) @ Vn.T
        feats.append(X)
        labels += [k] * per_class
    return W, g, T, texts, np.vstack(feats), np.array(labels)


def test_planted_leakage_class_ranks_first_in_z_table():
    W, g, T, texts, F, y = planted_model()
    base = RandomSubspaces(g.in_dim, g.nullity, 12, seed=0)
    out = score_images(F, texts[y], g, T, W=W, baseline=base)
    meta = pl.DataFrame({"image_id": [f"i{j:04d}" for j in range(len(y))], "class_id": [f"n{k:08d}" for k in y],
                         "class_index": y.astype(np.int32), "pred_class": y.astype(np.int32),
                         "correct": np.ones(len(y), bool)})
    sc = scores_frame(meta, out)
    cs = class_summary(sc, "toy", "s", class_names={})
    top = cs.sort("as_z", descending=True)
    assert top["class_index"][0] == 3
    assert top["as_z"][0] > 3 and top["as_z"][0] - top["as_z"][1] > 3
    assert cs.sort("abs_as_median", descending=True)["class_index"][0] == 3
    assert sc["logit_change_rel"].max() < 1e-10
    # the planted class loses its text alignment: AS is negative (the equivalent is farther from the text)
    assert cs.filter(pl.col("class_index") == 3)["as_median"][0] < -1


# ------------------------------------------------------------------------------------------------ correlations
@pytest.mark.parametrize("ties", [False, True])
def test_spearman_pearson_match_scipy(ties):
    rng = np.random.default_rng(0)
    for n in (3, 5, 17, 200):
        x = rng.standard_normal(n)
        y = 0.5 * x + rng.standard_normal(n)
        if ties:
            x, y = np.round(x), np.round(y * 2)
        rho, p = spearman(x, y)
        ref = st.spearmanr(x, y)
        assert rho == pytest.approx(ref.statistic, abs=1e-12)
        assert p == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-14)
        r, pp = pearson(x, y)
        ref = st.pearsonr(x, y)
        assert r == pytest.approx(ref.statistic, abs=1e-12)
        assert pp == pytest.approx(ref.pvalue, rel=1e-7, abs=1e-14)


def test_rankdata_matches_scipy():
    x = np.array([3.0, 1.0, 3.0, 2.0, 3.0, 1.0])
    np.testing.assert_array_equal(rankdata(x), st.rankdata(x))


@pytest.mark.parametrize("n,ties", [(5, False), (13, False), (30, False), (40, False), (25, True), (8, True)])
def test_kendall_matches_scipy(n, ties):
    rng = np.random.default_rng(n)
    x = rng.standard_normal(n)
    y = 0.4 * x + rng.standard_normal(n)
    if ties:
        x, y = np.round(x), np.round(y)
    tau, p = kendall_tau(x, y)
    ref = st.kendalltau(x, y)
    assert tau == pytest.approx(ref.statistic, abs=1e-12)
    assert p == pytest.approx(ref.pvalue, rel=1e-9, abs=1e-14)


def test_correlations_degenerate_inputs():
    assert all(np.isnan(spearman([1, 1, 1], [1, 2, 3])))
    assert all(np.isnan(pearson([1.0], [2.0])))
    assert spearman([1, 2, np.nan, 4], [1, 2, 3, 4])[0] == pytest.approx(1.0)  # NaN pairs dropped
    with pytest.raises(ValueError, match="lengths"):
        pearson([1, 2], [1, 2, 3])


def test_rank_correlations_against_scipy_per_pair():
    rng = np.random.default_rng(0)
    rows = []
    for model in ("a", "b", "c"):
        for k in range(20):
            if model == "c" and k < 3:
                continue  # c misses three classes: pairs use the intersection
            rows.append({"space": "s", "model": model, "class_id": f"n{k:03d}", "abs_as_median": float(rng.random())})
    cs = pl.DataFrame(rows)
    rc = rank_correlations(cs)
    assert tuple(rc.columns) == RANK_CORRELATION_COLUMNS
    assert rc.select("model_a", "model_b").rows() == [("a", "b"), ("a", "c"), ("b", "c")]
    for r in rc.iter_rows(named=True):
        a = cs.filter(pl.col("model") == r["model_a"])
        b = cs.filter(pl.col("model") == r["model_b"])
        j = a.join(b, on="class_id")
        ref = st.spearmanr(j["abs_as_median"], j["abs_as_median_right"])
        assert r["n_classes"] == j.height
        assert r["spearman_rho"] == pytest.approx(ref.statistic) and r["spearman_p"] == pytest.approx(ref.pvalue)


def test_space_crosscheck_orderings():
    ms = pl.DataFrame({"model": ["a", "b", "c", "d", "e"] * 2, "space": ["x"] * 5 + ["y"] * 5,
                       "ratio": [5.0, 4, 3, 2, 1, 50, 40, 30, 20, 10]})
    cc = space_crosscheck(ms)
    assert tuple(cc.columns) == SPACE_CROSSCHECK_COLUMNS
    assert cc.height == 5
    assert cc["kendall_tau"][0] == pytest.approx(1.0)
    assert cc["kendall_p"][0] == pytest.approx(st.kendalltau([5, 4, 3, 2, 1], [50, 40, 30, 20, 10]).pvalue)
    assert cc["rank_a"].to_list() == [1, 2, 3, 4, 5] == cc["rank_b"].to_list()
    assert space_crosscheck(ms.filter(pl.col("space") == "x")).height == 0


def test_robustness_correlation_matches_scipy():
    rb = pl.DataFrame({"model": list("abcdef"), "space": ["s"] * 6,
                       "acc_principal": [0.9, 0.8, 0.7, 0.75, 0.6, 0.85],
                       "acc_translated": [0.85, 0.7, 0.66, 0.7, 0.5, 0.84],
                       "train_acc_principal": [1.0] * 6, "train_acc_translated": [1.0] * 6,
                       "l2_principal": [1e-4] * 6, "l2_translated": [1e-4] * 6,
                       "n_train": [8] * 6, "n_test": [2] * 6, "n_test_excluded": [0] * 6, "n_classes": [2] * 6,
                       "converged": [True] * 6})
    out = robustness_correlation(rb)
    ref = st.pearsonr(rb["acc_principal"], rb["acc_translated"])
    assert out["pearson_r"][0] == pytest.approx(ref.statistic)
    assert out["pearson_p"][0] == pytest.approx(ref.pvalue)
    assert tuple(out.columns) == ROBUSTNESS_SUMMARY_COLUMNS


# ------------------------------------------------------------------------------------------------ open vocabulary
def test_open_vocabulary_scores_match_brute_force():
    W, T, F, _ = toy(n=6)
    g = head_geometry(W)
    rng = np.random.default_rng(5)
    Zc = rng.standard_normal((6, 12))  # as many concepts as images: must still be all pairs
    df = open_vocabulary_scores(F, g, T, Zc, [f"c{i}" for i in range(6)])
    Pn = ref_null_projector(W)
    z, z_eq = T(F), T(F - F @ Pn)
    for j, row in enumerate(df.iter_rows(named=True)):
        a0 = ref_angle(z, np.broadcast_to(Zc[j], z.shape))
        a1 = ref_angle(z_eq, np.broadcast_to(Zc[j], z.shape))
        assert row["concept"] == f"c{j}"
        assert row["angle_orig_mean"] == pytest.approx(a0.mean(), abs=1e-6)
        assert row["angle_eq_mean"] == pytest.approx(a1.mean(), abs=1e-6)
        assert row["as_mean"] == pytest.approx((a0 - a1).mean(), abs=1e-6)
        assert row["as_std"] == pytest.approx((a0 - a1).std(ddof=1), abs=1e-6)
        assert row["n"] == 6


# ------------------------------------------------------------------------------------------------ IO
def test_load_text_and_missing_key(tmp_path):
    from sing.io.storage import write_text_embeddings

    emb = np.arange(12, dtype=np.float32).reshape(4, 3) + 1
    p = tmp_path / "text.parquet"
    write_text_embeddings(p, kind=["class", "class", "concept", "target"], key=["n1", "n2", "desert", "jelly"],
                          prompt=["a", "b", "c", "d"], class_index=[0, 1, -1, -1], embeddings=emb,
                          metadata={"model": "s", "weights_id": "x", "preprocess": {}, "precision": "fp32"})
    t, e = load_text(p, "class", ["n2", "n1"])
    assert t["key"].to_list() == ["n2", "n1"]
    np.testing.assert_array_equal(e, emb[[1, 0]])
    _, e = load_text(p, "target", "jelly")
    np.testing.assert_array_equal(e[0], emb[3])
    t, _ = load_text(p, "concept")
    assert t["key"].to_list() == ["desert"]
    with pytest.raises(ValueError, match="n9"):
        load_text(p, "class", ["n9"])
    with pytest.raises(ValueError, match="kind"):
        load_text(p, "bogus")


def test_read_manifest_formats(tmp_path):
    (tmp_path / "a.json").write_text('{"sample": "analysis", "classes": ["n1", "n2"]}')
    (tmp_path / "b.txt").write_text("n3\n\nn4\n")
    assert read_manifest(tmp_path / "a.json") == ["n1", "n2"]
    assert read_manifest(tmp_path / "b.txt") == ["n3", "n4"]
    with pytest.raises(FileNotFoundError, match="c.json"):
        read_manifest(tmp_path / "c.json")


def test_write_table_is_byte_identical_and_keeps_metadata(tmp_path):
    sc = synthetic_scores()
    meta = table_metadata("scores", {"x": 1}, model="m")
    write_frame(sc, tmp_path / "a.parquet", meta)
    write_frame(sc, tmp_path / "b.parquet", meta)
    assert (tmp_path / "a.parquet").read_bytes() == (tmp_path / "b.parquet").read_bytes()
    back = pl.read_parquet(tmp_path / "a.parquet")
    assert back.equals(sc)
    from sing.io.storage import read_metadata

    assert read_metadata(tmp_path / "a.parquet")["table"] == "scores"


# ------------------------------------------------------------------------------------------------ validation
def test_validation_null_is_invariant_others_are_not():
    W, T, F, _ = toy(n=10)
    g = head_geometry(W)
    df = validation_scores(F, [f"i{j}" for j in range(10)], W, g, T, seeds=[0, 1])
    assert tuple(df.columns) == VALIDATION_COLUMNS[2:]
    assert df.height == 10 * 3 * 2 + 10  # + one deterministic null_removal row per image
    Pn = ref_null_projector(W)
    norms = np.linalg.norm(F @ Pn, axis=1)
    for kind in ("null", "random", "principal"):
        sub = df.filter(pl.col("kind") == kind).sort("image_id", "seed")
        order = np.argsort([f"i{j}" for j in range(10)])
        np.testing.assert_allclose(sub["norm"].to_numpy(), np.repeat(norms[order], 2),
                                   rtol=1e-10)
    null = df.filter(pl.col("kind") == "null")
    assert null["logit_change_rel"].max() < 1e-10
    assert null["clip_drift_deg"].min() > 0
    prin = df.filter(pl.col("kind") == "principal")["logit_change"].to_numpy()
    rand = df.filter(pl.col("kind") == "random")["logit_change"].to_numpy()
    assert np.median(prin) > np.median(rand) > 1e3 * null["logit_change"].max()


def test_validation_null_removal_is_the_paper_perturbation_and_its_drift_is_the_image_score():
    """δ = −Π_n f (supp. §2): logit change ‖W Π_n f‖ ≈ 0, CLIP drift = IS of the same images (score_images), one row
    per image with a null seed; the other kinds' rows are those of the kinds alone."""
    W, T, F, Zt = toy(n=12)
    g = head_geometry(W)
    ids = [f"i{j:02d}" for j in range(12)]
    df = validation_scores(F, ids, W, g, T, seeds=[0, 1])
    rem = df.filter(pl.col("kind") == "null_removal").sort("image_id")
    assert rem.height == 12 and rem["seed"].null_count() == 12
    s = score_images(F, Zt, g, T, W=W)
    np.testing.assert_allclose(rem["clip_drift_deg"].to_numpy(), s["is_deg"], rtol=0, atol=1e-10)
    np.testing.assert_allclose(rem["logit_change"].to_numpy(), s["logit_change"], rtol=0, atol=1e-12)
    Pn = ref_null_projector(W)
    np.testing.assert_allclose(rem["norm"].to_numpy(), np.linalg.norm(F @ Pn, axis=1), rtol=1e-10)
    assert rem["logit_change_rel"].max() < 1e-10 and rem["clip_drift_deg"].min() > 0
    rest = df.filter(pl.col("kind") != "null_removal")
    assert rest.equals(validation_scores(F, ids, W, g, T, seeds=[0, 1], kinds=("null", "random", "principal")))
    only = validation_scores(F, ids, W, g, T, seeds=[0], kinds=("null_removal",))
    assert only.equals(rem)
    with pytest.raises(ValueError, match="kinds"):
        validation_scores(F, ids, W, g, T, seeds=[0], kinds=("removal",))


def test_validation_nullity_zero_rows_are_zero():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((6, 6))
    g = head_geometry(W)
    T = LinearTranslator(rng.standard_normal((4, 6)), np.zeros(4))
    df = validation_scores(rng.standard_normal((3, 6)), ["a", "b", "c"], W, g, T, seeds=[0])
    assert df["norm"].max() == 0 and df["logit_change"].max() == 0 and df["clip_drift_deg"].max() == 0


# ------------------------------------------------------------------------------------------------ workflow scripts
SCRIPTS = __import__("pathlib").Path(__file__).resolve().parents[1] / "workflow_scripts"


def run_script(name, tmp_path, input, output, settings=None, wildcards=None):
    """Run a workflow script with a stand-in `snakemake` object (params.settings as sing.workflow builds it)."""
    import runpy
    from types import SimpleNamespace

    from snakemake.iocontainers import Namedlist

    smk = SimpleNamespace(input=Namedlist(fromdict={k: (list(map(str, v)) if isinstance(v, list) else str(v))
                                                    for k, v in input.items()}),
                          output=Namedlist(fromdict={k: (list(map(str, v)) if isinstance(v, list) else str(v))
                                                     for k, v in output.items()}),
                          params=Namedlist(fromdict={"settings": settings or {}}),
                          wildcards=Namedlist(fromdict=wildcards or {}),
                          log=[str(tmp_path / "logs" / f"{name}.log")], threads=1, config={})
    runpy.run_path(str(SCRIPTS / f"{name}.py"), init_globals={"snakemake": smk}, run_name="__main__")


@pytest.fixture(scope="module")
def mini_results(tmp_path_factory):
    """A tiny results tree: one model with a planted leaking class, one CLIP space, two chunks."""
    from safetensors.numpy import save_file

    from sing.io.storage import write_embeddings, write_text_embeddings

    R = tmp_path_factory.mktemp("results")
    W, g, T, texts, F, y = planted_model(n_classes=4, per_class=10)
    wnids = ["n01440764", "n01443537", "n01484850", "n01491361"]
    head = R / "heads" / "toy"
    head.mkdir(parents=True)
    save_file({"weight": W.astype(np.float32), "bias": np.zeros(W.shape[0], np.float32)},
              str(head / "head.safetensors"))
    # geometry of the float32 head actually stored (what the workflow computes)
    g = head_geometry(W.astype(np.float32))
    g.save(head / "geometry.safetensors")
    (R / "translators" / "toy").mkdir(parents=True)
    T.alpha, T.metrics = 1.0, {"heldout_r2": 0.4, "heldout_cosine_mean": 0.7}
    T.save(R / "translators" / "toy" / "s.safetensors")
    meta = {"kind": "classifier", "model": "toy", "weights_id": "x", "preprocess": {}, "precision": "fp32"}
    logits = F @ W.T
    for k, wnid in enumerate(wnids):
        chunk = R / "features" / "toy" / "analysis" / f"chunk-{k // 2:03d}"
        chunk.mkdir(parents=True, exist_ok=True)
        rows = np.flatnonzero(y == k)
        write_embeddings(chunk / f"{wnid}.parquet", image_ids=[f"val/{wnid}/{i:03d}.JPEG" for i in rows],
                         split="val", class_index=k, class_id=wnid, features=F[rows].astype(np.float32),
                         extra_columns={"pred_class": logits[rows].argmax(1), "pred_logit": logits[rows].max(1),
                                        "correct": logits[rows].argmax(1) == k}, metadata=meta)
    noise = np.random.default_rng(2).standard_normal((2,) + F.shape) * 0.05  # new images of the same classes
    F_rob, y_rob = np.vstack([F + noise[0], F + noise[1]]), np.concatenate([y, y])
    rob_chunk = R / "features" / "toy" / "robustness" / "chunk-000"
    rob_chunk.mkdir(parents=True)
    for k, wnid in enumerate(wnids):
        rows = np.flatnonzero(y_rob == k)
        write_embeddings(rob_chunk / f"{wnid}.parquet", image_ids=[f"train/{wnid}/rob{i:03d}.JPEG" for i in rows],
                         split="train", class_index=k, class_id=wnid, features=F_rob[rows].astype(np.float32),
                         metadata=meta)
    write_embeddings(R / "features" / "toy" / "translator.parquet", image_ids=[f"train/{i}" for i in range(len(y))],
                     split="train", class_index=y, class_id=[wnids[k] for k in y], features=F.astype(np.float32),
                     extra_columns={"pred_class": logits.argmax(1), "pred_logit": logits.max(1),
                                    "correct": logits.argmax(1) == y}, metadata=meta)
    rng = np.random.default_rng(1)
    concepts = ["desert", "ocean", "tentacles"]
    emb = np.vstack([texts, rng.standard_normal((len(concepts), texts.shape[1])), texts[2:3] + 0.1])
    (R / "text").mkdir()
    write_text_embeddings(R / "text" / "s.parquet", kind=["class"] * 4 + ["concept"] * 3 + ["target"],
                          key=wnids + concepts + ["an image of a jellyfish"],
                          prompt=[f"an image of a {w}" for w in wnids] + concepts + ["an image of a jellyfish"],
                          class_index=[0, 1, 2, 3, -1, -1, -1, -1], embeddings=emb.astype(np.float32),
                          metadata={"model": "s", "weights_id": "x", "preprocess": {}, "precision": "fp32"})
    return R, wnids


def test_workflow_scripts_end_to_end(mini_results, tmp_path):
    R, wnids = mini_results
    common = {"geometry": R / "heads/toy/geometry.safetensors", "translator": R / "translators/toy/s.safetensors",
              "head": R / "heads/toy/head.safetensors", "text": R / "text/s.parquet"}
    out = tmp_path / "out"
    score_dirs = []
    for c in range(2):
        d = out / f"scores/chunk-{c:03d}"
        for rep in range(2):  # twice: byte-identical reruns
            target = d if rep == 0 else out / f"rerun/chunk-{c:03d}"
            run_script("score_chunk", tmp_path, {**common, "features": R / f"features/toy/analysis/chunk-{c:03d}"},
                       {"scores": target}, {"classes": wnids[2 * c:2 * c + 2],
                                            "analyses": {"baseline_seeds": 6, "seed": 0}},
                       {"model": "toy", "space": "s", "chunk": f"{c:03d}"})
        score_dirs.append(d)
        for w in wnids[2 * c:2 * c + 2]:
            assert (d / f"{w}.parquet").read_bytes() == (out / f"rerun/chunk-{c:03d}/{w}.parquet").read_bytes()
    scores = read_scores(score_dirs)
    assert tuple(scores.columns) == SCORE_COLUMNS and scores.height == 40
    assert scores["logit_change_rel"].max() <= 1e-4 and scores["is_deg"].min() >= 0

    agg = {"model_summary": out / "ms.parquet", "class_summary": out / "cs.parquet", "joint_sample": out / "js.parquet"}
    run_script("aggregate_model", tmp_path, {"scores": score_dirs, "geometry": common["geometry"],
                                             "translator": common["translator"]}, agg,
               {"analyses": {"bootstrap": 200, "ci": 0.95, "seed": 0, "joint_points": 25},
                "translator": {"min_heldout_r2": 0.5, "min_samples_per_dim": 1.0},
                "dataset": {"class_names": {wnids[0]: "tench"}}, "weights": {"models": {"toy": {"files": []}}}},
               {"model": "toy", "space": "s"})
    assert pl.read_parquet(agg["joint_sample"]).height == 25
    ms = pl.read_parquet(agg["model_summary"])
    cs = pl.read_parquet(agg["class_summary"])
    assert tuple(ms.columns) == MODEL_SUMMARY_COLUMNS and tuple(cs.columns) == CLASS_SUMMARY_COLUMNS
    r = ms.row(0, named=True)
    assert r["ratio_ci_low"] <= r["ratio"] <= r["ratio_ci_high"]
    assert cs.sort("as_z", descending=True)["class_id"][0] == wnids[3]  # the planted class
    assert cs["class_name"][0] == "tench"
    assert r["random_weights"] is True  # the job's weights block locks no file for "toy": random weights

    # a second "model" = the same tables renamed, and a second space: exercises the comparisons
    ms2 = pl.concat([ms, ms.with_columns(pl.lit("toy2").alias("model"), pl.col("ratio") * 2),
                     ms.with_columns(pl.lit("s2").alias("space")),
                     ms.with_columns(pl.lit("toy2").alias("model"), pl.lit("s2").alias("space"), pl.col("ratio") * 3)])
    cs2 = pl.concat([cs, cs.with_columns(pl.lit("toy2").alias("model"), -pl.col("abs_as_median"))])
    ms2.write_parquet(out / "ms2.parquet")
    cs2.write_parquet(out / "cs2.parquet")

    steer = out / "steering.parquet"
    run_script("steering", tmp_path, {**common, "features": R / "features/toy/analysis/chunk-001"}, {"steering": steer},
               {"analyses": {"steering": {"source_class": wnids[2], "target": "an image of a jellyfish",
                                          "target_is_deg": 40.0}}}, {"model": "toy", "space": "s"})
    st_ = pl.read_parquet(steer)
    assert tuple(st_.columns) == STEERING_COLUMNS and st_.height == 2 * 10  # both calibrations
    per = st_.filter(pl.col("included") & (pl.col("calibration") == "per_image"))
    assert per.height > 0 and (per["is_deg"] - 40).abs().max() < 1e-3
    mean = st_.filter(pl.col("calibration") == "mean_is")
    assert mean["included"].all() and mean["is_deg"].mean() == pytest.approx(40.0, abs=1e-6)

    val = out / "validation.parquet"
    analysis_dirs = [R / "features/toy/analysis/chunk-000", R / "features/toy/analysis/chunk-001"]
    run_script("validation", tmp_path, {**common, "features": analysis_dirs,
                                        "translator_sample": [R / "features/toy/translator.parquet"]},
               {"validation": val}, {"analyses": {"validation": {"seeds": 2, "max_images": 25}, "seed": 0}},
               {"model": "toy", "space": "s"})
    v = pl.read_parquet(val)
    assert tuple(v.columns) == VALIDATION_COLUMNS and v.height == 25 * 3 * 2 + 25  # + null_removal, one per image
    assert v["image_id"].str.starts_with("val/").all()  # the held-out analysis images
    assert v.filter(pl.col("kind") == "null")["logit_change_rel"].max() < 1e-4

    probes = {"principal": out / "probes/principal.safetensors", "translated": [out / "probes/s.safetensors"]}
    run_script("train_probe", tmp_path, {"features": [R / "features/toy/robustness/chunk-000"],
                                         "geometry": common["geometry"], "translators": [common["translator"]]},
               {**probes, "written": [out / "written/principal.json", out / "written/s.json"]},
               {"run_spaces": ["s"], "extraction": {"device": "cpu"},
                        "analyses": {"seed": 0, "robustness": {"l2": [1e-4, 1e-1], "holdout": 0.25, "max_iter": 100,
                                                               "tol": 1e-5}}}, {"model": "toy"})
    rob = out / "robustness.parquet"
    run_script("robustness", tmp_path, {**probes, "translators": [common["translator"]], "geometry": common["geometry"],
                                        "features": analysis_dirs,
                                        "train_features": [R / "features/toy/robustness/chunk-000"],
                                        "translator_sample": [R / "features/toy/translator.parquet"]},
               {"robustness": rob}, {"run_spaces": ["s"]}, {"model": "toy"})
    rb = pl.read_parquet(rob)
    assert tuple(rb.columns) == ROBUSTNESS_COLUMNS and rb["n_test"][0] == 40 and rb["n_train"][0] == 80
    assert rb["n_test_excluded"][0] == 0 and rb["acc_principal"][0] > 0.9 and rb["converged"][0]
    assert rb["l2_principal"][0] in (1e-4, 1e-1) and rb["l2_translated"][0] in (1e-4, 1e-1)
    toy2 = rb.with_columns(pl.lit("toy2").alias("model"), pl.col("acc_principal", "acc_translated") * 0.5)
    pl.concat([rb, toy2]).write_parquet(
        out / "rob2.parquet")

    ov = out / "open_vocabulary.parquet"
    run_script("open_vocabulary", tmp_path, {**common, "features": [R / "features/toy/analysis/chunk-000",
                                                                    R / "features/toy/analysis/chunk-001"]},
               {"open_vocabulary": ov},
               {"analyses": {"open_vocabulary": {"concepts": {wnids[0]: ["desert", "ocean"],
                                                              wnids[3]: ["tentacles"]}}}},
               {"model": "toy", "space": "s"})
    o = pl.read_parquet(ov)
    assert tuple(o.columns) == OPEN_VOCABULARY_COLUMNS
    assert o.select("class_id", "kind", "concept").rows() == [
        (wnids[0], "class", f"an image of a {wnids[0]}"), (wnids[0], "concept", "desert"),
        (wnids[0], "concept", "ocean"), (wnids[3], "class", f"an image of a {wnids[3]}"),
        (wnids[3], "concept", "tentacles")]

    cmp_out = {k: out / f"global_{k}.parquet" for k in ("model_summary", "class_summary", "rank_correlation",
                                                         "space_crosscheck", "robustness")}
    run_script("compare_models", tmp_path, {"model_summaries": [out / "ms2.parquet"],
                                            "class_summaries": [out / "cs2.parquet"],
                                            "robustness": [out / "rob2.parquet"]}, cmp_out,
               {"figures": {"paper_models": ["none_of_these"]}})  # no paper model: both blocks over every model
    rc = pl.read_parquet(cmp_out["rank_correlation"])
    assert rc["spearman_rho"][0] == pytest.approx(-1.0)
    cc = pl.read_parquet(cmp_out["space_crosscheck"])
    assert cc["models"].to_list() == ["all", "all", "paper", "paper"] and cc["spearman_rho"][0] == pytest.approx(1.0)
    assert pl.read_parquet(cmp_out["robustness"])["pearson_r"][0] == pytest.approx(1.0)

    col = out / "collected.parquet"
    run_script("collect", tmp_path, {"tables": [steer, steer]}, {"table": col}, wildcards={"table": "steering"})
    assert pl.read_parquet(col).height == 2 * st_.height

    fig = {f"ratio_bars_all_{k}": out / f"fig.{k}" for k in ("png", "svg", "html")}
    fig["ratio_bars_all_data"] = out / "fig.data.parquet"
    run_script("make_figures", tmp_path, {"model_summary": cmp_out["model_summary"], "geometries": []}, fig,
               {"figures": {"paper_models": ["toy"], "formats": ["png", "svg", "html"]}, "run_models": ["toy", "toy2"],
                "run_spaces": ["s", "s2"], "models": {"toy": {"display": "Toy"}, "toy2": {"display": "Toy 2"}},
                "spaces": {"s": {"display": "S"}, "s2": {"display": "S2"}},
                "analyses": {"steering": {"target": "an image of a jellyfish", "target_is_deg": 40.0,
                                         "calibration": "mean_is"}}, "dataset": {"class_names": {}},
                "translator": {"use": "linear", "sensitivity": {"statistic": "ratio"}}})
    assert fig["ratio_bars_all_png"].read_bytes()[:4] == b"\x89PNG"
