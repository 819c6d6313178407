"""sing.unclip: eq. 19 rescaling, shared noise, deterministic batch-invariant rendering (tiny random pipeline),
offline loading error, contact sheet, and the unclip_pictures.py workflow script end to end."""

from __future__ import annotations

import runpy
import types
from pathlib import Path

import numpy as np
import pytest
import torch

from sing.core.geometry import head_geometry
from sing.core.translator import LinearTranslator
from sing.unclip import embeddings, pipeline, render, sheet

REPO = Path(__file__).resolve().parents[1]
EMB = 16  # CLIP dim of the tiny pipeline
STEPS = dict(decoder_steps=3, super_res_steps=2)


@pytest.fixture(scope="module")
def pipe():
    return pipeline.tiny_pipeline(embedding_dim=EMB, seed=0)


def _angle(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    c = np.sum(a * b, -1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return np.degrees(np.arccos(np.clip(c, -1, 1)))


def _problem(m=12, c=4, n=EMB, N=5, seed=0):
    rng = np.random.default_rng(seed)
    W = rng.standard_normal((c, m))
    tr = LinearTranslator(rng.standard_normal((n, m)), rng.standard_normal(n))
    F = rng.standard_normal((N, m)) + 1.0
    return W, head_geometry(W), tr, F


# ---------------------------------------------------------------- eq. 19
def test_rescale_matches_formula_and_preserves_angles():
    rng = np.random.default_rng(1)
    z_eq, z = rng.standard_normal((6, 8)), 3 * rng.standard_normal((6, 8))
    out = embeddings.rescale_to_reference(z_eq, z)
    for i in range(6):  # direct formula, row by row
        ref = z_eq[i] * np.sqrt(np.sum(z[i] ** 2)) / np.sqrt(np.sum(z_eq[i] ** 2))
        np.testing.assert_allclose(out[i], ref, rtol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), np.linalg.norm(z, axis=1), rtol=1e-12)
    np.testing.assert_allclose(_angle(out, z_eq), 0, atol=1e-5)
    np.testing.assert_allclose(_angle(out, z), _angle(z_eq, z), atol=1e-9)
    # shared reference row; torch in -> torch out (dtype kept); NaN rows stay NaN
    shared = embeddings.rescale_to_reference(z_eq, z[0])
    np.testing.assert_allclose(np.linalg.norm(shared, axis=1), np.linalg.norm(z[0]), rtol=1e-12)
    t = embeddings.rescale_to_reference(torch.tensor(z_eq, dtype=torch.float32), torch.tensor(z))
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    np.testing.assert_allclose(t.numpy(), out, rtol=1e-5)
    z_nan = z_eq.copy()
    z_nan[2] = np.nan
    res = embeddings.rescale_to_reference(z_nan, z)
    assert np.isnan(res[2]).all() and np.isfinite(np.delete(res, 2, axis=0)).all()
    with pytest.raises(ValueError, match="z_eq"):
        embeddings.rescale_to_reference(np.zeros((1, 8)), z[:1])
    with pytest.raises(ValueError, match="z_ref"):
        embeddings.rescale_to_reference(z_eq, z[:2])


def test_equivalent_pair_and_steering_embeddings():
    W, geom, tr, F = _problem()
    Z, Z_eq = embeddings.equivalent_pair_embeddings(F, geom, tr)
    np.testing.assert_allclose(Z, F @ tr.weight.T + tr.bias, rtol=1e-12)
    F_eq = F - F @ geom.null_basis @ geom.null_basis.T  # f - Π_n f, independent formula
    Z_eq_raw = F_eq @ tr.weight.T + tr.bias
    np.testing.assert_allclose(np.linalg.norm(Z_eq, axis=1), np.linalg.norm(Z, axis=1), rtol=1e-10)
    np.testing.assert_allclose(_angle(Z_eq, Z_eq_raw), 0, atol=1e-5)

    z_text = np.random.default_rng(3).standard_normal(EMB)
    st = embeddings.steering_embeddings(F, geom, tr, z_text, 10.0)
    ok = st.reason == "ok"
    assert ok.any()
    np.testing.assert_allclose(_angle(Z[ok], st.embeddings[ok]), 10.0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(st.embeddings[ok], axis=1), np.linalg.norm(Z[ok], axis=1), rtol=1e-10)
    np.testing.assert_allclose(st.features[ok] @ W.T, F[ok] @ W.T, atol=1e-9)  # logits unchanged
    assert np.isnan(st.embeddings[~ok]).all()
    # the steered embedding moves toward the prompt
    assert np.all(_angle(st.embeddings[ok], z_text) < _angle(Z[ok], z_text))

    Zp, delta = embeddings.perturbed_embeddings(F, geom, tr, "null", 0.5, seed=0)
    np.testing.assert_allclose(np.linalg.norm(delta, axis=1), 0.5, rtol=1e-10)
    np.testing.assert_allclose(delta @ W.T, 0, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(Zp, axis=1), np.linalg.norm(Z, axis=1), rtol=1e-10)


# ---------------------------------------------------------------- noise
def test_shared_noise_shapes_values_and_reuse(pipe):
    from diffusers.utils.torch_utils import randn_tensor

    (cd, hd, wd), (cs, hs, ws) = render.noise_shapes(pipe)
    assert (cd, hd, wd) == (3, 8, 8) and (cs, hs, ws) == (3, 32, 32)
    dec, sr = render.shared_noise(pipe, 3, seed=5, device="cpu", dtype=torch.float32)
    assert dec.shape == (3, 3, 8, 8) and sr.shape == (3, 3, 32, 32)
    assert dec.dtype == sr.dtype == torch.float32
    assert torch.equal(dec[0], dec[2]) and torch.equal(sr[0], sr[1])  # same tensor for every image
    xi = randn_tensor((1, 3, 32, 32), generator=torch.Generator().manual_seed(5), dtype=torch.float32)
    assert torch.equal(sr[:1], xi * pipe.super_res_scheduler.init_noise_sigma)
    k = 32 // 8  # decoder latents: k×k block sums / k of the same draw
    ref = torch.nn.functional.avg_pool2d(xi.double(), k) * k * pipe.decoder_scheduler.init_noise_sigma
    torch.testing.assert_close(dec[:1].double(), ref, rtol=1e-6, atol=1e-6)
    dec2, sr2 = render.shared_noise(pipe, 1, seed=5)
    assert torch.equal(dec2[0], dec[0]) and torch.equal(sr2[0], sr[0])
    assert not torch.equal(render.shared_noise(pipe, 1, seed=6)[1], sr2)
    with pytest.raises(ValueError, match="batch_size"):
        render.shared_noise(pipe, 0, seed=0)
    with pytest.raises(ValueError, match="seed"):
        render.shared_noise(pipe, 1, seed=-1)


def test_pipeline_scales_only_the_latents_it_draws(pipe, monkeypatch):
    """Why shared_noise multiplies by init_noise_sigma itself: diffusers 0.42.1 calls prepare_latents (which scales)
    only when no latents are passed, so latents passed in reach the denoiser unscaled."""
    from diffusers.utils.torch_utils import randn_tensor

    dec, sr = render.shared_noise(pipe, 1, seed=0, device="cpu", dtype=torch.float32)
    E = torch.randn(1, EMB, generator=torch.Generator().manual_seed(0))

    def run():
        return pipe(image_embeddings=E, decoder_latents=dec.clone(), super_res_latents=sr.clone(),
                    generator=render.step_generators(1, 0), decoder_num_inference_steps=2,
                    super_res_num_inference_steps=2, output_type="np").images

    before = run()
    for scheduler in (pipe.decoder_scheduler, pipe.super_res_scheduler):
        monkeypatch.setattr(scheduler, "init_noise_sigma", 5.0)
    np.testing.assert_array_equal(run(), before)  # passed latents: init_noise_sigma is not applied
    drawn = pipe.prepare_latents((1, 3, 8, 8), torch.float32, torch.device("cpu"), torch.Generator().manual_seed(1),
                                 None, pipe.decoder_scheduler)
    ref = randn_tensor((1, 3, 8, 8), generator=torch.Generator().manual_seed(1), dtype=torch.float32)
    torch.testing.assert_close(drawn, ref * 5.0)  # drawn latents: scaled


def _fake_pipe(dec_size, sr_size, dec_c=3, sr_in=6):
    ns = types.SimpleNamespace
    return ns(decoder=ns(config=ns(in_channels=dec_c, sample_size=dec_size)),
              super_res_first=ns(config=ns(in_channels=sr_in, sample_size=sr_size)),
              decoder_scheduler=ns(init_noise_sigma=1.0), super_res_scheduler=ns(init_noise_sigma=1.0),
              text_proj=ns(dtype=torch.float32), _execution_device=torch.device("cpu"))


def test_shared_noise_karlo_geometry_is_standard_normal():
    dec, sr = render.shared_noise(_fake_pipe(64, 256), 1, seed=0)  # Karlo: 3×64×64 and 3×256×256
    assert dec.shape == (1, 3, 64, 64) and sr.shape == (1, 3, 256, 256)
    for t in (dec, sr):  # both exactly N(0, 1) i.i.d.; sample moments within ~5 standard errors
        x = t.double().flatten()
        assert abs(float(x.mean())) < 5 / np.sqrt(x.numel())
        assert abs(float(x.var()) - 1) < 5 * np.sqrt(2 / x.numel())
    same = render.shared_noise(_fake_pipe(32, 32), 1, seed=0)  # equal sizes: literally the same tensor
    assert torch.equal(same[0], same[1])
    with pytest.raises(ValueError, match="integer multiple"):
        render.shared_noise(_fake_pipe(48, 256), 1, seed=0)
    with pytest.raises(ValueError, match="channels"):
        render.shared_noise(_fake_pipe(64, 256, dec_c=4), 1, seed=0)


# ---------------------------------------------------------------- rendering
def _px(images):
    return [np.asarray(im) for im in images]


def test_render_is_deterministic_and_batch_invariant(pipe):
    E = 3 * np.random.default_rng(0).standard_normal((5, EMB))
    a = _px(render.render_embeddings(pipe, E, seed=0, batch_size=4, **STEPS))
    assert len(a) == 5 and a[0].shape == (32, 32, 3) and a[0].dtype == np.uint8
    b = _px(render.render_embeddings(pipe, E, seed=0, batch_size=4, **STEPS))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))  # same embedding + seed -> same pixels
    alone = _px(render.render_embeddings(pipe, E[3], seed=0, batch_size=4, **STEPS))
    assert np.array_equal(alone[0], a[3])  # alone == in a batch (exact: fixed batch shape)
    perm = [4, 2, 0, 3, 1]
    shuffled = _px(render.render_embeddings(pipe, torch.tensor(E[perm]), seed=0, batch_size=4, **STEPS))
    assert all(np.array_equal(shuffled[j], a[i]) for j, i in enumerate(perm))  # position does not matter
    other_seed = _px(render.render_embeddings(pipe, E[:1], seed=1, batch_size=4, **STEPS))
    assert not np.array_equal(other_seed[0], a[0])
    assert not np.array_equal(a[0], a[1])  # the embedding drives the picture


