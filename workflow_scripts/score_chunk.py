"""Table 1 for one (model, space, chunk): per-image AS/IS of null removal + the random-subspace baseline.

input: features (dir of <file key>.parquet), geometry, translator (translator.use: the ridge or the translator
study's best non-linear one, which translates f and f̃ separately), head, text (class prompts)
params.settings: classes (of this chunk), analyses.{baseline_seeds, seed}
output: scores (dir: one <file key>.parquet per class of the chunk)
"""

import logging
from pathlib import Path

from sing.analysis.scores import RandomSubspaces, score_images, scores_frame
from sing.core.files import atomic_path
from sing.core.geometry import HeadGeometry
from sing.core.translator import load_translator
from sing.data.classes import file_key
from sing.io.logs import setup_logging
from sing.io.storage import write_frame
from sing.io.tables import load_text, read_features, read_head, table_metadata

setup_logging(snakemake.log[0])
settings = snakemake.params.settings
analyses = settings["analyses"]
wildcards = dict(snakemake.wildcards.items())
class_ids = list(settings["classes"])
geometry = HeadGeometry.load(snakemake.input.geometry)
translator = load_translator(snakemake.input.translator)
W, _ = read_head(snakemake.input.head)
_, text = load_text(snakemake.input.text, "class", class_ids)
baseline = RandomSubspaces(geometry.in_dim, geometry.nullity, analyses["baseline_seeds"], analyses["seed"])
meta = table_metadata("scores", settings, **wildcards)
logging.info("%s: %d classes, nullity %d, %d baseline subspaces", wildcards, len(class_ids), geometry.nullity,
             baseline.n_seeds)

with atomic_path(snakemake.output.scores) as tmp:
    tmp.mkdir(parents=True)
    for class_id, z_text in zip(class_ids, text):
        path = Path(snakemake.input.features) / f"{file_key(class_id)}.parquet"
        if not path.is_file():
            raise FileNotFoundError(f"features for class {class_id!r} not found: {path}")
        table, F = read_features(path)
        if table.height == 0:
            raise ValueError(f"{path}: no images")
        frame = scores_frame(table, score_images(F, z_text, geometry, translator, W=W, baseline=baseline))
        write_frame(frame, tmp / path.name, meta)
        logging.info("%s: %d images, median |AS| %.4f°, median IS %.4f°, max rel. logit change %.2e", class_id,
                     frame.height, frame["as_deg"].abs().median(), frame["is_deg"].median(),
                     frame["logit_change_rel"].max())
