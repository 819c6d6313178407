"""The config schema: every key documented with a default, defaults filled by Snakemake's own `validate` (nested
objects too, whole or in part; sing.workflow.config fills them the same way: tests/test_workflow_plan.py), today's
configs resolving to the values they had before the schema held the defaults, and docs/config.md's reference
generated from the schema."""

from __future__ import annotations

import copy
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import update_config, validate

import sing

REPO = Path(__file__).resolve().parents[1]
SCHEMA_PATH = REPO / "schemas" / "config.schema.yaml"
SCHEMA = yaml.safe_load(SCHEMA_PATH.read_text())
MINIMAL = {"dataset": {"root": "/data/imagenet"}, "models": {}, "spaces": {}}


def _reference_module():
    spec = importlib.util.spec_from_file_location("config_reference", REPO / ".ci" / "config_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


REFERENCE = _reference_module()


def resolved(*configs: dict) -> dict:
    """What the workflow sees: config files merged in order as Snakemake merges them, then the schema's
    defaults filled as the workflow fills them (sing.workflow.config; Snakemake's validate is the reference)."""
    config: dict = {}
    for c in configs:
        update_config(config, copy.deepcopy(c))
    validate(config, str(SCHEMA_PATH), set_default=True)
    return config


def load(name: str) -> dict:
    return yaml.safe_load((REPO / name).read_text())


def rejected(overrides: dict) -> str:
    with pytest.raises(WorkflowError) as err:
        resolved(MINIMAL, overrides)
    return str(err.value) + str(err.value.args)


# ----------------------------------------------------------------------------------------------- documentation
def test_every_key_has_a_description_and_a_default_or_is_required():
    rows = list(REFERENCE.rows(SCHEMA))
    assert REFERENCE.undocumented(SCHEMA) == []
    keys = {key for key, _, _ in rows}
    assert {"extraction.device", "samples.translator.per_class", "analyses.steering.target_is_deg",
            "unclip.batch_size", "unclip.guidance_scale", "extraction.channels_last",
            "models.<key>.n_last_blocks", "spaces.<key>.pretrained"} <= keys
    without_default = {key for key, node, _ in rows if "default" not in node}
    # site-specific or catalogue keys, and registry entry fields (their library defaults are described)
    assert {k for k in without_default if ".<key>." not in k} == {"dataset", "dataset.root",
                                                                  "dataset.synthetic.classes"}


def test_the_documentation_check_catches_a_missing_description_or_default():
    schema = copy.deepcopy(SCHEMA)
    del schema["properties"]["extraction"]["properties"]["device"]["description"]
    del schema["properties"]["analyses"]["properties"]["steering"]["properties"]["target"]["default"]
    assert REFERENCE.undocumented(schema) == ["extraction.device: no description",
                                              "analyses.steering.target: no default and not required"]


# ----------------------------------------------------------------------------------------------- defaults
def test_absent_objects_get_every_nested_default():
    config = resolved(MINIMAL)
    assert config["extraction"] == {"device": "auto", "precision": "bf16", "batch_size": 128, "num_workers": 8,
                                    "loader_timeout": 300, "on_bad_image": "fail", "on_missing_image": "fail",
                                    "channels_last": False}
    assert config["analyses"]["steering"] == {"source_class": "n04285008", "target": "an image of a jellyfish",
                                              "target_is_deg": 40.0, "calibration": "mean_is"}
    assert config["samples"]["robustness"] == {"classes": "all", "split": "train", "per_class": 500, "seed": 0,
                                               "take_all_if_fewer": False}  # the paper's 500k probe images
    assert config["head"] == {"atol": 1e-5, "rtol": 0}  # the authors' rule: sigma > 1e-5, absolute
    assert config["samples"]["openvocab"] == {"split": "train", "per_class": 1300, "seed": 0,
                                              "take_all_if_fewer": True}
    assert config["unclip"]["batch_size"] == 8 and config["unclip"]["guidance_scale"] == 8.0
    assert config["run_models"] == "paper" and config["dataset"]["synthetic"] is None
    assert config["dataset"] == {"root": "/data/imagenet", "kind": "imagenet", "class_index": None,
                                 "class_names": None, "chunks": 10, "synthetic": None}
    # every schema default is in place (the walk of the README generator, checked against the filled config)
    for key, node, _ in REFERENCE.rows(SCHEMA):
        if "default" not in node or ".<key>." in key:
            continue
        parent = config
        for part in key.split(".")[:-1]:
            parent = parent[part] if isinstance(parent, dict) else None
        if not isinstance(parent, dict):  # children of a null dataset.synthetic have nothing to fill
            continue
        value = parent[key.split(".")[-1]]
        if node["default"] == {}:  # an object: its fields are checked in their own rows
            assert isinstance(value, dict), key
        else:
            assert value == node["default"], key


def test_a_partly_given_object_keeps_the_other_defaults():
    config = resolved(MINIMAL, {"extraction": {"device": "cpu"},
                                "samples": {"analysis": {"per_class": 3}},
                                "analyses": {"steering": {"target": "an image of a jeep"}}})
    assert config["extraction"] == {"device": "cpu", "precision": "bf16", "batch_size": 128, "num_workers": 8,
                                    "loader_timeout": 300, "on_bad_image": "fail", "on_missing_image": "fail",
                                    "channels_last": False}
    assert config["samples"]["analysis"] == {"per_class": 3, "split": "val", "seed": 0, "take_all_if_fewer": False}
    assert config["samples"]["translator"]["per_class"] == 10
    assert config["analyses"]["steering"] == {"target": "an image of a jeep", "source_class": "n04285008",
                                              "target_is_deg": 40.0, "calibration": "mean_is"}
    assert config["analyses"]["bootstrap"] == 1000


def test_synthetic_dataset_is_null_or_filled():
    assert resolved(MINIMAL)["dataset"]["synthetic"] is None
    synthetic = resolved(MINIMAL, {"dataset": {"synthetic": {"classes": ["n01440764"], "image_size": 64}}})
    assert synthetic["dataset"]["synthetic"] == {
        "classes": ["n01440764"], "image_size": 64, "train_per_class": 6, "val_per_class": 5, "size_range": [96, 192],
        "seed": 0, "flat_val": False, "bad_per_split": 0, "special_every": 3, "junk_per_class": 0}
    assert synthetic["dataset"]["root"] == "/data/imagenet"  # a partial `dataset` merges into the config file's
    assert "classes" in rejected({"dataset": {"synthetic": {"image_size": 64}}})


def test_folder_dataset_keys_and_awkward_class_ids():
    config = resolved(MINIMAL, {"dataset": {"kind": "folder", "class_names": "names.tsv"},
                                "classes": ["British Shorthair", "猫 2", "42"],
                                "analyses": {"steering": {"source_class": "42"}}})
    assert config["dataset"]["kind"] == "folder" and config["dataset"]["chunks"] == 10
    assert config["classes"] == ["British Shorthair", "猫 2", "42"]
    assert "kind" in rejected({"dataset": {"kind": "cifar"}})
    assert "chunks" in rejected({"dataset": {"chunks": 0}})
    assert "source_class" in rejected({"analyses": {"steering": {"source_class": ""}}})


def test_defaults_are_not_shared_between_keys_or_runs():
    first = resolved(MINIMAL)
    first["translator"]["alphas"].append(1e9)
    first["samples"]["analysis"]["seed"] = 7
    second = resolved(MINIMAL)
    assert len(second["translator"]["alphas"]) == 8
    assert second["samples"]["translator"]["seed"] == second["samples"]["openvocab"]["seed"] == 0


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"extraction": {"precision": "fp8"}}, "precision"),
        ({"extraction": {"devices": "cpu"}}, "devices"),
        ({"run_models": "papers"}, "run_models"),
        ({"run_spaces": []}, "run_spaces"),
        ({"samples": {"analysis": {"classes": "all"}}}, "classes"),  # only the translator sample has classes
        ({"unclip": {"guidance_scale": -1}}, "guidance_scale"),
    ],
)
def test_bad_values_are_rejected_naming_the_key(overrides, needle):
    assert needle in rejected(overrides)


