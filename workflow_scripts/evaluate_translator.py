"""Held-out check of one translator on the analysis sample (val images it never saw): per-image cosine
between T f and the real CLIP embedding, and squared error (paper supp. Fig. 8)."""

import logging

import polars as pl

from sing.analysis import table_metadata, write_table
from sing.pairs import align_pairs, read_chunk_dirs, translation_errors
from sing.storage import setup_logging
from sing.translator import LinearTranslator

setup_logging(snakemake.log[0])
feature_rows, features = read_chunk_dirs(snakemake.input.features)
clip_rows, clip = read_chunk_dirs(snakemake.input.clip)
ids, F, Z = align_pairs(feature_rows["image_id"].to_list(), features, clip_rows["image_id"].to_list(), clip)
errors = translation_errors(LinearTranslator.load(snakemake.input.translator), F, Z)
wnid = dict(zip(feature_rows["image_id"].to_list(), feature_rows["wnid"].to_list()))
logging.info("%d images, mean cosine %.4f", len(ids), errors["cosine"].mean())
table = pl.DataFrame(
    {
        "model": [snakemake.params.model] * len(ids),
        "space": [snakemake.params.space] * len(ids),
        "image_id": ids,
        "wnid": [wnid[i] for i in ids],
        **errors,
    }
)
write_table(table, snakemake.output.evaluation, table_metadata("translator_eval", dict(snakemake.params)))
