"""Fig 5: per class and concept, the angle of T f and of T f̃ to the concept, and AS.

input: features (chunk dirs of the open-vocabulary sample), geometry, translator, text (class and concept prompts)
params.settings: analyses.open_vocabulary.concepts (class id -> list of concepts)     wildcards: model, space
output: open_vocabulary
Each class also gets one row of kind "class" for its own class prompt.
"""

from sing.analysis.open_vocabulary import open_vocabulary_table
from sing.core.geometry import HeadGeometry
from sing.core.translator import load_translator
from sing.io.logs import setup_logging
from sing.io.storage import write_frame
from sing.io.tables import table_metadata

setup_logging(snakemake.log[0])
settings = snakemake.params.settings
model, space = snakemake.wildcards.model, snakemake.wildcards.space
concepts = {str(w): [str(c) for c in cs] for w, cs in settings["analyses"]["open_vocabulary"]["concepts"].items()}
df = open_vocabulary_table(list(snakemake.input.features), snakemake.input.text, concepts,
                           HeadGeometry.load(snakemake.input.geometry),
                           load_translator(snakemake.input.translator), model=model, space=space)
write_frame(df, snakemake.output.open_vocabulary,
            table_metadata("open_vocabulary", settings, model=model, space=space))
