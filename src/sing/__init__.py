"""SING: Semantic Interpretation of the Null-space Geometry of a classifier's final linear head.

Packages, from the bottom layer up (each imports only the layers below it; ``[tool.importlinter]`` in
pyproject.toml): ``outputs`` (every table and figure, declared once), ``core`` (head geometry, translator,
metrics, perturbations), ``io`` / ``models`` (storage, provenance, config schema; classifier and CLIP-space
adapters, model sources, weights), ``registry`` (the catalogue of classifiers and CLIP spaces), ``data``
(datasets, classes, extraction, text), ``analysis`` (scores, summaries, validations), ``figures`` / ``unclip``,
``workflow`` (planning a run: config, checks, job settings, code hashes) and ``cli``. The library knows
nothing about Snakemake or the results layout.
"""

__version__ = "0.1.0"