def test_paper_keyword_names_registry_entries():
    from sing.registry import FIGURE_MODEL_PRESETS, MODELS, PAPER_MODELS, PAPER_SPACES, SPACES

    assert len(PAPER_MODELS) == 13 and set(PAPER_MODELS) <= set(MODELS)
    assert set(PAPER_SPACES) <= set(SPACES)
    defaults = resolved(load("config.yaml"))
    assert defaults["run_models"] == defaults["run_spaces"] == "paper"
    assert defaults["figures"]["paper_models"] == "authors"  # a preset of sing.registry.FIGURE_MODEL_PRESETS
    for preset in FIGURE_MODEL_PRESETS.values():
        assert set(preset) <= set(MODELS)
    assert defaults["unclip"]["space"] in PAPER_SPACES
    assert resolved(MINIMAL, {"run_models": ["resnet"]})["run_models"] == ["resnet"]


# ----------------------------------------------------------------------------------------------- equivalence
# Keys the configs did not set before: each value is what the code used when the key was absent.
ADDED = {
    ("extraction", "channels_last"): False,  # workflow_scripts/extract_features.py: ext.get("channels_last", False)
    # new key (issue 9.5): the old behaviour never skipped silently; listing failed on any missing file before
    ("extraction", "on_missing_image"): "fail",
    ("unclip", "batch_size"): 8,  # workflow_scripts/unclip_pictures.py: cfg.get("batch_size", 8)
    ("unclip", "guidance_scale"): 8.0,  # workflow_scripts/unclip_pictures.py: cfg.get("guidance_scale", 8.0)
    # issue 20: thresholds of the translator flags (model_summary.translator_flags); no number changes
    ("translator", "min_heldout_r2"): 0.5,
    ("translator", "min_samples_per_dim"): 1.0,
    # issue 19: before, a stalled DataLoader was never timed out (it waited until the cluster's time limit)
    ("extraction", "loader_timeout"): 300,
}
# Keys added later that change no computed number (the image every rule runs in; GPU scheduling knobs).
ADDED_TOP = {"container": f"oras://ghcr.io/sing-workflow/sing:{sing.__version__}",
             "slurm_gpu": {"request": "gpus", "model": None, "partition": None}, "max_mem_mb": None,
             "max_threads": None}
