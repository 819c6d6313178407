"""sing.metrics: angles (eq. 5), Attribute Score (eq. 7), Image Score (eq. 8)."""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sing.core.geometry import head_geometry
from sing.core.metrics import angle_deg, attribute_score, image_score
from sing.core.translator import LinearTranslator


def mp_angle_deg(x: np.ndarray, y: np.ndarray, dps: int = 60) -> float:
    """High-precision reference: arccos of the exact cosine of the float64 inputs, at `dps` digits."""
    with mpmath.workdps(dps):
        xs = [mpmath.mpf(float(v)) for v in x]
        ys = [mpmath.mpf(float(v)) for v in y]
        dot = mpmath.fsum(a * b for a, b in zip(xs, ys))
        nx = mpmath.sqrt(mpmath.fsum(a * a for a in xs))
        ny = mpmath.sqrt(mpmath.fsum(b * b for b in ys))
        return float(mpmath.degrees(mpmath.acos(dot / (nx * ny))))


def rotated_pair(theta_deg: float, d: int = 768, seed: int = 0):
    """x and y at angle theta in a random plane, with different norms."""
    rng = np.random.default_rng(seed)
    e1 = rng.standard_normal(d)
    e1 /= np.linalg.norm(e1)
    e2 = rng.standard_normal(d)
    e2 -= (e2 @ e1) * e1
    e2 /= np.linalg.norm(e2)
    t = np.radians(theta_deg)
    return 3.7 * e1, 0.2 * (np.cos(t) * e1 + np.sin(t) * e2)


@pytest.mark.parametrize("theta", [1e-4, 3e-4, 1e-3, 0.01, 1.0, 45.0, 90.0, 135.0, 179.99, 179.9999])
def test_accuracy_against_mpmath(theta):
    x, y = rotated_pair(theta, seed=int(theta * 1e4) % 1000)
    ref = mp_angle_deg(x, y)
    assert ref == pytest.approx(theta, abs=1e-9)  # the construction itself is accurate
    assert abs(float(angle_deg(x, y)) - ref) <= 1e-9  # requirement: ≤ 1e-6° at 1e-4°
    # the same pairs through the batched and the all-pairs code paths
    assert abs(float(angle_deg(x[None], y)[0]) - ref) <= 1e-9
    assert abs(float(angle_deg(np.stack([x, -x]), np.stack([y, y, y]))[0, 0]) - ref) <= 1e-9


def test_arccos_of_clamped_cosine_is_worse_at_tiny_angles():
    errs_acos, errs_ours = [], []
    for seed in range(20):
        x, y = rotated_pair(1e-4, seed=seed)
        ref = mp_angle_deg(x, y)
        cos = np.clip(x @ y / np.linalg.norm(x) / np.linalg.norm(y), -1, 1)
        errs_acos.append(abs(np.degrees(np.arccos(cos)) - ref))
        errs_ours.append(abs(float(angle_deg(x, y)) - ref))
    assert max(errs_ours) < 1e-11 < max(errs_acos)


def test_shapes_and_broadcasting():
    rng = np.random.default_rng(1)
    X, Y, v = rng.standard_normal((5, 8)), rng.standard_normal((3, 8)), rng.standard_normal(8)

    def ref(a, b):
        return np.degrees(np.arccos(np.clip(a @ b / np.linalg.norm(a) / np.linalg.norm(b), -1, 1)))

    assert np.ndim(angle_deg(v, X[0])) == 0
    np.testing.assert_allclose(angle_deg(X, v), [ref(x, v) for x in X], atol=1e-10)
    np.testing.assert_allclose(angle_deg(v, X), [ref(v, x) for x in X], atol=1e-10)
    np.testing.assert_allclose(angle_deg(X, X[::-1]), [ref(a, b) for a, b in zip(X, X[::-1])], atol=1e-10)
    pair = angle_deg(X, Y)
    assert pair.shape == (5, 3)
    np.testing.assert_allclose(pair, [[ref(a, b) for b in Y] for a in X], atol=1e-10)
    square = angle_deg(X, X[::-1], pairwise=True)
    assert square.shape == (5, 5)
    np.testing.assert_allclose(np.diag(square), angle_deg(X, X[::-1]), atol=1e-12)
    with pytest.raises(ValueError, match="y: has 3 rows but x has 5"):
        angle_deg(X, Y, pairwise=False)
    with pytest.raises(ValueError, match="pairwise=True needs 2-D"):
        angle_deg(X, v, pairwise=True)


def test_pairwise_near_parallel_pairs_are_exact():
    x, y = rotated_pair(2e-4, d=64, seed=3)
    rng = np.random.default_rng(4)
    X = np.stack([x, rng.standard_normal(64), -x])
    Y = np.stack([y, rng.standard_normal(64)])
    out = angle_deg(X, Y)
    ref = mp_angle_deg(x, y)
    assert abs(out[0, 0] - ref) < 1e-9 and abs(out[2, 0] - (180.0 - ref)) < 1e-9


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), a=st.floats(1e-3, 1e3), b=st.floats(1e-3, 1e3), d=st.integers(2, 50))
def test_properties(seed, a, b, d):
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal(d), rng.standard_normal(d)
    ang = float(angle_deg(x, y))
    assert 0.0 <= ang <= 180.0
    assert float(angle_deg(a * x, b * y)) == pytest.approx(ang, abs=1e-10)  # scale invariance
    assert float(angle_deg(y, x)) == pytest.approx(ang, abs=1e-12)  # symmetry
    assert float(angle_deg(x, -y)) == pytest.approx(180.0 - ang, abs=1e-10)
    assert float(angle_deg(x, x)) == 0.0
    assert float(angle_deg(x, -x)) == 180.0


