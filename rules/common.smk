# ---------------------------------------------------------------------------------------------------
# Reruns that are always right: every setting a job computes with reaches it through a settings manifest.
#
# Convention (schemas/config.schema.yaml, walked by sing.io.schema): every leaf config key carries either
#   x-decides: [rule, rule(wildcard=value|value), ...]   the jobs that compute with its value, or
#   x-cosmetic: <why>                                    it changes no output of any job.
# tests/test_reruns.py fails on an unannotated key and on a selector naming an unknown rule or wildcard.
#
# For every job, job_settings(rule, wildcards) collects the keys that select it, with the value that job
# computes with (RESOLVED: a chunk's classes, the job's own model entry, 'all' / 'paper' expanded), plus the
# weights lock entries of the models and spaces the job depends on ("weights"). The same dict is
#   - written to results/manifests/<rule>/<wildcard values>.json by the input function manifest(<rule>),
#     only when its content changes (so --rerun-triggers mtime reruns exactly the jobs whose settings change),
#   - the job's only config param, `params.settings` (so the default triggers agree: params hold nothing
#     cosmetic). Cosmetic values a job needs (weights_dir, extraction.num_workers) it reads from
#     snakemake.config.
# Rules compute with config only through settings(name) / manifest(name): adding a config key means
# annotating it, and the walking test makes that impossible to forget.
#
# Adding a key: annotate it; if a job computes with something other than its raw value (its chunk's part of a
# list, a keyword expanded), add a RESOLVED entry; for a new annotation, add a case to CASES in
# tests/test_reruns.py (it fails until you do). Adding a rule: `input: settings=manifest("<rule>")` and
# `params: settings=settings("<rule>")` (tests/test_reruns.py checks every rule has both), and a script that
# reads config only from params.settings (cosmetic keys from snakemake.config).
# ---------------------------------------------------------------------------------------------------
import atexit
import json
import os
import sys
from pathlib import Path

import yaml
from snakemake.logging import logger
from snakemake.utils import validate

# the library's light modules (stdlib only / no torch) are read at parse time; jobs import the installed package
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from sing.analysis.concepts import default_concepts
from sing.data.classes import class_index, group_by_chunk, select_classes
from sing.io.schema import decided_by
from sing.models.lock import locked_entry, read_lock
from sing.registry import (
    FIGURES,
    FIGURE_TABLES,
    MODELS as CATALOGUE_MODELS,
    TABLES,
    resolve_models,
    resolve_spaces,
)
from sing.unclip.pipeline import TINY_MODEL_ID

SCHEMA_FILE = "../schemas/config.schema.yaml"
SCHEMA = yaml.safe_load(Path(workflow.source_path(SCHEMA_FILE)).read_text())


def in_schema_order(value, node):
    """`value` with each schema object's keys in the schema's order (registry entries untouched): job params
    are compared by repr, so they must not depend on the order a config writes its keys in.
    """
    node = node.get("then", node)
    if not isinstance(value, dict) or "properties" not in node:
        return value
    props = node["properties"]
    ordered = {k: in_schema_order(value[k], props[k]) for k in props if k in value}
    return {**ordered, **{k: v for k, v in value.items() if k not in props}}


# Fills every default, nested ones included: the schema is the only place defaults live.
validate(config, schema=SCHEMA_FILE, set_default=True)
config.update(in_schema_order(config, SCHEMA))

R = config["results_dir"]
SCRIPTS = "../workflow_scripts"
# registry entries to run (catalogue merged with config models/spaces); errors name run_models / models.<key>
MODEL_ENTRIES = resolve_models(config["run_models"], config["models"])
SPACE_ENTRIES = resolve_spaces(config["run_spaces"], config["spaces"])
MODELS = list(MODEL_ENTRIES)
SPACES = list(SPACE_ENTRIES)
CHUNK_SIZE = config["chunk_size"]

ANALYSED = select_classes(config["classes"], what="config classes")
OPENVOCAB = select_classes(
    config["analyses"]["open_vocabulary"]["classes"],
    what="config analyses.open_vocabulary.classes",
)
TRANSLATOR_CLASSES = select_classes(
    config["samples"]["translator"]["classes"],
    what="config samples.translator.classes",
)
TEXT_CLASSES = select_classes(config["text"]["classes"], what="config text.classes")
ROBUSTNESS_CLASSES = select_classes(
    config["samples"]["robustness"]["classes"],
    what="config samples.robustness.classes",
)


