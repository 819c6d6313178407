"""Every figure (PNG, SVG, self-contained HTML) plus the table each one plots (parquet), in one process.

input: the tables named in sing.figures (model_summary, class_summary, open_vocabulary, validation, steering,
       space_crosscheck, robustness) and `geometries` (the spectra figure)
params: figures (names, see sing.figures.FIGURES), settings (figures config + display / space_display / models)
output: `<figure>_<fmt>` for each figure and format, `<figure>_data`
"""

import logging

from sing import figures as FIG
from sing.storage import setup_logging

setup_logging(snakemake.log[0])  # noqa: F821
log = logging.getLogger("make_figures")
inp, out, par = snakemake.input, snakemake.output, snakemake.params  # noqa: F821

inputs = {name: (list(value) if name == "geometries" else value) for name, value in inp.items()}
settings = dict(par.settings)
for figure in par.figures:
    outputs = {name.removeprefix(f"{figure}_"): path for name, path in out.items() if name.startswith(f"{figure}_")}
    data = FIG.make(figure, inputs, outputs, settings)
    log.info("%s: %d plotted rows -> %s", figure, data.height, sorted(outputs.values()))
