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
import mimetypes
import os
import sys
from pathlib import Path

import yaml
from snakemake.logging import logger
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# the library's light modules (stdlib only / no torch) are read at parse time; jobs import the installed package
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from sing.analysis.concepts import default_concepts
from sing.data.classes import catalog_from_settings
from sing.io.schema import decided_by
from sing.models.lock import locked_entry, read_lock
from sing.models.prompts import check_template
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


def validate_config():
    """Fills every default, nested ones included: the schema is the only place defaults live. A violation is
    reported in one line naming the key (Snakemake's own message prints the whole schema and config).
    """
    import jsonschema

    try:
        validate(config, schema=SCHEMA_FILE, set_default=True)
    except WorkflowError as e:
        # snakemake.utils.validate raises its WorkflowError inside `except ValidationError`
        cause = e.__cause__ or e.__context__
        if not isinstance(cause, jsonschema.ValidationError):
            raise
        key = ".".join(str(p) for p in cause.absolute_path) or "(top level)"
        raise ValueError(
            f"config {key}: {cause.message} (schemas/config.schema.yaml; README 'Config reference')"
        ) from None


validate_config()
config.update(in_schema_order(config, SCHEMA))

# `snakemake --report` types each attachment by its file name (mimetypes.guess_type); Python's table has no
# parquet entry. IANA-registered type: application/vnd.apache.parquet.
mimetypes.add_type("application/vnd.apache.parquet", ".parquet")

R = config["results_dir"]
SCRIPTS = "../workflow_scripts"
# registry entries to run (catalogue merged with config models/spaces); errors name run_models / models.<key>
MODEL_ENTRIES = resolve_models(config["run_models"], config["models"])
SPACE_ENTRIES = resolve_spaces(config["run_spaces"], config["spaces"])
MODELS = list(MODEL_ENTRIES)
SPACES = list(SPACE_ENTRIES)
CHUNK_SIZE = config["chunk_size"]
DATASET = config["dataset"]
# the dataset's classes, order, names and chunks (sing.data.classes); errors name dataset.<key>
CATALOG = catalog_from_settings(DATASET, CHUNK_SIZE)


def config_error(key, value, problem):
    return ValueError(f"config {key}: {value!r} {problem}")


def schema_default(key):
    node = SCHEMA
    for part in key.split("."):
        node = node["properties"][part]
    return node.get("default")


def dataset_classes(value, key):
    """`value` (a class id, a list or 'all') checked against the dataset, in the dataset's order: the error
    names `key`, and says so when a folder dataset still has the paper's ImageNet default there.
    """
    try:
        return CATALOG.select(
            [value] if isinstance(value, str) and value != "all" else value,
            what=f"config {key}",
        )
    except ValueError as e:
        if CATALOG.kind != "imagenet" and value == schema_default(key):
            raise ValueError(
                f"{e}. {value!r} is the paper's ImageNet default; on a {CATALOG.describe()} set {key} "
                "to its own classes"
            ) from None
        raise


ANALYSED = dataset_classes(config["classes"], "classes")
OPENVOCAB = dataset_classes(
    config["analyses"]["open_vocabulary"]["classes"], "analyses.open_vocabulary.classes"
)
TRANSLATOR_CLASSES = dataset_classes(
    config["samples"]["translator"]["classes"], "samples.translator.classes"
)
TEXT_CLASSES = dataset_classes(config["text"]["classes"], "text.classes")
ROBUSTNESS_CLASSES = dataset_classes(
    config["samples"]["robustness"]["classes"], "samples.robustness.classes"
)


def declared_classes(key):
    """A model's class count as its config entry states it (model_kwargs.num_classes, or num_labels of a local
    Hugging Face folder), or None: then the export_head job checks the loaded head."""
    entry = MODEL_ENTRIES[key]
    declared = dict(entry.model_kwargs or {}).get("num_classes")
    if declared is None and entry.source == "transformers" and entry.checkpoint:
        cfg = Path(entry.checkpoint) / "config.json"
        if cfg.is_file():
            hf = json.loads(cfg.read_text())
            declared = hf.get("num_labels") or len(hf.get("id2label") or {}) or None
    return declared


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
    for class_id in concepts:
        CATALOG.index(class_id, what=f"config {key}")
    check_classes(key, OPENVOCAB, concepts, "given a concept list")
    extra = [c for c in concepts if c not in OPENVOCAB]
    if extra:
        raise config_error(
            key, extra, "are not in analyses.open_vocabulary.classes (typo?)"
        )
    return {class_id: list(concepts[class_id]) for class_id in OPENVOCAB}


