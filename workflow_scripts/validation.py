"""Supp. §2 / Fig 9: logit change and CLIP drift of equal-norm null / random / principal perturbations.

input: features (translator-sample parquet), head, geometry, translator
params.settings: analyses.validation.{seeds (n -> seeds 0..n-1), max_images}, analyses.seed (of the image subsample)
wildcards: model, space     output: validation
"""

import logging

import polars as pl

from sing.analysis.validation import VALIDATION_COLUMNS, subsample, validation_scores
from sing.core.geometry import HeadGeometry
from sing.core.translator import LinearTranslator
from sing.io.logs import setup_logging
from sing.io.storage import write_frame
from sing.io.tables import read_features, read_head, table_metadata

setup_logging(snakemake.log[0])
settings = snakemake.params.settings
analyses = settings["analyses"]
model, space = snakemake.wildcards.model, snakemake.wildcards.space
seeds = list(range(analyses["validation"]["seeds"]))
table, F = read_features(snakemake.input.features)
keep = subsample(table.height, analyses["validation"]["max_images"], analyses["seed"])
if keep is not None:
    table, F = table[keep.tolist()], F[keep]
W, _ = read_head(snakemake.input.head)
df = validation_scores(F, table["image_id"].to_list(), W, HeadGeometry.load(snakemake.input.geometry),
                       LinearTranslator.load(snakemake.input.translator), seeds, pred=table["pred_class"].to_numpy())
df = df.with_columns(pl.lit(model).alias("model"), pl.lit(space).alias("space")).select(VALIDATION_COLUMNS)
write_frame(df, snakemake.output.validation, table_metadata("validation", settings, model=model, space=space))
logging.info("%s/%s: median logit change per kind %s", model, space,
             df.group_by("kind").agg(pl.col("logit_change").median()).sort("kind").rows())
