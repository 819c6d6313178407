"""ImageNet data: the canonical class order and chunking (``classes``, read by the Snakefile at parse time, so
this package's ``__init__`` imports nothing), dataset listing / sampling / robust image decoding
(``imagenet``), the synthetic demo dataset (``synthetic``), batched feature extraction (``extraction``) and
text embeddings (``text``). Imports core, io and models."""
