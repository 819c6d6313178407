"""Export the final linear head (W, b) of one classifier after its logit self-check.

params.model: {"key", "entry", "weights_dir"}; optional params.extraction: {device, ...}.
output[0] (head.safetensors): tensors weight (c×m float32), bias (c float32); metadata sha256 (of W),
head_sha256 (W then b), model, weights_id, in_dim, num_classes.
"""

import logging

import torch

from sing import weights
from sing.extract import export_head
from sing.storage import setup_logging

setup_logging(snakemake.log[0] if snakemake.log else None)
torch.set_num_threads(max(1, int(snakemake.threads)))
model = snakemake.params.model
ext = dict(getattr(snakemake.params, "extraction", None) or {})
weights.configure(model.get("weights_dir"), offline=ext.get("offline", True))
meta = export_head(model["key"], model["entry"], str(snakemake.output[0]), device=ext.get("device", "cpu"),
                   weights_dir=model.get("weights_dir"))
logging.info("head exported: %s", meta)
