"""The weights lock (sing.models.lock): prefetch locks what a load reads from a cache laid out like a real
download (random weights, exact file names), compute jobs verify the cache against it before loading, and every
output records it."""

from __future__ import annotations

import hashlib
import json
import runpy
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pyarrow.parquet as pq
import pytest
import torch
from hub_cache import hub_repo, json_bytes, safetensors_bytes, torch_bytes

from sing.models import lock
from sing.models.classifiers import load_classifier
from sing.models.hf import DINOV2_PROCESSOR
from sing.models.prefetch import prefetch
from sing.models.weights import WeightsCache

TIMM = {"source": "timm", "name": "test_resnet.r160_in1k"}
DINOV2 = "facebook/dinov2-large-imagenet1k-1-layer"
SMALL_DINOV2 = {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 64,
                "image_size": 56, "patch_size": 14, "num_labels": 1000, "layerscale_value": 1.0}
SCRIPTS = Path(__file__).resolve().parents[1] / "workflow_scripts"


@pytest.fixture
def cache(tmp_path):
    """weights_dir holding timm's test_resnet.r160_in1k (random weights, the hub's file name and keys)."""
    import timm

    torch.manual_seed(3)
    reference = timm.create_model("test_resnet.r160_in1k", pretrained=False)
    weights_file = safetensors_bytes(reference.state_dict())
    commit = hub_repo(tmp_path / "weights", "timm/test_resnet.r160_in1k", {"model.safetensors": weights_file})
    return SimpleNamespace(root=tmp_path / "weights", commit=commit, data=weights_file, reference=reference)


def _blob(cache):
    return cache.root / "huggingface/hub/models--timm--test_resnet.r160_in1k/blobs" / hashlib.sha256(
        cache.data).hexdigest()


def test_prefetch_locks_what_the_offline_load_reads(cache):
    adapter = load_classifier("m", TIMM, weights=WeightsCache(cache.root, offline=True), self_check=False)
    np.testing.assert_array_equal(adapter.head()[0], cache.reference.get_classifier().weight.detach().numpy())
    assert adapter.weight_sources == [("hub", "timm/test_resnet.r160_in1k")]
    entries = prefetch({"m": TIMM, "r": {**TIMM, "pretrained": False, "seed": 1}}, {}, cache.root, offline=True)
    assert entries["models"]["m"] == {
        "spec": TIMM, "weights_id": "timm:test_resnet.r160_in1k",
        "files": [{"repo": "timm/test_resnet.r160_in1k", "revision": cache.commit, "file": "model.safetensors",
                   "sha256": hashlib.sha256(cache.data).hexdigest(), "size": len(cache.data)}]}
    assert entries["models"]["r"]["files"] == []  # random weights: the spec and seed decide them
    path = lock.write_lock(cache.root, entries)
    assert path == cache.root / "weights.lock.json"
    written = lock.read_lock(cache.root)
    assert lock.locked_entry(written, "models", "m", TIMM) == {"files": entries["models"]["m"]["files"]}
    assert lock.locked_entry(written, "models", "m", {**TIMM, "name": "test_resnet.other"}) is None  # other spec
    assert lock.locked_entry(written, "models", "x", TIMM) is None  # never prefetched
    assert lock.locked_entry(written, "models", "x", {**TIMM, "pretrained": False}) == {"files": []}
    lock.write_lock(cache.root, {"spaces": {"s": {"spec": {}, "weights_id": "random", "files": []}}})
    assert set(lock.read_lock(cache.root)["models"]) == {"m", "r"}  # merged, not replaced


