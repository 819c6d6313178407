"""SING: Semantic Interpretation of the Null-space Geometry of a classifier's final linear head.

The package holds the math (``geometry``, ``translator``, ``metrics``, ``perturb``), the model and
data adapters (``zoo``, ``clip_spaces``, ``data``, ``extract``, ``storage``) and the analyses
(``analysis``, ``figures``). It knows nothing about Snakemake or the results layout.
"""

__version__ = "0.1.0"
