"""One concept dictionary in one CLIP space: `builtin` = sing's vocabulary (text.vocabulary) embedded with the
space's text tower and the template ensemble; any other name = the text.dictionaries file, read and checked
against the space (dimension; fingerprint: three labels re-embedded, cosine >= 0.99, unless fingerprint: false).

params.settings: spaces ({space: spec}), text.vocabulary.{categories, templates} (builtin) or text.dictionaries
(this dictionary's {path, space, templates, row, fingerprint}), extraction.device, weights (the space's lock entry)
config: weights_dir     wildcards: space, dictionary
output: dictionary (parquet: label, embedding; checks, caveats and provenance in its metadata)
"""

import logging

import torch

from sing.data.dictionaries import checked_dictionary, read_dictionary, write_dictionary
from sing.data.vocabulary import CONCEPT_TEMPLATES, embed_vocabulary
from sing.io.logs import setup_logging
from sing.io.provenance import provenance
from sing.models.clip_spaces import load_space
from sing.models.devices import resolve_device
from sing.models.lock import verify
from sing.models.weights import WeightsCache

setup_logging(snakemake.log[0])
torch.set_num_threads(max(1, int(snakemake.threads)))
settings = snakemake.params.settings
space, name = snakemake.wildcards.space, snakemake.wildcards.dictionary
weights_dir = snakemake.config["weights_dir"]
verify(settings["weights"]["spaces"][space], weights_dir, f"space {space!r}")
clip = load_space(space, settings["spaces"][space], device=resolve_device(settings["extraction"]["device"]),
                  weights=WeightsCache(weights_dir, offline=True))
caveats = []
if name == "builtin":
    vocabulary = settings["text"]["vocabulary"]
    categories = None if vocabulary["categories"] == "all" else vocabulary["categories"]
    dictionary = embed_vocabulary(clip, categories, vocabulary["templates"] or CONCEPT_TEMPLATES)
else:
    entry = settings["text"]["dictionaries"]
    dictionary = read_dictionary(entry["path"], name=name, row=entry["row"], templates=entry["templates"])
    dictionary, caveats = checked_dictionary(dictionary, clip, fingerprint=entry["fingerprint"])
write_dictionary(snakemake.output.dictionary, dictionary, provenance=provenance(settings, caveats=caveats))
logging.info("%s in %s: %d concepts x %d; checks %s; caveats %s", name, space, len(dictionary), dictionary.dim,
             sorted(dictionary.checks), caveats)
