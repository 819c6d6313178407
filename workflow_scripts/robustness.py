"""Supp. §4 / Fig 12c: held-out accuracy of a linear classifier on Π_p f versus on T(Π_p f).

input: features (translator-sample parquet), geometry, translator
params: test_fraction, seed, max_iter, model, space     output: robustness (1 row)
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
params = snakemake.params
table, F = read_features(snakemake.input.features)
res = robustness_scores(F, table["class_index"].to_numpy(), HeadGeometry.load(snakemake.input.geometry),
                        LinearTranslator.load(snakemake.input.translator), test_fraction=params.test_fraction,
                        seed=params.seed, max_iter=params.max_iter)
df = pl.DataFrame([{"model": params.model, "space": params.space, **res}]).select(ROBUSTNESS_COLUMNS)
settings = {k: params[k] for k in ("test_fraction", "seed", "max_iter", "model", "space")}
write_frame(df, snakemake.output.robustness, table_metadata("robustness", settings, model=params.model,
                                                            space=params.space))
logging.info("%s/%s: %s", params.model, params.space, res)
