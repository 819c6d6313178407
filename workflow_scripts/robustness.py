"""Supp. §4 / Fig 12c: held-out accuracy of a linear classifier on Π_p f versus on T(Π_p f).

input: features (translator-sample parquet), geometry, translator
params.settings: analyses.robustness.{test_fraction, max_iter}, analyses.seed     wildcards: model, space
output: robustness (1 row)
"""

import logging

import polars as pl

from sing.analysis.robustness import ROBUSTNESS_COLUMNS, robustness_scores
from sing.core.geometry import HeadGeometry
from sing.core.translator import LinearTranslator
from sing.io.logs import setup_logging
from sing.io.storage import write_frame
from sing.io.tables import read_features, table_metadata

setup_logging(snakemake.log[0])
settings = snakemake.params.settings
analyses = settings["analyses"]
model, space = snakemake.wildcards.model, snakemake.wildcards.space
table, F = read_features(snakemake.input.features)
res = robustness_scores(F, table["class_index"].to_numpy(), HeadGeometry.load(snakemake.input.geometry),
                        LinearTranslator.load(snakemake.input.translator), test_fraction=analyses["robustness"]["test_fraction"],
                        seed=analyses["seed"], max_iter=analyses["robustness"]["max_iter"])
df = pl.DataFrame([{"model": model, "space": space, **res}]).select(ROBUSTNESS_COLUMNS)
write_frame(df, snakemake.output.robustness, table_metadata("robustness", settings, model=model, space=space))
logging.info("%s/%s: %s", model, space, res)
