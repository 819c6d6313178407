"""Load one classifier on the CPU, check its head against the dataset's classes (one output per class; a label map
must name them, and orders the outputs), prove W f + b = its logits, and export (W, b) in the dataset's order.

input.dataset: the dataset manifest {"kind", "root", "classes"}     params.model: {"key", "entry", "weights_dir"}
output.head: head.safetensors (weight K×m, bias K; metadata: sha256, weights id, self-check error)
"""

import json
import logging

from sing.data.datasets import open_dataset
from sing.data.extraction import write_head
from sing.io.logs import setup_logging
from sing.models.classifiers import load_classifier
from sing.models.weights import WeightsCache

setup_logging(snakemake.log[0])
model = snakemake.params.model
with open(snakemake.input.dataset) as fh:
    classes = open_dataset(json.load(fh)).head_classes()
adapter = load_classifier(model["key"], model["entry"], device="cpu", self_check=False, classes=classes,
                          weights=WeightsCache(model["weights_dir"], offline=True))
meta = write_head(adapter, snakemake.output.head)
logging.info("%s: head %s x %s matches %s", model["key"], meta["num_classes"], meta["in_dim"], classes.dataset)
