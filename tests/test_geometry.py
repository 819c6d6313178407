"""sing.geometry: SVD principal/null split of a classifier head (paper §3.2, eqs. 1-3, 9)."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sing.core.geometry import HeadGeometry, head_geometry, weight_sha256


def planted_head(c: int, m: int, rank: int, seed: int = 0, scale: float = 1.0):
    """W = U diag(s) V_pᵀ with a known principal basis V_p (m×rank) and null basis V_n."""
    rng = np.random.default_rng(seed)
    V, _ = np.linalg.qr(rng.standard_normal((m, m)))
    U, _ = np.linalg.qr(rng.standard_normal((c, rank)))
    s = scale * np.linspace(3.0, 0.5, rank)
    W = (U * s) @ V[:, :rank].T
    return W, V[:, :rank], V[:, rank:]


def reference_projectors(W: np.ndarray, threshold: float):
    """Independent reference: explicit m×m projectors from numpy's SVD."""
    _, s, Vt = np.linalg.svd(W)
    r = int(np.sum(s > threshold))
    Vp, Vn = Vt[:r].T, Vt[r:].T
    return Vp @ Vp.T, Vn @ Vn.T


@pytest.mark.parametrize("c,m,rank", [(20, 50, 15), (40, 50, 40), (8, 50, 8)])
def test_planted_null_space_is_recovered(c, m, rank):
    W, Vp, Vn = planted_head(c, m, rank)
    g = head_geometry(W)
    assert (g.rank, g.nullity, g.in_dim, g.out_dim) == (rank, m - rank, m, c)
    # Same subspaces (bases may differ by a rotation): compare projectors.
    np.testing.assert_allclose(g.null_basis @ g.null_basis.T, Vn @ Vn.T, atol=1e-12)
    np.testing.assert_allclose(g.principal_basis @ g.principal_basis.T, Vp @ Vp.T, atol=1e-12)
    np.testing.assert_allclose(g.principal_basis.T @ g.principal_basis, np.eye(rank), atol=1e-12)
    np.testing.assert_allclose(g.null_basis.T @ g.null_basis, np.eye(m - rank), atol=1e-12)
    assert np.all(np.diff(g.singular_values) <= 0)


@pytest.mark.parametrize("c,m,rank", [(20, 50, 15), (45, 50, 45)])  # rank < nullity and rank > nullity
def test_projections_match_numpy_svd_projectors(c, m, rank):
    W, _, _ = planted_head(c, m, rank, seed=1)
    g = head_geometry(W)
    P_p, P_n = reference_projectors(W, g.threshold)
    F = np.random.default_rng(2).standard_normal((30, m))
    np.testing.assert_allclose(g.project_null(F), F @ P_n, atol=1e-12)
    np.testing.assert_allclose(g.project_principal(F), F @ P_p, atol=1e-12)
    np.testing.assert_allclose(g.remove_null(F), F - F @ P_n, atol=1e-12)
    np.testing.assert_allclose(g.project_null(F[3]), F[3] @ P_n, atol=1e-12)  # 1-D input


@settings(max_examples=25, deadline=None)
@given(c=st.integers(1, 24), m=st.integers(2, 40), rank_frac=st.floats(0.05, 1.0),
       seed=st.integers(0, 2**31 - 1), scale=st.floats(1e-3, 1e3))
def test_properties_logits_preserved_and_idempotent(c, m, rank_frac, seed, scale):
    rank = max(1, min(c, m, int(round(rank_frac * min(c, m)))))
    W, _, _ = planted_head(c, m, rank, seed, scale)
    g = head_geometry(W)
    assert g.rank == rank and g.nullity == m - rank
    F = np.random.default_rng(seed + 1).standard_normal((7, m)) * 5.0
    F_eq = g.remove_null(F)
    logit_err = np.linalg.norm((F - F_eq) @ W.T, axis=1)
    assert np.all(logit_err <= 1e-10 * np.linalg.norm(F @ W.T, axis=1))  # W(f − f̃) = 0, eq. 2
    Pn = g.project_null(F)
    np.testing.assert_allclose(g.project_null(Pn), Pn, atol=1e-12 * np.abs(F).max())  # idempotent
    np.testing.assert_allclose(g.project_principal(Pn), 0.0, atol=1e-12 * np.abs(F).max())
    np.testing.assert_allclose(Pn + g.project_principal(F), F, atol=1e-12 * np.abs(F).max())


