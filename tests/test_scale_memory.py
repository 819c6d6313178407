"""Issue 19, kind 5: memory and time bounded at any scale. The probes' accuracy holds no N × K float64 array, the
fit's blocks are sized by the class count, validation reads only the images it keeps, the translator evaluation
streams one class at a time, and each job's mem_mb can be derived from the sizes it reads."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from sing.analysis.probe import LinearProbe, fit_probe, select_probe

MB = 2**20
REPO = Path(__file__).resolve().parents[1]


def _traced_peak(fn):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = fn()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_probe_accuracy_builds_no_n_by_k_float64_logits():
    """The issue's example: accuracy() built the N × K float64 logits (4 GB at 500k × 1000). Here 50k × 1000 would
    be 400 MB; the blocked prediction holds one block (at most 64 MB) and gives the same predictions."""
    rng = np.random.default_rng(0)
    n, k, K = 50_000, 4, 1000
    probe = LinearProbe(weight=rng.standard_normal((K, k)), bias=rng.standard_normal(K), classes=np.arange(K) * 3,
                        mean=np.zeros(k), scale=1.0, l2=0.0)
    X = rng.standard_normal((n, k)).astype(np.float32)
    y = probe.classes[rng.integers(0, K, n)]
    acc, peak = _traced_peak(lambda: probe.accuracy(X, y))
    assert peak < 120 * MB, f"peak {peak / MB:.0f} MB"
    rows = np.arange(0, n, 7)
    expected = probe.classes[np.argmax(probe.decision_function(X[rows]), axis=1)]
    np.testing.assert_array_equal(probe.predict(X[rows]), expected)
    assert acc == pytest.approx(np.mean(probe.classes[np.argmax(probe.decision_function(X), axis=1)] == y))


def test_block_rows_follow_the_class_count():
    """Second member: the fit's row blocks were 65536 rows whatever K (65536 × 10,000 float32 logits = 2.6 GB per
    block, a few of them for softmax and gradient); now a block of logits is at most 64 MB."""
    from sing.analysis.probe import block_rows_for

    for K, item in ((10, 4), (1000, 4), (1000, 8), (10_000, 4), (200_000, 8)):
        rows = block_rows_for(K, item)
        assert 256 <= rows <= 65536 and (rows * K * item <= 64 * MB or rows == 256)
    assert block_rows_for(1000, 4) == 16777  # 64 MB of float32 logits


def test_probe_memory_has_no_n_times_k_term():
    from sing.analysis.probe import probe_peak_bytes

    base = probe_peak_bytes(100_000, 512, 1000)
    assert probe_peak_bytes(200_000, 512, 1000) < 2.05 * base  # linear in N
    # ten times the classes at the same N: a few more parameters and blocks, not 10 × N × K × 8 bytes
    assert probe_peak_bytes(100_000, 512, 10_000) - base < 100_000 * 10_000


def test_fit_on_rows_equals_fit_on_the_copy():
    rng = np.random.default_rng(1)
    K, k, n = 6, 5, 600
    y = rng.integers(0, K, n)
    X = (rng.standard_normal((K, k))[y] + rng.standard_normal((n, k))).astype(np.float32)
    rows = np.flatnonzero(rng.random(n) < 0.7)
    a = fit_probe(X[rows], y[rows], l2=1e-3, max_iter=50)
    b = fit_probe(X, y[rows], l2=1e-3, max_iter=50, rows=rows)
    np.testing.assert_array_equal(a.weight, b.weight)
    assert a.metrics["train_accuracy"] == b.metrics["train_accuracy"]
    c = fit_probe(X, y, l2=1e-3, max_iter=50, block_rows=64)  # many blocks: the same optimum
    d = fit_probe(X, y, l2=1e-3, max_iter=50)
    np.testing.assert_allclose(c.weight, d.weight, atol=1e-4)
    with pytest.raises(ValueError, match="rows"):
        fit_probe(X, y[:3], rows=[0, 1, n])


def test_select_probe_unchanged_by_row_indexing():
    """select_probe passes its split as row indices; the result equals fitting the copies by hand."""
    rng = np.random.default_rng(2)
    K, k, n = 4, 6, 400
    y = rng.integers(0, K, n)
    X = (rng.standard_normal((K, k))[y] * 2 + rng.standard_normal((n, k))).astype(np.float32)
    ids = [f"img{i}" for i in range(n)]
    probe = select_probe(X, y, ids, l2_grid=[1e-3], max_iter=60)
    np.testing.assert_array_equal(probe.weight, fit_probe(X, y, l2=1e-3, max_iter=60).weight)


# ---------------------------------------------------------------- validation: select first, read only those
def _chunk_dirs(tmp_path, n_classes=40, per_class=50, dim=64):
    from sing.io.storage import write_embeddings

    rng = np.random.default_rng(3)
    dirs = []
    for chunk in range(4):
        d = tmp_path / f"chunk-{chunk:03d}"
        d.mkdir()
        dirs.append(d)
        for c in range(chunk, n_classes, 4):
            ids = [f"val/c{c:03d}/{i}.JPEG" for i in range(per_class)]
            write_embeddings(d / f"c{c:03d}.parquet", image_ids=ids, split="val", class_index=[c] * per_class,
                             class_id=[f"c{c:03d}"] * per_class,
                             features=rng.standard_normal((per_class, dim)).astype(np.float32),
                             extra_columns={"pred_class": np.full(per_class, c, np.int32)},
                             metadata={"kind": "classifier", "model": "m", "weights_id": "w", "preprocess": {},
                                       "precision": "fp32"})
    return dirs


def test_read_chunk_rows_reads_the_selection_one_table_at_a_time(tmp_path):
    """Second member: validation.py read every analysis image and then kept 2,000. Selecting from the ids first and
    reading only the kept rows gives the same rows and holds the selection, not the sample."""
    from sing.io.pairs import chunk_image_ids, read_chunk_dirs, read_chunk_rows

    dirs = _chunk_dirs(tmp_path, n_classes=80, per_class=100, dim=256)  # 8,000 rows, 8 MB of features
    ids = chunk_image_ids(dirs)
    rows = np.sort(np.random.default_rng(0).choice(len(ids), 200, replace=False))
    (frame, F), peak = _traced_peak(lambda: read_chunk_rows(dirs, rows))
    full_frame, full_F = read_chunk_dirs(dirs)
    np.testing.assert_array_equal(F, full_F[rows])
    assert frame["image_id"].to_list() == [ids[r] for r in rows] == full_frame["image_id"].gather(rows).to_list()
    assert peak < 3 * MB, f"{peak / MB:.1f} MB"
    _, full_peak = _traced_peak(lambda: read_chunk_dirs(dirs))
    assert full_peak > 6 * MB  # the whole sample (7.8 MB of features)
    with pytest.raises(ValueError, match="increasing"):
        read_chunk_rows(dirs, [5, 3])
    with pytest.raises(ValueError, match="past the last row"):
        read_chunk_rows(dirs, [len(ids)])


# ---------------------------------------------------------------- evaluate_translator: streamed per class
def test_translator_eval_streamed_per_class_equals_the_whole_sample(tmp_path):
    from sing.analysis.translation import translator_eval, translator_eval_tables
    from sing.core.translator import LinearTranslator
    from sing.io.pairs import chunk_tables, read_chunk_dirs
    from sing.io.storage import write_embeddings

    (tmp_path / "f").mkdir()
    feats = _chunk_dirs(tmp_path / "f", n_classes=12, dim=32)
    rng = np.random.default_rng(4)
    clip_root = tmp_path / "c"
    clip_root.mkdir()
    clips = []
    for d in feats:
        out = clip_root / d.name
        out.mkdir()
        clips.append(out)
        for p in sorted(d.glob("*.parquet")):
            frame = pl.read_parquet(p, glob=False)
            keep = frame.head(frame.height - 2)  # two images missing on the CLIP side: dropped
            write_embeddings(out / p.name, image_ids=keep["image_id"].to_list(), split="val",
                             class_index=keep["class_index"].to_list(), class_id=keep["class_id"].to_list(),
                             features=rng.standard_normal((keep.height, 16)).astype(np.float32),
                             metadata={"kind": "clip", "model": "s", "weights_id": "w", "preprocess": {},
                                       "precision": "fp32"})
    T = LinearTranslator(rng.standard_normal((16, 32)), rng.standard_normal(16))
    fr, F = read_chunk_dirs(feats)
    cr, Z = read_chunk_dirs(clips)
    whole = translator_eval(T, fr, F, cr, Z, model="m", space="s")
    streamed = translator_eval_tables(T, chunk_tables(feats), chunk_tables(clips), model="m", space="s",
                                      block_rows=7)
    assert streamed.columns == whole.columns and streamed.height == whole.height == 12 * 48
    assert streamed["image_id"].to_list() == whole["image_id"].to_list()
    assert streamed["class_id"].to_list() == whole["class_id"].to_list()
    for col in ("cosine", "squared_error", "target_sq_norm"):
        np.testing.assert_allclose(streamed[col].to_numpy(), whole[col].to_numpy(), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- mem_mb from sizes
def test_job_mem_mb_from_sizes():
    from sing.analysis.resources import (
        BASE_MB,
        job_mem_mb,
        probe_job_bytes,
        translator_eval_job_bytes,
        validation_job_bytes,
    )

    assert job_mem_mb(0) == 1000 and job_mem_mb(0, base_mb=BASE_MB) % 500 == 0
    assert job_mem_mb(3 * 2**30) == 5000  # 1000 + 1.25 * 3072 = 4840 -> 5000
    with pytest.raises(ValueError):
        job_mem_mb(-1)
    # the paper's robustness probe: 500k x 1000 principal coordinates, 768-d CLIP, 1000 classes
    paper = probe_job_bytes(500_000, 1000, 1000, [768])
    assert 3.5 * 2**30 < paper < 8 * 2**30  # inputs + one standardised copy + blocks; no 4 GB N x K term
    ten_k = probe_job_bytes(5_000_000, 4096, 10_000, [768], feature_dim=4096)
    assert ten_k < 200 * 2**30  # linear in N and k, nothing quadratic in the classes
    # validation keeps max_images whatever the sample: the same memory at 100 and 10,000 classes
    assert validation_job_bytes(2000, 4096, 768, 3) < 1 * 2**30
    # the evaluation streams per class: the sample only adds its result rows
    assert translator_eval_job_bytes(50, 4096, 768, 500_000) < 100 * 2**20


def test_job_memory_is_sized_from_the_plan_and_the_input_headers(tmp_path):
    """The mem_mb the rules declare for train_probes / validation / evaluate_translator (sing.workflow.memory):
    before the head geometry and translators exist, the widest sizes sing knows; once they exist, their headers'
    (m, K, rank, n) — always the byte models of sing.analysis.resources, nothing fixed."""
    import yaml

    from sing.analysis.resources import job_mem_mb, probe_job_bytes, translator_eval_job_bytes, validation_job_bytes
    from sing.core.files import read_safetensors_metadata
    from sing.core.geometry import head_geometry
    from sing.core.translator import LinearTranslator
    from sing.workflow.config import load_schema, merge_configs, resolve_config
    from sing.workflow.memory import MAX_CLIP_DIM, MAX_FEATURE_DIM, JobMemory
    from sing.workflow.plan import Plan

    schema = load_schema(REPO / "schemas/config.schema.yaml")
    config = merge_configs(*(yaml.safe_load((REPO / f).read_text()) for f in ("config.yaml", "config.demo.yaml")))
    plan = Plan(resolve_config(config, schema), schema)
    memory = JobMemory(plan)
    n_robust, K = 5 * 10, 1000  # the demo: 5 robustness classes x 10 images; ImageNet's 1000 classes
    assert memory.images("robustness") == n_robust and memory.images("analysis") == 5 * 6
    unknown = memory.train_probes(str(tmp_path / "missing.safetensors"), [None, None])
    assert unknown == max(1000, job_mem_mb(probe_job_bytes(
        n_robust, min(MAX_FEATURE_DIM, K), K, [MAX_CLIP_DIM] * 2, holdout=0.1, per_class=10,
        feature_dim=MAX_FEATURE_DIM)))

    rng = np.random.default_rng(0)
    m, n = 64, 32
    W = rng.standard_normal((K, m))
    head_geometry(W).save(tmp_path / "geometry.safetensors")
    LinearTranslator(rng.standard_normal((n, m)), np.zeros(n)).save(tmp_path / "translator.safetensors")
    geometry, translator = str(tmp_path / "geometry.safetensors"), str(tmp_path / "translator.safetensors")
    assert read_safetensors_metadata(geometry, "head_geometry")["rank"] == m
    with pytest.raises(ValueError, match="holds a 'linear_translator'"):
        read_safetensors_metadata(translator, "head_geometry")
    assert memory.train_probes(geometry, [translator]) == max(1000, job_mem_mb(probe_job_bytes(
        n_robust, m, K, [n], holdout=0.1, per_class=10, feature_dim=m))) < unknown
    assert memory.validation(geometry, translator) == max(1000, job_mem_mb(validation_job_bytes(
        min(200, 30), m, n, 2, per_class=6, n_classes=K)))
    assert memory.evaluate_translator(translator) == max(1000, job_mem_mb(translator_eval_job_bytes(6, m, n, 30)))
    # the paper's robustness probes (1000 classes x 500 images, 2048-wide features, rank 1000, two 768-d spaces):
    # a few GB, and growing linearly, not with classes squared
    paper = job_mem_mb(probe_job_bytes(500_000, 1000, 1000, [768, 768], feature_dim=2048))
    double = job_mem_mb(probe_job_bytes(1_000_000, 2000, 2000, [768, 768], feature_dim=2048))
    assert 4000 < paper < 12000 and double < 3.2 * paper
