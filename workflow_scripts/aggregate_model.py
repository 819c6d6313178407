"""Tables 2 and 3 for one (model, space): model summary (1 row), per-class summary, and the (|AS|, IS) subsample
of Fig. 3a.

input: scores (score directories), geometry, translator
params.settings: analyses.{bootstrap, ci, seed, joint_points}, translator.{min_heldout_r2, min_samples_per_dim},
dataset.class_names (class id -> display name), weights (random weights are flagged)
wildcards: model, space     output: model_summary, class_summary, joint_sample
"""

import logging

from sing.analysis.summaries import class_summary, joint_sample, model_summary, uses_random_weights
from sing.core.geometry import HeadGeometry
from sing.core.translator import load_translator
from sing.io.logs import setup_logging
from sing.io.storage import write_frame
from sing.io.tables import read_scores, table_metadata

setup_logging(snakemake.log[0])
settings = snakemake.params.settings
analyses = settings["analyses"]
model, space = snakemake.wildcards.model, snakemake.wildcards.space
scores = read_scores(list(snakemake.input.scores))
geometry = HeadGeometry.load(snakemake.input.geometry)
translator = load_translator(snakemake.input.translator)
quality = {key: settings["translator"][key] for key in ("min_heldout_r2", "min_samples_per_dim")}
ms = model_summary(scores, model, space, geometry, translator, n_boot=analyses["bootstrap"], ci=analyses["ci"],
                   seed=analyses["seed"], quality=quality,
                   random_weights=uses_random_weights(model, space, translator, settings["weights"]))
cs = class_summary(scores, model, space, class_names=dict(settings["dataset"]["class_names"]))
js = joint_sample(scores, model, space, analyses["joint_points"], analyses["seed"])
for table, frame in (("model_summary", ms), ("class_summary", cs), ("joint_sample", js)):
    write_frame(frame, snakemake.output[table],
                table_metadata(table, settings, model=model, space=space))
r = ms.row(0, named=True)
logging.info("%s/%s: %d images, %d classes, rank threshold %.3g; ratio of medians %.3f [%.3f, %.3f], median of "
             "per-image ratios %.3f [%.3f, %.3f] (%s bootstrap); max rel. logit change %.2e", model, space,
             r["n_images"], r["n_classes"], r["rank_threshold"], r["ratio"], r["ratio_ci_low"], r["ratio_ci_high"],
             r["image_ratio_median"], r["image_ratio_ci_low"], r["image_ratio_ci_high"], r["bootstrap_unit"],
             r["max_logit_change_rel"])
