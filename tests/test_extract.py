"""Extraction: features equal the adapter on the same decoded images, bad-image policies, byte-identical
reruns, the thin workflow scripts with a stand-in `snakemake` object."""

import hashlib
import json
import os
import runpy
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest
import torch
from safetensors.numpy import load_file

from sing.core.geometry import weight_sha256
from sing.data.datasets import open_dataset
from sing.data.extraction import extract_classifier, extract_clip, run_extraction
from sing.data.imagenet import class_files
from sing.data.images import BadImageError, load_rgb, sample_class
from sing.data.synthetic import make_synthetic_imagenet
from sing.io.storage import read_embeddings, read_text_embeddings
from sing.models.classifiers import load_classifier

A, B = "n01440764", "n02123045"
SCRIPTS = Path(__file__).resolve().parents[1] / "workflow_scripts"
SMALL = {"source": "timm", "name": "resnet18", "pretrained": False, "seed": 0}  # 512-d: fast
SPACE = {"model": "ViT-S-32", "pretrained": None, "seed": 0}


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    r = tmp_path_factory.mktemp("imagenet")
    make_synthetic_imagenet(r, {"classes": [A, B], "train_per_class": 6, "val_per_class": 3, "image_size": 32,
                                "special_every": 2, "bad_per_split": 1, "seed": 0})
    return r


def imagenet(root):
    return open_dataset({"kind": "imagenet", "root": str(root)})


@pytest.fixture(scope="module")
def adapter():
    torch.set_num_threads(2)
    return load_classifier("r18", SMALL)


def _good(root, split, wnid):
    out = []
    for f in class_files(root, split, wnid):
        try:
            load_rgb(root / f)
            out.append(f)
        except BadImageError:
            pass
    return out


def test_features_match_adapter(root, adapter):
    ids = _good(root, "val", A) + _good(root, "val", B)
    res = extract_classifier(adapter, ids, root, batch_size=4, device="cpu", progress=False)
    assert res["image_ids"] == ids and res["skipped"] == []
    x = torch.stack([adapter.transform(load_rgb(root / i)) for i in ids])
    with torch.inference_mode():
        f = adapter.features(x).numpy()
        logits = adapter.forward(x).numpy()
    np.testing.assert_allclose(res["features"], f, atol=1e-5, rtol=1e-5)
    np.testing.assert_array_equal(res["pred_class"], logits.argmax(1))
    np.testing.assert_allclose(res["pred_logit"], logits.max(1), atol=1e-4)
    # batch size does not change the numbers beyond float noise
    res1 = extract_classifier(adapter, ids[:3], root, batch_size=1, device="cpu", progress=False)
    np.testing.assert_allclose(res1["features"], res["features"][:3], atol=1e-4, rtol=1e-4)


def test_decoding_workers_change_no_number(root, adapter):
    """extraction.num_workers is x-cosmetic: worker processes decode the same files with the same transform and the
    loader keeps the batch order, so features, predictions and the skipped list are bit-identical."""
    ids = class_files(root, "val", A) + class_files(root, "val", B)  # with one unreadable file per class
    runs = [extract_classifier(adapter, ids, root, batch_size=3, device="cpu", num_workers=n, on_bad_image="skip",
                               progress=False) for n in (0, 2)]
    assert runs[0]["image_ids"] == runs[1]["image_ids"] and runs[0]["skipped"] == runs[1]["skipped"]
    for field in ("features", "pred_class", "pred_logit"):
        np.testing.assert_array_equal(runs[0][field], runs[1][field])


def test_bad_image_policies(root, adapter):
    ids = class_files(root, "val", A)
    with pytest.raises(BadImageError) as ei:
        extract_classifier(adapter, ids, root, batch_size=2, device="cpu", on_bad_image="fail", progress=False)
    assert str(root) in str(ei.value) and "truncated" in str(ei.value).lower()
    res = extract_classifier(adapter, ids, root, batch_size=2, device="cpu", on_bad_image="skip", progress=False)
    assert len(res["skipped"]) == 1 and res["skipped"][0]["image_id"] not in res["image_ids"]
    assert len(res["image_ids"]) == len(ids) - 1 and res["features"].shape == (len(ids) - 1, 512)
    with pytest.raises(ValueError, match="on_bad_image"):
        extract_classifier(adapter, ids, root, on_bad_image="ignore", progress=False)


