"""Tables 2 and 3 for one (model, space): model summary (1 row) and per-class summary.

input: scores (score directories), geometry, translator
params: bootstrap, ci, seed, model, space     output: model_summary, class_summary
"""

import logging

from sing import analysis as A
from sing.geometry import HeadGeometry
from sing.storage import setup_logging
from sing.translator import LinearTranslator

setup_logging(snakemake.log[0])  # noqa: F821
log = logging.getLogger("aggregate_model")
inp, out, par = snakemake.input, snakemake.output, snakemake.params  # noqa: F821

scores = A.read_scores(list(inp.scores))
geometry = HeadGeometry.load(inp.geometry)
translator = LinearTranslator.load(inp.translator)
settings = {"bootstrap": int(par.bootstrap), "ci": float(par.ci), "seed": int(par.seed), "model": par.model,
            "space": par.space}
ms = A.model_summary(scores, par.model, par.space, geometry, translator, n_boot=int(par.bootstrap),
                     ci=float(par.ci), seed=int(par.seed))
cs = A.class_summary(scores, par.model, par.space)
A.write_table(ms, out.model_summary, A.table_metadata("model_summary", settings, model=par.model, space=par.space))
A.write_table(cs, out.class_summary, A.table_metadata("class_summary", settings, model=par.model, space=par.space))
r = ms.row(0, named=True)
log.info("%s/%s: %d images, %d classes, ratio %.3f [%.3f, %.3f] (%s bootstrap), max rel. logit change %.2e",
         par.model, par.space, r["n_images"], r["n_classes"], r["ratio"], r["ratio_ci_low"], r["ratio_ci_high"],
         r["bootstrap_unit"], r["max_logit_change_rel"])
