"""Features of one sample through one encoder: a classifier (f, with W f + b predictions) or a CLIP image tower
(unnormalised image embeddings).

input.manifest: JSON {"sample", "split", "per_class", "seed", "take_all_if_fewer", "classes": [wnids]}
params.model (classifier) or params.space (CLIP space): {"key", "entry" (its spec), "weights_dir"};
params.imagenet_root; params.extraction: {device, precision, batch_size, num_workers, on_bad_image, on_missing_image,
channels_last}.
output.features: a directory (one {wnid}.parquet per class, + skipped.parquet) or a single *.parquet (all classes);
output.head (classifiers, translator sample): the self-checked head (W, b) of the same model load.
"""

import json
import logging

import torch

from sing.data.extraction import run_extraction
from sing.io.logs import setup_logging
from sing.models.weights import WeightsCache

stream = setup_logging(snakemake.log[0])
torch.set_num_threads(max(1, int(snakemake.threads)))
is_classifier = hasattr(snakemake.params, "model")
encoder = snakemake.params.model if is_classifier else snakemake.params.space
extraction = snakemake.params.extraction
with open(snakemake.input.manifest) as fh:
    manifest = json.load(fh)
out = str(snakemake.output.features)
summary = run_extraction(
    "classifier" if is_classifier else "clip", encoder["key"], encoder["entry"],
    imagenet_root=snakemake.params.imagenet_root, wnids=manifest["classes"],
    sample={k: manifest[k] for k in ("split", "per_class", "seed", "take_all_if_fewer")}, out=out,
    mode="single" if out.endswith(".parquet") else "per_class",
    batch_size=extraction["batch_size"], precision=extraction["precision"], device=extraction["device"],
    num_workers=extraction["num_workers"], on_bad_image=extraction["on_bad_image"],
    on_missing_image=extraction["on_missing_image"], channels_last=extraction["channels_last"],
    weights=WeightsCache(encoder["weights_dir"], offline=True), provenance={"sample_name": manifest["sample"]},
    progress=stream, head_out=getattr(snakemake.output, "head", None))
logging.info("done: %s", summary)
