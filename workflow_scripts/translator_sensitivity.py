"""How much one (model, space)'s verdict depends on the translator (beyond the paper): median |AS|, median IS and
both ratio readings of the analysed images under the CV-chosen ridge (`default`), the ridge refitted at α × each
factor from the translator sample's sufficient statistics, and the translator study's best non-linear translator.

input: features (analysis chunk dirs), text (class prompts), geometry, translator (the ridge), translator_features,
translator_clip (the translator sample), best (the best non-linear translator; only when the study runs)
params.settings: translator.sensitivity.{factors, max_images}, analyses.seed (the subsample), classes,
translator.study.enabled     wildcards: model, space     output: sensitivity
"""

import logging

import numpy as np

from sing.analysis.sensitivity import ridge_variants, sensitivity_rows
from sing.analysis.translation import ridge_stats_from_pairs
from sing.analysis.validation import subsample
from sing.core.geometry import HeadGeometry
from sing.core.translator import LinearTranslator, load_translator
from sing.io.logs import setup_logging
from sing.io.pairs import read_chunk_dirs
from sing.io.storage import read_embeddings, write_frame
from sing.io.tables import load_text, table_metadata

setup_logging(snakemake.log[0])
settings = snakemake.params.settings
cfg = settings["translator"]["sensitivity"]
model, space = snakemake.wildcards.model, snakemake.wildcards.space
feature_rows, features, _ = read_embeddings(snakemake.input.translator_features)
clip_rows, clip, _ = read_embeddings(snakemake.input.translator_clip)
stats = ridge_stats_from_pairs(feature_ids=feature_rows["image_id"].to_list(), features=features,
                               target_ids=clip_rows["image_id"].to_list(), targets=clip)
table, F = read_chunk_dirs(snakemake.input.features)
keep = subsample(table.height, cfg["max_images"], settings["analyses"]["seed"]) if cfg["max_images"] else None
if keep is not None:
    table, F = table[keep.tolist()], F[keep]
_, z_text = load_text(snakemake.input.text, "class", table["class_id"].to_list())
ridge = LinearTranslator.load(snakemake.input.translator)
variants = {"default": ridge, **ridge_variants(stats, ridge.alpha, cfg["factors"])}
descriptions = {"default": f"ridge α={ridge.alpha:g} (CV)"}
for path in snakemake.input.best:  # one file when the translator study ran, else none
    variants["best_nonlinear"] = best = load_translator(path)
    descriptions["best_nonlinear"] = f"{best.architecture}/{best.loss}"
frame = sensitivity_rows(F.astype(np.float64), z_text, HeadGeometry.load(snakemake.input.geometry), variants,
                         model=model, space=space, descriptions=descriptions)
write_frame(frame, snakemake.output.sensitivity, table_metadata("translator_sensitivity", settings, model=model,
                                                                 space=space))
logging.info("%s/%s: %d images; ratio per variant %s", model, space, table.height,
             dict(zip(frame["variant"].to_list(), frame["ratio"].round(3).to_list())))
