"""Browsable HTML preview of one result table for the report (sing.io.preview): what one row is (its TableSpec),
the key columns first and frozen, display names for models, spaces and classes, a RANDOM WEIGHTS banner when rows
come from random weights.

input: table (parquet), the manifest     wildcards: table
params.settings: models.<key>.display, spaces.<key>.display, dataset.class_names (display names), weights
params: name (shown as the title), max_rows     output: html
"""

import logging

from sing.core.files import atomic_path
from sing.io.logs import setup_logging
from sing.io.preview import preview_html, random_weight_names
from sing.io.storage import read_frame
from sing.models.lock import random_weight_keys
from sing.outputs import inline_markup, table

setup_logging(snakemake.log[0])
params, job = snakemake.params, snakemake.params.settings
spec = table(snakemake.wildcards.table)
frame = read_frame(snakemake.input.table)
names = {"models": {key: entry["display"] for key, entry in job["models"].items()},
         "spaces": {key: entry["display"] for key, entry in job["spaces"].items()},
         "classes": dict(job["dataset"]["class_names"])}
shown = random_weight_names(frame, random_weight_keys(job["weights"]), names)
caption = (f"One row per {inline_markup(spec.rows, 'html')}: {inline_markup(spec.summary, 'html')}. Columns: "
           f"{inline_markup(spec.columns, 'html')}.")
page = preview_html(frame, title=params.name, caption=caption, names=names, max_rows=params.max_rows,
                    random_weights=shown, note="Units and protocols: <code>results/README.md</code>, "
                                               "section &ldquo;Scores and tables&rdquo;.")
with atomic_path(snakemake.output.html) as tmp:
    tmp.write_text(page, encoding="utf-8")
logging.info("%s: %d rows x %d columns -> %s", params.name, frame.height, frame.width, snakemake.output.html)
