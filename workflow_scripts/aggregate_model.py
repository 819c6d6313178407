"""Tables 2 and 3 for one (model, space): model summary (1 row), per-class summary, and the (|AS|, IS) subsample
of Fig. 3a.

input: scores (score directories), geometry, translator
params: bootstrap, ci, seed, joint_points, model, space     output: model_summary, class_summary, joint_sample
"""

import logging

from sing.analysis.summaries import class_summary, joint_sample, model_summary
from sing.core.geometry import HeadGeometry
from sing.core.translator import LinearTranslator
from sing.io.logs import setup_logging
from sing.io.storage import write_frame
from sing.io.tables import read_scores, table_metadata

setup_logging(snakemake.log[0])
params = snakemake.params
scores = read_scores(list(snakemake.input.scores))
geometry = HeadGeometry.load(snakemake.input.geometry)
translator = LinearTranslator.load(snakemake.input.translator)
settings = {"bootstrap": params.bootstrap, "ci": params.ci, "seed": params.seed, "joint_points": params.joint_points,
            "model": params.model, "space": params.space}
ms = model_summary(scores, params.model, params.space, geometry, translator, n_boot=params.bootstrap, ci=params.ci,
                   seed=params.seed)
cs = class_summary(scores, params.model, params.space)
js = joint_sample(scores, params.model, params.space, params.joint_points, params.seed)
for table, frame in (("model_summary", ms), ("class_summary", cs), ("joint_sample", js)):
    write_frame(frame, snakemake.output[table],
                table_metadata(table, settings, model=params.model, space=params.space))
r = ms.row(0, named=True)
logging.info("%s/%s: %d images, %d classes, rank threshold %.3g; ratio of medians %.3f [%.3f, %.3f], median of "
             "per-image ratios %.3f [%.3f, %.3f] (%s bootstrap); max rel. logit change %.2e", params.model,
             params.space, r["n_images"], r["n_classes"], r["rank_threshold"], r["ratio"], r["ratio_ci_low"],
             r["ratio_ci_high"], r["image_ratio_median"], r["image_ratio_ci_low"], r["image_ratio_ci_high"],
             r["bootstrap_unit"], r["max_logit_change_rel"])