def check_config():
    """Cross-references the schema cannot express: every value that names a model, space or class must name
    one this run has. Each error names the key and the bad value."""
    for key in ("class_prompt", "concept_prompt"):
        check_template(config["text"][key], f"text.{key}")
    steering = config["analyses"]["steering"]["source_class"]
    dataset_classes(steering, "analyses.steering.source_class")
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
        dataset_classes(unclip["source_class"], "unclip.source_class")
        check_classes(
            "unclip.source_class",
            [unclip["source_class"]],
            ANALYSED,
            "an analysed class",
        )
    synthetic = DATASET["synthetic"]
    if synthetic:
        sampled = {
            "classes": ANALYSED,
            "samples.translator.classes": TRANSLATOR_CLASSES,
            "samples.robustness.classes": ROBUSTNESS_CLASSES,
            "analyses.open_vocabulary.classes": OPENVOCAB,
        }
        for key, class_ids in sampled.items():
            check_classes(
                key, class_ids, synthetic["classes"], "in dataset.synthetic.classes"
            )
    for key in MODELS:
        declared = declared_classes(key)
        if declared is not None and int(declared) != len(CATALOG.ids):
            raise ValueError(
                f"config models.{key}: its head has {declared} outputs but the {CATALOG.describe()} has "
                f"{len(CATALOG.ids)} classes; the head must have one output per dataset class"
            )
    for key in config["synthetic_checkpoints"]:
        entry = MODEL_ENTRIES.get(key)
        if (
            entry is None
            or not entry.checkpoint
            or entry.source not in ("timm", "python")
        ):
            raise config_error(
                "synthetic_checkpoints",
                key,
                "must be a run model (run_models) of source timm or python with a checkpoint path",
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
    "analysis": CATALOG.group_by_chunk(ANALYSED),
    "openvocab": CATALOG.group_by_chunk(OPENVOCAB),
    "robustness": CATALOG.group_by_chunk(ROBUSTNESS_CLASSES),
}


# ---------------------------------------------------------------------------------------------------
# Job settings (see the top of this file)
# ---------------------------------------------------------------------------------------------------
DECIDED = decided_by(SCHEMA)
ENTRIES = {"models": MODEL_ENTRIES, "spaces": SPACE_ENTRIES}
WILDCARD = {"models": "model", "spaces": "space"}
NO_WEIGHTS = {
    "synthetic_dataset",
    "synthetic_checkpoints",
    "dataset_classes",
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
    "synthetic_checkpoints": lambda w: {
        key: MODEL_ENTRIES[key].spec() for key in config["synthetic_checkpoints"]
    },
}


def job_classes(step, w):
    """The classes a job computes with: a chunk's, a sample's, or every class of the dataset."""
    if has(w, "chunk"):
        return chunk_classes(w.sample, w)
    if step == "embed_translator_images":
        return TRANSLATOR_CLASSES
    if step == "embed_texts":
        return OPENVOCAB if w.part == "concepts" else TEXT_CLASSES
    if step == "aggregate_model":
        return ANALYSED
    if step == "figures":
        return sorted({*ANALYSED, *OPENVOCAB}, key=CATALOG.index)
    return list(CATALOG.ids)


def class_order(step, w):
    """dataset.class_index as a job computes with it: every class in order where a head is checked or written
    (its rows follow this order), else {class: index} of the job's classes (a class folder added before
    them in sorted order moves their indices: exactly those jobs rerun)."""
    if step in (
        "dataset_classes",
        "synthetic_checkpoints",
        "export_head",
    ) or step.startswith("extract_"):
        return list(CATALOG.ids)
    return {c: CATALOG.index(c) for c in job_classes(step, w)}


def class_names(step, w):
    """dataset.class_names as a job computes with it: prompt names for the text embeddings, display names for
    the tables and figures that print them, both for classes.parquet."""
    column = {"embed_texts": 1, "dataset_classes": None}.get(step, 0)
    return {
        c: (list(CATALOG.name(c)[:2]) if column is None else CATALOG.name(c)[column])
        for c in job_classes(step, w)
    }


