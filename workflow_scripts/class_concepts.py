"""Which concepts each analysed class's null space carries most: per class, the concepts of every dictionary of
the space ranked by mean |AS| of null removal (its `top`), and per model the concepts whose |AS| is largest across
classes (every concept).

input: features (analysis chunk dirs), geometry, translator, dictionaries (text/{space}/dictionaries/<name>.parquet)
params.settings: classes, analyses.open_vocabulary.{dictionaries, top}     wildcards: model, space
output: class_concepts, model_concepts (tables; the dictionaries' caveats in their metadata)
"""

import logging

from sing.analysis.open_vocabulary import concept_tables
from sing.core.geometry import HeadGeometry
from sing.core.translator import load_translator
from sing.data.dictionaries import read_dictionary
from sing.io.logs import setup_logging
from sing.io.storage import write_frame
from sing.io.tables import table_metadata

setup_logging(snakemake.log[0])
settings = snakemake.params.settings
model, space = snakemake.wildcards.model, snakemake.wildcards.space
names = settings["analyses"]["open_vocabulary"]["dictionaries"]
dictionaries = [read_dictionary(path, name=name) for name, path in zip(names, snakemake.input.dictionaries)]
class_table, model_table = concept_tables(
    snakemake.input.features, settings["classes"], HeadGeometry.load(snakemake.input.geometry),
    load_translator(snakemake.input.translator), dictionaries, model=model, space=space,
    top=settings["analyses"]["open_vocabulary"]["top"])
caveats = [c for d in dictionaries for c in d.caveats]
for name, table, out in (("class_concepts", class_table, snakemake.output.class_concepts),
                         ("model_concepts", model_table, snakemake.output.model_concepts)):
    write_frame(table, out, table_metadata(name, settings, model=model, space=space, caveats=caveats))
logging.info("%s/%s: %d classes x %s; top concepts %s", model, space, len(settings["classes"]), names,
             model_table.head(5)["concept"].to_list())
