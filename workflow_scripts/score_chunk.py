"""Table 1 for one (model, space, chunk): per-image AS/IS of null removal + the random-subspace baseline.

input: features (dir of {wnid}.parquet), geometry, translator, head, text (class prompts)
params.settings: classes (of this chunk), analyses.{baseline_seeds, seed}
output: scores (dir: one {wnid}.parquet per class of the chunk)
"""

import logging
from pathlib import Path

from sing.analysis.scores import RandomSubspaces, score_images, scores_frame
from sing.core.files import atomic_path
from sing.core.geometry import HeadGeometry
from sing.core.translator import LinearTranslator
from sing.io.logs import setup_logging
from sing.io.storage import write_frame
from sing.io.tables import load_text, read_features, read_head, table_metadata

setup_logging(snakemake.log[0])
settings = snakemake.params.settings
analyses = settings["analyses"]
wildcards = dict(snakemake.wildcards.items())
wnids = list(settings["classes"])
geometry = HeadGeometry.load(snakemake.input.geometry)
translator = LinearTranslator.load(snakemake.input.translator)
W, _ = read_head(snakemake.input.head)
_, text = load_text(snakemake.input.text, "class", wnids)
baseline = RandomSubspaces(geometry.in_dim, geometry.nullity, analyses["baseline_seeds"], analyses["seed"])
meta = table_metadata("scores", settings, **wildcards)
logging.info("%s: %d classes, nullity %d, %d baseline subspaces", wildcards, len(wnids), geometry.nullity,
             baseline.n_seeds)

with atomic_path(snakemake.output.scores) as tmp:
    tmp.mkdir(parents=True)
    for wnid, z_text in zip(wnids, text):
        path = Path(snakemake.input.features) / f"{wnid}.parquet"
        if not path.is_file():
            raise FileNotFoundError(f"features for class {wnid} not found: {path}")
        table, F = read_features(path)
        if table.height == 0:
            raise ValueError(f"{path}: no images")
        frame = scores_frame(table, score_images(F, z_text, geometry, translator, W=W, baseline=baseline))
        write_frame(frame, tmp / f"{wnid}.parquet", meta)
        logging.info("%s: %d images, median |AS| %.4f°, median IS %.4f°, max rel. logit change %.2e", wnid,
                     frame.height, frame["as_deg"].abs().median(), frame["is_deg"].median(),
                     frame["logit_change_rel"].max())