# sing.data.synthetic.DEFAULTS (junk_per_class: issue 12, no junk files before)
ADDED_SYNTHETIC = {"size_range": [96, 192], "flat_val": False, "special_every": 3, "junk_per_class": 0}


def moved_to_dataset(config: dict) -> dict:
    """Issue 12: `imagenet_root` and `synthetic_imagenet` became `dataset.root` and `dataset.synthetic` of an
    `imagenet` dataset (the folder-only keys at their defaults); `synthetic_checkpoints` is new (none before)."""
    config = dict(config)
    config["dataset"] = {"kind": "imagenet", "root": config.pop("imagenet_root"), "class_index": None,
                         "class_names": None, "chunks": 10, "synthetic": config.pop("synthetic_imagenet")}
    config["synthetic_checkpoints"] = []
    return config


# Keys issue 11 added (the paper's protocols); each value is the new default, which changes what runs.
ADDED_ISSUE_11 = {
    ("text", "concept_prompt"): "an image of {}",  # before: the class prompt ("an image of a sand dunes")
    ("analyses", "joint_points"): 500,  # Fig. 3a's point cloud
}
ROBUSTNESS_SAMPLE = {"classes": "all", "split": "train", "per_class": 500, "seed": 0, "take_all_if_fewer": False}


def issue_11_changes(expected: dict, name: str) -> None:
    """The values issue 11 changed on purpose (README / results/README say why), applied to the old config."""
    for (section, key), value in ADDED_ISSUE_11.items():
        expected[section][key] = value
    expected["head"]["rtol"] = 0  # `rtol: null` meant max(c, m)·eps32, not the authors' absolute 1e-5 alone
    expected["analyses"]["steering"]["calibration"] = "mean_is"  # one step per model (Table 1)
    # robustness: its own sample and an L-BFGS softmax probe instead of a split of the translator sample
    rob = expected["analyses"]["robustness"]
    rob.pop("test_fraction")
    rob.update({"l2": [1e-4, 1e-2] if name == "demo" else [1e-5, 1e-4, 1e-3, 1e-2, 1e-1], "holdout": 0.1,
                "tol": 1e-5, "max_iter": rob["max_iter"] if name == "demo" else 300})
    expected["samples"]["robustness"] = dict(ROBUSTNESS_SAMPLE)
    if name == "demo":
        expected["samples"]["robustness"].update(classes=expected["samples"]["translator"]["classes"][:5], per_class=10)
    prompts = expected["unclip"]["prompts"]  # grammar: "an image of a arabian camel"
    expected["unclip"]["prompts"] = [p.replace("of a arabian", "of an arabian") for p in prompts]


# Keys issues 17 and 18 added: each adds outputs (the translator study and sensitivity, UnCLIP's supplementary
# figures, concept dictionaries, published translators) and changes no number of an existing table; taken as they
# resolve now. figures.paper_models became a preset name whose models are the former list.
ADDED_ISSUES_17_18 = [("analyses", "open_vocabulary", "dictionaries"), ("analyses", "open_vocabulary", "top"),
                      ("samples", "translator_study"), ("text", "dictionaries"), ("text", "vocabulary"),
                      ("translator", "published"), ("translator", "sensitivity"), ("translator", "study"),
                      ("translator", "use"), ("unclip", "gallery"), ("unclip", "perturbations"),
                      ("unclip", "translators")]


def issues_17_18_additions(expected: dict, now: dict) -> None:
    from sing.registry import FIGURE_MODEL_PRESETS

    for *parents, key in ADDED_ISSUES_17_18:
        have, want = now, expected
        for part in parents:
            have, want = have[part], want[part]
        assert key not in want, (parents, key)  # an addition, not a change
        want[key] = copy.deepcopy(have[key])
    assert now["translator"]["use"] == "linear" and now["translator"]["published"] == {}  # the paper's translator
    if now["figures"]["paper_models"] == "authors":
        assert list(FIGURE_MODEL_PRESETS["authors"]) == expected["figures"]["paper_models"]
        expected["figures"]["paper_models"] = "authors"


