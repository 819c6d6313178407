"""Table 1 (paper): null-space steering of one source class toward a target prompt, IS calibrated both ways: one
step per model with mean IS = target (the paper's reading, `mean_is`) and one step per image (`per_image`).

input: features (chunk dir holding the source class), geometry, translator, text
params: source_wnid, target (text key of kind "target"), target_is_deg, model, space     output: steering
"""

import logging
from pathlib import Path

import polars as pl

from sing.analysis.steering import CALIBRATIONS, STEERING_COLUMNS, steering_scores, steering_summary
from sing.core.geometry import HeadGeometry
from sing.core.translator import LinearTranslator
from sing.io.logs import setup_logging
from sing.io.storage import write_frame
from sing.io.tables import load_text, read_features, table_metadata

setup_logging(snakemake.log[0])
params = snakemake.params
path = Path(snakemake.input.features) / f"{params.source_wnid}.parquet"
if not path.is_file():
    raise FileNotFoundError(f"steering source class {params.source_wnid}: no features at {path}")
table, F = read_features(path)
_, z_target = load_text(snakemake.input.text, "target", params.target)
geometry = HeadGeometry.load(snakemake.input.geometry)
translator = LinearTranslator.load(snakemake.input.translator)
df = pl.concat([steering_scores(F, table["image_id"].to_list(), geometry, translator, z_target[0],
                                target_is_deg=params.target_is_deg, calibration=c) for c in CALIBRATIONS])
df = df.with_columns(pl.lit(params.model).alias("model"), pl.lit(params.space).alias("space")).select(STEERING_COLUMNS)
settings = {k: params[k] for k in ("source_wnid", "target", "target_is_deg", "model", "space")}
write_frame(df, snakemake.output.steering, table_metadata("steering", settings, model=params.model,
                                                          space=params.space))
for s in steering_summary(df).iter_rows(named=True):
    logging.info("%s/%s %s: eps %s, |AS| %s ± %s over %d of %d images (IS %s ± %s)", params.model, params.space,
                 s["calibration"], s["eps_mean"], s["abs_as_mean"], s["abs_as_std"], s["n_included"], s["n"],
                 s["is_mean"], s["is_std"])
