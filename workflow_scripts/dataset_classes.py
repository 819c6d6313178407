"""classes.parquet: one row per dataset class (index, id, file key, chunk, display and prompt names, description).

params.settings: dataset.{kind, root, class_index (every class, in order), class_names ({class: [display,
prompt]}), chunks}, chunk_size     output.classes: the table
"""

import logging

from sing.data.classes import ClassCatalog, imagenet_names
from sing.data.datasets import dataset_of
from sing.io.logs import setup_logging
from sing.io.storage import write_frame
from sing.io.tables import table_metadata

setup_logging(snakemake.log[0])
settings = snakemake.params.settings
dataset = settings["dataset"]
ids = tuple(dataset["class_index"])
descriptions = [lemmas for _, lemmas in imagenet_names()] if dataset["kind"] == "imagenet" else [""] * len(ids)
names = tuple((*dataset["class_names"][c], d) for c, d in zip(ids, descriptions))
catalog = ClassCatalog(dataset["kind"], ids, dataset["root"], chunk_size=settings["chunk_size"],
                       chunks=dataset["chunks"], names=names)
table = dataset_of(catalog).class_table()
write_frame(table, snakemake.output.classes, table_metadata("classes", settings))
logging.info("%s: %d classes, %d chunks", catalog.describe(), table.height, table["chunk"].n_unique())
