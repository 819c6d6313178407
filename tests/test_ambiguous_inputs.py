"""Issue 19, kind 4: a choice between two weight sets in one file is explicit (config key ``checkpoint_key``, timm's
own evaluation default, logged, recorded in ``weights_id``); a file sing cannot read is reported as its format with
what would read it, never as "empty" or "non-image"."""

from __future__ import annotations

import logging
import zipfile

import numpy as np
import pytest
import torch

from sing.models.classifiers import load_classifier

ARCH = "test_vit"  # timm's 0.3M-parameter test ViT: fast to build


def _net(seed: int):
    import timm

    torch.manual_seed(seed)
    return timm.create_model(ARCH, pretrained=False, num_classes=5)


def _entry(path, **extra):
    return {"source": "timm", "name": ARCH, "checkpoint": str(path), **extra}


@pytest.fixture(scope="module")
def train_checkpoint(tmp_path_factory):
    """What timm's train.py (and DeiT's main.py, with model / model_ema) saves: the trained weights and their EMA,
    plus optimizer state and arguments."""
    import argparse

    path = tmp_path_factory.mktemp("ckpt") / "checkpoint.pth.tar"
    raw, ema = _net(1), _net(2)
    torch.save({"epoch": 299, "arch": ARCH, "state_dict": raw.state_dict(), "state_dict_ema": ema.state_dict(),
                "optimizer": {"state": {}, "param_groups": []}, "args": argparse.Namespace(lr=0.1),
                "metric": 81.2}, path)
    return path, raw.head.weight.detach().numpy(), ema.head.weight.detach().numpy()


def test_train_checkpoint_with_ema_loads_the_weights_timm_evaluates(train_checkpoint, caplog):
    """The issue's example: both `state_dict` and `state_dict_ema`. sing loaded the EMA with no message and no trace
    in weights_id. Default now: `state_dict`, as timm's validate.py without --use-ema; logged; in weights_id."""
    path, raw, ema = train_checkpoint
    with caplog.at_level(logging.WARNING, logger="sing"):
        a = load_classifier("vit", _entry(path), self_check=False)
    np.testing.assert_array_equal(a.head()[0], raw)
    assert a.weights_id.endswith(":key=state_dict"), a.weights_id
    msg = caplog.text
    assert "state_dict_ema" in msg and "checkpoint_key" in msg and str(path) in msg


def test_checkpoint_key_picks_the_other_weight_set(train_checkpoint):
    path, raw, ema = train_checkpoint
    a = load_classifier("vit", _entry(path, checkpoint_key="state_dict_ema"), self_check=False)
    np.testing.assert_array_equal(a.head()[0], ema)
    assert a.weights_id.endswith(":key=state_dict_ema")
    with pytest.raises(ValueError, match=r"vit.*checkpoint_key 'nope'.*state_dict_ema"):
        load_classifier("vit", _entry(path, checkpoint_key="nope"), self_check=False)


def test_a_plain_state_dict_keeps_its_weights_id(tmp_path):
    path = tmp_path / "plain.pth"
    torch.save(_net(3).state_dict(), path)
    a = load_classifier("vit", _entry(path), self_check=False)
    assert a.weights_id.startswith("file:plain.pth:sha256:") and ":key=" not in a.weights_id


@pytest.mark.parametrize("keys, chosen", [(("model", "model_ema"), "model"), (("teacher", "student"), "teacher")])
def test_other_conventions_of_two_weight_sets(tmp_path, keys, chosen):
    """Second member: DeiT (`model` / `model_ema`: its --eval reads `model`) and DINO (`teacher` / `student`: its
    eval_linear.py --checkpoint_key defaults to teacher)."""
    from sing.models.checkpoints import read_state_dict

    nets = {k: _net(i).state_dict() for i, k in enumerate(keys)}
    path = tmp_path / "ck.pth"
    torch.save(nets, path)
    state, key = read_state_dict("model 'x'", path)
    assert key == chosen
    torch.testing.assert_close(state["head.weight"], nets[chosen]["head.weight"])


def test_several_weight_sets_without_a_convention_must_be_chosen(tmp_path):
    from sing.models.checkpoints import read_state_dict

    path = tmp_path / "two.pth"
    torch.save({"net_a": _net(1).state_dict(), "net_b": _net(2).state_dict()}, path)
    with pytest.raises(ValueError, match=r"model 'x'.*several weight sets.*net_a.*net_b.*checkpoint_key"):
        read_state_dict("model 'x'", path)
    state, key = read_state_dict("model 'x'", path, checkpoint_key="net_b")
    assert key == "net_b"


# ---------------------------------------------------------------- formats sing cannot read, named
def _torchscript(path):
    torch.jit.save(torch.jit.script(torch.nn.Linear(3, 2)), str(path))


def _pickled_module(path):
    torch.save(torch.nn.Sequential(torch.nn.Linear(3, 2)), path)


def _lightning(path):
    torch.save({"epoch": 3, "global_step": 10, "pytorch-lightning_version": "2.4.0",
                "state_dict": {f"model.{k}": v for k, v in _net(0).state_dict().items()},
                "optimizer_states": [], "lr_schedulers": []}, path)


def _hdf5(path):
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 512)


def _keras_v3(path):
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("metadata.json", '{"keras_version": "3.6.0"}')
        z.writestr("config.json", "{}")
        z.writestr("model.weights.h5", b"\x89HDF\r\n\x1a\n")


def _onnx(path):
    # an ONNX ModelProto starts with field 1 (ir_version, varint) then 2 (producer_name, string)
    path.write_bytes(b"\x08\x08\x12\x07pytorch\x1a\x052.4.0" + b"\x00" * 64)


def _npz(path):
    np.savez(path, **{"Transformer/encoder_norm/scale": np.ones(3)})


