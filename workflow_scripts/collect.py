"""Concatenate the per-(model, space) tables of one kind into the global table, sorted by its key columns.

input: tables (list of parquet)     params.settings: (recorded in provenance)     wildcards: table     output: table
"""

import logging

from sing.io.logs import setup_logging
from sing.io.storage import read_frames, write_frame
from sing.io.tables import sort_table, table_metadata

setup_logging(snakemake.log[0])
paths = list(snakemake.input.tables)
if not paths:
    raise ValueError("collect: input 'tables' is empty")
table = sort_table(read_frames(paths))
write_frame(table, snakemake.output.table, table_metadata(snakemake.wildcards.table, snakemake.params.settings))
logging.info("%d tables -> %d rows: %s", len(paths), table.height, snakemake.output.table)
