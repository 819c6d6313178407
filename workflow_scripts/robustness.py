"""Supp. §4 / Fig 12c: held-out accuracy of one model's probes on Π_p f and on T(Π_p f) in every CLIP space, on
the analysis sample (val images the probes and the translator never saw; any that they did see are left out and
counted, as are images of classes the probes do not know).

input: principal, translated (probes; one per space), translators (one per space), geometry, features (analysis
chunk dirs); train_features (robustness chunk dirs) and translator_sample (the model's translator-sample
features; none when all its translators are published): only their image ids are read
params.settings: run_spaces (the order of translated and translators), classes     wildcards: model
output: robustness (one row per space)
"""

import logging

import polars as pl

from sing.analysis.probe import LinearProbe
from sing.analysis.robustness import ROBUSTNESS_COLUMNS, read_probe_data, robustness_rows
from sing.core.geometry import HeadGeometry
from sing.core.translator import load_translator
from sing.io.logs import setup_logging
from sing.io.pairs import chunk_tables, read_image_ids
from sing.io.storage import write_frame
from sing.io.tables import table_metadata

setup_logging(snakemake.log[0])
settings = snakemake.params.settings
model = snakemake.wildcards.model
geometry = HeadGeometry.load(snakemake.input.geometry)
principal = LinearProbe.load(snakemake.input.principal)
translated = {space: (LinearProbe.load(p), load_translator(t))
              for space, p, t in zip(settings["run_spaces"], snakemake.input.translated, snakemake.input.translators)}
seen = read_image_ids([*snakemake.input.train_features, *snakemake.input.translator_sample])
test = read_probe_data(chunk_tables(snakemake.input.features), geometry, exclude=seen, classes=principal.classes)
if test.n_excluded:
    logging.warning("%d analysis images left out (seen in training, or of a class the probes do not know)",
                    test.n_excluded)
df = pl.DataFrame(robustness_rows(principal, translated, test, geometry, model=model)).select(ROBUSTNESS_COLUMNS)
write_frame(df, snakemake.output.robustness, table_metadata("robustness", settings, model=model))
for row in df.iter_rows(named=True):
    logging.info("%s", row)
