"""Table 1 (paper): null-space steering of one source class toward a target prompt, IS calibrated.

input: features (chunk dir holding the source class), geometry, translator, text
params.settings: analyses.steering.{source_class, target (text key of kind "target"), target_is_deg}
wildcards: model, space     output: steering
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
settings = snakemake.params.settings
steer = settings["analyses"]["steering"]
model, space = snakemake.wildcards.model, snakemake.wildcards.space
path = Path(snakemake.input.features) / f"{file_key(steer['source_class'])}.parquet"
if not path.is_file():
    raise FileNotFoundError(f"steering source class {steer['source_class']!r}: no features at {path}")
table, F = read_features(path)
_, z_target = load_text(snakemake.input.text, "target", steer["target"])
df = steering_scores(F, table["image_id"].to_list(), HeadGeometry.load(snakemake.input.geometry),
                     LinearTranslator.load(snakemake.input.translator), z_target[0],
                     target_is_deg=steer["target_is_deg"])
df = df.with_columns(pl.lit(model).alias("model"), pl.lit(space).alias("space")).select(STEERING_COLUMNS)
write_frame(df, snakemake.output.steering, table_metadata("steering", settings, model=model, space=space))
s = steering_summary(df).row(0, named=True)
logging.info("%s/%s: |AS| %s ± %s over %d reachable, %d unreachable", model, space, s["abs_as_mean"],
             s["abs_as_std"], s["n_reachable"], s["n_unreachable"])