def test_reduced_precision_only_on_cuda(root, adapter, tmp_path, caplog):
    """bf16 on a CPU is an emulation many times slower than fp32: the CPU runs fp32 and says so (issue 9.12)."""
    from sing.models.devices import effective_dtype, effective_precision

    assert effective_precision("bf16", "cpu") == effective_precision("fp16", "cpu") == "fp32"
    assert effective_precision("bf16", "cuda") == "bf16" and effective_precision("fp32", "cuda") == "fp32"
    assert effective_dtype(torch.float16, "cpu") == torch.float32 and effective_dtype(torch.float16, "cuda:0") == \
        torch.float16
    with pytest.raises(ValueError, match="precision must be one of"):
        effective_precision("int8", "cpu")
    ids = _good(root, "train", A)[:4]
    a = extract_classifier(adapter, ids, root, device="cpu", precision="fp32", progress=False)["features"]
    b = extract_classifier(adapter, ids, root, device="cpu", precision="bf16", progress=False)["features"]
    np.testing.assert_array_equal(a, b)  # main: bf16 autocast on the CPU (different numbers, ~20x slower)
    with caplog.at_level("WARNING", logger="sing.data.extraction"):
        run_extraction("classifier", "r18", SMALL, dataset=imagenet(root), classes=[A], out=tmp_path / "o",
                       sample={"split": "val", "per_class": 2, "seed": 0}, device="cpu", precision="bf16",
                       on_bad_image="skip", progress=False)
    _, _, meta = read_embeddings(tmp_path / "o" / f"{A}.parquet")
    assert meta["precision"] == "fp32" and meta["provenance"]["precision_requested"] == "bf16"
    assert any("precision bf16 requested" in r.getMessage() and "running fp32 on cpu" in r.getMessage()
               for r in caplog.records)


def test_unclip_half_dtype_runs_float32_on_cpu(caplog):
    from sing.unclip.pipeline import TINY_MODEL_ID, load_unclip

    with caplog.at_level("WARNING", logger="sing.unclip.pipeline"):
        pipe = load_unclip(TINY_MODEL_ID, device="cpu", dtype=torch.float16, embedding_dim=32)
    assert pipe.sing_dtype == "float32" and next(pipe.decoder.parameters()).dtype == torch.float32
    assert any("UnCLIP dtype float16 requested" in r.getMessage() for r in caplog.records)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_bf16_autocast_on_cuda_close_to_fp32(root, adapter):
    ids = _good(root, "train", A)[:4]
    a = extract_classifier(adapter, ids, root, device="cuda", precision="fp32", progress=False)["features"]
    b = extract_classifier(adapter, ids, root, device="cuda", precision="bf16", progress=False)["features"]
    adapter.to("cpu")
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert cos.min() > 0.99 and not np.array_equal(a, b)


def test_run_extraction_per_class_deterministic(root, tmp_path):
    kw = dict(dataset=imagenet(root), classes=[A, B], sample={"split": "val", "per_class": "all", "seed": 0},
              batch_size=3, device="cpu", on_bad_image="skip", progress=False)
    s1 = run_extraction("classifier", "r18", SMALL, out=tmp_path / "one", **kw)
    run_extraction("classifier", "r18", SMALL, out=tmp_path / "two", **kw)
    assert s1 == {"images": 8, "written": 6, "skipped": 2}
    assert sorted(os.listdir(tmp_path / "one")) == [f"{A}.parquet", f"{B}.parquet", "skipped.parquet"]
    for f in os.listdir(tmp_path / "one"):
        assert (tmp_path / "one" / f).read_bytes() == (tmp_path / "two" / f).read_bytes(), f
    df, F, meta = read_embeddings(tmp_path / "one" / f"{B}.parquet")
    assert set(df["class_id"]) == {B} and set(df["class_index"]) == {281} and F.shape == (3, 512)
    assert (df["correct"] == (df["pred_class"] == 281)).all()
    assert meta["kind"] == "classifier" and meta["model"] == "r18" and meta["precision"] == "fp32"
    sk = pl.read_parquet(tmp_path / "one" / "skipped.parquet")
    assert sk.columns == ["image_id", "class_id", "error"] and sk.height == 2


