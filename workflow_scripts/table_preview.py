"""Browsable HTML preview of one result table for the report: shape, column types and the first and last
rows, in polars' own notebook rendering (`DataFrame._repr_html_`, which escapes every value).

input: table (parquet)     params: name (shown as the title), max_rows     output: html
"""

import html
import logging

import polars as pl

from sing.core.files import atomic_path
from sing.io.logs import setup_logging
from sing.io.storage import read_frame

setup_logging(snakemake.log[0])
params = snakemake.params
frame = read_frame(snakemake.input.table)
with pl.Config(tbl_rows=params.max_rows, tbl_cols=-1, fmt_str_lengths=80):
    rendered = frame._repr_html_()
title = html.escape(params.name)
shown = "all rows" if frame.height <= params.max_rows else f"the first and last of {frame.height:,} rows"
page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body {{ font-family: sans-serif; margin: 1em; }} table {{ border-collapse: collapse; font-size: 13px; }}
th, td {{ border: 1px solid #ccc; padding: 2px 6px; }}</style></head>
<body><h1>{title}</h1>
<p>{frame.height:,} rows &times; {frame.width} columns; showing {shown}. Second header row: column type.
Columns and units: <code>results/README.md</code>, section &ldquo;Scores and tables&rdquo;.</p>
{rendered}
</body></html>
"""
with atomic_path(snakemake.output.html) as tmp:
    tmp.write_text(page, encoding="utf-8")
logging.info("%s: %d rows x %d columns -> %s", params.name, frame.height, frame.width, snakemake.output.html)