def test_verify_names_the_model_and_the_file(cache):
    entry = {"files": lock.hub_records(cache.root / "huggingface/hub", "timm/test_resnet.r160_in1k")}
    lock.verify(entry, cache.root, "model 'm'")
    blob = _blob(cache)
    data = bytearray(blob.read_bytes())
    data[-1] ^= 1
    blob.write_bytes(bytes(data))
    with pytest.raises(lock.WeightsLockError, match=r"model 'm': weight file timm/test_resnet.r160_in1k/"
                                                    r"model.safetensors .* has sha256 .* but .* locks"):
        lock.verify(entry, cache.root, "model 'm'")
    blob.write_bytes(cache.data)
    other = hub_repo(cache.root, "timm/test_resnet.r160_in1k", {"model.safetensors": cache.data + b"\0"})
    with pytest.raises(lock.WeightsLockError, match=f"model 'm': hub repository timm/test_resnet.r160_in1k is "
                                                    f"cached at revision {other} but .* locks {cache.commit}"):
        lock.verify(entry, cache.root, "model 'm'")
    (cache.root / "huggingface/hub/models--timm--test_resnet.r160_in1k/refs/main").write_text(cache.commit)
    lock.verify(entry, cache.root, "model 'm'")
    (cache.root / "huggingface/hub/models--timm--test_resnet.r160_in1k/snapshots" / cache.commit /
     "model.safetensors").unlink()
    with pytest.raises(lock.WeightsLockError, match="model 'm': weight file .* is missing"):
        lock.verify(entry, cache.root, "model 'm'")
    with pytest.raises(lock.WeightsLockError, match=r"model 'm': .*weights.lock.json has no entry.*prefetch_weights"):
        lock.verify(None, cache.root, "model 'm'")


def test_transformers_revision_is_read_from_the_cache(tmp_path):
    """transformers 5 no longer keeps config._commit_hash: the weights id names the cached revision."""
    from transformers import Dinov2Config, Dinov2ForImageClassification

    torch.manual_seed(0)
    config = Dinov2Config(**SMALL_DINOV2, architectures=["Dinov2ForImageClassification"])
    model = Dinov2ForImageClassification(config)
    commit = hub_repo(tmp_path, DINOV2, {
        "config.json": json_bytes(config.to_dict()), "model.safetensors": safetensors_bytes(model.state_dict()),
        "preprocessor_config.json": json_bytes({**DINOV2_PROCESSOR, "image_processor_type": "BitImageProcessor"})})
    spec = {"source": "transformers", "name": DINOV2}
    adapter = load_classifier("dinov2", spec, weights=WeightsCache(tmp_path, offline=True), self_check=False)
    assert adapter.weights_id == f"hf:{DINOV2}@{commit}"
    np.testing.assert_array_equal(adapter.head()[0], model.classifier.weight.detach().numpy())
    entry = prefetch({"dinov2": spec}, {}, tmp_path, offline=True)["models"]["dinov2"]
    assert {(r["repo"], r["revision"], r["file"]) for r in entry["files"]} == {
        (DINOV2, commit, name) for name in ("config.json", "model.safetensors", "preprocessor_config.json")}


