"""Concatenate per-(model, space) tables into one, sorted by its key columns.

input: tables (list of parquet)     params (optional): sort_by (list of columns)     output: table
"""

import logging

import polars as pl

from sing import analysis as A
from sing.storage import setup_logging

setup_logging(snakemake.log[0])  # noqa: F821
log = logging.getLogger("collect")
inp, out = snakemake.input, snakemake.output  # noqa: F821
sort_by = getattr(snakemake.params, "sort_by", None)  # noqa: F821

paths = list(inp.tables)
if not paths:
    raise ValueError("collect: input 'tables' is empty")
table = A.sort_table(pl.concat([pl.read_parquet(p) for p in paths], how="vertical"), sort_by)
A.write_table(table, out.table, A.table_metadata(str(out.table).rsplit("/", 1)[-1].removesuffix(".parquet")))
log.info("%d tables -> %d rows: %s", len(paths), table.height, out.table)
