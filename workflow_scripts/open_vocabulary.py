"""Fig 5: per class and concept, the angle of T f and of T f̃ to the concept, and AS.

input: features (chunk dirs of the open-vocabulary sample), manifests, geometry, translator, text
params: concepts (wnid -> list of concepts), model, space     output: open_vocabulary
Each class also gets one row of kind "class" for its own class prompt.
"""

import logging
from pathlib import Path

import polars as pl

from sing import analysis as A
from sing.geometry import HeadGeometry
from sing.storage import setup_logging
from sing.translator import LinearTranslator

setup_logging(snakemake.log[0])  # noqa: F821
log = logging.getLogger("open_vocabulary")
inp, out, par = snakemake.input, snakemake.output, snakemake.params  # noqa: F821

concepts = {str(w): [str(c) for c in cs] for w, cs in dict(par.concepts).items()}
dirs = [Path(d) for d in (inp.features if not isinstance(inp.features, str) else [inp.features])]
manifests = inp.manifests if hasattr(inp, "manifests") else getattr(inp, "manifest", [])
listed = {w for m in ([manifests] if isinstance(manifests, str) else manifests) for w in A.read_manifest(m)}
geometry = HeadGeometry.load(inp.geometry)
translator = LinearTranslator.load(inp.translator)

frames = []
for wnid in sorted(concepts):
    found = [d / f"{wnid}.parquet" for d in dirs if (d / f"{wnid}.parquet").is_file()]
    if not found:
        raise FileNotFoundError(f"open vocabulary class {wnid}: no features in {[str(d) for d in dirs]}"
                                f" (listed in manifests: {wnid in listed})")
    _, F = A.read_features(found[0])
    names = concepts[wnid]
    _, Zc = A.load_text(inp.text, "concept", names)
    ctab, Zk = A.load_text(inp.text, "class", wnid)
    rows = pl.concat([
        A.open_vocabulary_scores(F, geometry, translator, Zk, ctab["prompt"].to_list())
        .with_columns(pl.lit("class").alias("kind")),
        A.open_vocabulary_scores(F, geometry, translator, Zc, names).with_columns(pl.lit("concept").alias("kind")),
    ])
    frames.append(rows.with_columns(pl.lit(wnid).alias("wnid")))
    log.info("%s: %d images, %d concepts", wnid, F.shape[0], len(names))

df = (pl.concat(frames).with_columns(pl.lit(par.model).alias("model"), pl.lit(par.space).alias("space"))
      .select(A.OPEN_VOCABULARY_COLUMNS).sort("wnid", "kind", "concept"))
settings = {"concepts": concepts, "model": par.model, "space": par.space}
A.write_table(df, out.open_vocabulary, A.table_metadata("open_vocabulary", settings, model=par.model,
                                                        space=par.space))
