# ---------------------------------------------------------------------------------------------------
# The workflow's glue: the config resolved by the library (sing.workflow, no Snakemake there), the file layout
# under results_dir, input functions, job resources and the container / SLURM set-up.
#
# Reruns that are always right: every job takes `input: settings=manifest("<rule>")` and `params:
# settings=settings("<rule>")` (tests/test_reruns.py checks; the table previews, which no config key decides,
# take only the manifest). settings() is what the job computes with (sing.workflow.settings: every config key's
# `x-decides` in the schema); the manifest, results/manifests/<rule>/<wildcard values>.json, holds the same dict
# plus `code`, the hash of the job script and every sing module it imports (sing.workflow.code). It is
# rewritten only when its content changes (and put back after a dry run), so every --rerun-triggers choice
# reruns exactly the jobs whose settings or code changed. Job scripts read config only from params.settings
# (cosmetic keys from snakemake.config).
#
# What goes where (CONTRIBUTING.md): a config check -> sing/workflow/checks.py; a resolved setting ->
# sing/workflow/settings.py RESOLVED; a table or figure -> sing/outputs.py; a model source ->
# sing/models/sources.py. Nothing here lists tables, figures or sources.
# ---------------------------------------------------------------------------------------------------
import functools
import mimetypes
import os
import sys
from pathlib import Path

from snakemake.logging import logger
from snakemake_interface_common.exceptions import WorkflowError

# the library's light modules (no torch) are read at parse time; jobs import the installed package
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from sing import outputs
from sing.workflow.code import CodeHasher
from sing.workflow.config import load_schema, resolve_config
from sing.workflow.manifests import ManifestWriter
from sing.workflow.plan import SAMPLES, Plan, apptainer_binds
from sing.workflow.settings import JobSettings
from sing.workflow.slurm import PLUGIN, patch_account_lookup

SCHEMA = load_schema(workflow.source_path("../schemas/config.schema.yaml"))
config.update(resolve_config(config, SCHEMA))
# models, spaces, the dataset's classes and chunks; every cross-reference check (errors name the config key)
PLAN = Plan(config, SCHEMA)
for warning in PLAN.warnings:
    logger.warning(warning)

# `snakemake --report` types each attachment by its file name (mimetypes.guess_type); Python's table has no
# parquet entry. IANA-registered type: application/vnd.apache.parquet.
mimetypes.add_type("application/vnd.apache.parquet", ".parquet")

R = config["results_dir"]
SCRIPTS = "../workflow_scripts"
MODELS = PLAN.model_keys
SPACES = PLAN.space_keys
DATASET = config["dataset"]
# this config's tables and figures (the translator study's only when it runs)
TABLES = outputs.table_names(config)
FIGURES = outputs.figure_names(config)
STUDY = PLAN.study_enabled
# the supplementary's UnCLIP figures (rule unclip_paper_figures): Fig. 10, 11 (needs the study), 13
UNCLIP_SHEETS = ["gallery", *(["translators"] if STUDY else []), "perturbations"]


# ---------------------------------------------------------------------------------------------------
# Job settings and manifests
# ---------------------------------------------------------------------------------------------------
JOB_SETTINGS = JobSettings(PLAN)
CODE = CodeHasher(
    Path(workflow.basedir) / "src", cache=".snakemake/sing-code-digests.json"
)
MANIFESTS = ManifestWriter(
    planning_only=lambda: workflow.executor_plugin is None or workflow.dryrun
)


def settings(step):
    """`params.settings` of a rule's jobs."""
    function = lambda w: JOB_SETTINGS(step, dict(w.items()))
    function.step = step
    return function


@functools.cache
def job_code(step):
    """The code part of a rule's manifests: its script and the sing modules it imports (sing.workflow.code)."""
    script = Path(workflow.get_rule(step).script).name
    code = CODE.script_code(Path(workflow.basedir) / "workflow_scripts" / script)
    CODE.save()  # digests of unchanged files are reused by the next invocation
    return code


def manifest(step):
    """Input function: the job's manifest (settings + code), written when its content changes."""

    def write(w):
        name = os.path.join(*map(str, w)) if len(w) else "settings"
        content = {**JOB_SETTINGS(step, dict(w.items())), "code": job_code(step)}
        return MANIFESTS.write(f"{R}/manifests/{step}/{name}.json", content)

    write.step = step
    return write


# ---------------------------------------------------------------------------------------------------
# Paths and input functions
# ---------------------------------------------------------------------------------------------------
def dataset_ready():
    """The synthetic dataset is a workflow output in the demos; a real dataset is an external input."""
    return [DATASET["root"]] if DATASET["synthetic"] else []


def model_files(w):
    """Local files a model's weights come from (checkpoint, head file, factory source): job inputs, so a
    checkpoint the workflow writes (synthetic_checkpoints) is made first."""
    return list(PLAN.models[w.model].local_files())


