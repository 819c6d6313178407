"""UnCLIP contact sheet (main Fig. 6, supp. §3.2): original, null-removed and null-space-steered renderings.

input:  features (chunk directory of <file key>.parquet), geometry, translator (model -> the UnCLIP CLIP space),
        text (text-embedding parquet of that space)
params.settings: unclip.{model_id, space, source_class, n_images, prompts, target_is_deg, seed, decoder_steps,
        super_res_steps, dtype, batch_size, guidance_scale, cell_size}, extraction.device, weights (lock entries)
config: weights_dir     wildcards: model
output: png (contact sheet; rows = images, columns = original, null removed, one per prompt),
        cells (parquet, one row per cell: image score, eps, reason, ...)
"""

import json
import logging
from pathlib import Path

import numpy as np
import polars as pl
import torch

from sing.core.files import atomic_path
from sing.core.geometry import HeadGeometry
from sing.core.translator import LinearTranslator
from sing.data.classes import file_key
from sing.io.logs import setup_logging
from sing.io.storage import read_embeddings, read_text_embeddings, write_frame
from sing.io.tables import table_metadata
from sing.models.devices import resolve_device
from sing.models.lock import verify
from sing.models.weights import WeightsCache
from sing.unclip.embeddings import lookup_prompts
from sing.unclip.pipeline import load_unclip
from sing.unclip.sheet import null_space_sheet

setup_logging(snakemake.log[0])
settings = snakemake.params.settings
device = resolve_device(settings["extraction"]["device"])  # first: a GPU job without a usable GPU stops in seconds
cfg = settings["unclip"]
model = snakemake.wildcards.model
feature_file = Path(snakemake.input.features) / f"{file_key(cfg['source_class'])}.parquet"
if not feature_file.is_file():
    raise FileNotFoundError(f"{feature_file}: class {cfg['source_class']!r} is not in this chunk of model {model}")
rows, F, meta = read_embeddings(feature_file)
order = np.argsort(np.asarray(rows["image_id"].to_list(), dtype=object), kind="stable")[:cfg["n_images"]]
F = F[order].astype(np.float64)
image_ids = [rows["image_id"][int(i)] for i in order]
logging.info("model %s, class %s: %d of %d images, features %s", model, cfg["source_class"], len(image_ids),
             len(rows), meta["model"])

geometry = HeadGeometry.load(snakemake.input.geometry)
translator = LinearTranslator.load(snakemake.input.translator)
text_rows, text_emb, _ = read_text_embeddings(snakemake.input.text)
z_text = lookup_prompts(text_rows, text_emb, cfg["prompts"])
logging.info("geometry %r, translator %r, prompts %s", geometry, translator, cfg["prompts"])

weights_dir = snakemake.config["weights_dir"]
verify(settings["weights"]["unclip"][cfg["model_id"]], weights_dir, f"UnCLIP pipeline {cfg['model_id']!r}")
pipeline = load_unclip(cfg["model_id"], weights=WeightsCache(weights_dir, offline=True),
                       device=device, dtype=getattr(torch, cfg["dtype"]),
                       embedding_dim=translator.out_dim)
sheet, records = null_space_sheet(
    pipeline, F, geometry, translator, cfg["prompts"], z_text, cfg["target_is_deg"],
    row_labels=[Path(i).stem.removeprefix("ILSVRC2012_") for i in image_ids], seed=cfg["seed"],
    decoder_steps=cfg["decoder_steps"], super_res_steps=cfg["super_res_steps"], batch_size=cfg["batch_size"],
    decoder_guidance_scale=cfg["guidance_scale"], cell_size=cfg["cell_size"])
for r in records:
    r["image_id"] = image_ids[r["row"]]
    logging.info("cell %s", json.dumps(r))

with atomic_path(snakemake.output.png) as tmp:
    sheet.save(tmp, format="PNG")
# dtype: the one the pipeline ran in (float32 on a CPU whatever unclip.dtype asks)
meta = table_metadata("unclip_cells", settings, model=model, dtype=pipeline.sing_dtype)
write_frame(pl.DataFrame(records), snakemake.output.cells, meta)
logging.info("wrote %s (%dx%d)", snakemake.output.png, *sheet.size)
