"""Ridge translator from one model's features to one CLIP image space (paper eq. 4, supp. §1.1).

Streaming sufficient statistics, alpha chosen by exact k-fold CV from per-fold statistics, then refit on all of
the translator sample.

input: features, clip (translator-sample parquet files)     params.settings: translator.{alphas, folds, seed}
output: translator, written (its content record)
"""

import logging

from sing.analysis.translation import fit_translator_from_pairs
from sing.core.files import write_content_record
from sing.io.logs import setup_logging
from sing.io.provenance import provenance
from sing.io.storage import read_embeddings

setup_logging(snakemake.log[0])
settings = snakemake.params.settings
ridge = settings["translator"]
feature_rows, features, _ = read_embeddings(snakemake.input.features)
clip_rows, clip, _ = read_embeddings(snakemake.input.clip)
translator = fit_translator_from_pairs(
    feature_ids=feature_rows["image_id"].to_list(), features=features, target_ids=clip_rows["image_id"].to_list(),
    targets=clip, alphas=ridge["alphas"], folds=ridge["folds"], seed=ridge["seed"])
logging.info("translator %s", translator.metrics)
translator.save(snakemake.output.translator, provenance=provenance(settings))
write_content_record(snakemake.output.translator, snakemake.output.written)
