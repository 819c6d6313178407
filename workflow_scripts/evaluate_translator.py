"""Held-out check of one translator on the analysis sample (val images it never saw): per-image cosine between
T f and the real CLIP embedding, and squared error (paper supp. Fig. 8).

input: features, clip (chunk directories of the analysis sample), translator
params.settings: (the job's settings, recorded in provenance)     wildcards: model, space     output: evaluation
"""

import logging

from sing.analysis.translation import translator_eval_tables
from sing.core.translator import load_translator
from sing.io.logs import setup_logging
from sing.io.pairs import chunk_tables
from sing.io.storage import write_frame
from sing.io.tables import table_metadata

setup_logging(snakemake.log[0])
model, space = snakemake.wildcards.model, snakemake.wildcards.space
# streamed one class at a time (memory: one class, whatever the number of classes)
table = translator_eval_tables(load_translator(snakemake.input.translator),
                               chunk_tables(snakemake.input.features), chunk_tables(snakemake.input.clip),
                               model=model, space=space)
logging.info("%d images, mean cosine %.4f", table.height, table["cosine"].mean())
write_frame(table, snakemake.output.evaluation,
            table_metadata("translator_eval", snakemake.params.settings, model=model, space=space))