# keys whose value depends on the job's step too
RESOLVED_BY_STEP = {
    "dataset.class_index": class_order,
    "dataset.class_names": class_names,
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
    if collection == "models" and key in config["synthetic_checkpoints"]:
        return {
            "files": []
        }  # random weights the workflow writes itself (synthetic_checkpoints): nothing to lock
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
        elif dotted in RESOLVED_BY_STEP:
            put(out, path, RESOLVED_BY_STEP[dotted](step, w))
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
    """The synthetic dataset is a workflow output in the demos; a real dataset is an external input."""
    return [DATASET["root"]] if DATASET["synthetic"] else []


def model_files(w):
    """Local files a model's weights come from (checkpoint, head file, factory source): job inputs, so a
    checkpoint the workflow writes (synthetic_checkpoints) is made first."""
    return list(MODEL_ENTRIES[w.model].local_files())


def chunk_dirs(kind, sample, **keys):
    """Per-chunk directories of one (model or space[, space]) for every chunk of `sample`."""
    pattern = {
        "features": f"{R}/features/{{model}}/{sample}/chunk-{{chunk}}",
        "clip": f"{R}/clip/{{space}}/{sample}/chunk-{{chunk}}",
        "scores": f"{R}/scores/{{model}}/{{space}}/chunk-{{chunk}}",
    }[kind]
    return expand(pattern, chunk=chunk_ids(sample), **keys)


def chunk_holding(class_id):
    for chunk, class_ids in CHUNKS["analysis"].items():
        if class_id in class_ids:
            return f"{chunk:03d}"
    raise ValueError(f"class {class_id!r} is not analysed")


def text_file(part, space="{space}"):
    return f"{R}/text/{space}/{part}.parquet"


def preflight():
    """Checks that need torch / open_clip, run once before any job (`onstart`), never at parse time: each space's
    architecture against its weights, and every prompt of every text part against its tokenizer
    (sing.data.preflight).
    """
    from sing.data.preflight import check_text_settings

    unclip = config["unclip"]["prompts"] if config["unclip"]["enabled"] else []
    text = {
        "class_prompt": config["text"]["class_prompt"],
        "templates": config["text"]["templates"],
        "classes": [
            [CATALOG.index(c), c, CATALOG.name(c)[1]]
            for c in CATALOG.select(sorted({*TEXT_CLASSES, *OPENVOCAB}))
        ],
        "concepts": open_vocabulary_concepts(),
        "targets": {
            "analyses.steering.target": [config["analyses"]["steering"]["target"]],
            "unclip.prompts": list(unclip),
        },
    }
    check_text_settings(
        {key: SPACE_ENTRIES[key].spec() for key in SPACES},
        text,
        config["weights_dir"],
        cache=f"{R}/logs/preflight.json",
    )


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
        expand(f"{R}/figures/unclip/{{model}}.png", model=MODELS)
        if config["unclip"]["enabled"]
        else []
    )
    return [f"{R}/classes.parquet", *tables, *figures, *pictures]


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
    """--sdm apptainer: bind dataset.root (and the dataset's class-index / class-names files), weights_dir,
    results_dir and local model files (checkpoints, factory files) into the image.

    Snakemake mounts the working directory as the container's home, so only folders that resolve
    outside it (absolute paths, symlinks) are added, through APPTAINER_BIND / SINGULARITY_BIND (read by
    apptainer itself and appended to the user's own binds). A folder a job has yet to create (the demo's
    dataset root, a new weights_dir) is bound through its nearest existing parent: apptainer refuses a
    missing source.
    """
    from snakemake.settings.types import DeploymentMethod

    if DeploymentMethod.APPTAINER not in workflow.deployment_settings.deployment_method:
        return
    cwd = Path.cwd().resolve()
    for var in ("APPTAINER_BIND", "SINGULARITY_BIND"):
        binds = [b for b in os.environ.get(var, "").split(",") if b]
        paths = [DATASET["root"], config["weights_dir"], config["results_dir"]]
        paths += [
            DATASET[key] for key in ("class_index", "class_names") if DATASET[key]
        ]
        paths += [f for entry in MODEL_ENTRIES.values() for f in entry.local_files()]
        for path in paths:
            path = Path(path).resolve()
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
