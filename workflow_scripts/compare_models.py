"""Global tables: concatenated model/class summaries, pairwise Spearman of per-class |AS| rankings, the two-space
cross-check (Fig 12a; over the paper models and over every model) and translator robustness with Pearson r (Fig 12c).

input: model_summaries, class_summaries, robustness
params.settings: figures.paper_models (resolved: the run models of the preset or list), the rest in provenance
output: model_summary, class_summary, rank_correlation, space_crosscheck, robustness
"""

import logging

from sing.analysis.comparisons import rank_correlations, robustness_correlation, space_crosschecks
from sing.io.logs import setup_logging
from sing.io.storage import read_frames, write_frame
from sing.io.tables import table_metadata

setup_logging(snakemake.log[0])
ms = read_frames(snakemake.input.model_summaries).sort("space", "model")
cs = read_frames(snakemake.input.class_summaries).sort("space", "model", "class_index")
tables = {"model_summary": ms, "class_summary": cs, "rank_correlation": rank_correlations(cs),
          "space_crosscheck": space_crosschecks(ms, snakemake.params.settings["figures"]["paper_models"]),
          "robustness": robustness_correlation(read_frames(snakemake.input.robustness))}
for name, frame in tables.items():
    write_frame(frame, snakemake.output[name], table_metadata(name, snakemake.params.settings))
logging.info("%d model rows, %d class rows, %d model pairs, %d cross-check rows; robustness r %s", ms.height,
             cs.height, tables["rank_correlation"].height, tables["space_crosscheck"].height,
             tables["robustness"].select("space", "pearson_r").unique().rows())
