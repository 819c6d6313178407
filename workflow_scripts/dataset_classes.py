"""classes.parquet: one row per dataset class (index, id, file key, chunk, display and prompt names, description).

params.dataset: the workflow's `dataset` settings plus chunk_size     output.classes: the table
"""

import logging

from sing.data.datasets import open_dataset
from sing.io.logs import setup_logging
from sing.io.storage import write_frame
from sing.io.tables import table_metadata

setup_logging(snakemake.log[0])
settings = dict(snakemake.params.dataset)
dataset = open_dataset(settings, settings.pop("chunk_size"))
table = dataset.class_table()
write_frame(table, snakemake.output.classes, table_metadata("classes", settings))
logging.info("%s: %d classes, %d chunks", dataset.catalog.describe(), table.height, table["chunk"].n_unique())
