"""Every figure (PNG, SVG, self-contained HTML) plus the table it plots (parquet), in one process.

input: the tables the figures read (sing.outputs.FIGURES), `geometries` (the spectra figure) and the manifest
params.settings: figures.{paper_models (resolved), formats}, run_models, run_spaces, models.<key>.display,
spaces.<key>.display, analyses.steering.{target, target_is_deg, calibration}, dataset.class_names (class id ->
display name), weights (a figure drawing a random-weight model or space says so first: sing.figures.settings),
translator.sensitivity.statistic (the ordering the stability sentence of the model-level figures reports:
sing.analysis.sensitivity.stability_sentences of the translator_stability table), translator.use (a non-linear
translator is said in their subtitle)
output: `<figure>_<fmt>` for each figure and format, `<figure>_data`
"""

import logging

from sing.analysis.sensitivity import stability_sentences
from sing.figures.render import make
from sing.figures.settings import figure_settings
from sing.io.logs import setup_logging
from sing.io.storage import read_frame
from sing.outputs import figure_names

setup_logging(snakemake.log[0])
job = snakemake.params.settings
settings = figure_settings(job)
inputs = {name: (list(value) if name == "geometries" else value) for name, value in snakemake.input.items()
          if name != "settings"}
settings["sensitivity_statistic"] = job["translator"]["sensitivity"]["statistic"]
settings["translator_use"] = job["translator"]["use"]
if "translator_stability" in inputs:  # absent when every translator is published (nothing sing fitted to vary)
    settings["stability_sentences"] = stability_sentences(
        read_frame(inputs["translator_stability"]), read_frame(inputs["translator_sensitivity"]),
        statistic=settings["sensitivity_statistic"], space_display=settings["space_display"])
for figure in [f for f in figure_names() if f"{f}_data" in snakemake.output.keys()]:
    outputs = {name.removeprefix(f"{figure}_"): path for name, path in snakemake.output.items()
               if name.startswith(f"{figure}_")}
    data = make(figure, inputs, outputs, settings)
    logging.info("%s: %d plotted rows -> %s", figure, data.height, sorted(outputs.values()))
