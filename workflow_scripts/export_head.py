"""Load one classifier on the CPU, check its head against the dataset's classes (one output per class; a label map
must name them, and orders the outputs), prove W f + b = its logits, and export (W, b) in the dataset's order.

params.settings: models ({key: spec}), dataset.{kind, root (named in messages), class_index (every class, in
order)}, weights (the model's weights lock entry)     config: weights_dir
output.head: head.safetensors (weight K×m, bias K; metadata: sha256, weights id, self-check error, provenance);
output.written: its content record
"""

import logging

from sing.core.files import write_content_record
from sing.data.datasets import open_dataset
from sing.data.extraction import write_head
from sing.io.logs import setup_logging
from sing.io.provenance import provenance
from sing.models.classifiers import load_classifier
from sing.models.lock import verify
from sing.models.weights import WeightsCache

setup_logging(snakemake.log[0])
settings = snakemake.params.settings
(key, entry), = settings["models"].items()
dataset = settings["dataset"]
classes = open_dataset({"kind": dataset["kind"], "root": dataset["root"],
                        "classes": dataset["class_index"]}).head_classes()
weights_dir = snakemake.config["weights_dir"]
verify(settings["weights"]["models"][key], weights_dir, f"model {key!r}")
adapter = load_classifier(key, entry, device="cpu", self_check=False, classes=classes,
                          weights=WeightsCache(weights_dir, offline=True))
meta = write_head(adapter, snakemake.output.head, provenance=provenance(entry, weights=settings["weights"]))
write_content_record(snakemake.output.head, snakemake.output.written)
logging.info("%s: head %s x %s matches %s", key, meta["num_classes"], meta["in_dim"], classes.dataset)
