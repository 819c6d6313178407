"""Generate the demo's synthetic ImageNet-layout dataset (output: the dataset root directory).

params.settings: dict for sing.synthetic.make_synthetic_imagenet, e.g.
{classes: [n01440764, n02123045], train_per_class: 12, val_per_class: 6, image_size: 96, seed: 0}.
"""

import logging

from sing.storage import atomic_path, setup_logging
from sing.synthetic import make_synthetic_imagenet

setup_logging(snakemake.log[0] if snakemake.log else None)
settings = dict(snakemake.params.settings or {})
with atomic_path(snakemake.output[0]) as tmp:
    manifest = make_synthetic_imagenet(tmp, settings)
n = sum(len(v) for v in manifest["files"].values())
logging.info("synthetic ImageNet: %d classes, %d files -> %s", len(manifest["wnids"]), n, snakemake.output[0])
