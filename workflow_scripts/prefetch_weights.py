"""Download every configured model's, head's and CLIP space's weights into weights_dir (needs internet).

params.models: {key: entry}; params.spaces: {key: entry}; params.weights_dir: str;
params.unclip: UnCLIP model id to fetch too, or None.
output[0]: JSON listing the weights id of every entry (written last).
"""

import json
import logging

from sing.storage import atomic_path, setup_logging
from sing.weights import prefetch

setup_logging(snakemake.log[0] if snakemake.log else None)
result = prefetch(dict(snakemake.params.models), dict(snakemake.params.spaces), snakemake.params.weights_dir)
if snakemake.params.unclip:
    from sing.unclip import prefetch_unclip

    result["unclip"] = {snakemake.params.unclip: prefetch_unclip(snakemake.params.unclip, snakemake.params.weights_dir)}
with atomic_path(snakemake.output[0]) as tmp:
    tmp.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n")
logging.info("prefetched %d models, %d spaces", len(result["models"]), len(result["spaces"]))
