"""Generate a demo's synthetic dataset (output: the dataset root directory).

params.settings: the job's settings (rules/common.smk): dataset.kind ("imagenet" | "folder") and dataset.synthetic,
the dict for sing.data.synthetic.make_synthetic_dataset, e.g. {classes: [n01440764, n02123045], train_per_class: 12,
val_per_class: 6, image_size: 96, seed: 0}.
"""

import logging

from sing.core.files import atomic_path
from sing.data.synthetic import make_synthetic_dataset
from sing.io.logs import setup_logging

setup_logging(snakemake.log[0])
dataset = snakemake.params.settings["dataset"]
with atomic_path(snakemake.output[0]) as tmp:
    manifest = make_synthetic_dataset(tmp, dict(dataset["synthetic"]), dataset["kind"])
n = sum(len(v) for v in manifest["files"].values())
logging.info("synthetic %s dataset: %d classes, %d files -> %s", dataset["kind"], len(manifest["wnids"]), n,
             snakemake.output[0])
