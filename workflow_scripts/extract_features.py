"""Features of one sample through one encoder: a classifier (f, with W f + b predictions) or a CLIP image tower
(unnormalised image embeddings).

input.manifest: JSON {"sample", "split", "per_class", "seed", "take_all_if_fewer", "classes": [class ids],
"class_index": [their dataset indices]}; input.dataset (classifiers): the dataset manifest {"kind", "root",
"classes"}, the classes the head is checked against and ordered by; input.head (classifiers): the exported head
(the check already passed). params.model (classifier) or params.space (CLIP space): {"key", "entry" (its spec),
"weights_dir"}; params.dataset: {"kind", "root"}; params.extraction: {device, precision, batch_size, num_workers,
on_bad_image, on_missing_image, channels_last}.
output.features: a directory (one <file key>.parquet per class, + skipped.parquet) or a single *.parquet (all
classes).
"""

import json
import logging

import torch

from sing.data.datasets import open_dataset
from sing.data.extraction import run_extraction
from sing.io.logs import setup_logging
from sing.models.weights import WeightsCache

stream = setup_logging(snakemake.log[0])
torch.set_num_threads(max(1, int(snakemake.threads)))
is_classifier = hasattr(snakemake.params, "model")
encoder = snakemake.params.model if is_classifier else snakemake.params.space
extraction = snakemake.params.extraction
dataset = open_dataset(dict(snakemake.params.dataset))
if is_classifier:
    with open(snakemake.input.dataset) as fh:
        head_classes = open_dataset(json.load(fh)).head_classes()
with open(snakemake.input.manifest) as fh:
    manifest = json.load(fh)
out = str(snakemake.output.features)
summary = run_extraction(
    "classifier" if is_classifier else "clip", encoder["key"], encoder["entry"],
    dataset=dataset, classes=manifest["classes"], class_index=dict(zip(manifest["classes"], manifest["class_index"])),
    head_classes=head_classes if is_classifier else None,
    sample={k: manifest[k] for k in ("split", "per_class", "seed", "take_all_if_fewer")}, out=out,
    mode="single" if out.endswith(".parquet") else "per_class",
    batch_size=extraction["batch_size"], precision=extraction["precision"], device=extraction["device"],
    num_workers=extraction["num_workers"], on_bad_image=extraction["on_bad_image"],
    on_missing_image=extraction["on_missing_image"], channels_last=extraction["channels_last"],
    weights=WeightsCache(encoder["weights_dir"], offline=True), provenance={"sample_name": manifest["sample"]},
    progress=stream)
logging.info("done: %s", summary)
