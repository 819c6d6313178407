"""Your own classifier: timm checkpoints of any class count, any Hugging Face AutoModelForImageClassification,
`source: python` factories, and the head checked against the dataset's classes (count and order)."""

from pathlib import Path

import numpy as np
import pytest
import torch

from sing.models.classifiers import load_classifier
from sing.models.head_order import HeadClasses, head_permutation
from sing.registry import ModelEntry

FACTORIES = Path(__file__).with_name("factories.py")
PETS = HeadClasses(ids=("Abyssinian", "Bengal", "Birman", "Bombay", "British Shorthair"), dataset="folder dataset /x",
                   names=(("abyssinian cat",), ("bengal cat",), ("birman",), ("bombay cat",), ("british shorthair",)))


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(2)


# ---------------------------------------------------------------- python source: the timm adapter's checks
PYTHON_ENTRIES = {
    "py_module": {"source": "python", "factory": "factories:tiny", "model_kwargs": {"num_classes": 5}},
    "py_file": {"source": "python", "factory": f"{FACTORIES}:tiny", "model_kwargs": {"num_classes": 37}},
    "py_timm_resnet18": {"source": "python", "factory": "factories:timm_split",
                         "model_kwargs": {"name": "resnet18", "num_classes": 2}},
    "timm_resnet18": {"source": "timm", "name": "resnet18", "pretrained": False, "model_kwargs": {"num_classes": 2}},
}


@pytest.mark.parametrize("key", sorted(PYTHON_ENTRIES))
def test_self_check_python_as_timm(key):
    """The same assertions as test_zoo's registry self-check, for python factories and their timm twin."""
    entry = PYTHON_ENTRIES[key]
    a = load_classifier(key, entry, self_check=False)
    err = a.self_check(a.example_batch(2))
    assert err < 1e-4
    W, b = a.head()
    assert W.dtype == np.float32 and W.shape == (a.num_classes, a.in_dim) and b.shape == (a.num_classes,)
    assert a.data_config["input_size"][0] == 3 and callable(a.transform)


def test_python_split_equals_timm_adapter():
    """A factory returning timm's own split gives the timm adapter's f, W and b (same seed, same weights)."""
    a = load_classifier("t", {"source": "timm", "name": "resnet18", "pretrained": False, "seed": 3,
                              "model_kwargs": {"num_classes": 2}})
    p = load_classifier("p", {"source": "python", "factory": "factories:timm_split", "seed": 3,
                              "model_kwargs": {"name": "resnet18", "num_classes": 2}})
    x = a.example_batch(2)
    with torch.inference_mode():
        torch.testing.assert_close(p.features(x), a.features(x))
    np.testing.assert_array_equal(p.head()[0], a.head()[0])
    assert p.data_config == a.data_config
    assert p.weights_id.startswith("python:factories:timm_split:src-sha256:") and p.weights_id.endswith(":seed=3")


@pytest.mark.parametrize("entry", [
    {"source": "python", "factory": "factories:wrong_split"},
    {"source": "timm", "name": "resnet18", "pretrained": False, "model_kwargs": {"num_classes": 2}},
])
def test_self_check_refuses_a_wrong_split(entry):
    a = load_classifier("mine", entry, self_check=False)
    if entry["source"] == "timm":
        good = a._features_fn
        a._features_fn = lambda x: good(x) * 2.0
    with pytest.raises(ValueError, match="'mine'.*self-check failed"):
        a.self_check(a.example_batch(1))


def test_python_checkpoint_and_provenance(tmp_path):
    from factories import TinyNet

    torch.manual_seed(11)
    net = TinyNet(3)
    ckpt = tmp_path / "tiny.pt"
    torch.save(net.state_dict(), ckpt)
    a = load_classifier("mine", {"source": "python", "factory": "factories:tiny", "checkpoint": str(ckpt),
                                 "model_kwargs": {"num_classes": 3}})
    np.testing.assert_array_equal(a.head()[0], net.fc.weight.detach().numpy())
    assert "+file:tiny.pt:sha256:" in a.weights_id


@pytest.mark.parametrize(("factory", "needle"), [
    ("factories", "must be 'package.module:function'"),
    ("no_such_module_xyz:build", "cannot import factory 'no_such_module_xyz:build': ModuleNotFoundError"),
    ("factories:nope", "has no function 'nope'"),
    ("factories:not_a_split", "must return a SplitClassifier or a dict"),
    ("factories:broken", r"raised RuntimeError: weights file is corrupt"),
    ("/no/such/file.py:build", "no such file"),
])
def test_python_factory_errors_name_the_model(factory, needle):
    with pytest.raises(ValueError, match="model 'mine'") as ei:
        load_classifier("mine", {"source": "python", "factory": factory})
    assert needle in str(ei.value)