@pytest.mark.parametrize(("name", "files"), [("paper", ["config.yaml"]), ("demo", ["config.yaml", "config.demo.yaml"])])
def test_configs_resolve_to_their_values_before_the_schema_held_the_defaults(name, files):
    before = yaml.safe_load((REPO / "tests" / "data" / "configs_before_schema_defaults.yaml").read_text())[name]
    now = resolved(*(load(f) for f in files))
    from sing.registry import PAPER_MODELS, PAPER_SPACES

    # the catalogue moved to sing.registry (tests/test_registry.py checks its entries)
    if name == "paper":
        assert now["models"] == now["spaces"] == {}
    del now["models"], now["spaces"]
    for key, paper in (("run_models", PAPER_MODELS), ("run_spaces", PAPER_SPACES)):
        if now[key] == "paper":
            now[key] = list(paper)
    expected = moved_to_dataset(copy.deepcopy(before))
    for (section, key), value in ADDED.items():
        expected[section][key] = value
    expected.update(copy.deepcopy(ADDED_TOP))
    if expected["dataset"]["synthetic"] is not None:
        expected["dataset"]["synthetic"].update(ADDED_SYNTHETIC)
    issue_11_changes(expected, name)
    issues_17_18_additions(expected, now)
    if name == "demo":
        expected["max_mem_mb"] = 2000  # scheduling only: the demo's jobs run two at a time
        expected["max_threads"] = 1
        # the demo no longer repeats the open-vocabulary classes: the default lists the same two classes in the
        # paper's order, and the workflow reads the list only as a set (ClassCatalog.select sorts it by class index)
        ov_now, ov_before = now["analyses"]["open_vocabulary"], expected["analyses"]["open_vocabulary"]
        assert sorted(ov_now["classes"]) == sorted(ov_before["classes"])
        ov_now["classes"] = ov_before["classes"]
    assert now == expected


# ----------------------------------------------------------------------------------------------- documentation
def test_readme_config_reference_is_generated_from_the_schema():
    proc = subprocess.run([sys.executable, str(REPO / ".ci" / "config_reference.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def documentation_copy(root: Path) -> Path:
    """The files .ci/config_reference.py generates blocks in, copied under ``root``."""
    import shutil

    shutil.copy(REPO / "README.md", root / "README.md")
    shutil.copytree(REPO / "docs", root / "docs")
    (root / "results").mkdir()
    shutil.copy(REPO / "results" / "README.md", root / "results" / "README.md")
    return root


def test_config_reference_check_fails_on_drift(tmp_path):
    documentation_copy(tmp_path)
    reference = tmp_path / "docs" / "config.md"
    text = reference.read_text()
    assert "| `chunk_size` | integer ≥ 1, ≤ 1000 | `100` |" in text
    reference.write_text(text.replace("| `chunk_size` | integer ≥ 1, ≤ 1000 | `100` |",
                                      "| `chunk_size` | integer ≥ 1, ≤ 1000 | `50` |"))
    script = str(REPO / ".ci" / "config_reference.py")
    proc = subprocess.run([sys.executable, script, "--check", "--root", str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 1 and "out of date" in proc.stderr and "`50`" in proc.stderr
    subprocess.run([sys.executable, script, "--root", str(tmp_path)], check=True, capture_output=True)
    assert reference.read_text() == text


def test_generated_lists_follow_their_declarations(tmp_path):
    """The README's and results/README.md's tables, docs/outputs.md's figures and docs/own-classifier.md's sources
    are generated from sing.outputs and sing.models.sources: a table, figure or source declared there appears."""
    from sing.models.sources import SOURCES
    from sing.outputs import FIGURES, TABLES

    readme = (REPO / "README.md").read_text()
    assert all(f"| `tables/{t.name}.parquet` |" in readme for t in TABLES)
    columns = (REPO / "results" / "README.md").read_text()
    assert all(f"| `tables/{t.name}.parquet` | {t.rows} | {t.columns} |" in columns for t in TABLES)
    figures = (REPO / "docs" / "outputs.md").read_text()
    assert all(f"| `{f.name}` |" in figures for f in FIGURES)
    sources = (REPO / "docs" / "own-classifier.md").read_text()
    assert all(f"- `{name}`: " in sources for name in SOURCES)
    documentation_copy(tmp_path)
    edited = tmp_path / "README.md"
    edited.write_text(readme.replace("| `tables/steering.parquet` |", "| `tables/steering_old.parquet` |"))
    proc = subprocess.run([sys.executable, str(REPO / ".ci" / "config_reference.py"), "--check", "--root",
                           str(tmp_path)], capture_output=True, text=True)
    assert proc.returncode == 1 and "README.md: out of date" in proc.stderr
