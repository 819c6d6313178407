"""Table 1 (paper): null-space steering of one source class toward a target prompt, IS calibrated.

input: features (chunk dir holding the source class), geometry, translator, text
params: source_class, target (text key of kind "target"), target_is_deg, model, space     output: steering
"""

import logging
from pathlib import Path

import polars as pl

from sing.analysis.steering import STEERING_COLUMNS, steering_scores, steering_summary
from sing.core.geometry import HeadGeometry
from sing.core.translator import LinearTranslator
from sing.data.classes import file_key
from sing.io.logs import setup_logging
from sing.io.storage import write_frame
from sing.io.tables import load_text, read_features, table_metadata

setup_logging(snakemake.log[0])
params = snakemake.params
path = Path(snakemake.input.features) / f"{file_key(params.source_class)}.parquet"
if not path.is_file():
    raise FileNotFoundError(f"steering source class {params.source_class!r}: no features at {path}")
table, F = read_features(path)
_, z_target = load_text(snakemake.input.text, "target", params.target)
df = steering_scores(F, table["image_id"].to_list(), HeadGeometry.load(snakemake.input.geometry),
                     LinearTranslator.load(snakemake.input.translator), z_target[0],
                     target_is_deg=params.target_is_deg)
df = df.with_columns(pl.lit(params.model).alias("model"), pl.lit(params.space).alias("space")).select(STEERING_COLUMNS)
settings = {k: params[k] for k in ("source_class", "target", "target_is_deg", "model", "space")}
write_frame(df, snakemake.output.steering, table_metadata("steering", settings, model=params.model,
                                                          space=params.space))
s = steering_summary(df).row(0, named=True)
logging.info("%s/%s: |AS| %s ± %s over %d reachable, %d unreachable", params.model, params.space, s["abs_as_mean"],
             s["abs_as_std"], s["n_reachable"], s["n_unreachable"])
