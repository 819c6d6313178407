import json
import sys
from pathlib import Path

import yaml
from snakemake.utils import validate

# the library's light modules (stdlib only / no torch) are read at parse time; jobs import the installed package
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from sing.data.classes import catalog_from_settings
from sing.registry import (
    FIGURES,
    FIGURE_TABLES,
    TABLES,
    resolve_models,
    resolve_spaces,
)

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
DATASET = config["dataset"]
# the dataset's classes, order and chunks (sing.data.classes); errors name dataset.<key>
CATALOG = catalog_from_settings(DATASET, CHUNK_SIZE)


def schema_default(key):
    node = SCHEMA
    for part in key.split("."):
        node = node["properties"][part]
    return node.get("default")


def dataset_classes(value, key):
    """`value` (a class id or a list) checked against the dataset: the error names `key`, and says so when a
    folder dataset still has the paper's ImageNet default there."""
    try:
        return CATALOG.select(
            value if isinstance(value, list) else [value], what=f"config {key}"
        )
    except ValueError as e:
        if CATALOG.kind != "imagenet" and value == schema_default(key):
            raise ValueError(
                f"{e}. {value!r} is the paper's ImageNet default; on a {CATALOG.describe()} set {key} "
                "to its own classes"
            ) from None
        raise


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


