"""`sing explain`: the pure diagnosis against brute force; the command in one step with no workflow run (the real
EfficientNet-Lite0 on a real photo; a translator, a dictionary and UnCLIP pictures with random parts, said so);
the refusals; and the command on a tiny workflow results tree (--results)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from artifacts import ARTIFACTS

from sing import cli
from sing.core.geometry import head_geometry
from sing.core.translator import LinearTranslator

CATS = {281, 282, 283, 284, 285}  # domestic cat classes: chelsea is a tabby
DEMO_SPACE = {"model": "ViT-S-32", "pretrained": None, "seed": 0, "display": "CLIP ViT-S/32 (random)"}


def test_explain_feature_ranks_gained_and_lost_concepts():
    rng = np.random.default_rng(0)
    m, c, d = 20, 8, 10
    W = rng.standard_normal((c, m))
    g = head_geometry(W)
    T = LinearTranslator(rng.standard_normal((d, m)), np.zeros(d))
    f = rng.standard_normal(m)
    Z = rng.standard_normal((6, d))
    labels = [f"t{i}" for i in range(6)]
    r = cli.explain_feature(f, W @ f, g, T, labels, ["concept"] * 6, Z, pred_text=Z[0], W=W, top=3)
    z, z_eq = T(f[None])[0], T(g.remove_null(f[None]))[0]

    def ang(a, b):
        return np.degrees(np.arccos(a @ b / np.linalg.norm(a) / np.linalg.norm(b)))

    AS = np.array([ang(z, t) - ang(z_eq, t) for t in Z])
    assert r["as_deg"] == pytest.approx(AS[0], abs=1e-6)
    assert r["is_deg"] == pytest.approx(ang(z, z_eq), abs=1e-6)
    assert r["class_index"] == int(np.argmax(W @ f)) and r["logit_change_rel"] < 1e-10
    gained = [labels[i] for i in np.argsort(-AS) if AS[i] > 0][:3]
    lost = [labels[i] for i in np.argsort(AS) if AS[i] < 0][:3]
    assert [x["text"] for x in r["gained"]] == gained
    assert [x["text"] for x in r["lost"]] == lost
    json.dumps(r)  # serialisable
    ns = cli.null_scores(f, g, W)
    assert ns["null_ratio"] == pytest.approx(np.linalg.norm(g.project_null(f)) / np.linalg.norm(f))
    assert ns["logit_change_rel"] == pytest.approx(r["logit_change_rel"], abs=1e-12)
    with pytest.raises(ValueError, match="labels"):
        cli.explain_feature(f, W @ f, g, T, labels[:2], ["concept"] * 2, Z)


# ------------------------------------------------------------------------ one command, no workflow run
@pytest.fixture(scope="module")
def photo_setup(tmp_path_factory):
    """A real photo (skimage's chelsea), a weights cache, a config defining a random CLIP space, a random 1280 -> 384
    translator and a small dictionary embedded with that space."""
    import torch
    import yaml
    from PIL import Image
    from skimage import data

    from sing.data.dictionaries import embed_dictionary, write_dictionary
    from sing.models.clip_spaces import load_space

    torch.set_num_threads(2)
    root = tmp_path_factory.mktemp("explain")
    Image.fromarray(data.chelsea()).save(root / "chelsea.png")
    (root / "config.yaml").write_text(yaml.safe_dump({"spaces": {"rand": DEMO_SPACE},
                                                      "weights_dir": str(root / "weights")}))
    space = load_space("rand", {k: v for k, v in DEMO_SPACE.items() if k != "display"})
    rng = np.random.default_rng(0)
    LinearTranslator(rng.standard_normal((space.dim, 1280)) / 30, rng.standard_normal(space.dim)).save(
        root / "T.safetensors")
    d = embed_dictionary(space, ["the color red", "fur", "a striped pattern", "desert", "a wheel"],
                         ["a photo of {}."], name="mini")
    write_dictionary(root / "mini.parquet", d)
    return root


def _run(capsys, *argv):
    rc = cli.main(["explain", *map(str, argv)])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_explain_real_classifier_without_translator(photo_setup, capsys):
    root = photo_setup
    rc, out, err = _run(capsys, root / "chelsea.png", "--model", "efficientnet_lite0", "--weights-dir",
                        root / "weights", "--json")
    assert rc == 0, err
    r = json.loads(out)  # one JSON object, nothing else on stdout
    assert r["class_index"] in CATS and r["class_id"].startswith("n0") and r["class_name"]
    assert r["nullity"] == 280 and r["rank"] == 1000 and r["in_dim"] == 1280
    assert 0 < r["null_ratio"] < 1 and r["logit_change_rel"] < 1e-13
    assert r["top5"][0]["class_index"] == r["class_index"] and sum(t["probability"] for t in r["top5"]) <= 1
    assert r["random_weights"] is False and r["caveats"] == [] and r["space"] is None
    assert "need a translator" in r["as_is"] and "--translator" in r["as_is"] and "is_deg" not in r
    text = cli.format_result(r)  # the report prints the same result
    assert "nullity 280" in text and "AS/IS need a translator" in text and "CAVEAT" not in text
    assert f"class {r['class_index']} {r['class_id']}" in text


def test_explain_with_translator_dictionary_and_pictures(photo_setup, capsys):
    root = photo_setup
    out_dir = root / "out"
    rc, out, err = _run(capsys, root / "chelsea.png", "--model", "efficientnet_lite0", "--config",
                        root / "config.yaml", "--space", "rand", "--translator", root / "T.safetensors",
                        "--dictionary", root / "mini.parquet", "--seeds", 42, 1337, "--unclip-model",
                        "sing:tiny-random", "--top", 2, "--json", "--out", out_dir)
    assert rc == 0, err
    r = json.loads(out)
    assert r["class_index"] in CATS and r["space"] == "rand" and r["nullity"] == 280
    for key in ("is_deg", "as_deg", "angle_orig_deg", "angle_eq_deg", "null_ratio", "logit_change_rel"):
        assert isinstance(r[key], float), key
    assert r["is_deg"] > 0 and r["class_prompt"] == f"an image of a {r['class_name']}"
    assert r["dictionary"]["name"] == "mini" and r["dictionary"]["checks"]["fingerprint"]["labels"] == [
        "the color red", "a striped pattern", "a wheel"]
    assert r["n_texts"] == 5 and len(r["gained"]) + len(r["lost"]) >= 1 and len(r["gained"]) <= 2
    # random parts said so, in JSON and as a caveat
    assert r["random_weights"] is True
    assert r["random_parts"] == ["space 'rand'", "UnCLIP pipeline 'sing:tiny-random'"]
    assert "random weights" in r["caveats"][0] and any("neither a fit" in c for c in r["caveats"])
    seeds = [p for p in r["pictures"] if p["seed"] is not None]
    assert [p["seed"] for p in seeds] == [42, 1337]
    for p in r["pictures"]:
        for file in p["files"]:
            assert Path(file).read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out_dir / "explain.json").read_text())["class_index"] == r["class_index"]
    assert (out_dir / "explain.png").read_bytes()[:4] == b"\x89PNG"
    # the same numbers in the report, with the caveat first
    text = cli.format_result(r)
    assert text.startswith("CAVEAT: computed from random weights (space 'rand', UnCLIP pipeline")
    assert f"IS = {r['is_deg']:.4f}°" in text and "AS toward “an image of a" in text
    assert "pictures (seed 1337)" in text and "dictionary 'mini' (5 labels)" in text


def test_explain_refusals_name_the_problem(photo_setup, capsys, tmp_path, monkeypatch):
    root = photo_setup
    img = root / "chelsea.png"
    # a space defined only in a config file: the error says --config is needed (and that ./config.yaml has it)
    monkeypatch.chdir(root)
    rc, _, err = _run(capsys, img, "--model", "efficientnet_lite0", "--translator", root / "T.safetensors",
                      "--space", "rand")
    assert rc == 2 and "--space: 'rand' is not in the catalogue" in err and "needs --config FILE" in err
    assert "add --config config.yaml" in err
    rc, _, err = _run(capsys, img, "--model", "nope", "--config", root / "config.yaml")
    assert rc == 2 and "--model: 'nope' is neither in the catalogue" in err
    rc, _, err = _run(capsys, img, "--model", "efficientnet_lite0", "--config", tmp_path / "absent.yaml")
    assert rc == 2 and "--config: no such file" in err
    rc, _, err = _run(capsys, img, "--model", "efficientnet_lite0", "--seeds", 42)
    assert rc == 2 and "--seeds needs a translator" in err and "--translator PATH" in err
    rc, _, err = _run(capsys, tmp_path / "absent.png", "--model", "efficientnet_lite0")
    assert rc == 2 and "image not found" in err
    if ARTIFACTS is not None:  # the authors' convnext translator reads 1024-d features, not Lite0's 1280
        best = Path(ARTIFACTS) / "translators" / "convnext" / "linear" / "best.pt"
        rc, _, err = _run(capsys, img, "--model", "efficientnet_lite0", "--weights-dir", root / "weights",
                          "--translator", best)
        assert rc == 2 and all(s in err for s in (str(best), "'efficientnet_lite0'", "'openai_vitl14'", "1024",
                                                  "1280"))


# ------------------------------------------------------------------------ on a workflow's results (--results)
@pytest.fixture(scope="module")
def tiny_workflow(tmp_path_factory):
    import yaml
    from PIL import Image

    from sing.data.extraction import write_head
    from sing.data.imagenet import imagenet_classes
    from sing.io.storage import write_text_embeddings
    from sing.models.classifiers import load_classifier

    root = tmp_path_factory.mktemp("cli")
    # 100 classes on 512-d features: nullity 412
    entry = {"source": "timm", "name": "resnet18", "pretrained": False, "seed": 0, "model_kwargs": {"num_classes": 100}}
    cfg = {"models": {"tiny": {**entry, "display": "Tiny"}}, "run_spaces": ["sp"],
           "spaces": {"sp": {"model": "ViT-S-32", "pretrained": None, "seed": 0, "display": "SP"}},
           "weights_dir": str(root / "w")}
    (root / "config.yaml").write_text(yaml.safe_dump(cfg))
    adapter = load_classifier("tiny", entry)
    W, _ = adapter.head()
    R = root / "results"
    write_head(adapter, R / "heads" / "tiny" / "head.safetensors")
    head_geometry(W).save(R / "heads" / "tiny" / "geometry.safetensors")
    rng = np.random.default_rng(0)
    d = 16
    (R / "translators" / "tiny").mkdir(parents=True)
    LinearTranslator(rng.standard_normal((d, W.shape[1])) / 20, rng.standard_normal(d), alpha=1.0).save(
        R / "translators" / "tiny" / "sp.safetensors")
    cls = imagenet_classes().head(100).rename({"index": "class_index", "wnid": "class_id"})  # a 100-class dataset
    cls.with_columns(pl.col("name").alias("prompt_name")).write_parquet(R / "classes.parquet")
    concepts = ["desert", "ocean", "snow"]
    (R / "text" / "sp").mkdir(parents=True)  # the workflow's layout: class prompts and concepts apart
    meta = {"model": "sp", "weights_id": "x", "preprocess": {}, "precision": "fp32"}
    write_text_embeddings(R / "text" / "sp" / "classes.parquet", kind=["class"] * cls.height,
                          key=cls["class_id"].to_list(), prompt=[f"an image of a {x}" for x in cls["name"].to_list()],
                          class_index=cls["class_index"].to_list(),
                          embeddings=rng.standard_normal((cls.height, d)).astype(np.float32), metadata=meta)
    write_text_embeddings(R / "text" / "sp" / "concepts.parquet", kind=["concept"] * 3, key=concepts,
                          prompt=[f"an image of a {c}" for c in concepts], class_index=[-1] * 3,
                          embeddings=rng.standard_normal((3, d)).astype(np.float32), metadata=meta)
    img = root / "img.png"
    Image.fromarray(rng.integers(0, 255, (64, 80, 3), dtype=np.uint8)).save(img)
    return root


def test_sing_explain_on_workflow_results(tiny_workflow, capsys):
    root = tiny_workflow
    out = root / "out"
    rc, text, err = _run(capsys, root / "img.png", "--model", "tiny", "--results", root / "results", "--config",
                         root / "config.yaml", "--out", out, "--top", 3)
    assert rc == 0, err
    assert "AS toward" in text and "gained by null removal" in text and "CAVEAT: computed from random weights " \
        "(model 'tiny')" in text
    r = json.loads((out / "explain.json").read_text())
    assert r["model"] == "tiny" and r["space"] == "sp" and r["n_texts"] == 103 and r["translator"]["workflow"]
    assert r["nullity"] == 412 and r["is_deg"] > 0 and r["logit_change_rel"] < 1e-4
    assert r["random_weights"] is True and r["random_parts"] == ["model 'tiny'"]
    assert len(r["gained"]) + len(r["lost"]) > 0 and len(r["gained"]) <= 3 and len(r["lost"]) <= 3
    assert (out / "explain.png").read_bytes()[:4] == b"\x89PNG"
    # a config-defined model needs --config, and the error says so (issue 20's finding)
    rc, _, err = _run(capsys, root / "img.png", "--model", "tiny", "--results", root / "results")
    assert rc == 2 and "--model: 'tiny' is not in the catalogue" in err and "needs --config FILE" in err
    rc, _, err = _run(capsys, root / "img.png", "--model", "tiny", "--results", root / "missing", "--config",
                      root / "config.yaml")
    assert rc == 2 and "--results: no such directory" in err