def _gguf(path):
    path.write_bytes(b"GGUF\x03\x00\x00\x00" + b"\x00" * 64)


def _empty(path):
    path.write_bytes(b"")


def _text(path):
    path.write_text("<!DOCTYPE html><html><body>Sign in to download</body></html>")


def _tf_savedmodel(path):
    path.mkdir()
    (path / "saved_model.pb").write_bytes(b"\x08\x01")


@pytest.mark.parametrize("make, name, says", [
    (_torchscript, "m.pt", ["TorchScript", "torch.jit.load", "state_dict()"]),
    (_pickled_module, "m.pth", ["whole pickled model", "torch.save(model.state_dict()"]),
    (_lightning, "m.ckpt", ["Lightning", "'model.'", "state_dict()"]),
    (_hdf5, "m.h5", ["HDF5", "Keras"]),
    (_keras_v3, "m.keras", ["Keras 3", "TensorFlow"]),
    (_onnx, "m.onnx", ["ONNX", "onnxruntime"]),
    (_npz, "m.npz", ["NumPy", "JAX"]),
    (_gguf, "m.gguf", ["GGUF"]),
    (_empty, "m.pth", ["empty file (0 bytes)"]),
    (_text, "m.pth", ["HTML", "download"]),
    (_tf_savedmodel, "saved", ["SavedModel"]),
])
def test_a_checkpoint_format_sing_cannot_read_is_named_with_what_reads_it(tmp_path, make, name, says):
    from sing.models.checkpoints import UnsupportedCheckpointError, read_state_dict

    path = tmp_path / name
    make(path)
    with pytest.raises(UnsupportedCheckpointError) as e:
        read_state_dict("model 'x'", path)
    msg = str(e.value)
    assert "model 'x'" in msg and str(path) in msg, msg
    for s in says:
        assert s in msg, (s, msg)


def test_load_classifier_reports_the_format(tmp_path):
    """Through the real loader (not only the reader): a TorchScript file given as a timm checkpoint."""
    from sing.models.checkpoints import UnsupportedCheckpointError

    path = tmp_path / "scripted.pt"
    _torchscript(path)
    with pytest.raises(UnsupportedCheckpointError, match="vit.*TorchScript"):
        load_classifier("vit", _entry(path), self_check=False)


def test_safetensors_and_pickle_both_read(tmp_path):
    from safetensors.torch import save_file

    from sing.models.checkpoints import read_state_dict, sniff_checkpoint

    sd = {k: v.contiguous() for k, v in _net(4).state_dict().items()}
    save_file(sd, str(tmp_path / "a.safetensors"))
    torch.save(sd, tmp_path / "a.bin")
    (tmp_path / "renamed.pth").write_bytes((tmp_path / "a.safetensors").read_bytes())  # wrong extension
    assert sniff_checkpoint(tmp_path / "renamed.pth") == "safetensors"
    for name in ("a.safetensors", "a.bin", "renamed.pth"):
        state, key = read_state_dict("model 'x'", tmp_path / name)
        assert key is None and torch.equal(state["head.weight"], sd["head.weight"])


# ---------------------------------------------------------------- images
def _heic_bytes():
    return b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64


@pytest.mark.parametrize("name, data, says", [
    ("a.heic", _heic_bytes(), ["HEIF", "pillow-heif"]),
    ("b.jxl", b"\xff\x0a" + b"\x00" * 32, ["JPEG XL"]),
    ("c.CR2", b"II*\x00\x10\x00\x00\x00CR" + b"\x00" * 32, ["camera RAW", "rawpy"]),
    ("d.pdf", b"%PDF-1.7\n" + b"\x00" * 32, ["PDF", "pdf2image"]),
    ("e.svg", b'<svg xmlns="http://www.w3.org/2000/svg"/>', ["SVG", "cairosvg"]),
])
def test_a_class_of_images_pillow_cannot_open_is_named_not_empty(tmp_path, name, data, says):
    """Second member, images: a class folder of iPhone HEIC photos (or JPEG XL, RAW, PDF, SVG) was 'no image file'
    (the files were ignored as non-images)."""
    from sing.data.images import list_image_folder, sample_class

    (tmp_path / name).write_bytes(data)
    listing = list_image_folder(tmp_path)
    assert listing.images == ()
    with pytest.raises(ValueError) as e:
        sample_class(listing.images, 2, 0, "cats", folder=tmp_path, ignored=listing.ignored)
    for s in says:
        assert s in str(e.value), (s, str(e.value))


@pytest.mark.parametrize("data, says", [(_heic_bytes(), "HEIF"), (b"<!DOCTYPE html><html>", "HTML"),
                                         (b"%PDF-1.4", "PDF"), (b"\x00" * 40, "no known image signature")])
def test_a_misnamed_file_is_reported_as_what_it_holds(tmp_path, data, says):
    """A HEIC photo renamed .jpg (or an HTML error page saved as .JPEG) is reported as what it is."""
    from sing.data.images import BadImageError, load_rgb

    path = tmp_path / "photo.jpg"
    path.write_bytes(data)
    with pytest.raises(BadImageError, match=says):
        load_rgb(path)


def test_a_clip_space_checkpoint_is_sniffed_before_open_clip(tmp_path):
    from sing.models.checkpoints import UnsupportedCheckpointError
    from sing.models.clip_spaces import load_space

    path = tmp_path / "open_clip_model.safetensors"
    path.write_text("version https://git-lfs.github.com/spec/v1\noid sha256:0\nsize 1\n")
    with pytest.raises(UnsupportedCheckpointError, match=r"space 'c'.*Git LFS pointer.*git lfs pull"):
        load_space("c", {"model": "ViT-S-32", "pretrained": None, "checkpoint": str(path)})