def check_config():
    """Cross-references the schema cannot express; each error names the key."""
    steering = config["analyses"]["steering"]["source_class"]
    dataset_classes(steering, "analyses.steering.source_class")
    if steering not in ANALYSED:
        raise ValueError(
            f"config analyses.steering.source_class: {steering!r} is not among the analysed classes (config classes)"
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
            raise ValueError(
                f"config synthetic_checkpoints: {key!r} must be a run model (run_models) of source timm or "
                "python with a checkpoint path"
            )
    missing = sorted(set(ANALYSED) - set(TEXT_CLASSES))
    if missing:
        raise ValueError(
            f"config text.classes: analysed classes {missing} have no class prompt"
        )
    unclip = config["unclip"]
    if unclip["enabled"]:
        if unclip["space"] not in SPACES:
            raise ValueError(
                f"config unclip.space: {unclip['space']!r} is not in run_spaces {SPACES}"
            )
        dataset_classes(unclip["source_class"], "unclip.source_class")
        if unclip["source_class"] not in ANALYSED:
            raise ValueError(
                f"config unclip.source_class: {unclip['source_class']!r} is not an analysed class"
            )
    concepts = config["analyses"]["open_vocabulary"]["concepts"]
    if isinstance(concepts, dict):
        missing = [w for w in OPENVOCAB if w not in concepts]
        if missing:
            raise ValueError(
                f"config analyses.open_vocabulary.concepts: no concept list for classes {missing}"
            )


ANALYSED = CATALOG.select(config["classes"], what="config classes")
OPENVOCAB = dataset_classes(
    config["analyses"]["open_vocabulary"]["classes"],
    "analyses.open_vocabulary.classes",
)
TRANSLATOR_CLASSES = CATALOG.select(
    config["samples"]["translator"]["classes"],
    what="config samples.translator.classes",
)
TEXT_CLASSES = CATALOG.select(config["text"]["classes"], what="config text.classes")
check_config()

CHUNKS = {
    "analysis": CATALOG.group_by_chunk(ANALYSED),
    "openvocab": CATALOG.group_by_chunk(OPENVOCAB),
}


# ---------------------------------------------------------------------------------------------------
# Manifests: settings that decide a job's output are written to small files that change only when the
# settings change. Jobs take them as inputs, so reruns are right under every --rerun-triggers choice
# (mtime included), and a new class touches only its own chunk's manifest.
# ---------------------------------------------------------------------------------------------------
def write_if_changed(path, obj):
    path = Path(path)
    text = f"{json.dumps(obj, indent=1, sort_keys=True)}\n"
    if not path.exists() or path.read_text() != text:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.tmp")
        tmp.write_text(text)
        tmp.replace(path)
    return str(path)


def sample_settings(sample):
    settings = dict(config["samples"][sample])
    settings.pop("classes", None)
    return settings


def class_settings(class_ids):
    """A sample's classes and their dataset indices (a folder dataset's indices move when a class folder is
    added before them in sorted order: the jobs that write them must rerun)."""
    return {
        "classes": class_ids,
        "class_index": [CATALOG.index(c) for c in class_ids],
    }


def write_manifests():
    for sample, chunks in CHUNKS.items():
        for chunk, class_ids in chunks.items():
            write_if_changed(
                f"{R}/manifests/{sample}/chunk-{chunk:03d}.json",
                {
                    "sample": sample,
                    **sample_settings(sample),
                    **class_settings(class_ids),
                },
            )
    write_if_changed(f"{R}/manifests/dataset.json", CATALOG.manifest())
    write_if_changed(
        f"{R}/manifests/translator.json",
        {
            "sample": "translator",
            **sample_settings("translator"),
            **class_settings(TRANSLATOR_CLASSES),
        },
    )
    for key in MODELS:
        write_if_changed(f"{R}/manifests/models/{key}.json", model_settings(key))
    for key in SPACES:
        write_if_changed(f"{R}/manifests/spaces/{key}.json", space_settings(key))


def model_settings(key):
    """What decides a model's outputs: its compute spec (never its display name) and the weight cache."""
    return {
        "key": key,
        "entry": MODEL_ENTRIES[key].spec(),
        "weights_dir": config["weights_dir"],
    }


def space_settings(key):
    return {
        "key": key,
        "entry": SPACE_ENTRIES[key].spec(),
        "weights_dir": config["weights_dir"],
    }


# ---------------------------------------------------------------------------------------------------
# Paths and input functions
# ---------------------------------------------------------------------------------------------------
def chunk_ids(sample):
    return [f"{chunk:03d}" for chunk in CHUNKS[sample]]


def manifest(sample):
    return f"{R}/manifests/{sample}/chunk-{{chunk}}.json"


def dataset_ready():
    """The synthetic dataset is a workflow output in the demo; a real dataset is an external input."""
    return [DATASET["root"]] if DATASET["synthetic"] else []


def dataset_files():
    """The dataset's class-index and class-names files (job inputs: an edit reruns what reads them)."""
    return [DATASET[key] for key in ("class_index", "class_names") if DATASET[key]]


def model_files(w):
    """Local files a model's weights come from (checkpoint, head file, factory source): job inputs."""
    return list(MODEL_ENTRIES[w.model].local_files())


def dataset_params():
    return {**DATASET, "chunk_size": CHUNK_SIZE}


def dataset_location():
    """What listing images needs: the extraction jobs' params (no class list: a new class folder reruns only the
    jobs whose classes or indices it changes, through their manifests)."""
    return {"kind": DATASET["kind"], "root": DATASET["root"]}


def display_names(class_ids):
    """Class id -> display name (job params: renaming a class reruns only the jobs that print names)."""
    return {c: CATALOG.name(c)[0] for c in class_ids}


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


def extraction_params():
    return dict(config["extraction"])


def open_vocabulary_concepts():
    concepts = config["analyses"]["open_vocabulary"]["concepts"]
    if concepts == "default":
        from sing.analysis.concepts import default_concepts  # light module: plain lists

        concepts = default_concepts(OPENVOCAB)
    return {class_id: list(concepts[class_id]) for class_id in OPENVOCAB}


def unclip_prompts():
    return config["unclip"]["prompts"] if config["unclip"]["enabled"] else []


def text_settings():
    return {
        **config["text"],
        # [class index, class id, prompt name]: a prompt-name edit reruns the text embeddings, a display-name
        # edit does not
        "classes": [[CATALOG.index(c), c, CATALOG.name(c)[1]] for c in TEXT_CLASSES],
        "concepts": sorted(
            {c for cs in open_vocabulary_concepts().values() for c in cs}
        ),
        "targets": list(
            dict.fromkeys([config["analyses"]["steering"]["target"], *unclip_prompts()])
        ),
    }


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
    return [f"{R}/classes.parquet", *tables, *figures, *pictures]


def model_inputs(w):
    return {
        "geometry": f"{R}/heads/{w.model}/geometry.safetensors",
        "translator": f"{R}/translators/{w.model}/{w.space}.safetensors",
        "head": f"{R}/heads/{w.model}/head.safetensors",
        "text": f"{R}/text/{w.space}.parquet",
    }


write_manifests()
