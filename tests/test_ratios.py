"""Both readings of the paper's "median ratio" (ratio of medians, median of per-image ratios) with their bootstrap
CIs, and the covariance confidence ellipses of Fig. 3a, against brute force, scipy and planted truth."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from scipy.stats import chi2

from sing.analysis.stats import (
    bootstrap_counts,
    bootstrap_image_ratio,
    bootstrap_ratio,
    covariance_ellipse,
    image_ratios,
    kendall_tau,
)
from sing.analysis.summaries import JOINT_SAMPLE_COLUMNS, joint_sample


# ------------------------------------------------------------------------------------------------ ratio readings
def test_planted_models_whose_two_ratio_orderings_disagree():
    """Model A: median IS / median |AS| = 3 / 2 = 1.5 < model B's 4 / 2 = 2, but A's per-image ratios (3, 10, 1)
    have median 3 > B's (2, 2, 2): the two readings order the models oppositely."""
    abs_as = np.array([1.0, 2.0, 3.0])
    a_is, b_is = np.array([3.0, 20.0, 3.0]), np.array([2.0, 4.0, 6.0])
    ra, rb = (bootstrap_ratio(i, abs_as, n_boot=50)[0] for i in (a_is, b_is))
    ia, ib = (bootstrap_image_ratio(i, abs_as, n_boot=50)[0] for i in (a_is, b_is))
    assert (ra, rb, ia, ib) == (1.5, 2.0, 3.0, 2.0)
    assert (ra < rb) and (ia > ib)
    tau, _ = kendall_tau([ra, rb], [ia, ib])
    assert tau == -1.0


@pytest.mark.parametrize("unit", ["image", "class"])
def test_bootstrap_image_ratio_equals_brute_force(unit):
    rng = np.random.default_rng(3)
    n_classes, per = 12, 7
    groups = np.repeat(np.arange(n_classes), per)
    is_deg = rng.gamma(3, 3, groups.size)
    abs_as = np.abs(rng.normal(0, 1, groups.size))
    n_boot, seed = 200, 5
    point, lo, hi, used = bootstrap_image_ratio(is_deg, abs_as, groups, n_boot=n_boot, ci=0.9, seed=seed, unit=unit)
    r = is_deg / abs_as
    assert used == unit and point == pytest.approx(np.median(r))
    counts = bootstrap_counts(n_classes if unit == "class" else groups.size, n_boot, seed)
    reps = [np.median(np.repeat(r, c[groups] if unit == "class" else c)) for c in counts]
    assert [lo, hi] == pytest.approx(list(np.percentile(reps, [5, 95])), rel=1e-12)


def test_image_ratios_edge_cases():
    r = image_ratios([2.0, 0.0, 3.0, 0.0], [1.0, 0.0, 0.0, 2.0])
    assert r[0] == 2.0 and np.isnan(r[1]) and r[2] == np.inf and r[3] == 0.0
    point, lo, hi, _ = bootstrap_image_ratio([0.0, 0.0], [0.0, 0.0], n_boot=20)  # nullity 0: no ratio
    assert np.isnan(point) and np.isnan(lo) and np.isnan(hi)
    # an image with |AS| = 0 < IS counts as the largest ratio, it is not dropped
    assert bootstrap_image_ratio([1.0, 2.0, 5.0], [1.0, 1.0, 0.0], n_boot=20)[0] == 2.0


# ------------------------------------------------------------------------------------------------ ellipses
def test_ellipse_axes_are_the_planted_covariance_eigenvectors():
    angle = np.radians(30.0)
    Q = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    lam = np.array([9.0, 1.0])
    S = Q @ np.diag(lam) @ Q.T
    mu = np.array([2.0, 15.0])
    r95 = np.sqrt(chi2.ppf(0.95, df=2))
    for kwargs, r in (({"radius": 1.0}, 1.0), ({"level": 0.95}, r95)):
        points, axes = covariance_ellipse(mu, S, **kwargs)
        for i in range(2):  # semi-axis i = ± r √λ_i q_i (eigenvector sign is arbitrary)
            expected = r * np.sqrt(lam[i]) * Q[:, i]
            assert min(np.abs(axes[:, i] - expected).max(), np.abs(axes[:, i] + expected).max()) < 1e-12
        d = points - mu
        np.testing.assert_allclose(np.einsum("ij,jk,ik->i", d, np.linalg.inv(S), d), r ** 2, rtol=1e-12)
        np.testing.assert_allclose(points[0], points[-1])  # closed
    assert r95 == pytest.approx(2.447746830680816)


def test_95_percent_ellipse_holds_95_percent_of_a_gaussian():
    rng = np.random.default_rng(0)
    S = np.array([[4.0, 1.5], [1.5, 1.0]])
    X = rng.multivariate_normal([0.0, 0.0], S, size=200_000)
    _, axes = covariance_ellipse([0.0, 0.0], S, level=0.95)
    coords = X @ np.linalg.inv(axes).T  # coordinates in units of the semi-axes: inside <=> |c| <= 1
    assert np.mean(np.sum(coords ** 2, axis=1) <= 1.0) == pytest.approx(0.95, abs=0.003)


def test_ellipse_degenerate_and_bad_input():
    points, axes = covariance_ellipse([1.0, 1.0], np.zeros((2, 2)), radius=1.0)
    np.testing.assert_allclose(points, 1.0)  # nullity 0: every image at (0, 0) → a point
    flat, _ = covariance_ellipse([0.0, 0.0], [[1.0, 1.0], [1.0, 1.0]], radius=1.0)
    np.testing.assert_allclose(flat[:, 0], flat[:, 1], atol=1e-12)  # rank 1: a segment on the diagonal
    with pytest.raises(ValueError, match="exactly one"):
        covariance_ellipse([0, 0], np.eye(2))
    with pytest.raises(ValueError, match="symmetric"):
        covariance_ellipse([0, 0], [[1.0, 0.5], [0.0, 1.0]], radius=1)
    with pytest.raises(ValueError, match="semidefinite"):
        covariance_ellipse([0, 0], [[1.0, 0.0], [0.0, -1.0]], radius=1)
    with pytest.raises(ValueError, match="level"):
        covariance_ellipse([0, 0], np.eye(2), level=1.0)


def test_joint_sample_is_a_seeded_uniform_subsample():
    n = 50
    scores = pl.DataFrame({"image_id": [f"i{j:03d}" for j in range(n)][::-1], "class_id": ["n01440764"] * n,
                           "class_index": np.zeros(n, np.int32), "as_deg": np.linspace(-2, 2, n)[::-1],
                           "is_deg": np.linspace(0, 30, n)[::-1]})
    a = joint_sample(scores, "m", "s", 20, seed=1)
    assert tuple(a.columns) == JOINT_SAMPLE_COLUMNS and a.height == 20
    assert a["image_id"].to_list() == sorted(a["image_id"].to_list())
    assert a.equals(joint_sample(scores.sample(fraction=1.0, shuffle=True, seed=3), "m", "s", 20, seed=1))
    assert not a.equals(joint_sample(scores, "m", "s", 20, seed=2))
    full = joint_sample(scores, "m", "s", 500)
    assert full.height == n and (full["abs_as"] >= 0).all()
