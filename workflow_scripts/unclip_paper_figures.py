"""The supplementary's UnCLIP figures for one model, in the UnCLIP space, with one pipeline load (qualitative
illustration; the numbers behind each cell are in its cells table):
Fig. 10 `gallery`: analysed images at quantiles of IS (or |AS|), original T f and null-removed T̂ f̃, labelled AS/IS;
Fig. 11 `translators` (only when the translator study ran): study images through every translator of the study;
Fig. 13 `perturbations`: the first image of unclip.source_class under null / random / principal perturbations of
norm ‖Π_n f‖, one column per seed (δ and diffusion noise seeded by the column).

input: features (analysis chunk dirs), head, geometry, translator (the ridge into unclip.space), text (class prompts
of that space), embeddings (the study's Fig. 11 input; only when it ran)
params.settings: unclip.{model_id, space, source_class, seed, decoder_steps, super_res_steps, dtype, batch_size,
guidance_scale, cell_size, gallery.{quantiles, by}, translators.n_images, perturbations.seeds},
translator.study.enabled, extraction.device, weights     config: weights_dir     wildcards: model
output: `<sheet>` (PNG) and `<sheet>_cells` (parquet) for each sheet
"""

import logging
from pathlib import Path

import numpy as np
import polars as pl
import torch

from sing.analysis.translator_study import sheet_columns
from sing.core.files import atomic_path
from sing.core.geometry import HeadGeometry
from sing.core.translator import LinearTranslator
from sing.io.logs import setup_logging
from sing.io.pairs import read_chunk_dirs
from sing.io.storage import read_frame, write_frame
from sing.io.tables import load_text, read_head, table_metadata
from sing.models.devices import resolve_device
from sing.models.lock import verify
from sing.models.weights import WeightsCache
from sing.unclip.paper_figures import angle_gallery, perturbation_sheet, translator_sheet
from sing.unclip.pipeline import load_unclip

setup_logging(snakemake.log[0])
settings = snakemake.params.settings
cfg = settings["unclip"]
model = snakemake.wildcards.model
table, F = read_chunk_dirs(snakemake.input.features)
F = F.astype(np.float64)
image_ids = table["image_id"].to_list()
geometry = HeadGeometry.load(snakemake.input.geometry)
translator = LinearTranslator.load(snakemake.input.translator)
W, b = read_head(snakemake.input.head)
_, z_text = load_text(snakemake.input.text, "class", table["class_id"].to_list())
weights_dir = snakemake.config["weights_dir"]
verify(settings["weights"]["unclip"][cfg["model_id"]], weights_dir, f"UnCLIP pipeline {cfg['model_id']!r}")
pipeline = load_unclip(cfg["model_id"], weights=WeightsCache(weights_dir, offline=True),
                       device=resolve_device(settings["extraction"]["device"]), dtype=getattr(torch, cfg["dtype"]),
                       embedding_dim=translator.out_dim)
render = {"decoder_steps": cfg["decoder_steps"], "super_res_steps": cfg["super_res_steps"],
          "batch_size": cfg["batch_size"], "decoder_guidance_scale": cfg["guidance_scale"],
          "cell_size": cfg["cell_size"]}


def label(image_id):
    return Path(image_id).stem.removeprefix("ILSVRC2012_")


sheets = {"gallery": angle_gallery(pipeline, F, geometry, translator, z_text, image_ids=image_ids,
                                   seed=cfg["seed"], **cfg["gallery"], **render)}
for path in snakemake.input.embeddings:  # one file when the translator study ran, else none
    columns, z_true, ids = sheet_columns(read_frame(path), cfg["translators"]["n_images"])
    sheet, records = translator_sheet(pipeline, columns, z_true=z_true, row_labels=[label(i) for i in ids],
                                      seed=cfg["seed"], **render)
    sheets["translators"] = (sheet, [{**r, "image_id": ids[r["row"]]} for r in records])
source = [i for i in np.argsort(np.asarray(image_ids, dtype=object), kind="stable")
          if table["class_id"][int(i)] == cfg["source_class"]]
if not source:
    raise ValueError(f"unclip.source_class {cfg['source_class']!r}: no analysed image of model {model}")
i = int(source[0])
sheet, records = perturbation_sheet(pipeline, F[i], geometry, translator, W, bias=b,
                                    pred=int(table["pred_class"][i]), seeds=cfg["perturbations"]["seeds"], **render)
sheets["perturbations"] = (sheet, [{**r, "image_id": image_ids[i]} for r in records])

for name, (sheet, records) in sheets.items():
    with atomic_path(snakemake.output[name]) as tmp:
        sheet.save(tmp, format="PNG")
    meta = table_metadata(f"unclip_{name}_cells", settings, model=model, dtype=pipeline.sing_dtype)
    write_frame(pl.DataFrame(records), snakemake.output[f"{name}_cells"], meta)
    logging.info("%s: %s (%dx%d), %d cells", name, snakemake.output[name], *sheet.size, len(records))
