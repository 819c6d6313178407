"""Every figure (PNG, SVG, self-contained HTML) plus the table it plots (parquet), in one process.

input: the tables the figures read (sing.outputs.FIGURES), `geometries` (the spectra figure) and the manifest
params.settings: figures.{paper_models (resolved), formats}, run_models, run_spaces, models.<key>.display,
spaces.<key>.display, analyses.steering.{target, target_is_deg, calibration}, dataset.class_names (class id ->
display name), translator.sensitivity.statistic (the ordering the stability sentence of the model-level figures
reports: sing.analysis.sensitivity.stability_sentences of the translator_stability table), translator.use (a
non-linear translator is said in their subtitle)
output: `<figure>_<fmt>` for each figure and format, `<figure>_data`
"""

import logging

import polars as pl

from sing.analysis.sensitivity import stability_sentences
from sing.figures.render import make
from sing.io.logs import setup_logging
from sing.outputs import figure_names

setup_logging(snakemake.log[0])
job = snakemake.params.settings
settings = {**job["figures"], "models": job["run_models"], "spaces": job["run_spaces"],
            "display": {key: entry["display"] for key, entry in job["models"].items()},
            "space_display": {key: entry["display"] for key, entry in job["spaces"].items()},
            **{f"steering_{key}": job["analyses"]["steering"][key]
               for key in ("target", "target_is_deg", "calibration")},
            "class_names": dict(job["dataset"]["class_names"])}
inputs = {name: (list(value) if name == "geometries" else value) for name, value in snakemake.input.items()
          if name != "settings"}
settings["sensitivity_statistic"] = job["translator"]["sensitivity"]["statistic"]
settings["translator_use"] = job["translator"]["use"]
settings["stability_sentences"] = stability_sentences(
    pl.read_parquet(inputs["translator_stability"]), pl.read_parquet(inputs["translator_sensitivity"]),
    statistic=settings["sensitivity_statistic"], space_display=settings["space_display"])
for figure in [f for f in figure_names() if f"{f}_data" in snakemake.output.keys()]:
    outputs = {name.removeprefix(f"{figure}_"): path for name, path in snakemake.output.items()
               if name.startswith(f"{figure}_")}
    data = make(figure, inputs, outputs, settings)
    logging.info("%s: %d plotted rows -> %s", figure, data.height, sorted(outputs.values()))
