"""Classifier adapters: W f + b == the model's own logits for every registry entry buildable offline."""

import os
import re

import numpy as np
import pytest
import torch
from workflow_helpers import registry

from sing.models import weights
from sing.models.classifiers import load_classifier
from sing.registry import MODELS

# The registry is sing.registry's catalogue (config.demo.yaml adds the demo models); entries here are specs.
PAPER_MODELS, ALTERNATIVE_MODELS, DEMO_MODELS = registry()
DEMO_MODELS["demo_efficientnet_b0"] = {"source": "timm", "name": "efficientnet_b0", "pretrained": False, "seed": 0}

SLOW = os.environ.get("SING_SLOW_TESTS") == "1"

# Entries too slow to build and run on a 2-core CPU in the unit tests; each has a same-family sibling below
# that exercises the same adapter code path (set SING_SLOW_TESTS=1 to run the full-size ones as well).
TOO_BIG = {
    "eva02_large": "EVA02-L@448 forward is ~5 s/image on 2 cores; eva02_tiny_patch14_224 tested instead",
    "dinovit1": "ViT-L/16 (300M params); vit_base_patch16_224.augreg_in21k_ft_in1k tested",
    "vgg19": "138M-param VGG; vgg16 (same timm class and head) tested",
    "deit": "ViT-L/16 (300M params); deit3_base_patch16_224 (same timm class and head) tested",
    "deit3_384": "ViT-L/16@384; deit3_base_patch16_224 tested",
    "dinov2": "HF DINOv2-L (300M params); the same adapter is tested on a small Dinov2Config",
    "dinov2_lc": "DINOv2 ViT-L/14 backbone; tested with model_kwargs depth=2 and on vit_small_patch14_dinov2",
}
SIBLINGS = {
    "eva02_tiny": {"source": "timm", "name": "eva02_tiny_patch14_224.mim_in22k", "model_kwargs": {"num_classes": 1000}},
    "vit_base_augreg": {"source": "timm", "name": "vit_base_patch16_224.augreg_in21k_ft_in1k"},
    "deit3_base": {"source": "timm", "name": "deit3_base_patch16_224.fb_in1k"},
    "dinov2_lc_depth2": {**ALTERNATIVE_MODELS["dinov2_lc"], "model_kwargs": {"depth": 2}},
}
SMALL_DINOV2 = {"hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128,
                "image_size": 224, "patch_size": 14, "num_labels": 1000, "layerscale_value": 1.0}

REGISTRY = {**PAPER_MODELS, **ALTERNATIVE_MODELS, **DEMO_MODELS}


def _random(entry):
    return {**entry, "pretrained": False, "seed": 0}


def _params():
    out = []
    for key, entry in {**REGISTRY, **SIBLINGS}.items():
        marks = []
        if key in TOO_BIG and not SLOW:
            marks = [pytest.mark.skip(reason=TOO_BIG[key])]
        out.append(pytest.param(key, entry, id=key, marks=marks))
    return out


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(2)


@pytest.mark.parametrize("key,entry", _params())
def test_registry_self_check(key, entry):
    a = load_classifier(key, _random(entry), self_check=False)
    err = a.self_check(a.example_batch(1))
    assert err < 1e-4
    W, b = a.head()
    assert W.dtype == np.float32 and W.shape == (a.num_classes, a.in_dim) and b.shape == (a.num_classes,)
    assert a.num_classes == 1000
    assert a.data_config["input_size"][0] == 3 and callable(a.transform)


def test_registry_shape():
    assert len(PAPER_MODELS) == 13
    for key, e in REGISTRY.items():
        assert e["source"] in {"timm", "dino", "dinov2_hub", "transformers"} and "display" not in e, key
    assert all(entry.display for entry in MODELS.values())
    assert {e["name"] for e in PAPER_MODELS.values() if e["source"] == "timm"} >= {
        "vgg16.tv_in1k", "resnet50.tv_in1k", "eva02_large_patch14_448.mim_in22k_ft_in22k_in1k"}


def test_expected_in_dims():
    # FACTS §1: head input dims (architecture only, no forward needed for cheap ones)
    dims = {"resnet": 2048, "densenet": 1024, "efficientnet": 1280, "bitresnet": 2048, "efficientnet_b4": 1792}
    for key, m in dims.items():
        assert load_classifier(key, _random(REGISTRY[key]), self_check=False).in_dim == m


def test_bit_conv_head_is_flattened():
    a = load_classifier("bitresnet", _random(PAPER_MODELS["bitresnet"]), self_check=False)
    model = a._modules[0]
    assert isinstance(model.get_classifier(), torch.nn.Conv2d)
    assert a.head()[0].shape == (1000, 2048)
    assert a.data_config["input_size"] == [3, 448, 448]  # the model's own config, not hand-copied


