"""Supp. §2 / Fig 9: logit change and CLIP drift of equal-norm null / random / principal perturbations.

input: features (translator-sample parquet), head, geometry, translator
params: seeds (int n -> 0..n-1, or a list), max_images, model, space     output: validation
"""

import logging

import numpy as np
import polars as pl

from sing import analysis as A
from sing.geometry import HeadGeometry
from sing.storage import setup_logging
from sing.translator import LinearTranslator

setup_logging(snakemake.log[0])  # noqa: F821
log = logging.getLogger("validation")
inp, out, par = snakemake.input, snakemake.output, snakemake.params  # noqa: F821

seeds = list(range(int(par.seeds))) if isinstance(par.seeds, (int, np.integer)) else [int(s) for s in par.seeds]
table, F = A.read_features(inp.features)
max_images = int(par.max_images)
if max_images < 1:
    raise ValueError(f"params max_images: must be >= 1, got {max_images}")
if table.height > max_images:  # a fixed random subset that spans the classes, not the first few classes
    keep = np.sort(np.random.default_rng(0).choice(table.height, size=max_images, replace=False))
    table, F = table[keep.tolist()], F[keep]
W, _ = A.read_head(inp.head)
geometry = HeadGeometry.load(inp.geometry)
translator = LinearTranslator.load(inp.translator)
pred = table["pred_class"].to_numpy() if "pred_class" in table.columns else None
df = A.validation_scores(F, table["image_id"].to_list(), W, geometry, translator, seeds, pred=pred)
df = df.with_columns(pl.lit(par.model).alias("model"), pl.lit(par.space).alias("space")).select(A.VALIDATION_COLUMNS)
settings = {"seeds": seeds, "max_images": max_images, "model": par.model, "space": par.space}
A.write_table(df, out.validation, A.table_metadata("validation", settings, model=par.model, space=par.space))
log.info("%s/%s: median logit change per kind %s", par.model, par.space,
         df.group_by("kind").agg(pl.col("logit_change").median()).sort("kind").rows())