def test_registry_entry_rules():
    with pytest.raises(ValueError, match="needs a 'factory'"):
        ModelEntry(source="python", display="x")
    with pytest.raises(ValueError, match="source python only"):
        ModelEntry(source="timm", name="resnet18", factory="a:b", display="x")
    e = ModelEntry(source="python", factory="models/mine.py:build", checkpoint="ckpt/mine.pt", display="x")
    assert e.local_files() == ("ckpt/mine.pt", "models/mine.py")
    assert ModelEntry(source="python", factory="pkg.mod:build", display="x").local_files() == ()


# ---------------------------------------------------------------- timm checkpoints with their own class count
def test_timm_checkpoint_keeps_its_own_head(tmp_path):
    """timm would drop a checkpoint's classifier whose class count differs from the pretrained config and put a
    random one in its place; sing loads the file's head as is, with or without model_kwargs.num_classes."""
    import timm
    from safetensors.torch import save_file

    torch.manual_seed(5)
    ref = timm.create_model("resnet18", pretrained=False, num_classes=37)
    pth, st = tmp_path / "pets.pth", tmp_path / "pets.safetensors"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in ref.state_dict().items()}}, pth)
    save_file(ref.state_dict(), str(st))
    for path, kwargs in ((pth, {"num_classes": 37}), (st, {})):
        a = load_classifier("pets", {"source": "timm", "name": "resnet18", "checkpoint": str(path),
                                     "model_kwargs": kwargs})
        np.testing.assert_array_equal(a.head()[0], ref.fc.weight.detach().numpy())
        np.testing.assert_array_equal(a.head()[1], ref.fc.bias.detach().numpy())
        assert a.num_classes == 37 and a.in_dim == 512
    with pytest.raises(ValueError, match=r"'pets'.*num_classes is 5 but the classifier \(fc\).*has 37 outputs"):
        load_classifier("pets", {"source": "timm", "name": "resnet18", "checkpoint": str(st),
                                 "model_kwargs": {"num_classes": 5}})
    with pytest.raises(ValueError, match=r"'pets': checkpoint .*pets.safetensors does not fit timm resnet34"):
        load_classifier("pets", {"source": "timm", "name": "resnet34", "checkpoint": str(st)})
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match=r"'pets': checkpoint .*junk.pth is not a format sing recognises"):
        load_classifier("pets", {"source": "timm", "name": "resnet18", "checkpoint": str(tmp_path / "junk.pth")})


# ---------------------------------------------------------------- Hugging Face AutoModelForImageClassification
TINY_VIT = {"model_type": "vit", "hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
            "intermediate_size": 64, "image_size": 32, "patch_size": 8, "num_labels": 5}
TINY_RESNET = {"model_type": "resnet", "embedding_size": 8, "hidden_sizes": [8, 16], "depths": [1, 1],
               "num_labels": 3}


@pytest.mark.parametrize("config", [TINY_VIT, TINY_RESNET], ids=["vit", "resnet"])
def test_transformers_any_architecture(config):
    a = load_classifier("hf", {"source": "transformers", "name": "tiny", "pretrained": False, "config": config})
    assert a.num_classes == config["num_labels"]
    assert a.self_check(a.example_batch(2)) < 1e-4
    assert a.class_labels is None  # generic LABEL_i names are no label map


@torch.inference_mode()
def test_transformers_features_are_the_head_input():
    """Independent construction for ViT: the classifier reads the final-normed CLS token."""
    a = load_classifier("hf", {"source": "transformers", "name": "tiny", "pretrained": False, "config": TINY_VIT})
    model = a._modules[0]
    x = a.example_batch(2)
    seq = model.vit(pixel_values=x).last_hidden_state
    torch.testing.assert_close(a.features(x), seq[:, 0])


def test_transformers_local_folder_label_map_orders_the_head(tmp_path):
    from transformers import AutoConfig, AutoModelForImageClassification, ViTImageProcessor

    labels = ["Bombay", "Abyssinian", "British Shorthair", "Birman", "Bengal"]  # another order than the dataset's
    cfg = AutoConfig.for_model(**{**TINY_VIT, "id2label": dict(enumerate(labels)),
                                  "label2id": {x: i for i, x in enumerate(labels)}})
    torch.manual_seed(0)
    AutoModelForImageClassification.from_config(cfg).save_pretrained(tmp_path / "pets")
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(tmp_path / "pets")
    entry = {"source": "transformers", "checkpoint": str(tmp_path / "pets")}
    raw = load_classifier("hf", entry)
    assert raw.class_labels == labels and raw.weights_id.startswith("file:pets[model.safetensors:sha256:")
    assert repr(raw.transform).startswith("ProcessorTransform(ViTImageProcessor")
    a = load_classifier("hf", entry, classes=PETS)
    perm = [labels.index(c) for c in PETS.ids]
    np.testing.assert_array_equal(a.head()[0], raw.head()[0][perm])
    np.testing.assert_array_equal(a.head()[1], raw.head()[1][perm])
    x = a.example_batch(2)
    with torch.inference_mode():
        torch.testing.assert_close(a.forward(x), raw.forward(x)[:, perm])
    assert a.self_check(x) < 1e-4
    img = a.transform(__import__("PIL.Image", fromlist=["Image"]).new("RGB", (50, 40)))
    assert tuple(img.shape) == (3, 32, 32)


