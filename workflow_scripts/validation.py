"""Supp. §2 / Fig 9: logit change and CLIP drift of equal-norm null / random / principal perturbations, on the
held-out analysis images (ImageNet val; images the translator was trained on are left out).

input: features (analysis chunk dirs), translator_sample (the translator's training features, its image ids are
read; none for a published translator, trained on images sing does not know), head, geometry, translator
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
from sing.io.pairs import chunk_image_ids, read_chunk_rows, read_image_ids
from sing.io.storage import write_frame
from sing.io.tables import read_head, table_metadata

setup_logging(snakemake.log[0])
settings = snakemake.params.settings
analyses = settings["analyses"]
model, space = snakemake.wildcards.model, snakemake.wildcards.space
seeds = list(range(analyses["validation"]["seeds"]))
# select first (image ids only), then read the features of the selected images: memory is the selection, not the
# whole analysis sample (the same rows as reading everything and subsampling the held-out rows)
ids = chunk_image_ids(snakemake.input.features)
sample = list(snakemake.input.translator_sample)  # the input function gives a list: [] for a published translator
if not sample:
    logging.info("%s/%s: published translator: its training images are unknown, none left out", model, space)
seen = read_image_ids(sample)
held = np.flatnonzero([i not in seen for i in ids])
if len(held) < len(ids):
    logging.warning("%d analysis images are in the translator's training sample: left out", len(ids) - len(held))
if len(held) == 0:
    raise ValueError("validation: no held-out analysis image left (all were in the translator's training sample)")
keep = subsample(len(held), analyses["validation"]["max_images"], analyses["seed"])
table, F = read_chunk_rows(snakemake.input.features, held if keep is None else held[keep])
W, _ = read_head(snakemake.input.head)
df = validation_scores(F, table["image_id"].to_list(), W, HeadGeometry.load(snakemake.input.geometry),
                       load_translator(snakemake.input.translator), seeds, pred=table["pred_class"].to_numpy())
df = df.with_columns(pl.lit(model).alias("model"), pl.lit(space).alias("space")).select(VALIDATION_COLUMNS)
write_frame(df, snakemake.output.validation, table_metadata("validation", settings, model=model, space=space))
logging.info("%s/%s: %d held-out images; median logit change per kind %s", model, space, table.height,
             df.group_by("kind").agg(pl.col("logit_change").median()).sort("kind").rows())