def test_run_extraction_clip_single(root, tmp_path):
    out = tmp_path / "clip.parquet"
    s = run_extraction("clip", "demo", SPACE, dataset=imagenet(root), classes=[B, A],
                       sample={"split": "train", "per_class": 3, "seed": 1, "take_all_if_fewer": False},
                       out=out, mode="single", device="cpu", on_bad_image="skip", progress=False)
    df, F, meta = read_embeddings(out)
    assert meta["kind"] == "clip" and F.shape[1] == 384 and df["class_id"].to_list()[0] == B
    assert "pred_class" not in df.columns
    # the first 3 readable images of each class in sample order: an unreadable one is replaced by the next
    readable = set(_good(root, "train", A) + _good(root, "train", B))
    expected = [i for w in (B, A)
                for i in [j for j in sample_class(class_files(root, "train", w), "all", 1, w) if j in readable][:3]]
    assert df["image_id"].to_list() == expected and df.height == 6
    first3 = [i for w in (B, A) for i in sample_class(class_files(root, "train", w), 3, 1, w)]
    assert s["skipped"] == len(set(first3) - readable) > 0  # the refill was exercised
    with pytest.raises(ValueError, match=f"class {A}: asked for 50"):
        run_extraction("clip", "demo", SPACE, dataset=imagenet(root), classes=[A], out=tmp_path / "x.parquet",
                       sample={"split": "train", "per_class": 50, "seed": 0}, mode="single", progress=False)


def test_run_extraction_excludes_ids_and_keeps_the_sample_order(root, tmp_path):
    """The translator study's held-out sample: ids in ``exclude`` are never sampled, the rest keep their order
    (= study_heldout_sample), and the count is in the provenance."""
    from sing.analysis.translator_study import study_heldout_sample
    from sing.io.storage import read_metadata

    first = [i for w in (A, B) for i in sample_class(class_files(root, "train", w), 2, 1, w)]
    out = tmp_path / "held.parquet"
    run_extraction("clip", "demo", SPACE, dataset=imagenet(root), classes=[A, B], out=out, mode="single",
                   sample={"split": "train", "per_class": "all", "seed": 1}, device="cpu", on_bad_image="skip",
                   progress=False, exclude=first)
    df, _, meta = read_embeddings(out)
    assert not set(df["image_id"]) & set(first)
    readable = set(_good(root, "train", A) + _good(root, "train", B))
    files = {w: class_files(root, "train", w) for w in (A, B)}
    held = study_heldout_sample(files, 100, 1, exclude=first, take_all_if_fewer=True)
    expected = [i for ids in held.values() for i in ids if i in readable]
    assert df["image_id"].to_list() == expected
    assert "excluded_images" in str(read_metadata(out)) and df.height == len(expected)


@pytest.fixture(scope="module")
def space():
    from sing.models.clip_spaces import load_space

    return load_space("demo", SPACE)


def test_extract_clip_unnormalised(root, space):
    sp = space
    ids = _good(root, "val", A)
    res = extract_clip(sp, ids, root, device="cpu", progress=False)
    x = torch.stack([sp.transform(load_rgb(root / i)) for i in ids])
    with torch.inference_mode():
        ref = sp.model.encode_image(x).numpy()  # open_clip default: not normalised
    np.testing.assert_allclose(res["features"], ref, atol=1e-4, rtol=1e-4)
    assert not np.allclose(np.linalg.norm(res["features"], axis=1), 1.0)


# ---------------------------------------------------------------- thin workflow scripts
class _NL(dict):
    """Minimal stand-in for snakemake's Namedlist: attribute and index access."""

    def __init__(self, *pos, **named):
        super().__init__(named)
        self._pos = list(pos) + list(named.values())

    def __getattr__(self, k):
        try:
            return self[k]
        except KeyError:
            raise AttributeError(k) from None

    def __getitem__(self, k):
        return self._pos[k] if isinstance(k, int) else dict.__getitem__(self, k)

    def __len__(self):
        return len(self._pos)


