"""Kendall τ / Spearman ρ of the model ordering under each translator variant against the default translator, per
space and statistic (both ratio readings).

input: sensitivity (tables/translator_sensitivity.parquet)     params.settings: (recorded in provenance)
output: stability
"""

import logging

import polars as pl

from sing.analysis.sensitivity import ordering_stability
from sing.io.logs import setup_logging
from sing.io.storage import read_frame, write_frame
from sing.io.tables import table_metadata

setup_logging(snakemake.log[0])
stability = ordering_stability(read_frame(snakemake.input.sensitivity))
write_frame(stability, snakemake.output.stability, table_metadata("translator_stability", snakemake.params.settings))
logging.info("unstable orderings: %s", stability.filter(pl.col("stable").not_())
             .select("space", "variant", "statistic", "kendall_tau").rows())
