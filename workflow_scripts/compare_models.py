"""Global tables: concatenated model/class summaries, pairwise Spearman of per-class |AS| rankings,
the two-space cross-check (Fig 12a) and, when given, translator robustness with Pearson r (Fig 12c).

input: model_summaries, class_summaries[, robustness]
output: model_summary, class_summary, rank_correlation, space_crosscheck[, robustness]
"""

import logging

import polars as pl

from sing import analysis as A
from sing.storage import setup_logging

setup_logging(snakemake.log[0])  # noqa: F821
log = logging.getLogger("compare_models")
inp, out = snakemake.input, snakemake.output  # noqa: F821


def concat(paths):
    return pl.concat([pl.read_parquet(p) for p in paths], how="vertical")


ms = concat(inp.model_summaries).sort("space", "model")
cs = concat(inp.class_summaries).sort("space", "model", "class_index")
rc = A.rank_correlations(cs)
cc = A.space_crosscheck(ms)
A.write_table(ms, out.model_summary, A.table_metadata("model_summary"))
A.write_table(cs, out.class_summary, A.table_metadata("class_summary"))
A.write_table(rc, out.rank_correlation, A.table_metadata("rank_correlation"))
A.write_table(cc, out.space_crosscheck, A.table_metadata("space_crosscheck"))
log.info("%d model rows, %d class rows, %d model pairs, %d cross-check rows", ms.height, cs.height, rc.height,
         cc.height)
if hasattr(out, "robustness"):
    if not hasattr(inp, "robustness"):
        raise ValueError("compare_models: output 'robustness' needs input 'robustness' (per-model tables)")
    rb = A.robustness_correlation(concat(inp.robustness))
    A.write_table(rb, out.robustness, A.table_metadata("robustness"))
    log.info("robustness: %s", rb.select("space", "pearson_r").unique().rows())
