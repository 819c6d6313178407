"""Features of one sample through one encoder: a classifier (f, with W f + b predictions) or a CLIP image
tower (unnormalised image embeddings).

input.manifest: JSON {"split", "per_class", "seed", "take_all_if_fewer", "classes": [wnids], ...}
params.model (classifier) or params.space (CLIP space): {"key", "entry", "weights_dir"}; params.imagenet_root;
params.extraction: {device, precision, batch_size, num_workers, on_bad_image[, channels_last, offline]}.
output.features: a directory (one {wnid}.parquet per class, + skipped.parquet) or a single *.parquet (all classes);
optional output.head (classifiers): the self-checked head (W, b) of the same model load.
"""

import json
import logging

import torch

from sing import weights
from sing.extract import run_extraction
from sing.storage import setup_logging

stream = setup_logging(snakemake.log[0] if snakemake.log else None)
torch.set_num_threads(max(1, int(snakemake.threads)))
is_classifier = hasattr(snakemake.params, "model")
encoder = snakemake.params.model if is_classifier else snakemake.params.space
ext = dict(snakemake.params.extraction)
with open(snakemake.input.manifest) as fh:
    manifest = json.load(fh)
sample = {k: manifest[k] for k in ("split", "per_class", "seed", "take_all_if_fewer") if k in manifest}
out = str(snakemake.output.features)
weights.configure(encoder.get("weights_dir"), offline=ext.get("offline", True))
summary = run_extraction(
    "classifier" if is_classifier else "clip", encoder["key"], encoder["entry"],
    imagenet_root=snakemake.params.imagenet_root, wnids=manifest["classes"], sample=sample, out=out,
    mode="single" if out.endswith(".parquet") else "per_class",
    batch_size=ext["batch_size"], precision=ext["precision"], device=ext["device"],
    num_workers=ext["num_workers"], on_bad_image=ext["on_bad_image"],
    channels_last=ext.get("channels_last", False), weights_dir=encoder.get("weights_dir"),
    provenance={"sample_name": manifest.get("sample")}, progress=stream,
    head_out=getattr(snakemake.output, "head", None))
logging.info("done: %s", summary)
