"""A published translator for one (model, space) in place of a fitted one (config translator.published): checked
against the model's exported head (in_dim = m) and the space (out_dim = its dimension; the metadata's embedding
backend = its CLIP model) before anything is scored, then written in sing's format with the source file's sha256
in its metadata and provenance.

input: published (the weight file, and metadata.yaml when read), head     wildcards: model, space
params.settings: translator.published (the pair's path), spaces ({space: spec}), weights (lock entries; the
translator's under "translators")     config: weights_dir
output: translator, written (its content record)
"""

import logging

from sing.core.files import write_content_record
from sing.io.logs import setup_logging
from sing.io.provenance import provenance
from sing.io.published import import_translator
from sing.io.tables import read_head
from sing.models.clip_spaces import space_dim
from sing.models.lock import verify

setup_logging(snakemake.log[0])
settings = snakemake.params.settings
model, space = snakemake.wildcards.model, snakemake.wildcards.space
path = settings["translator"]["published"]
verify(settings["weights"]["translators"][f"{model}/{space}"], snakemake.config["weights_dir"],
       f"published translator {model}/{space} (translator.published.{model}.{space}: {path})")
W, _ = read_head(snakemake.input.head)
spec = settings["spaces"][space]
translator = import_translator(path, model=model, space=space, head_in_dim=W.shape[1],
                               space_dim=space_dim(space, spec), space_entry=spec)
translator.save(snakemake.output.translator, provenance=provenance(settings))
write_content_record(snakemake.output.translator, snakemake.output.written)
logging.info("%s/%s: imported %s (sha256 %s), %d -> %d", model, space, translator.source["file"],
             translator.source["sha256"], translator.in_dim, translator.out_dim)