def test_local_files_are_locked_relative_to_the_cache_so_it_can_move(tmp_path):
    """DINO ViT-S/16: the timm backbone from the hub cache and the linear head cached from its URL under
    torch/hub/checkpoints; then a checkpoint outside the cache."""
    import timm

    weights_dir = tmp_path / "weights"
    torch.manual_seed(2)
    backbone = timm.create_model("vit_small_patch16_224.dino", pretrained=False, num_classes=0, depth=4)
    commit = hub_repo(weights_dir, "timm/vit_small_patch16_224.dino",
                      {"model.safetensors": safetensors_bytes(backbone.state_dict())})
    g = torch.Generator().manual_seed(1)
    head = {"state_dict": {"module.linear.weight": torch.randn(1000, 1536, generator=g) * 0.01,
                           "module.linear.bias": torch.zeros(1000)}}
    url_file = weights_dir / "torch/hub/checkpoints/dino_deitsmall16_linearweights.pth"
    url_file.parent.mkdir(parents=True)
    url_file.write_bytes(torch_bytes(head))
    spec = {"source": "dino", "backbone": "dino_vits16", "head": "dino_deitsmall16_linearweights.pth",
            "n_last_blocks": 4, "model_kwargs": {"depth": 4}}
    entry = prefetch({"dino": spec}, {}, weights_dir, offline=True)["models"]["dino"]
    assert [(r.get("repo"), r.get("revision"), r["file"]) for r in entry["files"]] == [
        ("timm/vit_small_patch16_224.dino", commit, "model.safetensors"),
        (None, None, "torch/hub/checkpoints/dino_deitsmall16_linearweights.pth")]
    assert entry["files"][1]["sha256"] == hashlib.sha256(url_file.read_bytes()).hexdigest()
    moved = tmp_path / "moved"
    shutil.copytree(weights_dir, moved, symlinks=True)
    lock.verify({"files": entry["files"]}, moved, "model 'dino'")

    checkpoint = tmp_path / "mine.pth"
    torch.save(timm.create_model("test_resnet", pretrained=False).state_dict(), checkpoint)
    ckpt_spec = {"source": "timm", "name": "test_resnet", "checkpoint": str(checkpoint)}
    records = prefetch({"c": ckpt_spec}, {}, weights_dir, offline=True)["models"]["c"]["files"]
    assert records == [{"file": str(checkpoint.resolve()), "sha256": lock.file_sha256(checkpoint),
                        "size": checkpoint.stat().st_size}]
    lock.verify({"files": records}, moved, "model 'c'")


@pytest.mark.parametrize(("spec", "files"), [
    ({"source": "timm", "name": "test_resnet", "pretrained": False}, False),
    ({"source": "timm", "name": "test_resnet.r160_in1k"}, True),
    ({"source": "dino", "backbone": "dino_vits16", "head": "dino_deitsmall16_linearweights.pth", "pretrained": False,
      "model_kwargs": {"depth": 4}}, False),  # a bare head name with random weights: a random head
    ({"source": "dinov2_hub", "backbone": "vit_small_patch14_dinov2", "pretrained": False,
      "model_kwargs": {"depth": 1}}, False),
    ({"source": "transformers", "name": DINOV2, "pretrained": False, "config": SMALL_DINOV2}, False),
])
def test_needs_files_agrees_with_the_loaders(spec, files):
    """The parse-time rule (no torch) says a random build needs no lock exactly when the loader reads no file."""
    assert lock.needs_files("models", spec) is files
    if not files:
        assert load_classifier("k", spec, self_check=False).weight_sources == []


def test_a_random_build_with_a_local_head_file_is_locked(tmp_path):
    head = tmp_path / "head.pth"
    head.write_bytes(torch_bytes({"state_dict": {"linear.weight": torch.zeros(1000, 1536),
                                                 "linear.bias": torch.zeros(1000)}}))
    spec = {"source": "dino", "backbone": "dino_vits16", "head": str(head), "n_last_blocks": 4, "pretrained": False,
            "model_kwargs": {"depth": 4}}
    assert lock.needs_files("models", spec)
    assert load_classifier("k", spec, self_check=False).weight_sources == [("file", str(head))]


