"""Generate the demo's synthetic ImageNet-layout dataset (output: the dataset root directory).

params.settings: the job's settings (rules/common.smk); its synthetic_imagenet dict goes to
sing.data.synthetic.make_synthetic_imagenet, e.g. {classes: [n01440764, n02123045], train_per_class: 12, val_per_class: 6, image_size: 96, seed: 0}.
"""

import logging

from sing.core.files import atomic_path
from sing.data.synthetic import make_synthetic_imagenet
from sing.io.logs import setup_logging

setup_logging(snakemake.log[0])
with atomic_path(snakemake.output[0]) as tmp:
    manifest = make_synthetic_imagenet(tmp, dict(snakemake.params.settings["synthetic_imagenet"]))
n = sum(len(v) for v in manifest["files"].values())
logging.info("synthetic ImageNet: %d classes, %d files -> %s", len(manifest["wnids"]), n, snakemake.output[0])
