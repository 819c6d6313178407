"""Every figure (PNG, SVG, self-contained HTML) plus the table each one plots (parquet), in one process.

input: the tables of sing.registry.FIGURE_TABLES and `geometries` (the spectra figure)
params: figures (sing.registry.FIGURES), settings (figures config + display / space_display / class_names / models)
output: `<figure>_<fmt>` for each figure and format, `<figure>_data`
"""

import logging

from sing.figures.render import make
from sing.io.logs import setup_logging

setup_logging(snakemake.log[0])
inputs = {name: (list(value) if name == "geometries" else value) for name, value in snakemake.input.items()}
settings = dict(snakemake.params.settings)
for figure in snakemake.params.figures:
    outputs = {name.removeprefix(f"{figure}_"): path for name, path in snakemake.output.items()
               if name.startswith(f"{figure}_")}
    data = make(figure, inputs, outputs, settings)
    logging.info("%s: %d plotted rows -> %s", figure, data.height, sorted(outputs.values()))
