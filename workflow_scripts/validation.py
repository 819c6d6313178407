"""Supp. §2 / Fig 9: logit change and CLIP drift of equal-norm null / random / principal perturbations, on the
held-out analysis images (ImageNet val; images the translator was trained on are left out).

input: features (analysis chunk dirs), translator_sample (its image ids are read), head, geometry, translator
params.settings: analyses.validation.{seeds (n -> seeds 0..n-1), max_images}, analyses.seed (of the image subsample),
classes     wildcards: model, space     output: validation
"""

import logging

import numpy as np
import polars as pl

from sing.analysis.validation import VALIDATION_COLUMNS, subsample, validation_scores
from sing.core.geometry import HeadGeometry
from sing.core.translator import load_translator
from sing.io.logs import setup_logging
from sing.io.pairs import read_chunk_dirs, read_image_ids
from sing.io.storage import write_frame
from sing.io.tables import read_head, table_metadata

setup_logging(snakemake.log[0])
settings = snakemake.params.settings
analyses = settings["analyses"]
model, space = snakemake.wildcards.model, snakemake.wildcards.space
seeds = list(range(analyses["validation"]["seeds"]))
table, F = read_chunk_dirs(snakemake.input.features)
seen = read_image_ids([snakemake.input.translator_sample])
held_out = np.array([i not in seen for i in table["image_id"].to_list()], dtype=bool)
if not held_out.all():
    logging.warning("%d analysis images are in the translator's training sample: left out", int((~held_out).sum()))
table, F = table.filter(pl.Series(held_out)), F[held_out]
if table.height == 0:
    raise ValueError("validation: no held-out analysis image left (all were in the translator's training sample)")
keep = subsample(table.height, analyses["validation"]["max_images"], analyses["seed"])
if keep is not None:
    table, F = table[keep.tolist()], F[keep]
W, _ = read_head(snakemake.input.head)
df = validation_scores(F, table["image_id"].to_list(), W, HeadGeometry.load(snakemake.input.geometry),
                       load_translator(snakemake.input.translator), seeds, pred=table["pred_class"].to_numpy())
df = df.with_columns(pl.lit(model).alias("model"), pl.lit(space).alias("space")).select(VALIDATION_COLUMNS)
write_frame(df, snakemake.output.validation, table_metadata("validation", settings, model=model, space=space))
logging.info("%s/%s: %d held-out images; median logit change per kind %s", model, space, table.height,
             df.group_by("kind").agg(pl.col("logit_change").median()).sort("kind").rows())
