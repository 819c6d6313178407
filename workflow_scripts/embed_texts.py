"""Text embeddings of one CLIP space: the class prompts, the concept vocabulary, the steering targets.

params.space: {"key", "entry" (the space's spec), "weights_dir"}; params.text: {"class_prompt", "templates",
"classes" ([class index, class id, prompt name] each), "concepts", "targets"}; params.extraction: {"device", ...}.
output.text: text parquet (kind, key, prompt, class_index, embedding).
"""

import logging

import torch

from sing.data.text import embed_text_table
from sing.io.logs import setup_logging
from sing.models.weights import WeightsCache

setup_logging(snakemake.log[0])
torch.set_num_threads(max(1, int(snakemake.threads)))
space = snakemake.params.space
n = embed_text_table(space["key"], space["entry"], dict(snakemake.params.text), snakemake.output.text,
                     device=snakemake.params.extraction["device"],
                     weights=WeightsCache(space["weights_dir"], offline=True))
logging.info("wrote %d text embeddings", n)
