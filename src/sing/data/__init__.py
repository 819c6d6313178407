"""Datasets: the classes of a dataset, their order, names and chunks (``classes``, read by the Snakefile at parse
time, so this package's ``__init__`` imports nothing), one abstraction over ImageNet and image folders for listing
and class names (``datasets``), ImageNet's layouts (``imagenet``), dataset-independent image files: extensions,
sample order, robust decoding (``images``), the synthetic demo datasets (``synthetic``), batched feature
extraction (``extraction``) and text embeddings (``text``). Imports core, io and models."""
