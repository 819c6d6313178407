"""Demo and tests: write each listed model's checkpoint file with random weights and one output per dataset class.

params.settings: synthetic_checkpoints ({key: spec with a `checkpoint` path}), dataset.class_index (every class, in
order: its length is the number of head outputs)     output: the checkpoint files (in that order)
"""

import logging

from sing.io.logs import setup_logging
from sing.models.checkpoints import write_random_checkpoint

setup_logging(snakemake.log[0])
settings = snakemake.params.settings
num_classes = len(settings["dataset"]["class_index"])
for (key, entry), path in zip(dict(settings["synthetic_checkpoints"]).items(), snakemake.output):
    shape = write_random_checkpoint(key, dict(entry), num_classes, path)
    logging.info("%s: random %s checkpoint, head %s -> %s", key, entry["source"], shape, path)
