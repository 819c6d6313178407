"""Table 1 (paper): null-space steering of one source class toward a target prompt, IS calibrated.

input: features (chunk dir holding the source class), geometry, translator, text
params: source_wnid, target (text key of kind "target"), target_is_deg, model, space     output: steering
"""

import logging
from pathlib import Path

import polars as pl

from sing import analysis as A
from sing.geometry import HeadGeometry
from sing.storage import setup_logging
from sing.translator import LinearTranslator

setup_logging(snakemake.log[0])  # noqa: F821
log = logging.getLogger("steering")
inp, out, par = snakemake.input, snakemake.output, snakemake.params  # noqa: F821

path = Path(inp.features) / f"{par.source_wnid}.parquet"
if not path.is_file():
    raise FileNotFoundError(f"steering source class {par.source_wnid}: no features at {path}")
table, F = A.read_features(path)
geometry = HeadGeometry.load(inp.geometry)
translator = LinearTranslator.load(inp.translator)
_, z_target = A.load_text(inp.text, "target", par.target)
df = A.steering_scores(F, table["image_id"].to_list(), geometry, translator, z_target[0],
                       target_is_deg=float(par.target_is_deg))
df = df.with_columns(pl.lit(par.model).alias("model"), pl.lit(par.space).alias("space")).select(A.STEERING_COLUMNS)
settings = {k: getattr(par, k) for k in ("source_wnid", "target", "target_is_deg", "model", "space")}
A.write_table(df, out.steering, A.table_metadata("steering", settings, model=par.model, space=par.space))
s = A.steering_summary(df).row(0, named=True)
log.info("%s/%s: |AS| %s ± %s over %d reachable, %d unreachable", par.model, par.space, s["abs_as_mean"],
         s["abs_as_std"], s["n_reachable"], s["n_unreachable"])
