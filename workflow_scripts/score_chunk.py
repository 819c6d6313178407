"""Table 1 for one (model, space, chunk): per-image AS/IS of null removal + the random-subspace baseline.

input: features (dir of {wnid}.parquet), manifest (chunk classes), geometry, translator, head, text
params: baseline_seeds, seed          output: scores (dir: one {wnid}.parquet per manifest class)
"""

import logging
from pathlib import Path

from sing import analysis as A
from sing.geometry import HeadGeometry
from sing.storage import atomic_path, setup_logging
from sing.translator import LinearTranslator

setup_logging(snakemake.log[0])  # noqa: F821
log = logging.getLogger("score_chunk")
inp, out, par = snakemake.input, snakemake.output, snakemake.params  # noqa: F821
wildcards = dict(snakemake.wildcards.items())  # noqa: F821

wnids = A.read_manifest(inp.manifest)
geometry = HeadGeometry.load(inp.geometry)
translator = LinearTranslator.load(inp.translator)
W, _ = A.read_head(inp.head)
_, text = A.load_text(inp.text, "class", wnids)
baseline = A.RandomSubspaces(geometry.in_dim, geometry.nullity, int(par.baseline_seeds), int(par.seed))
settings = {"baseline_seeds": int(par.baseline_seeds), "seed": int(par.seed), **wildcards}
meta = A.table_metadata("scores", settings, **wildcards)
log.info("%s: %d classes, nullity %d, %d baseline subspaces", wildcards, len(wnids), geometry.nullity,
         baseline.n_seeds)

with atomic_path(out.scores) as tmp:
    tmp.mkdir(parents=True)
    for wnid, z_text in zip(wnids, text):
        path = Path(inp.features) / f"{wnid}.parquet"
        if not path.is_file():
            raise FileNotFoundError(f"features for class {wnid} not found: {path}")
        table, F = A.read_features(path)
        if table.height == 0:
            raise ValueError(f"{path}: no images")
        scores = A.score_images(F, z_text, geometry, translator, W=W, baseline=baseline)
        frame = A.scores_frame(table, scores)
        A.write_table(frame, tmp / f"{wnid}.parquet", meta)
        log.info("%s: %d images, median |AS| %.4f°, median IS %.4f°, max rel. logit change %.2e", wnid,
                 frame.height, frame["as_deg"].abs().median(), frame["is_deg"].median(),
                 frame["logit_change_rel"].max())
