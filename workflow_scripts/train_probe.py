"""Supp. §4 / Fig 12c: the linear probes of the robustness check for one model, trained on the robustness sample:
one on the principal coordinates V_pᵀ f, one on their translation T(Π_p f) into each CLIP space.

input: features (robustness chunk dirs), geometry, translators (one per space), settings (manifest)
params.settings: analyses.robustness.{l2 (candidates), holdout, max_iter, tol}, analyses.seed, extraction.device,
run_spaces (the order of
input.translators and output.translated), samples.robustness.classes     wildcards: model
output: principal (probe), translated (one probe per space), written (their content records, in that order)
"""

import logging

import torch

from sing.analysis.probe import select_probe
from sing.analysis.robustness import read_probe_data, translated_inputs
from sing.core.files import write_content_record
from sing.core.geometry import HeadGeometry
from sing.core.translator import load_translator
from sing.io.logs import setup_logging
from sing.io.pairs import chunk_tables
from sing.models.devices import resolve_device

setup_logging(snakemake.log[0])
torch.set_num_threads(max(1, int(snakemake.threads)))
settings = snakemake.params.settings
device = resolve_device(settings["extraction"]["device"])  # first: a GPU job without a usable GPU stops in seconds
probe = settings["analyses"]["robustness"]
model = snakemake.wildcards.model
geometry = HeadGeometry.load(snakemake.input.geometry)
data = read_probe_data(chunk_tables(snakemake.input.features), geometry)
logging.info("%s: %d images x %d principal coordinates, %d classes, on %s", model, *data.X.shape,
             len(set(data.y.tolist())), device)
jobs = [("principal", data.X, snakemake.output.principal)]
jobs += [(space, load_translator(t), out)
         for space, t, out in zip(settings["run_spaces"], snakemake.input.translators, snakemake.output.translated)]
for name, inputs, out in jobs:
    X = inputs if name == "principal" else translated_inputs(data.X, geometry, inputs)
    fitted = select_probe(X, data.y, data.image_ids, l2_grid=probe["l2"], holdout=probe["holdout"],
                          seed=settings["analyses"]["seed"], max_iter=probe["max_iter"], tol=probe["tol"],
                          device=device)
    fitted.save(out)
    logging.info("%s/%s: %s", model, name, fitted.metrics)
for out, record in zip([snakemake.output.principal, *snakemake.output.translated], snakemake.output.written):
    write_content_record(out, record)