def test_the_extraction_job_verifies_before_loading_and_records_the_lock(cache, tmp_path):
    from sing.data.synthetic import make_synthetic_imagenet

    wnid = "n01440764"
    make_synthetic_imagenet(tmp_path / "imagenet", {"classes": [wnid], "train_per_class": 2, "val_per_class": 2,
                                                     "image_size": 32, "seed": 0})
    entry = {"files": lock.hub_records(cache.root / "huggingface/hub", "timm/test_resnet.r160_in1k")}
    from sing.data.classes import imagenet_wnids

    settings = {"models": {"m": TIMM}, "classes": [wnid],
                "dataset": {"kind": "imagenet", "root": str(tmp_path / "imagenet"),
                            "class_index": list(imagenet_wnids())},
                "samples": {"analysis": {"split": "val", "per_class": 2, "seed": 0, "take_all_if_fewer": False}},
                "extraction": {"device": "cpu", "precision": "fp32", "batch_size": 2, "on_bad_image": "fail",
                               "on_missing_image": "fail", "channels_last": False},
                "weights": {"models": {"m": entry}}}

    def run(out):
        job = SimpleNamespace(params=SimpleNamespace(settings=settings), output=SimpleNamespace(features=str(out)),
                              wildcards={"model": "m", "sample": "analysis", "chunk": "000"},
                              log=[str(tmp_path / "job.log")], threads=1, input=[],
                              config={"weights_dir": str(cache.root), "extraction": {"num_workers": 0}})
        runpy.run_path(str(SCRIPTS / "extract_features.py"), init_globals={"snakemake": job}, run_name="__main__")

    run(tmp_path / "chunk-000")
    provenance = json.loads(pq.read_schema(tmp_path / "chunk-000" / f"{wnid}.parquet").metadata[b"sing.provenance"])
    assert provenance["weights"] == {"models": {"m": entry}}
    assert provenance["weights"]["models"]["m"]["files"][0]["revision"] == cache.commit
    _blob(cache).write_bytes(cache.data[:-1] + bytes([cache.data[-1] ^ 1]))
    with pytest.raises(lock.WeightsLockError, match="model 'm': weight file timm/test_resnet.r160_in1k/"):
        run(tmp_path / "chunk-bad")
    assert not (tmp_path / "chunk-bad").exists()


def test_open_clip_space_is_locked_from_its_hub_repository(tmp_path):
    """("RN50-quickgelu", "openai") reads timm/resnet50_clip.openai/open_clip_model.safetensors (open_clip's hub
    layout)."""
    import open_clip

    from sing.models.clip_spaces import load_space

    torch.manual_seed(0)
    model = open_clip.create_model("RN50-quickgelu", pretrained=None)
    commit = hub_repo(tmp_path, "timm/resnet50_clip.openai",
                      {"open_clip_model.safetensors": safetensors_bytes(model.state_dict())})
    spec = {"model": "RN50-quickgelu", "pretrained": "openai"}
    space = load_space("rn50", spec, weights=WeightsCache(tmp_path, offline=True))
    assert space.weight_sources == [("hub", "timm/resnet50_clip.openai")]
    torch.testing.assert_close(space.model.visual.attnpool.c_proj.weight, model.visual.attnpool.c_proj.weight)
    entry = prefetch({}, {"rn50": spec}, tmp_path, offline=True)["spaces"]["rn50"]
    assert [(r["repo"], r["revision"], r["file"]) for r in entry["files"]] == [
        ("timm/resnet50_clip.openai", commit, "open_clip_model.safetensors")]


def test_the_prefetch_job_writes_the_lock(cache, monkeypatch):
    """workflow_scripts/prefetch_weights.py with the hub unreachable (as here): the cached weights are found and
    locked; random-weight entries lock no file."""
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    settings = {"models": {"m": TIMM, "r": {**TIMM, "pretrained": False}},
                "spaces": {"s": {"model": "ViT-S-32", "pretrained": None, "seed": 0}},
                "run_models": ["m", "r"], "run_spaces": ["s"], "unclip": {"enabled": False, "model_id": None}}
    output = cache.root / "weights.lock.json"
    job = SimpleNamespace(params=SimpleNamespace(settings=settings), output=[str(output)],
                          log=[str(cache.root.parent / "prefetch.log")], input=[], wildcards={}, config={})
    runpy.run_path(str(SCRIPTS / "prefetch_weights.py"), init_globals={"snakemake": job}, run_name="__main__")
    written = lock.read_lock(cache.root)
    assert [r["file"] for r in lock.locked_entry(written, "models", "m", TIMM)["files"]] == ["model.safetensors"]
    assert written["models"]["r"]["files"] == written["spaces"]["s"]["files"] == [] and written["unclip"] == {}