def _run_script(name, *, input=None, output, settings, log, wildcards=None, config=None, rule=None):
    """Run a workflow script with a stand-in `snakemake` object: params.settings as sing.workflow.settings builds it."""
    sm = SimpleNamespace(input=input or _NL(), output=output, params=_NL(settings=settings), log=_NL(str(log)),
                         rule=rule or name.removesuffix(".py"),
                         threads=2, wildcards=_NL(**(wildcards or {})),
                         config=config or {"weights_dir": "weights",
                                           "extraction": {"num_workers": 0, "loader_timeout": 300}})
    runpy.run_path(str(SCRIPTS / name), init_globals={"snakemake": sm}, run_name="__main__")


def test_scripts_end_to_end(tmp_path):
    ds = tmp_path / "imagenet"
    _run_script("make_synthetic_dataset.py", output=_NL(str(ds)), log=tmp_path / "syn.log",
                settings={"dataset": {"kind": "imagenet", "synthetic": {"classes": [A, B], "train_per_class": 4,
                                                                        "val_per_class": 2, "image_size": 24,
                                                                        "seed": 0}}})
    assert (ds / "synthetic.json").is_file() and not list(tmp_path.glob("*.tmp-*"))
    config = {"weights_dir": "weights", "extraction": {"num_workers": 0, "loader_timeout": 300}}
    wnids = list(open_dataset({"kind": "imagenet", "root": str(ds)}).catalog.ids)
    names = {w: [n, n] for w, (n, _) in zip(wnids, __import__("sing.data.classes", fromlist=["x"]).imagenet_names())}
    classes = tmp_path / "classes.parquet"
    _run_script("dataset_classes.py", output=_NL(classes=str(classes)), log=tmp_path / "cl.log", config=config,
                settings={"dataset": {"kind": "imagenet", "root": str(ds), "class_index": wnids, "class_names": names,
                                      "chunks": 10},
                          "chunk_size": 100})
    table = pl.read_parquet(classes)
    assert table.height == 1000 and table.row(281, named=True)["name"] == "tabby cat"
    assert table.row(281, named=True)["chunk"] == 2 and table.row(281, named=True)["description"] == "tabby, tabby cat"
    sample = {"split": "val", "per_class": 2, "seed": 0, "take_all_if_fewer": False}
    ext = {"device": "cpu", "precision": "fp32", "batch_size": 4, "on_bad_image": "fail",
           "on_missing_image": "fail", "channels_last": False}
    unlocked = {"files": []}  # random weights: nothing to verify
    common = {"extraction": ext}
    model = {**common, "models": {"r18": SMALL}, "weights": {"models": {"r18": unlocked}},
             "dataset": {"kind": "imagenet", "root": str(ds), "class_index": wnids}}
    head = tmp_path / "heads" / "r18" / "head.safetensors"
    _run_script("export_head.py", output=_NL(head=str(head), written=str(head) + ".written.json"), settings=model,
                wildcards={"model": "r18"},
                config=config, log=tmp_path / "head.log")
    assert "matches ImageNet-1k at" in (tmp_path / "head.log").read_text()
    out = tmp_path / "features" / "chunk-000"
    _run_script("extract_features.py", input=_NL(str(ds)), output=_NL(features=str(out)), log=tmp_path / "ex.log",
                settings={**model, "samples": {"analysis": sample}, "classes": [A, B]},
                wildcards={"model": "r18", "sample": "analysis", "chunk": "000"})
    assert sorted(os.listdir(out)) == [f"{A}.parquet", f"{B}.parquet"]
    assert "r18" in (tmp_path / "ex.log").read_text()
    prov = json.loads(pq.read_schema(out / f"{A}.parquet").metadata[b"sing.provenance"])
    assert prov["weights"] == {"models": {"r18": unlocked}} and prov["sample_name"] == "analysis"
    single = tmp_path / "translator.parquet"
    head = tmp_path / "heads" / "r18" / "head.safetensors"
    _run_script("extract_features.py", input=_NL(str(ds)), output=_NL(features=str(single)),
                settings={**model, "samples": {"translator": {**sample, "classes": [A, B]}}},
                wildcards={"model": "r18"}, log=tmp_path / "ex2.log", rule="extract_translator_features")
    assert read_embeddings(single)[1].shape == (4, 512)
    space = {**common, "spaces": {"demo": SPACE}, "weights": {"spaces": {"demo": unlocked}},
             "dataset": {"kind": "imagenet", "root": str(ds), "class_index": {A: 0, B: 281}}}
    cout = tmp_path / "clip" / "chunk-000"
    _run_script("extract_features.py", input=_NL(str(ds)), output=_NL(features=str(cout)), log=tmp_path / "em.log",
                settings={**space, "samples": {"analysis": sample}, "classes": [A, B]},
                wildcards={"space": "demo", "sample": "analysis", "chunk": "000"})
    assert read_embeddings(cout / f"{A}.parquet")[1].shape == (2, 384)
    prompts = {"class_index": {A: 0, B: 281}, "class_names": {A: "tench", B: "tabby cat"}}
    parts = {"classes": {"text": {"class_prompt": "an image of a {}", "templates": "simple", "classes": [A, B]},
                         "dataset": prompts},
             "concepts": {"text": {"class_prompt": "an image of a {}", "templates": "simple",
                                   "concept_prompt": "an image of {}"}, "dataset": prompts,
                          "analyses": {"open_vocabulary": {"classes": [A], "concepts": {A: ["sand dunes", "a hump"]}}}},
             "steering": {"analyses": {"steering": {"target": "an image of an arabian camel"}}}}
    rows = {}
    for part, part_settings in parts.items():
        text = tmp_path / "text" / f"{part}.parquet"
        _run_script("embed_texts.py", output=_NL(text=str(text)), log=tmp_path / f"tx-{part}.log",
                    settings={**space, **part_settings}, wildcards={"space": "demo", "part": part})
        rows[part] = read_text_embeddings(text)
    assert rows["classes"][0]["kind"].to_list() == ["class", "class"]
    # the class prompts use the template ensemble; the concepts their own template, never the ensemble
    assert rows["classes"][0]["prompt"].to_list() == ["ensemble:simple(tench)", "ensemble:simple(tabby cat)"]
    assert rows["concepts"][0]["prompt"].to_list() == ["ensemble:simple(tench)", "an image of sand dunes",
                                                       "an image of a hump"]
    assert rows["concepts"][2]["provenance"]["concept_prompt"] == "an image of {}"
    assert rows["steering"][0]["prompt"].to_list() == ["an image of an arabian camel"]
    from sing.models.clip_spaces import load_space

    E = rows["concepts"][1]
    np.testing.assert_allclose(E[1], load_space("demo", SPACE).encode_text(["an image of sand dunes"])[0], atol=1e-5)
    t = load_file(head)  # written by export_head after the head check and the self-check
    from safetensors import safe_open

    with safe_open(str(head), "np") as fh:
        meta = json.loads(fh.metadata()["sing"])
    W, b = load_classifier("r18", SMALL, self_check=False).head()
    np.testing.assert_array_equal(t["weight"], W)
    np.testing.assert_array_equal(t["bias"], b)
    assert meta["kind"] == "head" and meta["model"] == "r18"
    assert meta["sha256"] == weight_sha256(W)  # same digest as the head-SVD step
    assert meta["head_sha256"] == hashlib.sha256(W.astype("<f4").tobytes() + b.astype("<f4").tobytes()).hexdigest()
    assert meta["provenance"]["weights"] == {"models": {"r18": unlocked}}


def test_template_ensemble(space):
    import open_clip

    E, prompts = space.encode_prompts(["tench"], ensemble="simple")
    assert E.shape == (1, 384) and prompts[0] == "ensemble:simple(tench)"
    raw = space.encode_text([t("tench") for t in open_clip.SIMPLE_IMAGENET_TEMPLATES]).astype(np.float64)
    unit = raw / np.linalg.norm(raw, axis=1, keepdims=True)
    ref = unit.mean(0) / np.linalg.norm(unit.mean(0)) * np.linalg.norm(raw, axis=1).mean()
    np.testing.assert_allclose(E[0], ref, rtol=1e-5, atol=1e-5)
    sp = space
    with pytest.raises(ValueError, match="template ensemble"):
        sp.encode_prompts(["x"], ensemble="nope")
