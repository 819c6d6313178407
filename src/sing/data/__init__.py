"""Datasets: the classes of a dataset, their order, names and chunks (``classes``, read by the Snakefile at parse
time, so this package's ``__init__`` imports nothing), one abstraction over ImageNet and image folders for listing
and class names (``datasets``), ImageNet's layouts (``imagenet``), image files of any class-folder dataset
(``images``: which files are images, sample order, robust decoding), the synthetic demo datasets (``synthetic``),
batched feature extraction (``extraction``), text embeddings (``text``) and the checks run once before any job
(``preflight``). Imports core, io and models."""