def test_transformers_refuses_model_kwargs():
    with pytest.raises(ValueError, match="'hf': source transformers takes no model_kwargs"):
        load_classifier("hf", {"source": "transformers", "name": "tiny", "pretrained": False, "config": TINY_VIT,
                               "model_kwargs": {"num_labels": 3}})


# ---------------------------------------------------------------- head vs dataset
def test_class_count_mismatch_names_model_and_dataset():
    with pytest.raises(ValueError) as ei:
        load_classifier("pets37", {"source": "python", "factory": "factories:tiny",
                                   "model_kwargs": {"num_classes": 37}},
                        classes=PETS)
    msg = str(ei.value)
    assert "'pets37'" in msg and "37 outputs" in msg and "5 classes" in msg and "folder dataset /x" in msg
    assert "'Abyssinian'" in msg


def test_class_order_mismatch_names_both_sides():
    labels = ["Abyssinian", "Bengal", "Birman", "Bombay", "Sphynx"]
    with pytest.raises(ValueError) as ei:
        load_classifier("pets", {"source": "python", "factory": "factories:tiny",
                                 "model_kwargs": {"num_classes": 5, "class_names": labels}}, classes=PETS)
    msg = str(ei.value)
    assert "'pets'" in msg and "['Sphynx']" in msg and "['British Shorthair']" in msg and "folder dataset /x" in msg


def test_labels_match_by_id_then_by_name():
    assert head_permutation("m", 5, list(PETS.ids), PETS) is None
    by_name = ["bengal  cat", "Abyssinian_Cat", "BIRMAN", "bombay cat", "british shorthair"]
    assert head_permutation("m", 5, by_name, PETS) == [1, 0, 2, 3, 4]
    twins = HeadClasses(ids=("n1", "n2", "n3"), dataset="d", names=(("crane",), ("crane",), ("cup",)))
    assert head_permutation("m", 3, ["crane", "cup", "crane"], twins) == [0, 2, 1]  # equal names pair in order
    fixed = HeadClasses(ids=("a", "b"), dataset="imagenet", fixed_order=True)
    assert head_permutation("m", 2, ["x", "y"], fixed) is None  # a convention: logged, not refused
    with pytest.raises(ValueError, match="'m': its head has 3 outputs but the dataset has 2 classes"):
        head_permutation("m", 3, None, fixed)


def test_export_head_job_refuses_a_label_map_that_does_not_name_the_dataset(tmp_path):
    """The export_head job (CPU, before any extraction) checks and orders the head; its error names both sides."""
    import runpy
    from types import SimpleNamespace

    from safetensors.numpy import load_file
    from snakemake.iocontainers import Namedlist

    script = Path(__file__).resolve().parents[1] / "workflow_scripts" / "export_head.py"

    def export(labels, out):
        entry = {"source": "python", "factory": "factories:tiny", "model_kwargs": {"num_classes": 5,
                                                                                   "class_names": labels}}
        settings = {"models": {"pets": entry},
                    "dataset": {"kind": "folder", "root": "/data/pets", "class_index": list(PETS.ids)},
                    "weights": {"models": {"pets": {"files": []}}}}  # as sing.workflow.settings builds it
        smk = SimpleNamespace(output=Namedlist(fromdict={"head": str(out), "written": str(out) + ".written.json"}),
                              log=[str(tmp_path / "log.txt")],
                              params=Namedlist(fromdict={"settings": settings}),
                              config={"weights_dir": str(tmp_path / "w")})
        runpy.run_path(str(script), init_globals={"snakemake": smk}, run_name="__main__")

    shuffled = ["Birman", "Abyssinian", "British Shorthair", "Bengal", "Bombay"]
    export(shuffled, tmp_path / "head.safetensors")
    raw = load_classifier("pets", {"source": "python", "factory": "factories:tiny", "model_kwargs": {"num_classes": 5}})
    np.testing.assert_array_equal(load_file(str(tmp_path / "head.safetensors"))["weight"],
                                  raw.head()[0][[shuffled.index(c) for c in PETS.ids]])
    with pytest.raises(ValueError) as ei:
        export(["Birman", "Abyssinian", "Persian", "Bengal", "Bombay"], tmp_path / "bad.safetensors")
    msg = str(ei.value)
    assert "'pets'" in msg and "['Persian']" in msg and "['British Shorthair']" in msg and "/data/pets" in msg
    assert not (tmp_path / "bad.safetensors").exists()
