"""ImageNet data: the canonical class order and chunking (``classes``, read by the Snakefile at parse time, so
this package's ``__init__`` imports nothing), image files of any class-folder dataset (``images``: which files
are images, sample order, robust decoding), the ImageNet layouts (``imagenet``), the synthetic demo dataset
(``synthetic``), batched feature extraction (``extraction``), text embeddings (``text``) and the checks run
once before any job (``preflight``). Imports core, io and models."""
