"""sing.perturb: semantic gradient (eqs. 10-11), null direction (eq. 12), steering (eq. 13) and the
null-space validation perturbations (supp. §2, eqs. 16-17)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sing.core.geometry import head_geometry
from sing.core.metrics import image_score
from sing.core.perturb import (
    equal_norm_perturbation,
    logit_change,
    null_text_direction,
    steer,
    text_gradient,
)
from sing.core.translator import LinearTranslator

M, C, N_OUT = 24, 10, 12


@pytest.fixture(scope="module")
def setup():
    rng = np.random.default_rng(0)
    W = rng.standard_normal((C, M))
    b = rng.standard_normal(C)
    geom = head_geometry(W)
    T = LinearTranslator(rng.standard_normal((N_OUT, M)) / np.sqrt(M), rng.standard_normal(N_OUT))
    F = rng.standard_normal((16, M)) + 0.5
    t = rng.standard_normal(N_OUT)
    return W, b, geom, T, F, t


def autograd_gradient(F, T, t):
    f = torch.tensor(F, dtype=torch.float64, requires_grad=True)
    z = f @ torch.from_numpy(T.weight).T + torch.from_numpy(T.bias)
    s = torch.nn.functional.cosine_similarity(z, torch.as_tensor(t, dtype=torch.float64).expand_as(z), dim=-1)
    s.sum().backward()
    return f.grad.numpy()


def test_text_gradient_matches_autograd(setup):
    _, _, _, T, F, t = setup
    g = text_gradient(F, T, t)
    ref = autograd_gradient(F, T, t)
    np.testing.assert_allclose(g, ref, rtol=1e-10, atol=1e-10 * np.abs(ref).max())
    # one text per row, 1-D input, torch input
    texts = np.random.default_rng(1).standard_normal((len(F), N_OUT))
    np.testing.assert_allclose(text_gradient(F, T, texts), autograd_gradient(F, T, texts), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(text_gradient(F[2], T, t), ref[2], rtol=1e-10, atol=1e-14)
    gt = text_gradient(torch.from_numpy(F), T, torch.from_numpy(t))
    assert isinstance(gt, torch.Tensor) and gt.dtype == torch.float64
    np.testing.assert_allclose(gt.numpy(), g, rtol=1e-14)


def test_null_text_direction(setup):
    W, _, geom, T, F, t = setup
    D, mask = null_text_direction(F, geom, T, t)
    assert mask.dtype == bool and mask.all()
    np.testing.assert_allclose(np.linalg.norm(D, axis=1), 1.0, atol=1e-12)
    assert np.all(np.linalg.norm(D @ W.T, axis=1) < 1e-12 * np.linalg.norm(W))  # W d = 0 (eq. 17)
    _, s, Vt = np.linalg.svd(W)  # reference: explicit projector
    Pn = Vt[geom.rank:].T @ Vt[geom.rank:]
    ref = autograd_gradient(F, T, t) @ Pn
    np.testing.assert_allclose(D, ref / np.linalg.norm(ref, axis=1, keepdims=True), atol=1e-9)
    # moving along the null direction raises the cosine to the text while the logits stay put
    h = 1e-3
    cos = lambda X: (T(X) @ t) / np.linalg.norm(T(X), axis=1) / np.linalg.norm(t)  # noqa: E731
    assert np.all(cos(F + h * D) > cos(F))


def test_null_text_direction_masks_rows_without_null_component(setup):
    W, _, geom, T, F, t = setup
    # nullity 0: every row is masked
    full = head_geometry(np.random.default_rng(2).standard_normal((M + 3, M)))
    D, mask = null_text_direction(F, full, T, t)
    assert not mask.any() and np.isnan(D).all()
    # a translator blind to the null space has a purely principal gradient
    blind = LinearTranslator(T.weight @ geom.principal_basis @ geom.principal_basis.T, T.bias)
    D, mask = null_text_direction(F, geom, blind, t)
    assert not mask.any() and np.isnan(D).all()
    Dt, mt = null_text_direction(torch.from_numpy(F).float(), geom, T, t)
    assert Dt.dtype == torch.float32 and mt.dtype == torch.bool and bool(mt.all())


def test_steer_hits_target_image_score(setup):
    W, _, geom, T, F, t = setup
    D, _ = null_text_direction(F, geom, T, t)
    targets = np.random.default_rng(3).uniform(0.0, 40.0, len(F))
    F_eps, eps, reason = steer(F, D, T, targets)
    ok = reason == "ok"
    a, u = T(F), D @ T.weight.T
    limit = np.degrees(np.arccos(np.sum(a * u, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(u, axis=1)))
    np.testing.assert_array_equal(ok, targets < limit)
    assert ok.sum() >= 4
    assert np.all(eps[ok] >= 0)
    np.testing.assert_allclose(image_score(T(F[ok]), T(F_eps[ok])), targets[ok], atol=1e-3)
    np.testing.assert_allclose(image_score(T(F[ok]), T(F_eps[ok])), targets[ok], atol=1e-9)
    np.testing.assert_allclose(F_eps[ok], F[ok] + eps[ok, None] * D[ok], rtol=1e-14)
    assert np.all(np.linalg.norm((F_eps[ok] - F[ok]) @ W.T, axis=1) < 1e-10 * np.linalg.norm(F[ok] @ W.T, axis=1))
    assert np.isnan(F_eps[~ok]).all() and np.isnan(eps[~ok]).all()
    assert set(reason[~ok]) <= {"unreachable"}


def test_steer_epsilon_matches_bisection(setup):
    _, _, _, T, F, _ = setup
    rng = np.random.default_rng(4)
    d = rng.standard_normal(M)
    f = F[0]
    a, u = T(f), T.weight @ d
    limit = float(np.degrees(np.arccos(a @ u / np.linalg.norm(a) / np.linalg.norm(u))))
    for target in (1e-3, 0.5, limit / 2, limit - 0.5):
        _, eps, reason = steer(f, d, T, target)
        lo, hi = 0.0, 1.0
        while float(image_score(a, T(f + hi * d))) < target:
            hi *= 2
        for _ in range(200):  # independent reference: bisection on the monotone IS(ε)
            mid = 0.5 * (lo + hi)
            lo, hi = (mid, hi) if float(image_score(a, T(f + mid * d))) < target else (lo, mid)
        assert str(reason) == "ok" and float(eps) == pytest.approx(lo, rel=1e-8)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), frac=st.floats(0.0, 0.999))
def test_steer_property(seed, frac):
    rng = np.random.default_rng(seed)
    T = LinearTranslator(rng.standard_normal((6, 9)), rng.standard_normal(6))
    f, d = rng.standard_normal(9), rng.standard_normal(9)
    a, u = T(f), T.weight @ d
    limit = float(np.degrees(2 * np.arctan2(np.linalg.norm(a / np.linalg.norm(a) - u / np.linalg.norm(u)),
                                            np.linalg.norm(a / np.linalg.norm(a) + u / np.linalg.norm(u)))))
    target = frac * limit
    f_eps, eps, reason = steer(f, d, T, target)
    assert str(reason) == "ok" and float(eps) >= 0
    assert float(image_score(a, T(f_eps))) == pytest.approx(target, abs=1e-3)
    _, eps2, reason2 = steer(f, d, T, min(limit + 1e-6, 179.9))
    assert str(reason2) == "unreachable" and np.isnan(eps2)


def test_steer_reasons_and_edge_cases(setup):
    W, _, geom, T, F, t = setup
    D = np.random.default_rng(5).standard_normal(F.shape)
    D[1] = np.nan  # e.g. masked by null_text_direction
    D[2] = 0.0
    D[3] = geom.principal_basis @ geom.principal_basis.T @ D[3]
    blind = LinearTranslator(T.weight @ geom.principal_basis @ geom.principal_basis.T, T.bias)
    targets = np.full(len(F), 5.0)
    targets[4] = 0.0
    F_eps, eps, reason = steer(F, D, T, targets)
    assert reason[1] == reason[2] == "no_direction" and np.isnan(F_eps[1]).all()
    assert reason[4] == "ok" and eps[4] == 0.0 and np.array_equal(F_eps[4], F[4])
    _, eps_b, reason_b = steer(F[:1], geom.null_basis[:, 0], blind, 5.0)  # W_T d = 0
    assert reason_b[0] == "unreachable" and np.isnan(eps_b[0])
    Ft, et, rt = steer(torch.from_numpy(F).float(), torch.from_numpy(D).float(), T, 5.0)
    assert Ft.dtype == torch.float32 and et.dtype == torch.float32 and isinstance(rt, np.ndarray)
    with pytest.raises(ValueError, match=r"target_is_deg: must lie in \[0, 180\)"):
        steer(F, D, T, -1.0)
    with pytest.raises(ValueError, match="target_is_deg: expected a scalar or 16 values"):
        steer(F, D, T, [1.0, 2.0])
    with pytest.raises(ValueError, match="direction: shape"):
        steer(F, D[:3], T, 1.0)
    with pytest.raises(ValueError, match="direction: contains Inf"):
        steer(F, np.full(M, np.inf), T, 1.0)


def test_equal_norm_perturbations(setup):
    W, b, geom, _, F, _ = setup
    norms = np.linspace(0.5, 2.0, len(F))
    out = {}
    for kind in ("null", "random", "principal"):
        delta = equal_norm_perturbation(F, geom, kind, norms, seed=0, W=W, pred=None, bias=b)
        np.testing.assert_allclose(np.linalg.norm(delta, axis=1), norms, rtol=1e-12)
        np.testing.assert_array_equal(delta, equal_norm_perturbation(F, geom, kind, norms, 0, W=W, bias=b))
        out[kind] = logit_change(W, delta)
        # logit change = ‖ℓ(f+δ) − ℓ(f)‖ (eq. 16)
        np.testing.assert_allclose(out[kind], np.linalg.norm((F + delta) @ W.T + b - (F @ W.T + b), axis=1),
                                   rtol=1e-9, atol=1e-12)
    assert np.all(out["null"] < 1e-12 * np.linalg.norm(W, 2) * norms)
    assert np.all(out["random"] > 1e3 * out["null"])
    assert np.median(out["principal"]) > np.median(out["random"])
    pred = np.argmax(F @ W.T + b, axis=1)
    expected = W[pred] / np.linalg.norm(W[pred], axis=1, keepdims=True) * norms[:, None]
    np.testing.assert_allclose(equal_norm_perturbation(F, geom, "principal", norms, 0, W=W, bias=b), expected,
                               rtol=1e-12)
    np.testing.assert_allclose(equal_norm_perturbation(F, geom, "principal", 1.0, 0, W=W, pred=np.zeros(len(F), int)),
                               np.tile(W[0] / np.linalg.norm(W[0]), (len(F), 1)), rtol=1e-12)
    assert not np.array_equal(equal_norm_perturbation(F, geom, "random", 1.0, 0),
                              equal_norm_perturbation(F, geom, "random", 1.0, 1))
    t = equal_norm_perturbation(torch.from_numpy(F).float(), geom, "null", 1.0, 0)
    assert t.dtype == torch.float32
    np.testing.assert_allclose(t.numpy(), equal_norm_perturbation(F, geom, "null", 1.0, 0), rtol=1e-6, atol=1e-7)


def test_bad_inputs(setup):
    W, b, geom, T, F, t = setup
    full = head_geometry(np.random.default_rng(2).standard_normal((M + 3, M)))
    with pytest.raises(ValueError, match="kind: expected one of"):
        equal_norm_perturbation(F, geom, "gaussian", 1.0, 0)
    with pytest.raises(ValueError, match="geometry: nullity is 0"):
        equal_norm_perturbation(F, full, "null", 1.0, 0)
    with pytest.raises(ValueError, match="W: required for kind='principal'"):
        equal_norm_perturbation(F, geom, "principal", 1.0, 0)
    with pytest.raises(ValueError, match="pred: class indices must lie in"):
        equal_norm_perturbation(F, geom, "principal", 1.0, 0, W=W, pred=np.full(len(F), C))
    with pytest.raises(ValueError, match="norm: must be >= 0"):
        equal_norm_perturbation(F, geom, "random", -1.0, 0)
    with pytest.raises(ValueError, match="F: last dimension is 5 but the geometry's in_dim is 24"):
        equal_norm_perturbation(np.ones((2, 5)), geom, "random", 1.0, 0)
    with pytest.raises(ValueError, match="z_text: has zero norm"):
        text_gradient(F, T, np.zeros(N_OUT))
    with pytest.raises(ValueError, match="z_text: last dimension"):
        text_gradient(F, T, np.ones(N_OUT + 1))
    with pytest.raises(ValueError, match="z_text: 2-D z_text must have one row per feature"):
        text_gradient(F, T, np.ones((3, N_OUT)))
    with pytest.raises(ValueError, match="F: contains NaN"):
        text_gradient(np.full_like(F, np.nan), T, t)
    with pytest.raises(ValueError, match="F: the translated feature T\\(f\\) has zero norm"):
        text_gradient(np.zeros((1, M)), LinearTranslator(T.weight, np.zeros(N_OUT)), t)
    with pytest.raises(ValueError, match="translator: expected an object with .weight"):
        text_gradient(F, object(), t)
    with pytest.raises(ValueError, match="geometry: in_dim"):
        null_text_direction(F[:, :5], head_geometry(np.ones((2, 5))), T, t)
    with pytest.raises(ValueError, match="delta: last dimension is 5 but W's in_dim is 24"):
        logit_change(W, np.ones((2, 5)))
    with pytest.raises(ValueError, match="W: expected 2 dimensions"):
        logit_change(W[0], np.ones((2, M)))
    with pytest.raises(ValueError, match="delta: is empty"):
        logit_change(W, np.ones((0, M)))
