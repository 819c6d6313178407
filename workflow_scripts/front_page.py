"""The report's front page (reStructuredText): the answer first — the least and most leaking model per CLIP space
and whether that ordering holds, the model-level table, one link per figure by its title — then the method text.

input: model_summary (parquet), figures (one file per figure: its report entry is linked), method
(report/workflow.rst), style (report/front_page_style.rst: how Snakemake's report lays the page out), stability
(tables/translator_stability.parquet; absent when every translator is published), the manifest
params.settings: models.<key>.display, spaces.<key>.display, analyses.ci, translator.sensitivity.statistic (the
ordering the stability sentence reports)     output: the page
"""

import logging
from pathlib import Path

from sing.analysis.headline import front_page
from sing.core.files import atomic_path
from sing.io.logs import setup_logging
from sing.io.storage import read_frame
from sing.outputs import figure

setup_logging(snakemake.log[0])
job = snakemake.params.settings
display = {key: entry["display"] for key, entry in job["models"].items()}
space_display = {key: entry["display"] for key, entry in job["spaces"].items()}
summary = read_frame(snakemake.input.model_summary)
stability = None
if "stability" in snakemake.input.keys():  # "is the model ordering stable under the translator?" (none: all published)
    from sing.analysis.sensitivity import ordering_sentence

    table = read_frame(snakemake.input.stability)
    statistic = job["translator"]["sensitivity"]["statistic"]
    stability = {space: ordering_sentence(table, space, statistic=statistic, space_label=name)
                 for space, name in space_display.items()}
figures = [(figure(Path(path).name.split(".")[0]).heading, Path(path).name) for path in snakemake.input.figures]
method = Path(snakemake.input.method).read_text(encoding="utf-8").split("\n", 2)[2]  # its own title dropped
page = front_page(summary, display=display, space_display=space_display, ci=job["analyses"]["ci"],
                  stability=stability, figures=figures, method="Method\n------\n" + method,
                  head=Path(snakemake.input.style).read_text(encoding="utf-8"))
with atomic_path(snakemake.output[0]) as tmp:
    tmp.write_text(page, encoding="utf-8")
logging.info("front page: %d models x %d spaces, %d figures -> %s", summary["model"].n_unique(),
             summary["space"].n_unique(), len(figures), snakemake.output[0])
