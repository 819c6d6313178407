"""Translator sensitivity (issue 17): ridge refits at α × factor from the sufficient statistics, per-variant medians
and ratios against an independent computation (scikit-learn Ridge, arccos angles), and the ordering's Kendall τ /
Spearman ρ against scipy.stats, on a planted family whose model ordering flips at α×10 and not at α×0.1."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
import scipy.stats
from sklearn.linear_model import Ridge

from sing.analysis.sensitivity import (
    SENSITIVITY_COLUMNS,
    STABILITY_COLUMNS,
    factor_variant,
    ordering_sentence,
    ordering_stability,
    ridge_variants,
    sensitivity_rows,
    variant_label,
)
from sing.core.geometry import head_geometry
from sing.core.translator import RidgeStats

ALPHA = 5.0
HEAD = np.array([[1.0, 0, 0, 0], [0, 1.0, 0, 0]])  # null space = span(e3, e4)
SCALES = {"m1": [1, 1, 0.2, 0.2], "m2": [1, 1, 1, 1], "m3": [0.3, 0.3, 1, 1]}


def planted():
    """Three models share the translator target map A but differ in how much of their translator sample lies in
    the null directions (SCALES): the ridge shrinks weakly-populated directions more as α grows, so the translated
    null component, and with it IS and AS, changes by model differently with α. At α = 5 the IS/|AS| ordering
    m3 > m1 > m2 holds at α×0.1 and flips to m3 > m2 > m1 at α×10 (checked below from scikit-learn refits)."""
    rng = np.random.default_rng(0)
    A = rng.standard_normal((3, 4))
    F_an = rng.standard_normal((30, 4)) + np.array([2.0, 1.0, 0, 0])
    z_text = np.array([1.0, 0.2, 0.1])
    train = {}
    for k, (name, scale) in enumerate(SCALES.items()):
        r = np.random.default_rng(k)
        F = r.standard_normal((50, 4)) * np.array(scale)
        train[name] = (F, F @ A.T + 0.01 * r.standard_normal((50, 3)))
    return F_an, z_text, train


def reference_rows(F_an, z_text, train, alpha):
    """Independent: sklearn Ridge at alpha, f̃ = f with the null coordinates zeroed, arccos angles."""
    def ang(a, b):
        cos = np.sum(a * b, axis=-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
        return np.degrees(np.arccos(np.clip(cos, -1, 1)))

    out = {}
    F_eq = F_an.copy()
    F_eq[:, 2:] = 0.0
    for name, (F, Z) in train.items():
        reg = Ridge(alpha=alpha).fit(F, Z)
        z, z_eq = reg.predict(F_an), reg.predict(F_eq)
        is_deg = ang(z, z_eq)
        abs_as = np.abs(ang(z, z_text) - ang(z_eq, z_text))
        out[name] = {"median_abs_as": np.median(abs_as), "median_is": np.median(is_deg),
                     "ratio": np.median(is_deg) / np.median(abs_as), "image_ratio_median": np.median(is_deg / abs_as)}
    return out


def sensitivity_table():
    F_an, z_text, train = planted()
    g = head_geometry(HEAD)
    frames = []
    for name, (F, Z) in train.items():
        stats = RidgeStats(4, 3).update(F, Z)
        variants = {"default": stats.solve(ALPHA), **ridge_variants(stats, ALPHA, (0.1, 10.0))}
        frames.append(sensitivity_rows(F_an, z_text, g, variants, model=name, space="s"))
    return pl.concat(frames)


def test_rows_match_an_independent_refit_and_angles():
    F_an, z_text, train = planted()
    t = sensitivity_table()
    assert tuple(t.columns) == SENSITIVITY_COLUMNS and t.height == 9
    for variant, alpha in (("default", ALPHA), ("alpha_x0.1", ALPHA * 0.1), ("alpha_x10", ALPHA * 10)):
        ref = reference_rows(F_an, z_text, train, alpha)
        for name in SCALES:
            row = t.filter((pl.col("model") == name) & (pl.col("variant") == variant)).row(0, named=True)
            assert row["alpha"] == pytest.approx(alpha, rel=1e-15)
            assert row["n_images"] == 30
            for k, v in ref[name].items():
                assert row[k] == pytest.approx(v, rel=1e-9, abs=1e-10), (name, variant, k)
    assert t.filter(pl.col("variant") == "default")["alpha_factor"].to_list() == [1.0] * 3
    assert sorted(set(t["alpha_factor"].to_list())) == [0.1, 1.0, 10.0]


def test_ordering_flips_at_alpha_x10_and_tau_matches_scipy():
    F_an, z_text, train = planted()
    t = sensitivity_table()
    st = ordering_stability(t)
    assert tuple(st.columns) == STABILITY_COLUMNS
    assert st.select("variant", "statistic").rows() == [("alpha_x0.1", "image_ratio_median"), ("alpha_x0.1", "ratio"),
                                                        ("alpha_x10", "image_ratio_median"), ("alpha_x10", "ratio")]
    base = reference_rows(F_an, z_text, train, ALPHA)
    for variant, alpha in (("alpha_x0.1", ALPHA * 0.1), ("alpha_x10", ALPHA * 10)):
        ref = reference_rows(F_an, z_text, train, alpha)
        for stat in ("ratio", "image_ratio_median"):
            x = [base[m][stat] for m in sorted(SCALES)]
            y = [ref[m][stat] for m in sorted(SCALES)]
            row = st.filter((pl.col("variant") == variant) & (pl.col("statistic") == stat)).row(0, named=True)
            tau = scipy.stats.kendalltau(x, y)
            rho = scipy.stats.spearmanr(x, y)
            assert row["kendall_tau"] == pytest.approx(tau.statistic, abs=1e-12)
            assert row["kendall_p"] == pytest.approx(tau.pvalue, abs=1e-12)
            assert row["spearman_rho"] == pytest.approx(rho.statistic, abs=1e-12)
            assert row["n_models"] == 3
    ratio = st.filter(pl.col("statistic") == "ratio")
    r10 = ratio.filter(pl.col("variant") == "alpha_x10").row(0, named=True)
    r01 = ratio.filter(pl.col("variant") == "alpha_x0.1").row(0, named=True)
    # the planted flip: m1 and m2 swap at α×10 (τ = 1/3 for one swapped pair of three), nothing moves at α×0.1
    assert r10["order_default"] == "m3 > m1 > m2" and r10["order_variant"] == "m3 > m2 > m1"
    assert r10["kendall_tau"] == pytest.approx(1 / 3, abs=1e-12) and r10["stable"] is False
    assert r01["kendall_tau"] == 1.0 and r01["stable"] is True and r01["order_variant"] == r01["order_default"]


def test_sentence_names_the_space_the_variant_and_tau():
    st = ordering_stability(sensitivity_table())
    s = ordering_sentence(st, "s", space_label="CLIP ViT-L/14")
    assert s == ("The ordering of models in CLIP ViT-L/14 is not stable under the translator: Kendall τ = 0.33 at "
                 "α×10 (IS/|AS| ratio of medians, 3 models).")
    assert ordering_sentence(st.filter(pl.col("variant") != "alpha_x10"), "s") is None
    assert ordering_sentence(st, "other") is None
    two = st.with_columns(pl.when(pl.col("variant") == "alpha_x0.1").then(pl.lit("best_nonlinear"))
                          .otherwise(pl.col("variant")).alias("variant"),
                          pl.lit(False).alias("stable"), pl.lit(0.5).alias("kendall_tau"))
    s2 = ordering_sentence(two, "s", translators={"best_nonlinear": "mlp3/mse"})
    # sorted by τ, then by variant name
    assert "τ = 0.50 at α×10 and τ = 0.50 with the best non-linear translator (mlp3/mse) (" in s2


def test_stability_sentences_per_space_for_the_front_page():
    """{space: sentence} for the unstable spaces only (the report's front page and the model-level figures); the
    best non-linear translator is named only when every model of the space has the same one."""
    from sing.analysis.sensitivity import stability_sentences

    table = sensitivity_table()
    st = ordering_stability(table)
    assert stability_sentences(st, space_display={"s": "Space S"}) == {
        "s": ordering_sentence(st, "s", space_label="Space S")}
    assert stability_sentences(st.filter(pl.col("variant") != "alpha_x10")) == {}
    nl = table.filter(pl.col("variant") == "default").with_columns(pl.lit("best_nonlinear").alias("variant"),
                                                                   pl.lit("mlp3/mse").alias("translator"),
                                                                   (1 / pl.col("ratio")).alias("ratio"))
    both = pl.concat([table, nl])
    named = stability_sentences(ordering_stability(both), both)["s"]
    assert "with the best non-linear translator (mlp3/mse)" in named
    mixed = both.with_columns(pl.when((pl.col("variant") == "best_nonlinear") & (pl.col("model") == "m1"))
                              .then(pl.lit("mlp4/cosine")).otherwise(pl.col("translator")).alias("translator"))
    assert "with the best non-linear translator (" not in stability_sentences(ordering_stability(mixed), mixed)["s"]


def test_ridge_variants_are_exact_refits_and_checked():
    F_an, z_text, train = planted()
    F, Z = train["m2"]
    stats = RidgeStats(4, 3).update(F, Z)
    v = ridge_variants(stats, 2.0, (0.1, 10.0, 1000.0))
    assert list(v) == ["alpha_x0.1", "alpha_x10", "alpha_x1000"]
    for name, f in zip(v, (0.1, 10.0, 1000.0)):
        ref = Ridge(alpha=2.0 * f).fit(F, Z)
        np.testing.assert_allclose(v[name].weight, ref.coef_, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(v[name].bias, ref.intercept_, rtol=1e-10, atol=1e-12)
        assert v[name].alpha == pytest.approx(2.0 * f) and v[name].metrics["alpha_factor"] == f
    with pytest.raises(ValueError, match="factors: 1 is the default"):
        ridge_variants(stats, 2.0, (1.0,))
    with pytest.raises(ValueError, match="twice"):
        ridge_variants(stats, 2.0, (10.0, 10))
    with pytest.raises(ValueError, match="factors"):
        ridge_variants(stats, 2.0, (0.0,))
    assert factor_variant(0.1) == "alpha_x0.1" and variant_label("alpha_x10") == "α×10"
    assert variant_label("best_nonlinear", "mlp4/cosine") == "the best non-linear translator (mlp4/cosine)"


def test_nonlinear_variant_and_nullity_zero_model():
    import torch

    from sing.core.nonlinear import NonlinearTranslator, build_module

    F_an, z_text, train = planted()
    torch.manual_seed(0)
    nl = NonlinearTranslator(build_module("mlp3", 4, 3, 8), architecture="mlp3", loss="mse", in_dim=4, out_dim=3)
    stats = RidgeStats(4, 3).update(*train["m1"])
    rows = sensitivity_rows(F_an, z_text, head_geometry(HEAD), {"default": stats.solve(1.0), "best_nonlinear": nl},
                            model="m1", space="s")
    r = rows.filter(pl.col("variant") == "best_nonlinear").row(0, named=True)
    assert r["translator"] == "mlp3/mse" and r["alpha"] is None and r["alpha_factor"] is None
    assert r["median_is"] > 0
    full = head_geometry(np.eye(4))  # nullity 0: AS = IS = 0, ratios NaN, left out of the ordering
    z = sensitivity_rows(F_an, z_text, full, {"default": stats.solve(1.0), "alpha_x10": stats.solve(10.0)},
                         model="flat", space="s")
    assert z["median_is"].to_list() == [0.0, 0.0] and all(math.isnan(v) for v in z["ratio"].to_list())
    table = pl.concat([sensitivity_table(), z])
    st = ordering_stability(table)
    assert st["n_models"].to_list() == [3, 3, 3, 3]
    with pytest.raises(ValueError, match="statistics"):
        ordering_stability(table, ("median",))
    with pytest.raises(ValueError, match="no 'default' variant"):
        ordering_stability(table.filter(pl.col("variant") != "default"))
    with pytest.raises(ValueError, match="variants"):
        sensitivity_rows(F_an, z_text, full, {}, model="m", space="s")


def test_stats_from_stored_pairs_refit_the_stored_translator():
    from sing.analysis.translation import fit_translator_from_pairs, ridge_stats_from_pairs

    F, Z = planted()[2]["m2"]
    ids = [f"img{i:03d}" for i in range(len(F))]
    order = np.random.default_rng(0).permutation(len(F))  # CLIP rows in another order: aligned by id
    T = fit_translator_from_pairs(feature_ids=ids, features=F, target_ids=[ids[i] for i in order],
                                  targets=Z[order], alphas=[0.1, 1.0, 10.0], folds=5, seed=0)
    stats = ridge_stats_from_pairs(feature_ids=ids, features=F, target_ids=[ids[i] for i in order], targets=Z[order])
    again = stats.solve(T.alpha)
    np.testing.assert_allclose(again.weight, T.weight, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(again.bias, T.bias, rtol=1e-10, atol=1e-12)
