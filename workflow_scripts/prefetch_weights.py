"""Download every configured model's, head's and CLIP space's weights into weights_dir (needs internet).

params.models: {key: spec}; params.spaces: {key: spec}; params.weights_dir: str;
params.unclip: UnCLIP model id to fetch too, or None.
output[0]: JSON listing the weights id of every entry (written last).
"""

import json
import logging

from sing.core.files import atomic_path
from sing.io.logs import setup_logging
from sing.models.prefetch import prefetch
from sing.unclip.pipeline import prefetch_unclip

setup_logging(snakemake.log[0])
params = snakemake.params
result = prefetch(dict(params.models), dict(params.spaces), params.weights_dir)
if params.unclip:
    result["unclip"] = {params.unclip: prefetch_unclip(params.unclip, params.weights_dir)}
with atomic_path(snakemake.output[0]) as tmp:
    tmp.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
logging.info("prefetched %d models, %d spaces", len(result["models"]), len(result["spaces"]))
