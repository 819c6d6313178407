"""Text embeddings of one CLIP space: the 1000 class prompts, the concept vocabulary, the steering targets.

params.space: {"key", "entry", "weights_dir"}; params.text: {"class_prompt": "an image of a {}",
"templates": null | "openai" | "simple", "concepts": [str] (prompted with concept_prompt, default
class_prompt), "targets": [full prompts][, "concept_prompt", "classes"]}; params.extraction: {device, ...}.
output[0]: text parquet (kind, key, prompt, class_index, embedding).
"""

import logging

import torch

from sing import weights
from sing.extract import embed_text_table
from sing.storage import setup_logging

setup_logging(snakemake.log[0] if snakemake.log else None)
torch.set_num_threads(max(1, int(snakemake.threads)))
space = snakemake.params.space
ext = dict(snakemake.params.extraction)
weights.configure(space.get("weights_dir"), offline=ext.get("offline", True))
n = embed_text_table(space["key"], space["entry"], dict(snakemake.params.text), str(snakemake.output[0]),
                     device=ext.get("device", "auto"), weights_dir=space.get("weights_dir"))
logging.info("wrote %d text embeddings", n)
