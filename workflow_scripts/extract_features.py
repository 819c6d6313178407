"""Features of one sample through one encoder: a classifier (f, with W f + b predictions) or a CLIP image tower
(unnormalised image embeddings).

params.settings (rules/common.smk): models or spaces ({key: spec}, this job's encoder), samples.<sample> (split,
per_class, seed, take_all_if_fewer; the translator, translator-study and robustness samples also their classes, the
robustness sample's resolved to this chunk's), the chunk's classes (`classes` for the analysis sample,
`analyses.open_vocabulary.classes` for openvocab), dataset.{kind, root, class_index} (classifiers: every class in
the dataset's order, which the head is checked against and ordered by; CLIP spaces: {class: index} of this job's
classes), extraction.{device, precision, batch_size, on_bad_image, on_missing_image, channels_last}, weights (the
encoder's weights lock entry).
config: weights_dir, extraction.num_workers, extraction.loader_timeout (they change no number, so they are not
settings).
input.head (classifiers): the exported head (the export_head job's check passed); input.exclude (the translator
study's held-out sample): the translator sample, whose images are never taken.
output.features: a directory (one <file key>.parquet per class, + skipped.parquet) or a single *.parquet (all
classes).
"""

import logging

import torch

from sing.data.datasets import open_dataset
from sing.data.extraction import run_extraction
from sing.io.logs import setup_logging
from sing.io.pairs import read_image_ids
from sing.models.devices import resolve_device
from sing.models.lock import verify
from sing.models.weights import WeightsCache

stream = setup_logging(snakemake.log[0])
torch.set_num_threads(max(1, int(snakemake.threads)))
settings = snakemake.params.settings
resolve_device(settings["extraction"]["device"])  # first: a GPU job without a usable GPU stops here, in seconds
collection = "models" if "models" in settings else "spaces"
(key, entry), = settings[collection].items()
# where each sample's class list is in the settings (for a chunk job: the chunk's classes)
CLASSES = {"translator": ("samples", "translator", "classes"), "analysis": ("classes",),
           "openvocab": ("analyses", "open_vocabulary", "classes"), "robustness": ("samples", "robustness", "classes"),
           "translator_study": ("samples", "translator_study", "classes")}
# the samples of a single file: by rule (the study's rules are `use rule` copies of the translator's)
SINGLE = {"extract_translator_features": "translator", "embed_translator_images": "translator",
          "extract_study_features": "translator_study", "embed_study_images": "translator_study"}
sample_name = snakemake.wildcards["sample"] if "sample" in snakemake.wildcards.keys() else SINGLE[snakemake.rule]
if sample_name not in CLASSES:
    raise ValueError(f"sample {sample_name!r}: no class list known for it (add it to CLASSES in {__file__})")
class_ids = settings
for part in CLASSES[sample_name]:
    class_ids = class_ids[part]
sample = {k: v for k, v in settings["samples"][sample_name].items() if k != "classes"}
location, order = settings["dataset"], settings["dataset"]["class_index"]
if collection == "models":  # every class, in order
    dataset = open_dataset({"kind": location["kind"], "root": location["root"], "classes": order})
    class_index = {c: dataset.catalog.index(c) for c in class_ids}
else:
    dataset = open_dataset({"kind": location["kind"], "root": location["root"], "classes": list(order)})
    class_index = dict(order)
extraction = settings["extraction"]
weights_dir = snakemake.config["weights_dir"]
verify(settings["weights"][collection][key], weights_dir, f"{collection[:-1]} {key!r}")
out = str(snakemake.output.features)
summary = run_extraction(
    "classifier" if collection == "models" else "clip", key, entry,
    dataset=dataset, classes=class_ids, class_index=class_index,
    head_classes=dataset.head_classes() if collection == "models" else None, sample=sample, out=out,
    mode="single" if out.endswith(".parquet") else "per_class",
    batch_size=extraction["batch_size"], precision=extraction["precision"], device=extraction["device"],
    num_workers=snakemake.config["extraction"]["num_workers"],
    loader_timeout=snakemake.config["extraction"]["loader_timeout"], on_bad_image=extraction["on_bad_image"],
    on_missing_image=extraction["on_missing_image"], channels_last=extraction["channels_last"],
    weights=WeightsCache(weights_dir, offline=True),
    provenance={"sample_name": sample_name, "weights": settings["weights"]}, progress=stream,
    exclude=read_image_ids([snakemake.input.exclude]) if hasattr(snakemake.input, "exclude") else ())
logging.info("done: %s", summary)
