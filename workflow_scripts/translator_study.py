"""The translator study of one (model, space) (supp. §1.1, Table 2, Figs. 7-8): the ridge and the MLP translators
trained on the translator sample (early stopping on its fold `stop_fold`), evaluated on the held-out study images.

input: features, clip (translator sample), study_features, study_clip (held-out study images), translator (the
production ridge: its CV-chosen α)
params.settings: translator.{alphas, folds, seed, study.{architectures, losses, hidden_dim, dropout, lr, weight_decay,
batch_size, max_epochs, patience, min_delta, cosine_weight, stop_fold, seed, select_by}}, extraction.device
wildcards: model, space
output: study, curves, cosines (tables), best (the best non-linear translator by select_by), embeddings (the first
study image of each class through every translator: supp. Fig. 11), timings (wall time per translator, TSV)
"""

import logging

import numpy as np
import torch

from sing.analysis.translator_study import best_translator, study_embeddings, translator_study
from sing.core.translator import LinearTranslator
from sing.io.logs import setup_logging
from sing.io.pairs import align_pairs
from sing.io.provenance import provenance
from sing.io.storage import read_embeddings, write_frame
from sing.io.tables import table_metadata

setup_logging(snakemake.log[0])
torch.set_num_threads(max(1, int(snakemake.threads)))
settings = snakemake.params.settings
translator = settings["translator"]
study = {key: value for key, value in translator["study"].items() if key not in ("select_by", "seed")}
select_by, train_seed = translator["study"]["select_by"], translator["study"]["seed"]
model, space = snakemake.wildcards.model, snakemake.wildcards.space


def pairs(features, clip):
    rows, F, _ = read_embeddings(features)
    clip_rows, Z, _ = read_embeddings(clip)
    classes = dict(zip(rows["image_id"].to_list(), rows["class_id"].to_list()))
    ids, F, Z = align_pairs(rows["image_id"].to_list(), F.astype(np.float64), clip_rows["image_id"].to_list(),
                            Z.astype(np.float64))
    return ids, F, Z, [classes[i] for i in ids]


train_ids, F, Z, _ = pairs(snakemake.input.features, snakemake.input.clip)
eval_ids, F_eval, Z_eval, eval_classes = pairs(snakemake.input.study_features, snakemake.input.study_clip)
res = translator_study(F, Z, train_ids, F_eval, Z_eval, eval_ids, model=model, space=space, eval_classes=eval_classes,
                       ridge_alpha=LinearTranslator.load(snakemake.input.translator).alpha, folds=translator["folds"],
                       seed=translator["seed"], train_seed=train_seed, device=settings["extraction"]["device"],
                       **study)
for name, frame in (("study", res.table), ("curves", res.curves), ("cosines", res.cosines)):
    table = f"translator_{name}"
    write_frame(frame, snakemake.output[name], table_metadata(table, settings, model=model, space=space))
best = best_translator(res.table, by=select_by)
res.translators[best].save(snakemake.output.best, provenance=provenance(settings, selected_by=select_by))
write_frame(study_embeddings(res.translators, F_eval, Z_eval, eval_ids, eval_classes), snakemake.output.embeddings,
            table_metadata("translator_study_embeddings", settings, model=model, space=space))
res.timings.write_csv(snakemake.output.timings, separator="\t")
logging.info("%s/%s: %d translators, best non-linear by %s: %s; %.1f s of training", model, space, res.table.height,
             select_by, "/".join(best), res.timings["wall_s"].sum())
