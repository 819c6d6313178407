"""Supp. §4 / Fig 12c: held-out accuracy of a linear classifier on Π_p f versus on T(Π_p f).

input: features (translator-sample parquet), geometry, translator
params: test_fraction, seed, max_iter, model, space     output: robustness (1 row)
"""

import logging

import polars as pl

from sing import analysis as A
from sing.geometry import HeadGeometry
from sing.storage import setup_logging
from sing.translator import LinearTranslator

setup_logging(snakemake.log[0])  # noqa: F821
log = logging.getLogger("robustness")
inp, out, par = snakemake.input, snakemake.output, snakemake.params  # noqa: F821

table, F = A.read_features(inp.features)
geometry = HeadGeometry.load(inp.geometry)
translator = LinearTranslator.load(inp.translator)
res = A.robustness_scores(F, table["class_index"].to_numpy(), geometry, translator,
                          test_fraction=float(par.test_fraction), seed=int(par.seed), max_iter=int(par.max_iter))
df = pl.DataFrame([{"model": par.model, "space": par.space, **res}]).select(A.ROBUSTNESS_COLUMNS)
settings = {k: getattr(par, k) for k in ("test_fraction", "seed", "max_iter", "model", "space")}
A.write_table(df, out.robustness, A.table_metadata("robustness", settings, model=par.model, space=par.space))
log.info("%s/%s: %s", par.model, par.space, res)
