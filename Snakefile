# SING: how much class semantics each classifier leaks into the null space of its final linear head.
# Layout: rules/*.smk hold the steps, rules/common.smk the helpers, workflow_scripts/ the thin scripts,
# src/sing the library (sing.workflow: planning and checks; sing.outputs: tables, figures; sing.registry: models).
# Profiles: profiles/default (auto-loaded), profiles/slurm.

from snakemake.utils import min_version

min_version("9.0")


# sing reads every config file first: a syntax error or a key given twice stops here, naming the file and line
include: "rules/config_files.smk"


configfile: "config.yaml"


include: "rules/common.smk"
include: "rules/execution.smk"


# the front page leads with the answer once a run has written it (rule front_page), else the method text alone
report: os.path.abspath(FRONT_PAGE) if os.path.exists(FRONT_PAGE) else "report/workflow.rst"


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
