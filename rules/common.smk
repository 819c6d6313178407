import json
import mimetypes
import sys
from pathlib import Path

import yaml
from snakemake.utils import validate

# the library's light modules (stdlib only / no torch) are read at parse time; jobs import the installed package
sys.path.insert(0, str(Path(workflow.basedir) / "src"))

from sing.data.classes import group_by_chunk, select_classes
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


def check_config():
    """Cross-references the schema cannot express; each error names the key."""
    steering = config["analyses"]["steering"]["source_class"]
    if steering not in ANALYSED:
        raise ValueError(
            f"config analyses.steering.source_class: {steering!r} is not among the analysed classes (config classes)"
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
check_config()

CHUNKS = {
    "analysis": group_by_chunk(ANALYSED, CHUNK_SIZE),
    "openvocab": group_by_chunk(OPENVOCAB, CHUNK_SIZE),
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


def write_manifests():
    for sample, chunks in CHUNKS.items():
        for chunk, wnids in chunks.items():
            write_if_changed(
                f"{R}/manifests/{sample}/chunk-{chunk:03d}.json",
                {"sample": sample, **sample_settings(sample), "classes": wnids},
            )
    write_if_changed(
        f"{R}/manifests/translator.json",
        {
            "sample": "translator",
            **sample_settings("translator"),
            "classes": TRANSLATOR_CLASSES,
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
    """The synthetic dataset is a workflow output in the demo; a real ImageNet is an external input."""
    return [config["imagenet_root"]] if config.get("synthetic_imagenet") else []


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


def extraction_params():
    return dict(config["extraction"])


def open_vocabulary_concepts():
    concepts = config["analyses"]["open_vocabulary"]["concepts"]
    if concepts == "default":
        from sing.analysis.concepts import default_concepts  # light module: plain lists

        concepts = default_concepts(OPENVOCAB)
    return {wnid: list(concepts[wnid]) for wnid in OPENVOCAB}


def unclip_prompts():
    return config["unclip"]["prompts"] if config["unclip"]["enabled"] else []


def text_settings():
    return {
        **config["text"],
        "classes": TEXT_CLASSES,
        "concepts": sorted(
            {c for cs in open_vocabulary_concepts().values() for c in cs}
        ),
        "targets": list(
            dict.fromkeys([config["analyses"]["steering"]["target"], *unclip_prompts()])
        ),
    }


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
    return [*tables, *figures, *pictures]


def model_inputs(w):
    return {
        "geometry": f"{R}/heads/{w.model}/geometry.safetensors",
        "translator": f"{R}/translators/{w.model}/{w.space}.safetensors",
        "head": f"{R}/heads/{w.model}/head.safetensors",
        "text": f"{R}/text/{w.space}.parquet",
    }


write_manifests()
