"""Table 1 (paper): null-space steering of one source class toward a target prompt, IS calibrated both ways: one
step per model with mean IS = target (the paper's reading, `mean_is`) and one step per image (`per_image`).

input: features (chunk dir holding the source class), geometry, translator, text
params.settings: analyses.steering.{source_class, target (text key of kind "target"), target_is_deg}
wildcards: model, space     output: steering (both calibrations)
"""

import logging
from pathlib import Path

import polars as pl

from sing.analysis.steering import CALIBRATIONS, STEERING_COLUMNS, steering_scores, steering_summary
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
geometry = HeadGeometry.load(snakemake.input.geometry)
translator = LinearTranslator.load(snakemake.input.translator)
df = pl.concat([steering_scores(F, table["image_id"].to_list(), geometry, translator, z_target[0],
                                target_is_deg=steer["target_is_deg"], calibration=c) for c in CALIBRATIONS])
df = df.with_columns(pl.lit(model).alias("model"), pl.lit(space).alias("space")).select(STEERING_COLUMNS)
write_frame(df, snakemake.output.steering, table_metadata("steering", settings, model=model, space=space))
for s in steering_summary(df).iter_rows(named=True):
    logging.info("%s/%s %s: eps %s, |AS| %s ± %s over %d of %d images (IS %s ± %s)", model, space, s["calibration"],
                 s["eps_mean"], s["abs_as_mean"], s["abs_as_std"], s["n_included"], s["n"], s["is_mean"],
                 s["is_std"])
