"""`sing explain`: the pure diagnosis against brute force, and the command end to end on a tiny results tree."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sing import cli
from sing.core.geometry import head_geometry
from sing.core.translator import LinearTranslator


def test_explain_feature_ranks_gained_and_lost_concepts():
    rng = np.random.default_rng(0)
    m, c, d = 20, 8, 10
    W = rng.standard_normal((c, m))
    g = head_geometry(W)
    T = LinearTranslator(rng.standard_normal((d, m)), np.zeros(d))
    f = rng.standard_normal(m)
    Z = rng.standard_normal((6, d))
    labels = [f"t{i}" for i in range(6)]
    r = cli.explain_feature(f, W @ f, g, T, labels, ["concept"] * 6, Z, pred_label="x", pred_text=Z[0], W=W, top=3)
    z, z_eq = T(f[None])[0], T(g.remove_null(f[None]))[0]

    def ang(a, b):
        return np.degrees(np.arccos(a @ b / np.linalg.norm(a) / np.linalg.norm(b)))

    AS = np.array([ang(z, t) - ang(z_eq, t) for t in Z])
    assert r["as_deg"] == pytest.approx(AS[0], abs=1e-6)
    assert r["is_deg"] == pytest.approx(ang(z, z_eq), abs=1e-6)
    assert r["pred_class"] == int(np.argmax(W @ f)) and r["logit_change_rel"] < 1e-10
    gained = [labels[i] for i in np.argsort(-AS) if AS[i] > 0][:3]
    lost = [labels[i] for i in np.argsort(AS) if AS[i] < 0][:3]
    assert [x["text"] for x in r["gained"]] == gained
    assert [x["text"] for x in r["lost"]] == lost
    json.dumps(r)  # serialisable
    with pytest.raises(ValueError, match="labels"):
        cli.explain_feature(f, W @ f, g, T, labels[:2], ["concept"] * 2, Z)


@pytest.fixture(scope="module")
def tiny_workflow(tmp_path_factory):
    import yaml
    from PIL import Image
    from safetensors.numpy import save_file

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
    W, b = adapter.head()
    R = root / "results"
    (R / "heads" / "tiny").mkdir(parents=True)
    save_file({"weight": W, "bias": b}, str(R / "heads" / "tiny" / "head.safetensors"))
    head_geometry(W).save(R / "heads" / "tiny" / "geometry.safetensors")
    rng = np.random.default_rng(0)
    d = 16
    (R / "translators" / "tiny").mkdir(parents=True)
    LinearTranslator(rng.standard_normal((d, W.shape[1])) / 20, rng.standard_normal(d)).save(
        R / "translators" / "tiny" / "sp.safetensors")
    cls = imagenet_classes()
    concepts = ["desert", "ocean", "snow"]
    (R / "text" / "sp").mkdir(parents=True)  # the workflow's layout: class prompts and concepts apart
    meta = {"model": "sp", "weights_id": "x", "preprocess": {}, "precision": "fp32"}
    write_text_embeddings(R / "text" / "sp" / "classes.parquet", kind=["class"] * cls.height,
                          key=cls["wnid"].to_list(), prompt=[f"an image of a {x}" for x in cls["name"].to_list()],
                          class_index=cls["index"].to_list(),
                          embeddings=rng.standard_normal((cls.height, d)).astype(np.float32), metadata=meta)
    write_text_embeddings(R / "text" / "sp" / "concepts.parquet", kind=["concept"] * 3, key=concepts,
                          prompt=[f"an image of a {c}" for c in concepts], class_index=[-1] * 3,
                          embeddings=rng.standard_normal((3, d)).astype(np.float32), metadata=meta)
    img = root / "img.png"
    Image.fromarray(rng.integers(0, 255, (64, 80, 3), dtype=np.uint8)).save(img)
    return root


def test_sing_explain_end_to_end(tiny_workflow, capsys):
    root = tiny_workflow
    out = root / "out"
    rc = cli.main(["explain", str(root / "img.png"), "--model", "tiny", "--results", str(root / "results"),
                   "--config", str(root / "config.yaml"), "--out", str(out), "--top", "3"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "AS (predicted class prompt)" in text and "gained by null removal" in text
    r = json.loads((out / "explain.json").read_text())
    assert r["model"] == "tiny" and r["space"] == "sp" and r["n_texts"] == 1003
    assert r["nullity"] == 412 and r["is_deg"] > 0 and r["logit_change_rel"] < 1e-4
    assert len(r["gained"]) + len(r["lost"]) > 0
    assert len(r["gained"]) <= 3 and len(r["lost"]) <= 3
    assert (out / "explain.png").read_bytes()[:4] == b"\x89PNG"
    # only the requested concepts (all present in the text table: no CLIP model needed)
    rc = cli.main(["explain", str(root / "img.png"), "--model", "tiny", "--results", str(root / "results"),
                   "--config", str(root / "config.yaml"), "--out", str(out), "--concepts", "desert", "snow"])
    assert rc == 0
    r = json.loads((out / "explain.json").read_text())
    assert r["n_texts"] == 2


def test_sing_explain_errors_name_the_problem(tiny_workflow, capsys):
    root = tiny_workflow
    rc = cli.main(["explain", str(root / "img.png"), "--model", "nope", "--results", str(root / "results"),
                   "--config", str(root / "config.yaml")])
    assert rc == 2 and "--model" in capsys.readouterr().err
    rc = cli.main(["explain", str(root / "img.png"), "--model", "tiny", "--results", str(root / "missing"),
                   "--config", str(root / "config.yaml")])
    assert rc == 2 and "head geometry not found" in capsys.readouterr().err
