"""Fig 5: per class and concept, the angle of T f and of T f̃ to the concept, and AS.

input: features (chunk dirs of the open-vocabulary sample), manifests (rerun trigger), geometry, translator, text
params: concepts (class id -> list of concepts), model, space     output: open_vocabulary
Each class also gets one row of kind "class" for its own class prompt.
"""

from sing.analysis.open_vocabulary import open_vocabulary_table
from sing.core.geometry import HeadGeometry
from sing.core.translator import LinearTranslator
from sing.io.logs import setup_logging
from sing.io.storage import write_frame
from sing.io.tables import table_metadata

setup_logging(snakemake.log[0])
params = snakemake.params
concepts = {str(w): [str(c) for c in cs] for w, cs in dict(params.concepts).items()}
df = open_vocabulary_table(list(snakemake.input.features), snakemake.input.text, concepts,
                           HeadGeometry.load(snakemake.input.geometry),
                           LinearTranslator.load(snakemake.input.translator), model=params.model, space=params.space)
settings = {"concepts": concepts, "model": params.model, "space": params.space}
write_frame(df, snakemake.output.open_vocabulary,
            table_metadata("open_vocabulary", settings, model=params.model, space=params.space))
