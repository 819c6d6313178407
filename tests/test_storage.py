"""Parquet schema, metadata, round trip, determinism and atomicity of the writers."""

import json
import os

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sing.core.files import atomic_path
from sing.io import storage
from sing.io.logs import setup_logging

META = {"kind": "classifier", "model": "demo_resnet50", "weights_id": "random:timm:resnet50:seed=0",
        "preprocess": {"input_size": [3, 224, 224]}, "precision": "fp32", "provenance": {"sample": {"seed": 0}}}


def _write(path, n=5, d=7, seed=0, **kw):
    rng = np.random.default_rng(seed)
    F = rng.standard_normal((n, d)).astype(np.float32)
    ids = [f"val/n01440764/img{i}.JPEG" for i in range(n)]
    pred = rng.integers(0, 1000, n)
    storage.write_embeddings(path, image_ids=ids, split="val", class_index=0, class_id="n01440764", features=F,
                             extra_columns={"pred_class": pred, "pred_logit": rng.standard_normal(n),
                                            "correct": pred == 0}, metadata=kw.get("metadata", META))
    return F, ids, pred


def test_round_trip_schema_metadata(tmp_path):
    p = tmp_path / "a.parquet"
    F, ids, pred = _write(p)
    df, G, meta = storage.read_embeddings(p)
    np.testing.assert_array_equal(G, F)
    assert G.dtype == np.float32 and G.flags.c_contiguous
    assert df.columns == ["image_id", "split", "class_index", "class_id", "pred_class", "pred_logit", "correct"]
    assert df["image_id"].to_list() == ids and df["pred_class"].to_list() == pred.tolist()
    schema = pq.read_schema(p)
    assert schema.field("feature").type == pa.list_(pa.float32(), 7)
    assert schema.field("class_index").type == pa.int32() and schema.field("pred_class").type == pa.int32()
    assert schema.field("pred_logit").type == pa.float32() and schema.field("correct").type == pa.bool_()
    keys = {k.decode() for k in schema.metadata if k.startswith(b"sing.")}
    assert keys == {f"sing.{k}" for k in storage.REQUIRED_META}
    assert all(isinstance(json.loads(schema.metadata[f"sing.{k}".encode()]), object) for k in storage.REQUIRED_META)
    assert meta["model"] == "demo_resnet50" and meta["sing.model"] == "demo_resnet50"
    assert meta["versions"]["torch"] and "sing.precision" in meta
    one = pl.read_parquet(p)  # one polars call reads it
    assert one.height == 5 and one["feature"].dtype == pl.Array(pl.Float32, 7)


def test_byte_identical_and_atomic(tmp_path):
    a, b = tmp_path / "a.parquet", tmp_path / "b.parquet"
    _write(a)
    _write(b)
    assert a.read_bytes() == b.read_bytes()
    before = a.read_bytes()
    with pytest.raises(ValueError, match="features"):
        storage.write_embeddings(a, image_ids=["x"], split="val", class_index=0, class_id="n01440764",
                                 features=np.zeros((2, 3), np.float32), metadata=META)
    assert a.read_bytes() == before and sorted(os.listdir(tmp_path)) == ["a.parquet", "b.parquet"]


def test_atomic_path_dir_and_failure(tmp_path):
    target = tmp_path / "out"
    with atomic_path(target) as t:
        t.mkdir()
        (t / "x.txt").write_text("1")
    with atomic_path(target) as t:  # replaces an existing directory
        t.mkdir()
        (t / "y.txt").write_text("2")
    assert os.listdir(target) == ["y.txt"]
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "f") as t:
            t.write_text("partial")
            raise RuntimeError("boom")
    assert sorted(os.listdir(tmp_path)) == ["out"]


def test_validation(tmp_path):
    p = tmp_path / "x.parquet"
    with pytest.raises(ValueError, match="non-finite"):
        storage.write_embeddings(p, image_ids=["a"], split="val", class_index=0, class_id="n01440764",
                                 features=np.array([[np.nan, 1]], np.float32), metadata=META)
    with pytest.raises(ValueError, match="missing required key"):
        storage.write_embeddings(p, image_ids=["a"], split="val", class_index=0, class_id="n01440764",
                                 features=np.ones((1, 2), np.float32), metadata={"model": "m"})
    with pytest.raises(ValueError, match="class_index has 2 entries"):
        storage.write_embeddings(p, image_ids=["a"], split="val", class_index=[0, 1], class_id="n01440764",
                                 features=np.ones((1, 2), np.float32), metadata=META)
    with pytest.raises(FileNotFoundError, match="no such parquet"):
        storage.read_embeddings(tmp_path / "nope.parquet")


def test_empty_and_text_table(tmp_path):
    p = tmp_path / "e.parquet"
    storage.write_embeddings(p, image_ids=[], split="val", class_index=[], class_id=[],
                             features=np.zeros((0, 4), np.float32), metadata=META)
    df, F, _ = storage.read_embeddings(p)
    assert df.height == 0 and F.shape == (0, 4)
    t = tmp_path / "t.parquet"
    E = np.arange(12, dtype=np.float32).reshape(3, 4)
    storage.write_text_embeddings(t, kind=["class", "concept", "target"], key=["n01440764", "desert", "a dog"],
                                  prompt=["an image of a tench", "an image of a desert", "a dog"],
                                  class_index=[0, -1, -1], embeddings=E,
                                  metadata={k: v for k, v in META.items() if k != "kind"})
    df, G, meta = storage.read_text_embeddings(t)
    np.testing.assert_array_equal(G, E)
    assert meta["kind"] == "text" and df["class_index"].to_list() == [0, -1, -1]
    assert pq.read_schema(t).field("embedding").type == pa.list_(pa.float32(), 4)
    with pytest.raises(ValueError, match="kind must be one of"):
        storage.write_text_embeddings(t, kind=["bogus"], key=["k"], prompt=["p"], class_index=[0],
                                      embeddings=E[:1], metadata=META)


def test_setup_logging(tmp_path):
    import logging

    stream = setup_logging(tmp_path / "logs" / "job.log")
    logging.getLogger("sing.test").info("hello")
    stream.write("progress\n")
    stream.flush()
    text = (tmp_path / "logs" / "job.log").read_text()
    assert "hello" in text and "progress" in text
