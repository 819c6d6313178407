"""Demo and tests: write each listed model's checkpoint file with random weights and one output per dataset class.

params.models: {key: spec with a `checkpoint` path}; params.num_classes: the dataset's class count
output: the checkpoint files (in params.models order)
"""

import logging

from sing.io.logs import setup_logging
from sing.models.checkpoints import write_random_checkpoint

setup_logging(snakemake.log[0])
for (key, entry), path in zip(dict(snakemake.params.models).items(), snakemake.output):
    shape = write_random_checkpoint(key, dict(entry), snakemake.params.num_classes, path)
    logging.info("%s: random %s checkpoint, head %s -> %s", key, entry["source"], shape, path)
