"""The supplementary's UnCLIP figures (Figs. 10, 11, 13) with the tiny random pipeline (offline): layout, the numbers
behind each cell against independent computations, and shared noise (a zero perturbation renders the original's
pixels)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sing.core.geometry import head_geometry
from sing.core.translator import LinearTranslator
from sing.unclip import paper_figures, pipeline, render

EMB = 16
STEPS = dict(decoder_steps=2, super_res_steps=2, batch_size=4)


@pytest.fixture(autouse=True)
def one_torch_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def pipe():
    return pipeline.tiny_pipeline(embedding_dim=EMB, seed=0)


def _problem(m=10, c=4, N=9, seed=0):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((c, m))
    tr = LinearTranslator(rng.standard_normal((EMB, m)), rng.standard_normal(EMB))
    F = rng.standard_normal((N, m)) + 1.0
    zt = rng.standard_normal(EMB)
    return W, head_geometry(W), tr, F, zt


def _angle(a, b):
    c = np.sum(a * b, -1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return np.degrees(np.arccos(np.clip(c, -1, 1)))


def test_gallery_indices_pick_quantile_order_statistics():
    v = np.array([5.0, 1.0, 3.0, 4.0, 9.0])
    assert paper_figures.gallery_indices(v, [0, 0.5, 1]).tolist() == [1, 3, 4]  # min, median, max
    assert paper_figures.gallery_indices([2.0, 1.0, 2.0], [0.5, 1]).tolist() == [0, 2]  # ties keep row order
    with pytest.raises(ValueError, match="quantiles"):
        paper_figures.gallery_indices(v, [1.5])


def test_angle_gallery_fig10(pipe):
    W, g, tr, F, zt = _problem()
    ids = [f"img{i}" for i in range(9)]
    sheet, rec = paper_figures.angle_gallery(pipe, F, g, tr, zt, quantiles=(0, 0.5, 1), image_ids=ids, cell_size=24,
                                             **STEPS)
    assert len(rec) == 3 * 2
    # independent: IS = ∠(T f, T(f − Π_n f)), AS = ∠(T f, t) − ∠(T f̃, t)
    Pn = g.null_basis @ g.null_basis.T
    z, z_eq = tr(F), tr(F - F @ Pn)
    is_ref = _angle(z, z_eq)
    as_ref = _angle(z, zt) - _angle(z_eq, zt)
    chosen = [r["row_index"] for r in rec if r["kind"] == "original"]
    assert chosen == [int(np.argmin(is_ref)), int(np.argsort(is_ref)[4]), int(np.argmax(is_ref))]
    for r in rec:
        assert r["is_deg"] == pytest.approx(is_ref[r["row_index"]], abs=1e-9)
        assert r["as_deg"] == pytest.approx(as_ref[r["row_index"]], abs=1e-9)
        assert r["image_id"] == ids[r["row_index"]]
    w, h = sheet.size
    assert w > 3 * 24 and h > 2 * 24
    by_as, rec2 = paper_figures.angle_gallery(pipe, F, g, tr, zt, quantiles=(1,), by="abs_as", cell_size=24, **STEPS)
    assert rec2[0]["row_index"] == int(np.argmax(np.abs(as_ref)))
    with pytest.raises(ValueError, match="by"):
        paper_figures.angle_gallery(pipe, F, g, tr, zt, by="as")


def test_translator_sheet_fig11(pipe):
    from sing.analysis.translator_study import translate_all
    from sing.core.nonlinear import NonlinearTranslator, build_module

    W, g, tr, F, zt = _problem(N=2)
    torch.manual_seed(0)
    nl = NonlinearTranslator(build_module("mlp3", 10, EMB, 8), architecture="mlp3", loss="mse", in_dim=10,
                             out_dim=EMB)
    cols = translate_all({("linear", "mse"): tr, ("mlp3", "mse"): nl}, F)
    assert list(cols) == ["linear/mse", "mlp3/mse"]
    z_true = tr(F) + 0.1
    sheet, rec = paper_figures.translator_sheet(pipe, cols, z_true=z_true, row_labels=["a", "b"], cell_size=24,
                                                **STEPS)
    assert len(rec) == 2 * 3 and [r["translator"] for r in rec[::2]] == ["CLIP image embedding", "linear/mse",
                                                                        "mlp3/mse"]
    r = next(r for r in rec if r["translator"] == "mlp3/mse" and r["row"] == 1)
    e = nl(F[1])
    cos = e @ z_true[1] / np.linalg.norm(e) / np.linalg.norm(z_true[1])
    assert r["cosine_to_clip"] == pytest.approx(cos, rel=1e-12)
    assert rec[0]["cosine_to_clip"] == pytest.approx(1.0)
    # cells are the renderings of exactly these embeddings (shared noise, batch-invariant)
    from PIL import Image

    ref = render.render_embeddings(pipe, cols["mlp3/mse"][1:2], seed=0, **STEPS)[0].convert("RGB").resize(
        (24, 24), Image.Resampling.LANCZOS)
    arr = np.asarray(sheet)
    L = arr.shape[1] - (3 * 24 + 4 * 4)  # label column width
    y0 = _row_tops(arr.shape[0], 2, 24)[1]
    x0 = L + 4 + 2 * (24 + 4)  # column 2 = mlp3/mse
    np.testing.assert_array_equal(arr[y0:y0 + 24, x0:x0 + 24], np.asarray(ref))
    _, rec_plain = paper_figures.translator_sheet(pipe, cols, cell_size=24, **STEPS)
    assert np.isnan(rec_plain[0]["cosine_to_clip"]) and len(rec_plain) == 4
    with pytest.raises(ValueError, match="shapes"):
        paper_figures.translator_sheet(pipe, {"a": np.ones((2, EMB)), "b": np.ones((3, EMB))})


def test_perturbation_sheet_fig13_and_shared_noise(pipe):
    W, g, tr, F, zt = _problem()
    f = F[0]
    sheet, rec = paper_figures.perturbation_sheet(pipe, f, g, tr, W, seeds=(0, 1), cell_size=24, **STEPS)
    assert len(rec) == 4 * 2 and [r["kind"] for r in rec[:4]] == ["original", "null", "random", "principal"]
    norm = np.linalg.norm(g.project_null(f))
    null = [r for r in rec if r["kind"] == "null"]
    prin = [r for r in rec if r["kind"] == "principal"]
    assert all(r["logit_change"] < 1e-10 * norm * np.abs(W).max() for r in null)
    w_p = W[np.argmax(W @ f)]  # δ = ‖Π_n f‖ · w_p / ‖w_p‖
    assert all(r["logit_change"] == pytest.approx(norm * np.linalg.norm(W @ w_p) / np.linalg.norm(w_p), rel=1e-12)
               for r in prin)
    assert prin[0]["image_score_deg"] == pytest.approx(prin[1]["image_score_deg"], abs=1e-12)  # seed-free direction
    assert null[0]["image_score_deg"] != null[1]["image_score_deg"]  # a new null-space draw per seed
    assert all(r["norm"] == pytest.approx(norm) for r in rec if r["kind"] != "original")
    # shared noise: with δ = 0 every cell of a column is the original's picture, pixel for pixel
    zero, _ = paper_figures.perturbation_sheet(pipe, f, g, tr, W, seeds=(3,), norm=0.0, cell_size=24, **STEPS)
    arr = np.asarray(zero)
    cell = [arr[:, -(24 + 4):-4][r0:r0 + 24] for r0 in _row_tops(arr.shape[0], 4, 24)]
    for c in cell[1:]:
        np.testing.assert_array_equal(c, cell[0])
    with pytest.raises(ValueError, match="kinds"):
        paper_figures.perturbation_sheet(pipe, f, g, tr, W, kinds=("null_removal",))
    full = head_geometry(np.eye(10))
    with pytest.raises(ValueError, match="nullity is 0"):
        paper_figures.perturbation_sheet(pipe, f, full, tr, np.eye(10), seeds=(0,), norm=1.0, **STEPS)


def _row_tops(height, nrows, cell, pad=4):
    """Top y of each row's cells in a contact sheet with column labels (header height = the remainder)."""
    header = height - (nrows * cell + (nrows + 1) * pad)
    return [header + pad + i * (cell + pad) for i in range(nrows)]
