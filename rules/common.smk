# ---------------------------------------------------------------------------------------------------
# The workflow's glue: the config resolved by the library (sing.workflow, no Snakemake there), the file layout
# under results_dir and the input functions (job resources, the container and SLURM set-up: rules/execution.smk).
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
import re
import sys
from pathlib import Path

from snakemake.logging import logger
from snakemake_interface_common.exceptions import WorkflowError

# This folder's parent holds the workflow, its scripts and the library, also when sing is used as a Snakemake
# `module` from another Snakefile (workflow.basedir is then the other workflow's folder). rules/config_files.smk
# put the library's light modules on sys.path; jobs import the installed package.
ROOT = Path(str(workflow.current_basedir)).parent

from sing import outputs
from sing.workflow.code import CodeHasher
from sing.workflow.config import is_config_mistake, load_schema, resolve_config
from sing.workflow.manifests import ManifestWriter
from sing.workflow.plan import SAMPLES, Plan, check_replaced
from sing.workflow.settings import JobSettings

SCHEMA = load_schema(workflow.source_path("../schemas/config.schema.yaml"))
try:
    config.update(resolve_config(config, SCHEMA))
    # models, spaces, the dataset's classes and chunks; every check of the config alone (sing.workflow.checks)
    PLAN = Plan(config, SCHEMA)
except (ValueError, FileNotFoundError) as e:
    if not is_config_mistake(e):
        raise
    stop(str(e))
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
# and those of translators sing fits: none when every translator is published
TABLES = outputs.table_names(config, fitted=bool(PLAN.fitted))
FIGURES = outputs.figure_names(config, fitted=bool(PLAN.fitted))
STUDY = PLAN.study_enabled
# the supplementary's UnCLIP figures (the unclip_paper_figures rule): Fig. 10, 11 (needs the study), 13
UNCLIP_SHEETS = ["gallery", *(["translators"] if STUDY else []), "perturbations"]
# the report's front page, written by the front_page rule (rules/report.smk); the Snakefile's `report` reads it
FRONT_PAGE = f"{R}/report/front_page.rst"


# intermediate files replaced by hand since their job wrote them stop the run here, naming each one;
# published translators whose model's head is already exported are checked against its width
check_replaced(R, f"{R}/written")
PLAN.check_published_heads(
    {model: f"{R}/heads/{model}/head.safetensors" for model, _ in PLAN.published}
)


# ---------------------------------------------------------------------------------------------------
# Job settings and manifests
# ---------------------------------------------------------------------------------------------------
JOB_SETTINGS = JobSettings(PLAN)
CODE = CodeHasher(ROOT / "src", cache=".snakemake/sing-code-digests.json")
planning_only = lambda: workflow.executor_plugin is None or workflow.dryrun
MANIFESTS = ManifestWriter(planning_only=planning_only)


def settings(step):
    """`params.settings` of a rule's jobs."""
    function = lambda w: JOB_SETTINGS(step, dict(w.items()))
    function.step = step
    return function


@functools.cache
def job_code(step):
    """The code part of a rule's manifests: its script and the sing modules it imports (sing.workflow.code)."""
    # `rules.<name>`: the rule by its name in this file, also inside a module that renames it (`as sing_*`)
    script = getattr(rules, step).rule.script
    if not script:
        raise WorkflowError(
            f"{step} has no `script` directive; sing's rules run workflow_scripts/*.py (CONTRIBUTING.md)"
        )
    code = CODE.script_code(ROOT / "workflow_scripts" / Path(script).name)
    CODE.save()  # digests of unchanged files are reused by the next invocation
    return code


def manifest(step):
    """Input function: the job's manifest (settings + code), written when its content changes."""

    def write(w):
        dag_started()
        check_machine(step)
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


def translator_sample(w):
    """The model's translator-sample features, where a translator it is scored with was fitted on them (for
    validation: this pair's; for robustness: any of the model's); [] for published translators, trained on
    images sing does not know."""
    pairs = [(w.model, w.space)] if "space" in w.keys() else PLAN.fitted
    fitted = any(pair in PLAN.fitted and pair[0] == w.model for pair in pairs)
    return [f"{R}/features/{w.model}/translator.parquet"] if fitted else []


def translator_pairs(published):
    """The `model` wildcard constraint of translators/{model}/{space}.safetensors that gives each pair one
    producer: with published=True it matches a model only where the space that follows is one of its
    translator.published entries (import_translator), with False everywhere else (fit_translator).
    """
    pairs = [
        f"{re.escape(m)}(?=/{re.escape(s)}\\.safetensors)" for m, s in PLAN.published
    ]
    if published:  # (?!) matches nothing: no published translator
        return "|".join(pairs) or "(?!)"
    models = "|".join(map(re.escape, MODELS))
    return f"(?!(?:{'|'.join(pairs)}))(?:{models})" if pairs else models


def published_files(model, space):
    """The files an import of the pair's published translator reads (weight file, metadata.yaml)."""
    from sing.io.published import translator_files

    return [str(f) for f in translator_files(PLAN.published[(model, space)])]


def dictionary_file(w):
    """A configured dictionary's file (an input of its concept_dictionary job); none for `builtin`."""
    path = PLAN.dictionaries[w.dictionary]["path"]
    return [path] if path else []


def written(path):
    """The content record of an intermediate file (results/written/<its path>.json): an output of the job that
    writes the file, so a file replaced by hand afterwards is found when the workflow starts (check_replaced).
    """
    return f"{R}/written/{os.path.relpath(path, R)}.json"


def table_parts(w):
    """The per-(model, space) parts of a collected table: every run pair, or the pairs whose translator sing
    fits for a table declared `fitted_only` (sing.outputs)."""
    pairs = (
        PLAN.fitted
        if outputs.table(w.table).fitted_only
        else [(m, s) for m in MODELS for s in SPACES]
    )
    return [f"{R}/tables/per_model/{m}/{s}/{w.table}.parquet" for m, s in pairs]


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
    # the content records of the intermediate files: a file whose record is missing (placed by hand) is remade
    records = [
        written(f"{R}/{path}.safetensors")
        for path in (
            *(f"heads/{m}/{f}" for m in MODELS for f in ("head", "geometry")),
            *(f"translators/{m}/{s}" for m in MODELS for s in SPACES),
            *(f"probes/{m}/{p}" for m in MODELS for p in ("principal", *SPACES)),
        )
    ]
    return [f"{R}/classes.parquet", *tables, *figures, *pictures, FRONT_PAGE, *records]