def test_render_float64_batch_size_invariant(pipe):
    """In float64 even different batch sizes agree exactly: the noise itself is batch-independent."""
    p64 = pipeline.tiny_pipeline(embedding_dim=EMB, seed=0).to(torch.float64)
    E = np.random.default_rng(2).standard_normal((3, EMB))
    full = render.render_embeddings(p64, E, seed=3, batch_size=3, output_type="np", **STEPS)
    single = render.render_embeddings(p64, E, seed=3, batch_size=1, output_type="np", **STEPS)
    for x, y in zip(full, single):
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-9)


def test_render_validates_input(pipe):
    with pytest.raises(ValueError, match=f"\\(N, {EMB}\\)"):
        render.render_embeddings(pipe, np.ones((2, EMB + 1)), **STEPS)
    bad = np.ones((2, EMB))
    bad[1, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        render.render_embeddings(pipe, bad, **STEPS)
    with pytest.raises(ValueError, match="decoder_steps"):
        render.render_embeddings(pipe, np.ones((1, EMB)), decoder_steps=1, super_res_steps=2)


# ---------------------------------------------------------------- loading
def test_load_offline_missing_weights_names_model_and_prefetch(tmp_path):
    import huggingface_hub.constants as hub

    from sing.models.weights import MissingWeightsError, WeightsCache

    before = hub.HF_HUB_OFFLINE
    with pytest.raises(MissingWeightsError) as err:
        pipeline.load_unclip(weights=WeightsCache(tmp_path, offline=True))
    assert hub.HF_HUB_OFFLINE == before  # the offline switch is scoped to the load, not process-wide
    msg = str(err.value)
    assert "kakaobrain/karlo-v1-alpha-image-variations" in msg and "snakemake prefetch_weights --cores 1" in msg
    with pytest.raises(FileNotFoundError, match="model_index.json"):
        pipeline.load_unclip(checkpoint=tmp_path / "nowhere")


def test_load_checkpoint_roundtrip_and_tiny_id(pipe, tmp_path):
    import json

    pipe.save_pretrained(tmp_path / "ckpt")
    index = json.loads((tmp_path / "ckpt" / "model_index.json").read_text())
    index["text_proj"] = ["unclip", "UnCLIPTextProjModel"]  # as in Karlo's hub repo (pre-"deprecated" layout)
    (tmp_path / "ckpt" / "model_index.json").write_text(json.dumps(index))
    loaded = pipeline.load_unclip(checkpoint=tmp_path / "ckpt")
    E = np.random.default_rng(4).standard_normal((1, EMB))
    a = _px(render.render_embeddings(pipe, E, batch_size=1, **STEPS))
    b = _px(render.render_embeddings(loaded, E, batch_size=1, **STEPS))
    assert np.array_equal(a[0], b[0])
    tiny = pipeline.load_unclip(pipeline.TINY_MODEL_ID, embedding_dim=8)
    assert tiny.text_proj.config.clip_embeddings_dim == 8


def test_prefetch_patterns_pick_plain_weights(monkeypatch):
    import huggingface_hub

    files = ["model_index.json", "README.md", "decoder/config.json", "decoder/diffusion_pytorch_model.bin",
             "decoder/diffusion_pytorch_model.safetensors", "decoder/diffusion_pytorch_model.fp16.safetensors",
             "text_proj/config.json", "text_proj/diffusion_pytorch_model.bin", "tokenizer/vocab.json",
             "tokenizer/merges.txt", "tokenizer/special_tokens_map.json"]

    class FakeApi:
        def list_repo_files(self, repo_id):
            assert repo_id == pipeline.KARLO_MODEL_ID
            return files

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    keep = pipeline._allow_patterns(pipeline.KARLO_MODEL_ID)
    assert "decoder/diffusion_pytorch_model.safetensors" in keep
    assert "decoder/diffusion_pytorch_model.bin" not in keep and not any(".fp16." in f for f in keep)
    assert "text_proj/diffusion_pytorch_model.bin" in keep  # no safetensors there: fall back to .bin
    assert {"model_index.json", "tokenizer/vocab.json", "tokenizer/merges.txt"} <= set(keep)
    assert "README.md" not in keep


# ---------------------------------------------------------------- contact sheet
def test_contact_sheet_layout():
    from PIL import Image

    red, blue = Image.new("RGB", (20, 20), (255, 0, 0)), Image.new("RGB", (10, 30), (0, 0, 255))
    rows = [[red, blue, red], [blue, None, red]]
    plain = sheet.contact_sheet(rows, cell_size=24, pad=3)
    assert plain.size == (3 * 24 + 4 * 3, 2 * 24 + 3 * 3)
    x, y = 3 + 1 * (24 + 3), 3 + 0 * (24 + 3)  # cell (0, 1) is the (resized) blue image
    assert plain.getpixel((x + 12, y + 12)) == (0, 0, 255)
    labelled = sheet.contact_sheet(rows, ["row a", "row b"], ["orig", "null removed", "\u2192 starfish"],
                                    cell_size=24, pad=3, label_width=50)
    W, H = labelled.size
    assert W == 50 + 3 * 24 + 4 * 3 and H > plain.size[1]
    T = H - plain.size[1]
    assert labelled.getpixel((50 + 3 + 2 * 27 + 12, T + 3 + 27 + 12)) == (255, 0, 0)  # cell (1, 2)
    assert labelled.getpixel((50 + 3 + 27 + 2, T + 3 + 27 + 2)) == (220, 220, 220)  # None -> grey n/a
    with pytest.raises(ValueError, match="same length"):
        sheet.contact_sheet([[red], [red, red]])
    with pytest.raises(ValueError, match="col_labels"):
        sheet.contact_sheet(rows, col_labels=["a"])


# ---------------------------------------------------------------- workflow script
def test_unclip_pictures_script(tmp_path):
    from PIL import Image

    from sing.io.storage import read_embeddings, write_embeddings, write_text_embeddings

    W, geom, tr, F = _problem(m=12, c=4, n=EMB, N=4, seed=7)
    wnid = "n01440764"
    chunk = tmp_path / "chunk-000"
    meta = dict(kind="classifier", model="demo", weights_id="x", preprocess="{}", precision="fp32")
    write_embeddings(chunk / f"{wnid}.parquet", image_ids=[f"val/{wnid}/img{i}.JPEG" for i in (3, 1, 2, 0)],
                     split="val", class_index=0, class_id=wnid, features=F.astype(np.float32), metadata=meta)
    geom.save(tmp_path / "geometry.safetensors")
    tr.save(tmp_path / "translator.safetensors")
    rng = np.random.default_rng(8)
    write_text_embeddings(tmp_path / "text.parquet", kind=["class", "target", "target"],
                          key=[wnid, "starfish", "jeep"], prompt=["an image of a tench", "an image of a starfish",
                                                                  "an image of a jeep"],
                          class_index=[0, -1, -1], embeddings=rng.standard_normal((3, EMB)).astype(np.float32),
                          metadata=dict(kind="text", model="demo", weights_id="x", preprocess="{}",
                                        precision="fp32"))
    out = tmp_path / "out" / "sheet.png"
    from snakemake.iocontainers import Namedlist

    snake = types.SimpleNamespace(
        input=Namedlist(fromdict=dict(features=str(chunk), geometry=str(tmp_path / "geometry.safetensors"),
                                      translator=str(tmp_path / "translator.safetensors"),
                                      text=str(tmp_path / "text.parquet"))),
        output=Namedlist(fromdict=dict(png=str(out), cells=str(tmp_path / "out" / "cells.parquet"))),
        params=Namedlist(fromdict=dict(settings=dict(  # as sing.workflow.settings builds it
            unclip=dict(model_id=pipeline.TINY_MODEL_ID, source_class=wnid, n_images=2,
                        prompts=["an image of a starfish", "jeep"], target_is_deg=5.0, seed=0, decoder_steps=2,
                        super_res_steps=2, dtype="float32", batch_size=4, guidance_scale=8.0, cell_size=32),
            extraction=dict(device="cpu"), weights=dict(unclip={pipeline.TINY_MODEL_ID: {"files": []}})))),
        wildcards=Namedlist(fromdict=dict(model="demo")), config={"weights_dir": str(tmp_path / "weights")},
        log=[str(tmp_path / "log.txt")])
    runpy.run_path(str(REPO / "workflow_scripts" / "unclip_pictures.py"), init_globals={"snakemake": snake})
    sheet = Image.open(out)
    assert sheet.size[1] > 2 * 32 and sheet.size[0] > 4 * 32  # 2 rows × 4 columns + labels
    import polars as pl

    cells = pl.read_parquet(tmp_path / "out" / "cells.parquet")
    assert cells.height == 2 * 4
    assert cells["image_id"].unique().sort().to_list() == [f"val/{wnid}/img0.JPEG", f"val/{wnid}/img1.JPEG"]
    steered = cells.filter((pl.col("kind") == "steered") & (pl.col("reason") == "ok"))
    np.testing.assert_allclose(steered["image_score_deg"].to_numpy(), 5.0, atol=1e-4)
    assert cells["principal_change"].max() < 1e-8
    assert "cell" in (tmp_path / "log.txt").read_text()
    _, F_read, _ = read_embeddings(chunk / f"{wnid}.parquet")
    assert F_read.shape == (4, 12)
