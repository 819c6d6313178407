"""Download every configured model's, head's, CLIP space's and UnCLIP pipeline's weights into weights_dir (needs
internet), and lock them: repository, revision, files and sha256 per entry (sing.models.lock).

params.settings: models, spaces ({key: spec}), unclip.{enabled, model_id}.
output[0]: <weights_dir>/weights.lock.json (written last; entries of other keys already in it are kept).
"""

import logging
from pathlib import Path

from sing.io.logs import setup_logging
from sing.models.lock import write_lock
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
path = write_lock(weights_dir, entries)
logging.info("locked %d models, %d spaces, %d UnCLIP pipelines in %s", len(entries["models"]),
             len(entries["spaces"]), len(entries["unclip"]), path)