def test_self_check_fails_with_model_name():
    a = load_classifier("demo_efficientnet_b0", DEMO_MODELS["demo_efficientnet_b0"], self_check=False)
    good = a._features_fn
    a._features_fn = lambda x: good(x) + 0.5  # a wrong feature hook
    with pytest.raises(ValueError, match="demo_efficientnet_b0.*self-check failed"):
        a.self_check(a.example_batch(1))


def _vit_tokens(model, x):
    """Independent construction: run the timm ViT module by module, return final-normed token sequences."""
    t = model.patch_embed(x)
    t = model._pos_embed(t)
    t = model.norm_pre(t)
    outs = []
    for blk in model.blocks:
        t = blk(t)
        outs.append(model.norm(t))
    return outs


@torch.inference_mode()
def test_dino_vitb16_interleaves_cls_and_mean_patch():
    entry = {**ALTERNATIVE_MODELS["dino_vitb16"], "pretrained": False, "model_kwargs": {"depth": 3}}
    a = load_classifier("dino_vitb16", entry)
    x = a.example_batch(2)
    last = _vit_tokens(a._modules[0], x)[-1]
    cls, mean = last[:, 0], last[:, 1:].mean(1)
    ref = torch.empty(2, 2 * cls.shape[1])
    ref[:, 0::2], ref[:, 1::2] = cls, mean  # eval_linear.py: cat((cls[...,None], mean[...,None]), -1).reshape
    f = a.features(x)
    assert a.in_dim == 1536
    torch.testing.assert_close(f, ref, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(f, torch.cat([cls, mean], 1), atol=1e-3)  # plain concatenation would be wrong


@torch.inference_mode()
def test_dino_vits16_last4_cls_tokens():
    entry = {**ALTERNATIVE_MODELS["dino_vits16"], "pretrained": False, "model_kwargs": {"depth": 5}}
    a = load_classifier("dino_vits16", entry)
    x = a.example_batch(2)
    toks = _vit_tokens(a._modules[0], x)
    ref = torch.cat([t[:, 0] for t in toks[-4:]], dim=1)
    torch.testing.assert_close(a.features(x), ref, atol=1e-5, rtol=1e-5)
    assert a.in_dim == 4 * 384
    dc = a.data_config  # DINO eval transform: Resize 256 bicubic + CenterCrop 224
    assert dc["input_size"] == [3, 224, 224] and abs(224 / dc["crop_pct"] - 256) < 1e-9


@torch.inference_mode()
def test_dinov2_hub_layers4_concat():
    entry = {"source": "dinov2_hub", "backbone": "vit_small_patch14_dinov2", "layers": 4, "pretrained": False,
             "model_kwargs": {"depth": 4}}
    a = load_classifier("dinov2_small_lc4", entry)
    x = a.example_batch(1)
    toks = _vit_tokens(a._modules[0], x)
    ref = torch.cat([t[:, 0] for t in toks[-4:]] + [toks[-1][:, 1:].mean(1)], dim=1)
    torch.testing.assert_close(a.features(x), ref, atol=1e-5, rtol=1e-5)
    assert a.in_dim == 5 * 384


def test_dino_head_file_loaded(tmp_path):
    g = torch.Generator().manual_seed(3)
    W, b = torch.randn(1000, 1536, generator=g) * 0.01, torch.randn(1000, generator=g)
    path = tmp_path / "dino_vitbase16_linearweights.pth"
    torch.save({"epoch": 100, "state_dict": {"module.linear.weight": W, "module.linear.bias": b}}, path)
    entry = {**ALTERNATIVE_MODELS["dino_vitb16"], "pretrained": False, "head": str(path),
             "model_kwargs": {"depth": 1}}
    a = load_classifier("dino_vitb16", entry)
    Wa, ba = a.head()
    np.testing.assert_array_equal(Wa, W.numpy())
    np.testing.assert_array_equal(ba, b.numpy())
    assert "sha256:" in a.weights_id
    bad = {**entry, "n_last_blocks": 4, "avgpool_patchtokens": False, "model_kwargs": {"depth": 4}}
    # 4 x 384? no: ViT-B gives 4 x 768 = 3072 != 1536 -> clear error
    with pytest.raises(ValueError, match="dino_vitb16.*does not fit"):
        load_classifier("dino_vitb16", bad)


@torch.inference_mode()
def test_transformers_dinov2_adapter():
    entry = {"source": "transformers", "name": "facebook/dinov2-large-imagenet1k-1-layer", "pretrained": False,
             "seed": 0, "config": SMALL_DINOV2}
    a = load_classifier("dinov2", entry)
    model = a._modules[0]
    x = a.example_batch(2)
    seq = model.dinov2(pixel_values=x).last_hidden_state
    torch.testing.assert_close(a.features(x), torch.cat([seq[:, 0], seq[:, 1:].mean(1)], 1))
    assert a.in_dim == 128
    dc = a.data_config  # from the processor config: resize 256 bicubic, crop 224
    assert dc["interpolation"] == "bicubic" and dc["input_size"] == [3, 224, 224]
    assert abs(224 / dc["crop_pct"] - 256) < 1e-9


def test_timm_local_checkpoint(tmp_path):
    import timm

    torch.manual_seed(5)
    ref = timm.create_model("resnet18", pretrained=False)
    path = tmp_path / "resnet18.pth"
    torch.save(ref.state_dict(), path)
    a = load_classifier("r18", {"source": "timm", "name": "resnet18", "checkpoint": str(path)}, self_check=False)
    np.testing.assert_array_equal(a.head()[0], ref.fc.weight.detach().numpy())
    assert a.weights_id.startswith("file:resnet18.pth:sha256:")
    with pytest.raises(FileNotFoundError, match="r18.*does not exist"):
        load_classifier("r18", {"source": "timm", "name": "resnet18", "checkpoint": str(tmp_path / "nope.pth")})


def test_bad_entries():
    with pytest.raises(ValueError, match="m1.*unknown source"):
        load_classifier("m1", {"source": "torchvision", "name": "resnet50"})
    with pytest.raises(ValueError, match="m2.*needs a 'name'"):
        load_classifier("m2", {"source": "timm"})
    with pytest.raises(ValueError, match="m3.*avgpool_patchtokens needs n_last_blocks: 1"):
        load_classifier("m3", {"source": "dino", "backbone": "dino_vits16", "n_last_blocks": 4,
                               "avgpool_patchtokens": True, "pretrained": False})


# ---------------------------------------------------------------- offline weights
@pytest.fixture
def offline(tmp_path):
    """The weight cache of a compute job: an empty weights_dir, offline. Loading with it must change no process-wide
    state (environment, huggingface_hub's offline flag and cache, torch.hub's directory)."""
    import huggingface_hub.constants as c
    import torch.hub

    def state():  # the hub settings a weights configuration could touch (torch sets unrelated variables itself)
        prefixes = ("HF_", "HUGGINGFACE", "TRANSFORMERS", "TORCH_HOME")
        env = {k: v for k, v in os.environ.items() if k.startswith(prefixes)}
        return env, c.HF_HUB_OFFLINE, c.HF_HUB_CACHE, torch.hub.get_dir()

    before = state()
    yield weights.WeightsCache(tmp_path / "weights", offline=True)
    assert state() == before


def _assert_missing(excinfo, key):
    msg = str(excinfo.value)
    assert key in msg and weights.PREFETCH_COMMAND in msg and "weights" in msg


def test_offline_timm_missing_weights(offline):
    with pytest.raises(weights.MissingWeightsError) as ei:
        load_classifier("resnet", PAPER_MODELS["resnet"], weights=offline)
    _assert_missing(ei, "resnet")
    assert "resnet50.tv_in1k" in str(ei.value)


def test_offline_dino_head_missing(offline):
    entry = {**ALTERNATIVE_MODELS["dino_vits16"], "model_kwargs": {"depth": 1}}
    entry["checkpoint"] = None
    # backbone random, head from the DINO URL: not cached -> clear error naming the URL
    with pytest.raises(weights.MissingWeightsError) as ei:
        load_classifier("dino_vits16", {**entry, "pretrained": True}, weights=offline)
    _assert_missing(ei, "dino_vits16")


def test_offline_transformers_missing(offline):
    with pytest.raises(weights.MissingWeightsError) as ei:
        load_classifier("dinov2", PAPER_MODELS["dinov2"], weights=offline)
    _assert_missing(ei, "dinov2")


def test_offline_open_clip_missing(offline):
    from sing.models.clip_spaces import load_space

    with pytest.raises(weights.MissingWeightsError) as ei:
        load_space("rn50_openai", {"model": "RN50-quickgelu", "pretrained": "openai"}, weights=offline)
    _assert_missing(ei, "rn50_openai")


@pytest.mark.parametrize(("load", "key", "entry", "owner"), [
    ("classifier", "r18", {"source": "timm", "name": "resnet18"}, "model 'r18'"),
    ("classifier", "mine", {"source": "python", "factory": "examples/my_classifier.py:build",
                            "model_kwargs": {"num_classes": 3}}, "model 'mine'"),
    ("space", "clip", {"model": "ViT-S-32"}, "space 'clip'"),
])
def test_a_missing_checkpoint_is_named_with_its_owner(tmp_path, load, key, entry, owner):
    """Every source that takes a local checkpoint refuses a missing one before building anything, naming the
    model or space and the path (sing.models.weights.checkpoint_file)."""
    from sing.models.clip_spaces import load_space

    missing = tmp_path / "nope.pth"
    with pytest.raises(FileNotFoundError, match=re.escape(f"{owner}: checkpoint {missing} does not exist")):
        if load == "classifier":
            load_classifier(key, {**entry, "checkpoint": str(missing)}, self_check=False)
        else:
            load_space(key, {**entry, "checkpoint": str(missing)})
