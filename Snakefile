# SING: how much class semantics each classifier leaks into the null space of its final linear head.
# Layout: rules/*.smk hold the steps, rules/common.smk the helpers, workflow_scripts/ the thin scripts,
# src/sing the library (sing.registry: figures, tables, models, spaces).
# Profiles: profiles/default (auto-loaded), profiles/slurm.

from snakemake.utils import min_version

min_version("9.0")


configfile: "config.yaml"


report: "report/workflow.rst"


include: "rules/common.smk"


# Every rule runs in this image under --sdm apptainer (schema key `container`); each also names a conda env.
container: config["container"]


include: "rules/data.smk"
include: "rules/extract.smk"
include: "rules/translate.smk"
include: "rules/analysis.smk"
include: "rules/figures.smk"
include: "rules/unclip.smk"
include: "rules/report.smk"


onstart:
    preflight()


rule all:
    default_target: True
    input:
        all_targets(),
