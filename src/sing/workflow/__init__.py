"""Planning a workflow run, without Snakemake: everything rules/common.smk computes from the config before any
job runs, as plain functions and classes the tests call directly.

- :mod:`~sing.workflow.config`: validate a config against the schema with every default filled
  (:func:`~sing.workflow.config.resolve_config`), errors as ``config <key>: ...``
  (:class:`~sing.workflow.config.ConfigError`).
- :mod:`~sing.workflow.plan`: :class:`~sing.workflow.plan.Plan`, the resolved run (models, spaces, the
  dataset's classes, class lists and chunks, figure models, concepts, published translators, concept
  dictionaries); building it runs every check of :mod:`~sing.workflow.checks`; :func:`~sing.workflow.plan.
  check_replaced` stops a run whose intermediate files were replaced by hand.
- :mod:`~sing.workflow.checks`: the cross-reference checks (one decorated function each).
- :mod:`~sing.workflow.settings`: :class:`~sing.workflow.settings.JobSettings`, what one job computes with
  (its ``params.settings`` and the settings part of its manifest).
- :mod:`~sing.workflow.code`: :class:`~sing.workflow.code.CodeHasher`, the hash of the ``sing`` code a job
  script imports (the code part of its manifest).
- :mod:`~sing.workflow.manifests`: :class:`~sing.workflow.manifests.ManifestWriter`, manifests written only
  when they change, restored after a dry run.
- :mod:`~sing.workflow.slurm`: the one workaround for snakemake-executor-plugin-slurm 2.8.0.
- :data:`GPU_RULES`: the rules whose jobs ask the scheduler for a GPU.

The workflow keeps the file layout (paths, input functions) and the Snakemake glue; the library knows neither.
"""

__all__ = ["GPU_RULES"]

#: the rules whose jobs ask the scheduler for a GPU (``resources: **GPU_RESOURCES``); every other rule runs on
#: CPUs only (tests/test_hpc.py checks the rules against this list)
GPU_RULES = ("extract_features", "extract_translator_features", "extract_study_features", "embed_images",
             "embed_translator_images", "embed_study_images", "embed_texts", "concept_dictionary", "train_probes",
             "translator_study", "unclip_pictures", "unclip_paper_figures")
