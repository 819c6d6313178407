"""sing.registry: immutable typed entries, display apart from the compute spec, selection and its errors."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from sing import registry as reg
from sing.registry import MODELS, PAPER_MODELS, PAPER_SPACES, SPACES, ModelEntry, SpaceEntry, resolve_models


def test_catalogue_holds_the_paper_models_in_paper_order():
    # supp. Table 3 / the authors' configs/models.yaml order; FACTS §1 names
    assert PAPER_MODELS == ("vgg16", "vgg19", "densenet", "resnet", "dinovit1", "efficientnet", "bitresnet",
                            "resnext", "convnext", "swin_large", "dinov2", "deit", "eva02_large")
    assert list(resolve_models("paper")) == list(PAPER_MODELS)
    assert MODELS["resnet"].spec() == {"source": "timm", "name": "resnet50.tv_in1k"}
    assert MODELS["dinov2"].spec() == {"source": "transformers", "name": "facebook/dinov2-large-imagenet1k-1-layer"}
    assert set(MODELS) - set(PAPER_MODELS) == {"efficientnet_b4", "deit3_384", "dino_vitb16", "dino_vits16",
                                               "dinov2_lc"}
    assert SPACES["openai_vitl14"].spec() == {"model": "ViT-L-14-quickgelu", "pretrained": "openai"}
    assert list(reg.resolve_spaces("paper")) == list(PAPER_SPACES) == ["openai_vitl14", "eva02_l14"]


def test_entries_are_immutable():
    entry = ModelEntry(source="timm", name="resnet50", display="R", model_kwargs={"drop_rate": {"a": 1}})
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.display = "other"
    with pytest.raises(TypeError):
        entry.model_kwargs["drop_rate"] = 0.5  # nested mappings are read-only views
    with pytest.raises(TypeError):
        entry.model_kwargs["drop_rate"]["a"] = 2
    with pytest.raises(TypeError):
        MODELS["new"] = entry  # the catalogue itself
    spec = entry.spec()
    spec["model_kwargs"]["drop_rate"]["a"] = 3  # a spec is a fresh plain copy: mutating it changes no entry
    assert entry.spec()["model_kwargs"] == {"drop_rate": {"a": 1}}
    json.dumps(spec)


def test_display_is_not_part_of_the_compute_spec():
    a = ModelEntry.from_config("m", {"source": "timm", "name": "resnet50", "pretrained": False, "seed": 0,
                                     "display": "ResNet50 (random)"})
    b = dataclasses.replace(a, display="renamed")
    assert "display" not in a.spec() and a.spec() == b.spec() == {"source": "timm", "name": "resnet50",
                                                                   "pretrained": False, "seed": 0}
    assert a != b  # the entries differ, their computation does not
    s = SpaceEntry.from_config("s", {"model": "ViT-S-32", "pretrained": None, "seed": 0, "display": "S"})
    assert s.spec() == {"model": "ViT-S-32", "pretrained": None, "seed": 0}  # null pretrained = random, kept


def test_config_entries_add_and_replace_catalogue_entries():
    user = {"resnet": {"source": "timm", "name": "resnet50.a1_in1k", "display": "ResNet50 (A1)"},
            "mine": {"source": "timm", "name": "resnet18", "pretrained": False, "display": "Mine"}}
    chosen = resolve_models(["mine", "resnet", "vgg16"], user)
    assert list(chosen) == ["mine", "resnet", "vgg16"]  # run_models order
    assert chosen["resnet"].spec()["name"] == "resnet50.a1_in1k" and chosen["resnet"].display == "ResNet50 (A1)"
    assert chosen["vgg16"] is MODELS["vgg16"]
    assert MODELS["resnet"].spec()["name"] == "resnet50.tv_in1k"  # the catalogue is untouched


@pytest.mark.parametrize(("run", "entries", "needle"), [
    (["no_such_model"], None, r"config run_models: \['no_such_model'\] are not in the catalogue"),
    ("all", None, "config run_models: expected 'paper' or a non-empty list"),
    ([], None, "config run_models: expected 'paper'"),
    (["resnet", "resnet"], None, "config run_models: duplicate"),
    (["x"], {"x": {"source": "timm", "name": "r", "display": "X", "colour": 1}}, r"config models\.x: unknown field"),
    (["x"], {"x": {"source": "timm", "name": "r"}}, r"config models\.x: missing field\(s\) \['display'\]"),
    (["x"], {"x": {"source": "torchvision", "display": "X"}}, r"config models\.x: source: 'torchvision'"),
])
def test_unknown_keys_and_bad_entries_name_the_config_key(run, entries, needle):
    with pytest.raises(ValueError, match=needle):
        resolve_models(run, entries)


def test_space_errors_name_the_config_key():
    with pytest.raises(ValueError, match=r"config run_spaces: \['nope'\]"):
        reg.resolve_spaces(["nope"])
    with pytest.raises(ValueError, match=r"config spaces\.s: missing field\(s\) \['pretrained'\]"):
        reg.resolve_spaces(["s"], {"s": {"model": "ViT-S-32", "display": "S"}})


def test_registry_imports_only_the_standard_library():
    code = ("import sys; before = set(sys.modules); import sing.registry; "
            "new = sorted(m.split('.')[0] for m in set(sys.modules) - before); print(' '.join(new))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    stdlib = set(sys.stdlib_module_names)
    assert {m for m in out if m not in stdlib} == {"sing"}, out
