"""Download every configured model's, head's, CLIP space's and UnCLIP pipeline's weights into weights_dir (needs
internet), and lock them: repository, revision, files and sha256 per entry (sing.models.lock); published
translators (translator.published, local files) are locked too.

input: published (the published translators' files)
params.settings: models, spaces ({key: spec}), unclip.{enabled, model_id}, translator.published ({model: {space:
path}} of the run).
output[0]: <weights_dir>/weights.lock.json (written last; entries of other keys already in it are kept).
"""

import logging
from pathlib import Path

from sing.io.logs import setup_logging
from sing.io.published import translator_files
from sing.models.lock import local_records, write_lock
from sing.models.prefetch import lock_entry, prefetch
from sing.models.weights import WeightsCache
from sing.unclip.pipeline import TINY_MODEL_ID, prefetch_unclip

setup_logging(snakemake.log[0])
settings = snakemake.params.settings
weights_dir = Path(snakemake.output[0]).parent
entries = {**prefetch(settings["models"], settings["spaces"], weights_dir), "unclip": {}}
model_id = settings["unclip"]["model_id"]  # null when UnCLIP is off
if model_id and model_id != TINY_MODEL_ID:
    prefetch_unclip(model_id, weights_dir)
    cache = WeightsCache(weights_dir, offline=False)
    entries["unclip"] = {model_id: lock_entry({"model_id": model_id}, model_id, [("hub", model_id)], cache)}
entries["translators"] = {}
for model, by_space in settings["translator"]["published"].items():
    for space, published in by_space.items():
        files = local_records(translator_files(published), weights_dir)
        entries["translators"][f"{model}/{space}"] = {"spec": {"published": published},
                                                      "weights_id": f"published:{files[0]['sha256']}", "files": files}
path = write_lock(weights_dir, entries)
logging.info("locked %d models, %d spaces, %d UnCLIP pipelines, %d published translators in %s",
             len(entries["models"]), len(entries["spaces"]), len(entries["unclip"]), len(entries["translators"]), path)