def config_error(key, value, problem):
    return ValueError(f"config {key}: {value!r} {problem}")


def check_classes(key, wanted, have, what):
    missing = [w for w in wanted if w not in have]
    if missing:
        raise config_error(key, missing, f"not {what}")


def known_model_keys():
    return {*CATALOGUE_MODELS, *config["models"]}


def figure_models():
    """figures.paper_models as the figures use them: each key must name a catalogue or config model (a typo
    is an error); keys of models this run does not run are left out, as the schema documents.
    """
    wanted = config["figures"]["paper_models"]
    unknown = [m for m in wanted if m not in known_model_keys()]
    if unknown:
        raise config_error(
            "figures.paper_models",
            unknown,
            "not in the catalogue (sing.registry.MODELS) nor in config models",
        )
    if len(set(wanted)) != len(wanted):
        raise config_error("figures.paper_models", wanted, "lists a model twice")
    not_run = [m for m in wanted if m not in MODELS]
    if (
        not_run
        and wanted
        != SCHEMA["properties"]["figures"]["properties"]["paper_models"]["default"]
    ):
        logger.warning(
            f"config figures.paper_models: {not_run} are not in run_models; the 5-model figures leave them out"
        )
    return [m for m in wanted if m in MODELS]


def open_vocabulary_concepts():
    """Concept list per open-vocabulary class: `default` expanded, a mapping checked key by key."""
    concepts = config["analyses"]["open_vocabulary"]["concepts"]
    if concepts == "default":
        return default_concepts(OPENVOCAB)
    key = "analyses.open_vocabulary.concepts"
    for wnid in concepts:
        class_index(wnid, what=f"config {key}")
    check_classes(key, OPENVOCAB, concepts, "given a concept list")
    extra = [w for w in concepts if w not in OPENVOCAB]
    if extra:
        raise config_error(
            key, extra, "are not in analyses.open_vocabulary.classes (typo?)"
        )
    return {wnid: list(concepts[wnid]) for wnid in OPENVOCAB}


def check_config():
    """Cross-references the schema cannot express: every value that names a model, space or class must name
    one this run has. Each error names the key and the bad value."""
    steering = config["analyses"]["steering"]["source_class"]
    check_classes(
        "analyses.steering.source_class", [steering], ANALYSED, "an analysed class"
    )
    check_classes(
        "text.classes",
        ANALYSED,
        TEXT_CLASSES,
        "covered (analysed classes need a prompt)",
    )
    unclip = config["unclip"]
    if unclip["enabled"]:
        check_classes("unclip.space", [unclip["space"]], SPACES, "in run_spaces")
        check_classes(
            "unclip.source_class",
            [unclip["source_class"]],
            ANALYSED,
            "an analysed class",
        )
    synthetic = config["synthetic_imagenet"]
    if synthetic:
        sampled = {
            "classes": ANALYSED,
            "samples.translator.classes": TRANSLATOR_CLASSES,
            "samples.robustness.classes": ROBUSTNESS_CLASSES,
            "analyses.open_vocabulary.classes": OPENVOCAB,
        }
        for key, wnids in sampled.items():
            check_classes(
                key, wnids, synthetic["classes"], "in synthetic_imagenet.classes"
            )
    if not set(ANALYSED) & set(ROBUSTNESS_CLASSES):
        raise config_error(
            "samples.robustness.classes",
            ROBUSTNESS_CLASSES,
            "holds no analysed class (config classes): the probes are tested on the analysed images of their classes",
        )
    if "principal" in SPACES:
        raise config_error(
            "run_spaces",
            SPACES,
            "has a space named 'principal', the name of the robustness probe on Π_p f",
        )
    open_vocabulary_concepts()


check_config()
FIGURE_MODELS = figure_models()

CHUNKS = {
    "analysis": group_by_chunk(ANALYSED, CHUNK_SIZE),
    "openvocab": group_by_chunk(OPENVOCAB, CHUNK_SIZE),
    "robustness": group_by_chunk(ROBUSTNESS_CLASSES, CHUNK_SIZE),
}


