"""Text embeddings of one CLIP space, one part per file so that each setting reruns only what uses it:
`classes` (the class prompts of text.classes), `concepts` (class prompts and concepts of the open-vocabulary
classes), `steering` (analyses.steering.target), `unclip` (unclip.prompts).

params.settings: spaces ({key: spec}), the part's settings (text.{class_prompt, templates, classes, concept_prompt},
analyses.open_vocabulary.{classes, concepts}, analyses.steering.target or unclip.prompts; for the parts with class
prompts dataset.class_index and dataset.class_names: {class id: index / prompt name}), extraction.device, weights
(the space's weights lock entry).     config: weights_dir     wildcards: space, part
output.text: text parquet (kind, key, prompt, class_index, embedding).
"""

import logging

import torch

from sing.data.text import embed_text_table
from sing.io.logs import setup_logging
from sing.models.devices import resolve_device
from sing.models.lock import verify
from sing.models.weights import WeightsCache

setup_logging(snakemake.log[0])
torch.set_num_threads(max(1, int(snakemake.threads)))
settings = snakemake.params.settings
resolve_device(settings["extraction"]["device"])  # first: a GPU job without a usable GPU stops in seconds
(key, entry), = settings["spaces"].items()
part = snakemake.wildcards.part
text = {"classes": [], "concepts": [], "targets": []}
if part in ("classes", "concepts"):  # the prompt template and the class names decide these two parts only
    text.update(class_prompt=settings["text"]["class_prompt"], templates=settings["text"]["templates"])
    dataset = settings["dataset"]
    class_ids = settings["text"]["classes"] if part == "classes" else settings["analyses"]["open_vocabulary"]["classes"]
    text["classes"] = [[dataset["class_index"][c], c, dataset["class_names"][c]] for c in class_ids]
if part == "concepts":
    text.update(concepts=settings["analyses"]["open_vocabulary"]["concepts"],
                concept_prompt=settings["text"]["concept_prompt"])
elif part == "steering":  # targets by config key: a prompt error names it
    text["targets"] = {"analyses.steering.target": [settings["analyses"]["steering"]["target"]]}
elif part == "unclip":
    text["targets"] = {"unclip.prompts": settings["unclip"]["prompts"]}
weights_dir = snakemake.config["weights_dir"]
verify(settings["weights"]["spaces"][key], weights_dir, f"space {key!r}")
n = embed_text_table(key, entry, text, snakemake.output.text, device=settings["extraction"]["device"],
                     weights=WeightsCache(weights_dir, offline=True), provenance={"weights": settings["weights"]})
logging.info("%s: wrote %d text embeddings", part, n)
