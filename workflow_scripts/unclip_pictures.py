"""UnCLIP contact sheet (main Fig. 6, supp. §3.2): original, null-removed and null-space-steered renderings.

snakemake.input:  features    chunk directory of {wnid}.parquet (classifier features, sing.storage schema)
                  geometry    HeadGeometry safetensors of the model's head
                  translator  LinearTranslator safetensors (model -> the UnCLIP CLIP space, e.g. openai_vitl14)
                  text        text-embedding parquet of that CLIP space (kind/key/prompt/class_index/embedding)
snakemake.params: model, source_wnid, n_images, prompts (list), target_is_deg, seed,
                  unclip: {model_id, weights_dir, device, decoder_steps, super_res_steps,
                           optional: dtype ("float32"|"float16"), batch_size, guidance_scale, checkpoint, offline,
                           cell_size}
snakemake.output: png (contact sheet; rows = images, columns = original, null removed, one per prompt);
                  optional named output "cells": parquet with one row per cell (image score, eps, reason, ...)
snakemake.log[0]
"""

import json
import logging
from pathlib import Path

import numpy as np
import torch

from sing.extract import resolve_device
from sing.geometry import HeadGeometry
from sing.storage import atomic_path, read_embeddings, read_text_embeddings, setup_logging
from sing.translator import LinearTranslator
from sing.unclip import load_unclip, lookup_prompts, null_space_sheet

setup_logging(snakemake.log[0])
params = snakemake.params
cfg = dict(params.unclip)
source_wnid = str(params.source_wnid)
prompts = [str(p) for p in params.prompts]
n_images = int(params.n_images)
if n_images < 1:
    raise ValueError(f"params.n_images: expected >= 1, got {n_images}")

feature_file = Path(snakemake.input.features) / f"{source_wnid}.parquet"
if not feature_file.is_file():
    raise FileNotFoundError(f"{feature_file}: class {source_wnid} is not in this chunk of model {params.model}")
rows, F, meta = read_embeddings(feature_file)
order = np.argsort(np.asarray(rows["image_id"].to_list(), dtype=object), kind="stable")[:n_images]
F = F[order].astype(np.float64)
image_ids = [rows["image_id"][int(i)] for i in order]
logging.info("model %s, class %s: %d of %d images, features %s", params.model, source_wnid, len(image_ids),
             len(rows), meta.get("model"))

geometry = HeadGeometry.load(snakemake.input.geometry)
translator = LinearTranslator.load(snakemake.input.translator)
text_rows, text_emb, _ = read_text_embeddings(snakemake.input.text)
z_text = lookup_prompts(text_rows, text_emb, prompts)
logging.info("geometry %r, translator %r, prompts %s", geometry, translator, prompts)

dtype = getattr(torch, str(cfg.get("dtype", "float32")))
pipeline = load_unclip(cfg.get("model_id", "kakaobrain/karlo-v1-alpha-image-variations"),
                       weights_dir=cfg.get("weights_dir"), device=resolve_device(cfg.get("device", "auto")), dtype=dtype,
                       checkpoint=cfg.get("checkpoint"), offline=cfg.get("offline"),
                       embedding_dim=translator.out_dim)
sheet, records = null_space_sheet(
    pipeline, F, geometry, translator, prompts, z_text, float(params.target_is_deg),
    row_labels=[Path(i).stem.removeprefix("ILSVRC2012_") for i in image_ids], seed=int(params.seed),
    decoder_steps=int(cfg.get("decoder_steps", 25)), super_res_steps=int(cfg.get("super_res_steps", 7)),
    batch_size=int(cfg.get("batch_size", 8)), decoder_guidance_scale=float(cfg.get("guidance_scale", 8.0)),
    cell_size=cfg.get("cell_size"))
for r in records:
    r["image_id"] = image_ids[r["row"]]
    logging.info("cell %s", json.dumps(r))

with atomic_path(snakemake.output.png) as tmp:
    sheet.save(tmp, format="PNG")
cells_out = getattr(snakemake.output, "cells", None)
if cells_out:
    import polars as pl

    with atomic_path(cells_out) as tmp:
        pl.DataFrame(records).write_parquet(tmp)
logging.info("wrote %s (%dx%d)", snakemake.output.png, *sheet.size)
