"""One figure (PNG, SVG, self-contained HTML) plus the table it plots (parquet).

input: the named tables of the figure (model_summary, class_summary, open_vocabulary, validation, steering,
       space_crosscheck, robustness; spectra also `geometries`)
params: figure (one of sing.figures.FIGURES), settings (figures config + display / space_display / models)
output: png, svg, html (any subset), data
"""

import logging

from sing import figures as FIG
from sing.storage import setup_logging

setup_logging(snakemake.log[0])  # noqa: F821
log = logging.getLogger("make_figure")
inp, out, par = snakemake.input, snakemake.output, snakemake.params  # noqa: F821

inputs = {name: (list(value) if name == "geometries" else value) for name, value in inp.items()}
outputs = {name: value for name, value in out.items()}
settings = dict(getattr(par, "settings", {}) or {})
data = FIG.make(par.figure, inputs, outputs, settings)
log.info("%s: %d plotted rows -> %s", par.figure, data.height, sorted(outputs.values()))