# ---------------------------------------------------------------------------------------------------
# Job settings (see the top of this file)
# ---------------------------------------------------------------------------------------------------
DECIDED = decided_by(SCHEMA)
ENTRIES = {"models": MODEL_ENTRIES, "spaces": SPACE_ENTRIES}
WILDCARD = {"models": "model", "spaces": "space"}
NO_WEIGHTS = {
    "synthetic_imagenet",
    "prefetch_weights",
}  # their outputs depend on no model


def chunk_classes(sample, w):
    return CHUNKS[sample][int(w.chunk)]


def has(w, name):
    return name in w.keys()


# keys whose value for a job is not the raw config value
RESOLVED = {
    "classes": lambda w: (
        chunk_classes("analysis", w) if has(w, "chunk") else ANALYSED
    ),
    "analyses.open_vocabulary.classes": lambda w: (
        chunk_classes("openvocab", w) if has(w, "chunk") else OPENVOCAB
    ),
    "analyses.open_vocabulary.concepts": lambda w: open_vocabulary_concepts(),
    "samples.translator.classes": lambda w: TRANSLATOR_CLASSES,
    "samples.robustness.classes": lambda w: (
        chunk_classes("robustness", w) if has(w, "chunk") else ROBUSTNESS_CLASSES
    ),
    "text.classes": lambda w: TEXT_CLASSES,
    "run_models": lambda w: MODELS,
    "run_spaces": lambda w: SPACES,
    "figures.paper_models": lambda w: FIGURE_MODELS,
    "unclip.model_id": lambda w: (
        config["unclip"]["model_id"] if config["unclip"]["enabled"] else None
    ),
}


def in_scope(w, wildcard, keys):
    """The models (or spaces) a job depends on: its own, or every one for a job over all of them."""
    if has(w, wildcard):
        return [w[wildcard]]
    return [] if has(w, "model") or has(w, "space") else list(keys)


def entry_fields(collection, key):
    entry = ENTRIES[collection][key]
    return {**entry.spec(), "display": entry.display}


def config_value(path):
    value = config
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return value


def put(tree, path, value):
    for part in path[:-1]:
        tree = tree.setdefault(part, {})
    tree[path[-1]] = value


LOCK = read_lock(config["weights_dir"])


def weights_lock(collection, key):
    entry = ENTRIES[collection][key]
    return locked_entry(LOCK, collection, key, entry.spec())


def unclip_lock():
    model_id = config["unclip"]["model_id"]
    if model_id == TINY_MODEL_ID:  # random weights, nothing to lock
        return {model_id: {"files": []}}
    return {model_id: locked_entry(LOCK, "unclip", model_id, {"model_id": model_id})}


def weights_settings(step, w):
    """Weights lock entries of what the job depends on (None: not locked yet; files []: random weights)."""
    models = in_scope(w, "model", MODELS)
    spaces = in_scope(w, "space", SPACES)
    out = {}
    if step == "unclip_pictures":
        spaces = [config["unclip"]["space"]]
        out["unclip"] = unclip_lock()
    if models:
        out["models"] = {key: weights_lock("models", key) for key in models}
    if spaces:
        out["spaces"] = {key: weights_lock("spaces", key) for key in spaces}
    return out


_SETTINGS = {}


def job_settings(step, w):
    """Everything the job (step, wildcards) computes with, nested as in the config (see the top of this file)."""
    cache_key = (step, tuple(w.items()))
    if cache_key in _SETTINGS:
        return _SETTINGS[cache_key]
    out = {}
    for path, conditions in DECIDED.get(step, []):
        if any(w.get(name) not in values for name, values in conditions.items()):
            continue
        dotted = ".".join(path)
        if path[1:2] == ("<key>",):
            for key in in_scope(w, WILDCARD[path[0]], ENTRIES[path[0]]):
                fields = entry_fields(path[0], key)
                if path[2] in fields:
                    put(out, (path[0], key, path[2]), fields[path[2]])
        elif dotted in RESOLVED:
            put(out, path, RESOLVED[dotted](w))
        else:
            put(out, path, config_value(path))
    if step not in NO_WEIGHTS:
        out["weights"] = weights_settings(step, w)
    _SETTINGS[cache_key] = out
    return out