def test_kinds():
    rng = np.random.default_rng(5)
    X, Y = rng.standard_normal((4, 6)), rng.standard_normal((4, 6))
    ref = angle_deg(X, Y)
    assert angle_deg(X.astype(np.float32), Y).dtype == np.float32
    t = angle_deg(torch.from_numpy(X), Y)
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float64
    np.testing.assert_array_equal(t.numpy(), ref)
    assert image_score(torch.from_numpy(X).float(), torch.from_numpy(Y).float()).dtype == torch.float32


def test_image_and_attribute_score_definitions():
    rng = np.random.default_rng(6)
    z, z_eq, texts = rng.standard_normal((7, 10)), rng.standard_normal((7, 10)), rng.standard_normal((3, 10))

    def ref(a, b):
        return np.degrees(np.arccos(a @ b / np.linalg.norm(a) / np.linalg.norm(b)))

    np.testing.assert_allclose(image_score(z, z_eq), [ref(a, b) for a, b in zip(z, z_eq)], atol=1e-10)
    AS = attribute_score(z, z_eq, texts[0])
    np.testing.assert_allclose(AS, [ref(a, texts[0]) - ref(b, texts[0]) for a, b in zip(z, z_eq)], atol=1e-10)
    AS2 = attribute_score(z, z_eq, texts)
    assert AS2.shape == (7, 3)
    np.testing.assert_allclose(AS2[:, 0], AS, atol=1e-12)
    # P == N prompts is still all-pairs
    assert attribute_score(z[:3], z_eq[:3], texts).shape == (3, 3)
    assert attribute_score(z[0], z_eq[0], texts).shape == (3,)
    # sign: the equivalent feature moved onto the text → positive
    assert float(attribute_score(z[0], texts[1], texts[1])) == pytest.approx(ref(z[0], texts[1]), abs=1e-10)
    assert float(attribute_score(z[0], texts[1], texts[1])) > 0


def test_planted_class_direction_null_vs_principal():
    """Exact ground truth: a class concept planted in the null space gives a large |AS|; the same
    concept planted in the principal space gives AS ≈ 0, with closed-form values for both."""
    rng = np.random.default_rng(7)
    m, c, r = 8, 5, 3
    V, _ = np.linalg.qr(rng.standard_normal((m, m)))
    principal, null = V[:, :r], V[:, r:]
    W = rng.standard_normal((c, r)) @ principal.T  # head whose row space is span(principal)
    geom = head_geometry(W)
    Q, _ = np.linalg.qr(rng.standard_normal((m, m)))
    T = LinearTranslator(2.0 * Q, np.zeros(m))  # angle-preserving translator (scaled rotation)

    def features(concept, others_p, others_n, strength=3.0):
        return strength * concept + others_p + others_n

    small = 0.05
    eta_p = 0.4 * principal[:, 1]  # principal nuisance ⊥ concept
    for where, concept, eta_n in (("principal", principal[:, 0], small * null[:, 0]),
                                  ("null", null[:, 0], 0.6 * null[:, 1])):
        f = features(concept, eta_p, eta_n)
        f_eq = geom.remove_null(f)
        np.testing.assert_allclose(W @ f_eq, W @ f, atol=1e-12)
        t = T(concept)  # the text embedding of the concept
        AS = float(attribute_score(T(f), T(f_eq), t))
        IS = float(image_score(T(f), T(f_eq)))
        if where == "principal":
            # f = 3c + η_p + η_n, f̃ = 3c + η_p: AS = atan(‖η_p + η_n‖/3) − atan(‖η_p‖/3)
            expected = np.degrees(np.arctan(np.hypot(0.4, small) / 3) - np.arctan(0.4 / 3))
            assert AS == pytest.approx(expected, abs=1e-10) and 0 < AS < 0.1
        else:
            # f = 3c + η_p + η_n, f̃ = η_p ⊥ c: AS = atan(‖η_p + η_n‖/3) − 90°
            expected = np.degrees(np.arctan(np.hypot(0.4, 0.6) / 3)) - 90.0
            assert AS == pytest.approx(expected, abs=1e-10) and AS < -70
        assert IS == pytest.approx(float(angle_deg(f, f_eq)), abs=1e-10)


@pytest.mark.parametrize("call,match", [
    (lambda: angle_deg(np.zeros(3), np.ones(3)), "x: has zero norm"),
    (lambda: angle_deg(np.ones((2, 3)), np.array([[1.0, 0, 0], [0, 0, 0]])), r"y: 1 row\(s\) have zero norm"),
    (lambda: angle_deg(np.ones(3), np.array([1.0, np.nan, 0])), "y: contains NaN"),
    (lambda: angle_deg(np.array([np.inf, 0, 0]), np.ones(3)), "x: contains Inf"),
    (lambda: angle_deg(np.ones(3), np.ones(4)), "y: last dimension 4 does not match x's 3"),
    (lambda: angle_deg(np.ones((2, 2, 3)), np.ones(3)), "x: expected 1 or 2 dimensions"),
    (lambda: angle_deg(np.ones((0, 3)), np.ones(3)), "x: is empty"),
    (lambda: image_score(np.ones((2, 3)), np.ones((3, 3))), "z_eq: shape"),
    (lambda: attribute_score(np.ones((2, 3)), np.ones((2, 3)), np.zeros(3)), "z_text: has zero norm"),
    (lambda: attribute_score(np.ones((2, 3)), np.ones((2, 3)), np.ones(4)), "z_text: last dimension"),
    (lambda: attribute_score(np.ones((2, 3)), np.ones((1, 3)), np.ones(3)), "z_eq: shape"),
])
def test_bad_inputs(call, match):
    with pytest.raises(ValueError, match=match):
        call()
