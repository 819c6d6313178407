"""Null-space steering (Table 1): the paper's one-step-per-model calibration (mean IS = target) against closed forms,
and the per-image calibration."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from test_analysis import planted_model, ref_angle

from sing.analysis.steering import (
    STEERING_COLUMNS,
    STEERING_SUMMARY_COLUMNS,
    mean_is_step,
    steering_scores,
    steering_summary,
)
from sing.core.geometry import head_geometry
from sing.core.translator import LinearTranslator


def orthogonal_model(norms):
    """T = identity on R^4, head rows e1 and e3 (null space span{e2, e4}), features f_i = A_i e1 or A_i e3 and the
    text z = e2: the text gradient of every image is e2 / A_i, already in the null space, so d̂ = e2 ⊥ T f and
    IS_i(ε) = atan(ε / A_i) = AS_i(ε)."""
    W = np.zeros((2, 4))
    W[0, 0] = W[1, 2] = 1.0
    g = head_geometry(W)
    T = LinearTranslator(np.eye(4), np.zeros(4))
    F = np.zeros((len(norms), 4))
    for i, a in enumerate(norms):
        F[i, 0 if i % 2 == 0 else 2] = a
    return g, T, F, np.array([0.0, 1.0, 0.0, 0.0])


def test_mean_is_step_equals_the_closed_form_for_equal_norms():
    A = 3.0
    g, T, F, z = orthogonal_model([A] * 5)
    st = mean_is_step(F, g, T, z, 40.0)
    assert st.eps == pytest.approx(A * np.tan(np.radians(40.0)), rel=1e-12)
    np.testing.assert_allclose(st.is_deg, 40.0, rtol=1e-12)


def test_mean_is_step_equals_the_closed_form_for_two_norms():
    """atan(ε/A1) + atan(ε/A2) = 2θ  ⇔  tan(2θ) ε² + (A1 + A2) ε − tan(2θ) A1 A2 = 0 (tangent addition)."""
    A1, A2, theta = 1.0, 5.0, 40.0
    g, T, F, z = orthogonal_model([A1, A2])
    t = np.tan(np.radians(2 * theta))
    closed = (-(A1 + A2) + np.sqrt((A1 + A2) ** 2 + 4 * t ** 2 * A1 * A2)) / (2 * t)
    st = mean_is_step(F, g, T, z, theta)
    assert st.eps == pytest.approx(closed, rel=1e-12)
    # independent check: the images' IS measured on the translated features, and the mean is the target
    is_deg = ref_angle(T(F), T(st.features))
    np.testing.assert_allclose(is_deg, np.degrees(np.arctan(closed / np.array([A1, A2]))), rtol=1e-10)
    assert is_deg.mean() == pytest.approx(theta, abs=1e-10)
    # the per-image calibration gives each image its own step A_i tan θ instead
    df = steering_scores(F, ["a", "b"], g, T, z, theta, calibration="per_image")
    np.testing.assert_allclose(df["eps"].to_numpy(), np.array([A1, A2]) * np.tan(np.radians(theta)), rtol=1e-10)
    df = steering_scores(F, ["a", "b"], g, T, z, theta, calibration="mean_is")
    np.testing.assert_allclose(df["eps"].to_numpy(), closed, rtol=1e-12)
    np.testing.assert_allclose(df["as_deg"].to_numpy(), df["is_deg"].to_numpy(), rtol=1e-9)  # z along the step


def test_mean_is_keeps_images_without_a_direction_and_per_image_drops_them():
    g, T, F, z = orthogonal_model([2.0, 2.0, 2.0])
    F = np.vstack([F, [[0.0, 3.0, 0.0, 0.0]]])  # T f ∥ z: the cosine is at its maximum, the text gradient is 0
    ids = ["a", "b", "c", "d"]
    mean = steering_scores(F, ids, g, T, z, 40.0, calibration="mean_is")
    per = steering_scores(F, ids, g, T, z, 40.0, calibration="per_image")
    assert mean["included"].all() and mean["reason"].to_list() == ["ok", "ok", "ok", "no_direction"]
    assert mean.filter(pl.col("image_id") == "d").select("is_deg", "as_deg").row(0) == (0.0, 0.0)
    assert mean["is_deg"].mean() == pytest.approx(40.0, abs=1e-9)  # the static image is part of the mean
    np.testing.assert_allclose(mean["eps"].to_numpy(), mean["eps"][0])  # one step for the model
    assert per["included"].to_list() == [True, True, True, False]
    summary = steering_summary(pl.concat([mean, per]).with_columns(pl.lit("m").alias("model"),
                                                                   pl.lit("s").alias("space")))
    assert tuple(summary.columns) == STEERING_SUMMARY_COLUMNS
    rows = {r["calibration"]: r for r in summary.iter_rows(named=True)}
    assert (rows["mean_is"]["n"], rows["mean_is"]["n_included"], rows["mean_is"]["n_no_direction"]) == (4, 4, 1)
    assert (rows["per_image"]["n_included"], rows["per_image"]["n_excluded"]) == (3, 1)
    assert rows["mean_is"]["is_mean"] == pytest.approx(40.0, abs=1e-9)
    assert rows["per_image"]["is_mean"] == pytest.approx(40.0, abs=1e-9)


def test_mean_is_unreachable_and_nullity_zero():
    g, T, F, z = orthogonal_model([1.0, 2.0])
    df = steering_scores(F, ["a", "b"], g, T, z, 95.0)  # each limit angle is 90°: the mean cannot reach 95°
    assert df["reason"].to_list() == ["unreachable"] * 2 and not df["included"].any()
    rng = np.random.default_rng(0)
    g0 = head_geometry(rng.standard_normal((6, 6)))
    T0 = LinearTranslator(rng.standard_normal((4, 6)), np.zeros(4))
    for calibration in ("mean_is", "per_image"):
        df = steering_scores(rng.standard_normal((3, 6)), ["a", "b", "c"], g0, T0, np.ones(4), calibration=calibration)
        assert df["reason"].to_list() == ["no_null_space"] * 3 and df["abs_as"].null_count() == 3
    with pytest.raises(ValueError, match="calibration"):
        steering_scores(F, ["a", "b"], g, T, z, 40.0, calibration="median")


@pytest.mark.parametrize("calibration", ["mean_is", "per_image"])
def test_steering_on_a_planted_model_keeps_logits_and_moves_toward_the_prompt(calibration):
    W, g, T, texts, F, y = planted_model()
    ids = [f"i{j:04d}" for j in range(len(y))]
    df = steering_scores(F, ids, g, T, texts[0], target_is_deg=40.0, calibration=calibration)
    assert tuple(df.columns) == STEERING_COLUMNS[2:]
    ok = df.filter(pl.col("included"))
    assert ok.height > 0 and ok["as_deg"].min() > 0  # the gradient step moves toward the prompt
    if calibration == "per_image":
        assert (ok["is_deg"] - 40.0).abs().max() < 1e-6
    else:
        assert ok.height == len(y) and ok["is_deg"].mean() == pytest.approx(40.0, abs=1e-9)
        assert ok["eps"].n_unique() == 1 and ok["is_deg"].std() > 0  # one step, IS varies per image
    from sing.core.perturb import null_text_direction

    D, _ = null_text_direction(F[:1], g, T, texts[0])
    row = df.filter(pl.col("image_id") == ids[0]).row(0, named=True)
    f_eps = F[0] + row["eps"] * D[0]
    assert np.linalg.norm(W @ (f_eps - F[0])) < 1e-9 * np.linalg.norm(W @ F[0])
    assert ref_angle(T(F[:1]), T(f_eps[None]))[0] == pytest.approx(row["is_deg"], abs=1e-6)


def test_steering_summary_matches_numpy():
    df = pl.DataFrame({"model": ["a"] * 4 + ["b"] * 2, "space": ["s"] * 6, "calibration": ["per_image"] * 6,
                       "image_id": list("abcdef"), "eps": [1.0] * 6, "is_deg": [40.0, 40.0, 40.0, None, 40.0, 40.0],
                       "as_deg": [1.0, -2.0, 3.0, None, 4.0, 5.0], "abs_as": [1.0, 2.0, 3.0, None, 4.0, 5.0],
                       "included": [True, True, True, False, True, True],
                       "reason": ["ok"] * 3 + ["unreachable"] + ["ok"] * 2})
    s = steering_summary(df)
    a = s.row(0, named=True)
    assert (a["n"], a["n_included"], a["n_excluded"], a["n_no_direction"]) == (4, 3, 1, 0)
    assert a["abs_as_mean"] == pytest.approx(2.0) and a["abs_as_std"] == pytest.approx(np.std([1, 2, 3], ddof=1))