def settings(step):
    """`params.settings` of a rule's jobs."""
    return lambda w: job_settings(step, w)


def manifest(step):
    """Input function: the job's settings manifest, written when its content changes."""

    def write(w):
        name = os.path.join(*map(str, w)) if len(w) else "settings"
        return write_if_changed(
            f"{R}/manifests/{step}/{name}.json", job_settings(step, w)
        )

    return write


# A dry run (or a DAG-only command such as --summary) must leave no trace: manifests it rewrites are
# restored, bytes and mtime, when the process exits (new ones removed with the folders made for them), so a
# preview never makes a later run rerun anything.
_RESTORE = {}
_NEW_DIRS = []


def planning_only():
    return workflow.executor_plugin is None or workflow.dryrun


def restore_manifests():
    for path, before in _RESTORE.items():
        if before is None:
            path.unlink(missing_ok=True)
        else:
            text, stat = before
            path.write_bytes(text)
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    for top in reversed(_NEW_DIRS):
        for folder, _, _ in sorted(os.walk(top), reverse=True):
            if not os.listdir(folder):
                os.rmdir(folder)


def write_if_changed(path, obj):
    path = Path(path)
    text = f"{json.dumps(obj, indent=1, sort_keys=True)}\n"
    if path.exists() and path.read_text() == text:
        return str(path)
    if planning_only() and path not in _RESTORE:
        if not _RESTORE:
            atexit.register(restore_manifests)
        _RESTORE[path] = (path.read_bytes(), path.stat()) if path.exists() else None
        missing = [d for d in path.parents if not d.exists()]
        if missing:
            _NEW_DIRS.append(missing[-1])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    tmp.write_text(text)
    tmp.replace(path)
    return str(path)


# ---------------------------------------------------------------------------------------------------
# Paths and input functions
# ---------------------------------------------------------------------------------------------------
def chunk_ids(sample):
    return [f"{chunk:03d}" for chunk in CHUNKS[sample]]


def dataset_ready():
    """The synthetic dataset is a workflow output in the demo; a real ImageNet is an external input."""
    return [config["imagenet_root"]] if config["synthetic_imagenet"] else []


def chunk_dirs(kind, sample, **keys):
    """Per-chunk directories of one (model or space[, space]) for every chunk of `sample`."""
    pattern = {
        "features": f"{R}/features/{{model}}/{sample}/chunk-{{chunk}}",
        "clip": f"{R}/clip/{{space}}/{sample}/chunk-{{chunk}}",
        "scores": f"{R}/scores/{{model}}/{{space}}/chunk-{{chunk}}",
    }[kind]
    return expand(pattern, chunk=chunk_ids(sample), **keys)


def chunk_holding(wnid):
    for chunk, wnids in CHUNKS["analysis"].items():
        if wnid in wnids:
            return f"{chunk:03d}"
    raise ValueError(f"class {wnid} is not analysed")


def text_file(part, space="{space}"):
    return f"{R}/text/{space}/{part}.parquet"


def all_targets():
    tables = expand(f"{R}/tables/{{table}}.parquet", table=TABLES)
    figures = expand(
        f"{R}/figures/{{figure}}.{{fmt}}",
        figure=FIGURES,
        fmt=config["figures"]["formats"],
    )
    pictures = (
        expand(f"{R}/figures/unclip/{{model}}.png", model=MODELS)
        if config["unclip"]["enabled"]
        else []
    )
    return [*tables, *figures, *pictures]


def per_space(pattern):
    """`pattern` expanded over the run spaces, other wildcards kept (e.g. one path per space of a model)."""
    return expand(pattern, space=SPACES, allow_missing=True)


def model_inputs(w):
    """The head, its geometry and the translator of one (model, space)."""
    return {
        "geometry": f"{R}/heads/{w.model}/geometry.safetensors",
        "translator": f"{R}/translators/{w.model}/{w.space}.safetensors",
        "head": f"{R}/heads/{w.model}/head.safetensors",
    }