def test_tolerances():
    rng = np.random.default_rng(3)
    c, m = 6, 10
    U, _ = np.linalg.qr(rng.standard_normal((c, c)))
    V, _ = np.linalg.qr(rng.standard_normal((m, m)))
    s = np.array([1.0, 0.5, 1e-3, 2e-5, 5e-6, 1e-9])
    W = (U * s) @ V[:, :c].T
    default = head_geometry(W)  # the defaults are the authors' rule exactly: sigma > 1e-5, absolute
    assert (default.atol, default.rtol, default.threshold) == (1e-5, 0.0, 1e-5)
    assert default.rank == int(np.sum(s > 1e-5)) == 4 == head_geometry(W, atol=1e-5, rtol=0).rank
    assert head_geometry(W, rtol=1e-2).rank == 2
    assert head_geometry(W, atol=1e-4, rtol=1e-6).rank == 3  # max(atol, rtol·σ_max)
    numpy_rule = head_geometry(W, atol=0, rtol="numpy")
    assert numpy_rule.rtol == pytest.approx(max(c, m) * np.finfo(np.float32).eps) and numpy_rule.atol == 0
    assert numpy_rule.rank == int(np.sum(s > numpy_rule.rtol * s[0])) == 5
    assert numpy_rule.threshold == pytest.approx(numpy_rule.rtol * s[0])
    # rtol="numpy" with atol=0 is numpy's matrix_rank convention for float32 matrices
    W32 = np.random.default_rng(4).standard_normal((30, 80)).astype(np.float32)
    assert head_geometry(W32, atol=0, rtol="numpy").rank == np.linalg.matrix_rank(W32) == 30
    # what `rtol: null` did before (max(1e-5, max(c, m)·eps·σ_max)) is not the authors' rule on a head whose
    # smallest kept singular value lies between the two thresholds
    W2 = (U * np.array([100.0, 1.0, 1e-3, 1e-4, 1e-7, 1e-9])) @ V[:, :c].T
    old = max(1e-5, max(c, m) * np.finfo(np.float32).eps * 100.0)
    assert head_geometry(W2).rank == 4 != int(np.sum(np.linalg.svd(W2, compute_uv=False) > old)) == 3
    for bad in (None, "relative"):
        with pytest.raises(ValueError, match="rtol"):
            head_geometry(W, rtol=bad)


def test_nullity_zero_is_identity():
    W = np.random.default_rng(5).standard_normal((30, 12))  # c > m: full column rank
    g = head_geometry(W)
    assert g.nullity == 0 and g.rank == 12 and g.null_basis.shape == (12, 0)
    F = np.random.default_rng(6).standard_normal((4, 12))
    np.testing.assert_array_equal(g.remove_null(F), F)
    np.testing.assert_array_equal(g.project_null(F), np.zeros_like(F))


def test_save_load_roundtrip(tmp_path):
    W, _, _ = planted_head(10, 25, 10, seed=7)
    W32 = W.astype(np.float32)
    g = head_geometry(W32, atol=1e-5, rtol=0)
    path = tmp_path / "geometry.safetensors"
    g.save(path)
    h = HeadGeometry.load(path)
    for name in ("singular_values", "principal_basis", "null_basis"):
        np.testing.assert_array_equal(getattr(h, name), getattr(g, name))
    for name in ("rank", "nullity", "in_dim", "out_dim", "rtol", "atol", "weight_sha256", "threshold"):
        assert getattr(h, name) == getattr(g, name)
    assert g.weight_sha256 == hashlib.sha256(W32.tobytes()).hexdigest() == weight_sha256(torch.from_numpy(W32))
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as fh:
        meta = json.loads(fh.metadata()["sing"])
    assert meta["kind"] == "head_geometry" and meta["atol"] == 1e-5 and meta["rtol"] == 0
    # nullity 0 saves (an empty null basis) and loads
    g0 = head_geometry(np.random.default_rng(8).standard_normal((9, 4)))
    g0.save(tmp_path / "g0.safetensors")
    assert HeadGeometry.load(tmp_path / "g0.safetensors").null_basis.shape == (4, 0)
    assert not list(tmp_path.glob("*.tmp-*"))


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        HeadGeometry.load(tmp_path / "missing.safetensors")
    from safetensors.numpy import save_file

    save_file({"x": np.zeros(2)}, str(tmp_path / "other.safetensors"))
    with pytest.raises(ValueError, match="sing"):
        HeadGeometry.load(tmp_path / "other.safetensors")


def test_numpy_and_torch_kinds():
    W, _, _ = planted_head(10, 25, 10, seed=9)
    g = head_geometry(torch.from_numpy(W))  # torch W accepted
    F = np.random.default_rng(10).standard_normal((5, 25))
    ref = g.remove_null(F)
    out32 = g.remove_null(F.astype(np.float32))
    assert isinstance(out32, np.ndarray) and out32.dtype == np.float32
    t = g.remove_null(torch.from_numpy(F).float())
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    t64 = g.project_null(torch.from_numpy(F))
    assert t64.dtype == torch.float64
    np.testing.assert_allclose(t64.numpy(), F - ref, atol=1e-12)
    np.testing.assert_allclose(t.numpy(), ref, atol=1e-5)


@pytest.mark.parametrize("W,match", [
    (np.ones(5), "W: expected 2 dimensions"),
    (np.ones((2, 3, 4)), "W: expected 2 dimensions"),
    (np.zeros((0, 4)), "W: is empty"),
    (np.array([[1.0, np.nan]]), "W: contains NaN"),
    (np.array([[1.0, np.inf]]), "W: contains Inf"),
    (np.array([["a", "b"]]), "W: expected a numeric array"),
])
def test_bad_weights(W, match):
    with pytest.raises(ValueError, match=match):
        head_geometry(W)


def test_bad_tolerances_and_features():
    W = np.random.default_rng(11).standard_normal((3, 6))
    with pytest.raises(ValueError, match="rtol: must be finite and >= 0"):
        head_geometry(W, rtol=-1.0)
    with pytest.raises(ValueError, match="atol"):
        head_geometry(W, atol=np.nan)
    g = head_geometry(W)
    with pytest.raises(ValueError, match="F: last dimension is 5 but the head's in_dim is 6"):
        g.remove_null(np.ones((2, 5)))
    with pytest.raises(ValueError, match="F: expected 1 or 2 dimensions"):
        g.project_null(np.ones((2, 2, 6)))
    with pytest.raises(ValueError, match="F: contains NaN"):
        g.project_principal(np.full((2, 6), np.nan))
    with pytest.raises(ValueError, match="F: is empty"):
        g.remove_null(np.ones((0, 6)))