def chunk_dirs(kind, sample, **keys):
    """Per-chunk directories of one (model or space[, space]) for every chunk of `sample`."""
    pattern = {
        "features": f"{R}/features/{{model}}/{sample}/chunk-{{chunk}}",
        "clip": f"{R}/clip/{{space}}/{sample}/chunk-{{chunk}}",
        "scores": f"{R}/scores/{{model}}/{{space}}/chunk-{{chunk}}",
    }[kind]
    return expand(pattern, chunk=PLAN.chunk_ids(sample), **keys)


def chunk_holding(class_id):
    return PLAN.chunk_holding(class_id)


def text_file(part, space="{space}"):
    return f"{R}/text/{space}/{part}.parquet"


def per_space(pattern):
    """`pattern` expanded over the run spaces, other wildcards kept (e.g. one path per space of a model)."""
    return expand(pattern, space=SPACES, allow_missing=True)


def translator_file(model="{model}", space="{space}", scoring=True):
    """The translator of (model, space) that AS/IS are computed with (`translator.use`: the ridge, or the
    translator study's best non-linear one), or with scoring=False always the ridge (steering needs W_T).
    """
    nonlinear = scoring and config["translator"]["use"] == "best_nonlinear"
    return f"{R}/translators/{model}/{space}{'.best_nonlinear' if nonlinear else ''}.safetensors"


def model_inputs(w, scoring=True):
    """The head, its geometry and the translator (translator_file) of one (model, space)."""
    return {
        "geometry": f"{R}/heads/{w.model}/geometry.safetensors",
        "translator": translator_file(w.model, w.space, scoring),
        "head": f"{R}/heads/{w.model}/head.safetensors",
    }


def ridge_inputs(w):
    """model_inputs with the ridge translator, whatever `translator.use` says."""
    return model_inputs(w, scoring=False)


def if_study(*paths):
    """``paths`` when the translator study runs, else none (inputs that only the study provides)."""
    return list(paths) if STUDY else []


def all_targets():
    tables = expand(
        f"{R}/tables/{{table}}.{{kind}}", table=TABLES, kind=["parquet", "preview.html"]
    )
    figures = expand(
        f"{R}/figures/{{figure}}.{{fmt}}",
        figure=FIGURES,
        fmt=config["figures"]["formats"],
    )
    pictures = (
        expand(
            f"{R}/figures/unclip/{{model}}{{sheet}}.png",
            model=MODELS,
            sheet=["", *(f".{sheet}" for sheet in UNCLIP_SHEETS)],
        )
        if config["unclip"]["enabled"]
        else []
    )
    return [f"{R}/classes.parquet", *tables, *figures, *pictures]


def preflight():
    """Checks that need torch / open_clip, run once before any job (`onstart`), never at parse time: each
    space's architecture against its weights, every prompt against its tokenizer (sing.data.preflight).
    """
    from sing.data.preflight import check_text_settings

    check_text_settings(
        {key: entry.spec() for key, entry in PLAN.spaces.items()},
        PLAN.preflight_text(),
        config["weights_dir"],
        cache=f"{R}/logs/preflight.json",
    )


# ---------------------------------------------------------------------------------------------------
# Job resources: each rule declares what one job needs (threads = CPUs, mem_mb in MB, runtime in minutes,
# GPUs), so the workflow submits correctly with no profile, as a module or with any generic SLURM profile;
# profiles only tune. The rules of sing.workflow.GPU_RULES add GPU_RESOURCES.
# ---------------------------------------------------------------------------------------------------
def cpus_per_task(wildcards, threads):
    """CPUs a cluster job asks for: its threads, so the two never disagree (also after --set-threads)."""
    return threads


GPU_RESOURCES = PLAN.gpu_resources()


def bind_data_paths():
    """--sdm apptainer: bind the dataset, weights, results and local model files into the image through
    APPTAINER_BIND / SINGULARITY_BIND (read by apptainer itself, appended to the user's own binds).
    """
    from snakemake.settings.types import DeploymentMethod

    if DeploymentMethod.APPTAINER not in workflow.deployment_settings.deployment_method:
        return
    for var in ("APPTAINER_BIND", "SINGULARITY_BIND"):
        binds = [b for b in os.environ.get(var, "").split(",") if b]
        binds = apptainer_binds(binds, PLAN.data_paths(), Path.cwd())
        if binds:
            os.environ[var] = ",".join(binds)


bind_data_paths()
if (
    PLUGIN in sys.modules
):  # the submitting process of a SLURM run (sing.workflow.slurm says why)
    patch_account_lookup(
        sys.modules[PLUGIN],
        no_account=lambda: getattr(workflow.executor_settings, "no_account", False),
        workflow_error=WorkflowError,
        log=logger,
    )