# ---------------------------------------------------------------------------------------------------
# Job resources. Each rule declares what one job needs (threads = CPUs, mem_mb in MB, runtime in
# minutes, GPUs), so the workflow submits correctly with no profile, as a module, or with any generic
# SLURM profile; profiles only tune. GPU rules add GPU_RESOURCES.
# ---------------------------------------------------------------------------------------------------
def cpus_per_task(wildcards, threads):
    """CPUs a cluster job asks for: its threads, so the two never disagree (also after --set-threads)."""
    return threads


def gpu_resources():
    """One GPU, plus the SLURM GPU model (--gpus=MODEL:1) and partition of config slurm_gpu when set."""
    settings = config["slurm_gpu"]
    extra = {"gpu_model": settings["model"], "slurm_partition": settings["partition"]}
    return {"gpu": 1, **{key: value for key, value in extra.items() if value}}


GPU_RESOURCES = gpu_resources()


def bind_data_paths():
    """--sdm apptainer: bind imagenet_root, weights_dir and results_dir into the image.

    Snakemake mounts the working directory as the container's home, so only folders that resolve
    outside it (absolute paths, symlinks) are added, through APPTAINER_BIND / SINGULARITY_BIND (read by
    apptainer itself and appended to the user's own binds). A folder a job has yet to create (the demo's
    imagenet_root, a new weights_dir) is bound through its nearest existing parent: apptainer refuses a
    missing source.
    """
    from snakemake.settings.types import DeploymentMethod

    if DeploymentMethod.APPTAINER not in workflow.deployment_settings.deployment_method:
        return
    cwd = Path.cwd().resolve()
    for var in ("APPTAINER_BIND", "SINGULARITY_BIND"):
        binds = [b for b in os.environ.get(var, "").split(",") if b]
        for key in ("imagenet_root", "weights_dir", "results_dir"):
            path = Path(config[key]).resolve()
            while not path.exists():
                path = path.parent
            if path.is_relative_to(cwd) or path == Path("/") or str(path) in binds:
                continue
            binds.append(str(path))
        if binds:
            os.environ[var] = ",".join(binds)


def patch_slurm_account_lookup():
    """Let snakemake-executor-plugin-slurm 2.8.0 submit without sacct/sacctmgr/sshare or accounting.

    With no slurm_account resource the plugin guesses one by running `sacct`, and it validates a given
    account with `sacctmgr`, then `sshare`. A missing binary raises FileNotFoundError, which aborts every
    submission (checked with SLURM 22.05: "No such file or directory: 'sacct'"); when both tools fail,
    validation raises WorkflowError; and --slurm-no-account is declared but never read in 2.8.0. Here:
    --slurm-no-account or a missing `sacct` means no -A (sbatch uses the user's default account); an
    account the tools cannot check is passed to sbatch unchecked (sbatch itself rejects an invalid one).
    An account the tools report invalid still fails as before. Runs only where the plugin is loaded (the
    submitting process) and has the two functions.
    """
    from snakemake_interface_common.exceptions import WorkflowError

    plugin = sys.modules.get("snakemake_executor_plugin_slurm")
    if (
        plugin is None
        or getattr(plugin, "_sing_patched", False)
        or not all(hasattr(plugin, f) for f in ("get_account", "validate_account"))
    ):
        return
    guess_account, check_account = plugin.get_account, plugin.validate_account

    def get_account(logger):
        if getattr(workflow.executor_settings, "no_account", False):
            logger.info("--slurm-no-account: submitting without -A (default account)")
            return None
        try:
            return guess_account(logger)
        except OSError as e:
            logger.warning(
                f"No SLURM account given and sacct cannot run ({e}): submitting without -A"
            )
            return None

    def validate_account(account, logger):
        try:
            return check_account(account, logger)
        except OSError as e:
            logger.warning(f"SLURM account {account!r} not checked ({e})")
        except WorkflowError as e:
            if "appears to be invalid" in str(e):
                raise
            logger.warning(f"SLURM account {account!r} not checked: {e}")
        return account

    plugin.get_account, plugin.validate_account = get_account, validate_account
    plugin._sing_patched = True


bind_data_paths()
patch_slurm_account_lookup()
