"""Reruns that are always right: every config key says what it decides (schemas/config.schema.yaml `x-decides` /
`x-cosmetic`, walked by sing.io.schema), and the real Snakemake, on one finished demo, reruns exactly the jobs a
changed setting decides (plus what depends on them) under `--rerun-triggers mtime` and under the default triggers,
and no job for a cosmetic setting."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from sing.io.schema import COSMETIC, DECIDES, annotation_problems, decided_by, leaves, parse_selector

REPO = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((REPO / "schemas" / "config.schema.yaml").read_text())
@pytest.fixture(scope="module")
def workflow_rules(parsed_workflow) -> dict[str, set[str]]:
    """rule name → its wildcard names, as Snakemake parsed the workflow."""
    return {rule.name: set(rule.wildcard_names) for rule in parsed_workflow.rules}


def test_the_rule_reader_sees_every_rule_and_its_wildcards(workflow_rules):
    rules = workflow_rules
    assert {"synthetic_dataset", "prefetch_weights", "extract_features", "embed_texts", "score_chunk", "figures",
            "unclip_pictures", "collect_table"} <= set(rules)
    assert {"model", "sample", "chunk"} <= rules["extract_features"] and "part" in rules["embed_texts"]


def test_every_leaf_key_says_what_it_decides(workflow_rules):
    """A new config key without `x-decides` / `x-cosmetic`, or naming a rule (or wildcard) the workflow does not
    have, fails here: it could not reach the manifests, so reruns would miss it."""
    assert annotation_problems(SCHEMA, workflow_rules) == []
    keys = dict(leaves(SCHEMA))
    assert len(keys) >= 90
    cosmetic = {key for key, node in keys.items() if COSMETIC in node}
    # (chunk_size is not here: it decides classes.parquet's chunk column)
    assert cosmetic == {"results_dir", "weights_dir", "extraction.num_workers", "extraction.loader_timeout",
                        "container", "slurm_gpu.request", "slurm_gpu.model", "slurm_gpu.partition", "max_mem_mb",
                        "max_threads"}


def _node(schema, dotted):
    node = schema["properties"]
    for part in dotted.split("."):
        node = node[part]
        node = node.get("properties", node)
    return node


@pytest.mark.parametrize(("edit", "needle"), [
    (lambda s: _node(s, "head")["atol"].pop(DECIDES), "head.atol: needs exactly one of"),
    (lambda s: _node(s, "head")["atol"].__setitem__(COSMETIC, "why"), "head.atol: needs exactly one of"),
    (lambda s: _node(s, "head")["rtol"].__setitem__(DECIDES, ["head_geometri"]), "unknown rule 'head_geometri'"),
    (lambda s: _node(s, "samples")["analysis"]["properties"]["seed"].__setitem__(
        DECIDES, ["extract_features(chunks=000)"]), "rule extract_features has no wildcard 'chunks'"),
    (lambda s: _node(s, "translator")["folds"].__setitem__(DECIDES, ["fit_translator[x=1]"]), "selector"),
    (lambda s: _node(s, "translator")["seed"].__setitem__(DECIDES, []), "non-empty list"),
    (lambda s: _node(s, "extraction")["num_workers"].__setitem__(COSMETIC, " "), "must say why"),
    (lambda s: s["properties"]["head"].__setitem__(DECIDES, ["head_geometry"]), "head: x-decides on a key with keys"),
    (lambda s: s["definitions"]["model_entry"]["properties"]["seed"].pop(DECIDES), "models.<key>.seed: needs"),
    (lambda s: s["properties"].__setitem__("new_key", {"type": "integer", "description": "x", "default": 1}),
     "new_key: needs exactly one of"),
])
def test_the_walk_catches_each_kind_of_bad_annotation(workflow_rules, edit, needle):
    schema = copy.deepcopy(SCHEMA)
    edit(schema)
    problems = annotation_problems(schema, workflow_rules)
    assert any(needle in p for p in problems), problems


def test_selectors_parse():
    assert parse_selector("embed_texts(part=classes|concepts)") == ("embed_texts",
                                                                    {"part": frozenset({"classes", "concepts"})})
    assert parse_selector("head_geometry") == ("head_geometry", {})
    with pytest.raises(ValueError, match="selector"):
        parse_selector("head_geometry(part)")
    decided = decided_by(SCHEMA)
    assert (("head", "atol"), {}) in decided["head_geometry"]
    assert (("classes",), {"sample": frozenset({"analysis"})}) in decided["extract_features"]
    assert ("models", "<key>", "display") in [path for path, _ in decided["figures"]]


# ----------------------------------------------------------------------------------------------- the real DAG
# One representative change per annotation (every key of a group carries the same `x-decides`, so its value
# reaches exactly the same manifests): the config override, and `only`, the wildcard values the change is about
# (jobs with that wildcard and another value keep their settings; jobs over all of them are selected).
GOLDFISH = "n01443537"  # in the demo's dataset and translator sample, not analysed; chunk 000
CASES: dict[str, tuple[dict, dict]] = {
    "extraction.batch_size": ({"extraction": {"batch_size": 7}}, {}),
    "dataset.synthetic.seed": ({"dataset": {"synthetic": {"seed": 1}}}, {}),
    "dataset.chunks": ({"dataset": {"chunks": 7}}, {}),  # ImageNet's chunks are chunk_size's: classes.parquet only
    "classes": ({"classes": ["n01440764", GOLDFISH, "n01910747", "n02123045", "n02437312", "n04285008"]},
                {"chunk": "000"}),
    "samples.translator.seed": ({"samples": {"translator": {"seed": 1}}}, {}),
    "samples.analysis.per_class": ({"samples": {"analysis": {"per_class": 5}}}, {}),
    "samples.openvocab.seed": ({"samples": {"openvocab": {"seed": 2}}}, {}),
    "samples.robustness.per_class": ({"samples": {"robustness": {"per_class": 9}}}, {}),
    "samples.robustness.classes": ({"samples": {"robustness": {"classes": ["n01440764", "n01910747", "n02123045",
                                                                           "n02437312"]}}}, {"chunk": "000"}),
    "extraction.device": ({"extraction": {"device": "auto"}}, {}),
    "translator.folds": ({"translator": {"folds": 3}}, {}),
    "head.atol": ({"head": {"atol": 0.5}}, {}),
    "text.templates": ({"text": {"templates": "simple"}}, {}),
    "text.concept_prompt": ({"text": {"concept_prompt": "a photo of {}"}}, {}),
    "text.classes": ({"text": {"classes": ["n01440764", "n01910747", "n02123045", "n02437312", "n04285008"]}}, {}),
    "run_models": ({"run_models": ["demo_resnet50"], "figures": {"paper_models": ["demo_resnet50"]}}, {}),
    "run_spaces": ({"run_spaces": ["demo_clip_a"]}, {}),
    "models.<key>.seed": ({"models": {"demo_densenet121": {"seed": 7}}}, {"model": "demo_densenet121"}),
    "models.<key>.display": ({"models": {"demo_resnet50": {"display": "ResNet-50 (renamed)"}}}, {}),
    "spaces.<key>.seed": ({"spaces": {"demo_clip_b": {"seed": 5}}}, {"space": "demo_clip_b"}),
    "analyses.baseline_seeds": ({"analyses": {"baseline_seeds": 2}}, {}),
    "analyses.bootstrap": ({"analyses": {"bootstrap": 100}}, {}),
    "analyses.ci": ({"analyses": {"ci": 0.9}}, {}),
    "analyses.seed": ({"analyses": {"seed": 1}}, {}),
    "analyses.steering.target_is_deg": ({"analyses": {"steering": {"target_is_deg": 30.0}}}, {}),
    "analyses.steering.source_class": ({"analyses": {"steering": {"source_class": "n02437312"}}}, {}),
    "analyses.steering.target": ({"analyses": {"steering": {"target": "an image of a starfish"}}}, {}),
    "analyses.validation.seeds": ({"analyses": {"validation": {"seeds": 3}}}, {}),
    "analyses.robustness.max_iter": ({"analyses": {"robustness": {"max_iter": 50}}}, {}),
    "analyses.open_vocabulary.concepts": ({"analyses": {"open_vocabulary": {"concepts": {
        "n01910747": ["tentacles", "ocean"], "n02437312": ["desert", "hump"]}}}}, {}),
    "analyses.open_vocabulary.classes": ({"analyses": {"open_vocabulary": {"classes": ["n02437312"]}}}, {}),
    "text.vocabulary.categories": ({"text": {"vocabulary": {"categories": ["shape"]}}}, {}),
    "analyses.open_vocabulary.top": ({"analyses": {"open_vocabulary": {"top": 5}}}, {}),
    "spaces.<key>.model": ({"spaces": {"demo_clip_b": {"model": "ViT-S-32"}}}, {"space": "demo_clip_b"}),
    "unclip.enabled": ({"unclip": {"enabled": False}}, {}),
    "unclip.model_id": ({"unclip": {"model_id": "kakaobrain/karlo-v1-alpha-image-variations"}}, {}),
    "unclip.n_images": ({"unclip": {"n_images": 1}}, {}),
    "unclip.prompts": ({"unclip": {"prompts": ["an image of a jellyfish", "an image of a jeep"]}}, {}),
    "unclip.decoder_steps": ({"unclip": {"decoder_steps": 3}}, {}),
    "unclip.gallery.quantiles": ({"unclip": {"gallery": {"quantiles": [0.5]}}}, {}),
    "figures.paper_models": ({"figures": {"paper_models": ["demo_densenet121"]}}, {}),
    # the translator study and the translator sensitivity (issue 17); translator.use: scoring with the study's best
    # non-linear translator reruns every job that computes AS/IS with it, and nothing else (steering stays linear)
    "translator.use": ({"translator": {"use": "best_nonlinear"}}, {}),
    "translator.study.enabled": ({"translator": {"study": {"enabled": False}}}, {}),
    "translator.study.max_epochs": ({"translator": {"study": {"max_epochs": 10}}}, {}),
    "translator.sensitivity.factors": ({"translator": {"sensitivity": {"factors": [0.5]}}}, {}),
    "translator.sensitivity.statistic": ({"translator": {"sensitivity": {"statistic": "image_ratio_median"}}}, {}),
    "analyses.steering.calibration": ({"analyses": {"steering": {"calibration": "per_image"}}}, {}),
    "samples.translator_study.seed": ({"samples": {"translator_study": {"seed": 1}}}, {}),
    # cosmetic: nothing reruns (results_dir: tests/test_reruns.py::test_a_moved_results_folder_reruns_nothing)
    "weights_dir": ({"weights_dir": "results/demo/weights-moved"}, {}),
    "chunk_size": ({"chunk_size": 600}, {}),  # the demo's classes keep their grouping: classes.parquet only
    "extraction.num_workers": ({"extraction": {"num_workers": 1}}, {}),
    "extraction.loader_timeout": ({"extraction": {"loader_timeout": 60}}, {}),
    "max_mem_mb": ({"max_mem_mb": 1000}, {}),
    "max_threads": ({"max_threads": 2}, {}),
    "slurm_gpu.request": ({"slurm_gpu": {"request": "gres"}}, {}),
    "slurm_gpu.model": ({"slurm_gpu": {"model": "a100"}}, {}),
    "slurm_gpu.partition": ({"slurm_gpu": {"partition": "gpu"}}, {}),
}
# results_dir: test_a_moved_results_folder_reruns_nothing; container: Snakemake's own software-env trigger.
# Folder-dataset keys (the ImageNet demo has neither a class order nor class names of its own, and a new kind
# re-plans every chunk): tests/test_folder_workflow.py's rerun tests. dataset.root: on the demo a new root is a new
# output folder of the synthetic dataset, so every job runs anew (its x-decides lists the jobs that read it).
# translator.published and text.dictionaries add jobs the demo does not have (an import in place of a fit, a
# dictionary): tests/test_published_workflow.py.
NOT_CASES = {"results_dir", "container", "dataset.kind", "dataset.root", "dataset.class_index", "dataset.class_names",
             "synthetic_checkpoints", "translator.published", "text.dictionaries"}


def annotation_groups() -> dict[tuple, list[str]]:
    """Leaf keys grouped by their annotation (each cosmetic key alone)."""
    groups: dict[tuple, list[str]] = {}
    for key, node in leaves(SCHEMA):
        label = tuple(node[DECIDES]) if DECIDES in node else ("cosmetic", key)
        groups.setdefault(label, []).append(key)
    return groups


def test_every_annotation_has_a_rerun_case():
    """A new key with a new annotation needs a case below: the DAG test is parametrized from the schema."""
    missing = [keys for keys in annotation_groups().values() if not set(keys) & (set(CASES) | NOT_CASES)]
    assert not missing, f"add a rerun case (CASES) for one of each: {missing}"


def selected(jobs, key: str, only: dict) -> set:
    """The demo jobs the key's `x-decides` selects, restricted to `only`."""
    node = dict(leaves(SCHEMA))[key]
    out = set()
    for text in node.get(DECIDES, []):
        rule, conditions = parse_selector(text)
        for job in jobs:
            w = dict(job.wildcards)
            if (job.rule == rule and all(w.get(k) in v for k, v in conditions.items())
                    and all(w.get(k, v) == v for k, v in only.items())):
                out.add(job.key)
    return out


@pytest.fixture(scope="module")
def demo_jobs(demo):
    from workflow_helpers import dry_run_jobs

    jobs = dry_run_jobs(demo, "--forceall")
    assert len(jobs) > 60
    return jobs


@pytest.mark.workflow
@pytest.mark.parametrize("key", list(CASES))
def test_a_changed_setting_reruns_exactly_its_jobs(demo, demo_jobs, key):
    """Under `--rerun-triggers mtime` and under the default triggers alike: the selected jobs and everything
    downstream of them, nothing else (a cosmetic key: nothing)."""
    from workflow_helpers import downstream, planned_job_list, write_config

    override, only = CASES[key]
    expected = downstream(demo_jobs, selected(demo_jobs, key, only)) - {("all", ())}
    extra = write_config(demo, f"rerun-{key.replace('<', '').replace('>', '')}.yaml", override)
    for triggers in (("--rerun-triggers", "mtime"), ()):
        planned = {(rule, tuple(sorted(w.items())))
                   for rule, w in planned_job_list(demo, *triggers, configfiles=("config.demo.yaml", str(extra)))}
        planned.discard(("all", ()))
        assert planned == expected, (f"{key} {' '.join(triggers) or 'default triggers'}: "
                                     f"missed {sorted(expected - planned)}, extra {sorted(planned - expected)}")


def _manifests(workdir: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(workdir)): (p.read_bytes(), p.stat().st_mtime_ns)
            for p in sorted((workdir / "results" / "demo" / "manifests").rglob("*.json"))}


@pytest.mark.workflow
def test_a_dry_run_leaves_no_trace(demo):
    """A preview with other settings rewrites manifests only for its own plan: at exit every manifest is back,
    bytes and mtime, so the next run with the real config reruns nothing."""
    from workflow_helpers import planned_jobs, write_config

    before = _manifests(demo)
    assert len(before) > 60
    extra = write_config(demo, "preview.yaml", {"head": {"atol": 0.5}, "classes": ["n01440764", "n01910747",
                                                                                   "n02437312", "n04285008"]})
    assert planned_jobs(demo, configfiles=("config.demo.yaml", str(extra)))["head_geometry"] == 2
    assert _manifests(demo) == before
    assert planned_jobs(demo) == {}


def _copy(demo: Path, target: Path) -> Path:
    import shutil

    shutil.copytree(demo, target, symlinks=True)  # copy2: mtimes kept, so the copy is as up to date as the demo
    return target


@pytest.mark.workflow
def test_a_moved_results_folder_reruns_nothing(demo, tmp_path):
    from workflow_helpers import planned_jobs, write_config

    """As at a real site, the dataset is an input from outside the results folder: the demo's generated one
    stays where it is and is no longer generated (dataset.synthetic: null decides only that generator)."""
    work = _copy(demo, tmp_path / "moved")
    (work / "results" / "demo").rename(work / "results" / "moved")
    (work / "results" / "demo").mkdir()
    (work / "results" / "moved" / "imagenet").rename(work / "results" / "demo" / "imagenet")
    extra = write_config(work, "moved.yaml", {"results_dir": "results/moved", "dataset": {"synthetic": None}})
    for triggers in (("--rerun-triggers", "mtime"), ()):
        assert planned_jobs(work, *triggers, configfiles=("config.demo.yaml", str(extra))) == {}, triggers


@pytest.mark.workflow
def test_a_changed_weights_lock_entry_reruns_that_model_only(demo, tmp_path):
    """demo_densenet121 loads a (stand-in) checkpoint, locked in weights.lock.json; the run is brought up to date
    with `--touch`. Then prefetch locks another file for it: exactly its jobs (and what depends on them) rerun,
    under both trigger settings; a changed entry of a model this run does not use reruns nothing."""
    import json

    from workflow_helpers import downstream, dry_run_jobs, planned_job_list, snakemake, write_config

    from sing.models.lock import write_lock
    from sing.registry import ModelEntry

    work = _copy(demo, tmp_path / "locked")
    checkpoint = tmp_path / "densenet121.pth"
    checkpoint.write_bytes(b"stand-in weights: --touch never loads them")
    demo_models = yaml.safe_load((work / "config.demo.yaml").read_text())["models"]
    entry = {**demo_models["demo_densenet121"], "checkpoint": str(checkpoint)}
    extra = write_config(work, "checkpoint.yaml", {"models": {"demo_densenet121": entry}})
    configs = ("config.demo.yaml", str(extra))
    weights_dir = work / "results" / "demo" / "weights"
    spec = ModelEntry.from_config("demo_densenet121", entry).spec()

    def lock(digest, key="demo_densenet121"):
        record = {"file": str(checkpoint), "sha256": digest, "size": 42}
        write_lock(weights_dir, {"models": {key: {"spec": spec, "weights_id": "file", "files": [record]}}})

    lock("a" * 64)
    jobs = dry_run_jobs(work, configfiles=configs)
    assert {dict(j.wildcards).get("model") for j in jobs} >= {"demo_densenet121"}
    snakemake(work, "--touch", configfiles=configs)
    assert planned_job_list(work, configfiles=configs) == []

    lock("a" * 64, key="a_model_not_run")
    for triggers in (("--rerun-triggers", "mtime"), ()):
        assert planned_job_list(work, *triggers, configfiles=configs) == [], triggers

    lock("b" * 64)
    all_jobs = dry_run_jobs(work, "--forceall", configfiles=configs)
    seeds = {j.key for j in all_jobs if dict(j.wildcards).get("model") == "demo_densenet121"}
    expected = downstream(all_jobs, seeds) - {("all", ())}
    assert ("head_geometry", (("model", "demo_resnet50"),)) not in expected
    for triggers in (("--rerun-triggers", "mtime"), ()):
        planned = {(rule, tuple(sorted(w.items()))) for rule, w in planned_job_list(work, *triggers,
                                                                                    configfiles=configs)}
        assert planned - {("all", ())} == expected, triggers
    manifest = work / "results/demo/manifests/extract_translator_features/demo_densenet121.json"
    assert json.loads(manifest.read_text())["weights"]["models"]["demo_densenet121"]["files"][0]["sha256"] == "a" * 64


def test_every_rule_takes_its_manifest_and_settings(parsed_workflow):
    """A rule without its manifest input would rerun on nothing under `--rerun-triggers mtime` (neither for its
    settings nor for its code). `all` runs nothing."""
    for rule in parsed_workflow.rules:
        name, params = rule.name, dict(rule.params.items())
        if name == "all":
            continue
        manifest = rule.input.get("settings")
        assert getattr(manifest, "step", None) == name, name
        assert getattr(params.get("settings"), "step", None) == name, name


def test_job_scripts_read_config_only_through_their_settings():
    """params.settings is the only param; snakemake.config is read only for cosmetic keys."""
    cosmetic = {key for key, node in leaves(SCHEMA) if COSMETIC in node}
    for script in sorted((REPO / "workflow_scripts").glob("*.py")):
        text = script.read_text()
        assert set(re.findall(r"snakemake\.params\.(\w+)", text)) <= {"settings"}, script.name
        for parts in re.findall(r"snakemake\.config((?:\[\"\w+\"\])+)", text):
            key = ".".join(re.findall(r"\"(\w+)\"", parts))
            assert key in cosmetic, f"{script.name} reads config {key!r}, which is not x-cosmetic"


# ----------------------------------------------------------------------------------------------- code
# Each manifest carries the hash of the job script and of every sing module it imports (sing.workflow.code):
# a change to what the library does reruns exactly the jobs whose scripts reach the changed module, and what
# depends on them, under both trigger settings; a change to its comments or docstrings reruns nothing.
EXTRACTION_RULES = {"extract_features", "extract_translator_features", "embed_images", "embed_translator_images"}
CODE_CASES = {
    "core/metrics.py": ({"score_chunk", "steering", "validation", "open_vocabulary"},
                        EXTRACTION_RULES | {"export_head", "fit_translator", "head_geometry"}),
    "data/extraction.py": (EXTRACTION_RULES | {"export_head"}, {"score_chunk", "head_geometry"}),
}


def _with_own_sources(demo: Path, target: Path) -> Path:
    """A copy of the finished demo whose `src` is a real copy (the demo's is a link to this checkout)."""
    import shutil

    work = _copy(demo, target)
    (work / "src").unlink()
    shutil.copytree(REPO / "src", work / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return work


@pytest.mark.workflow
@pytest.mark.parametrize("module", list(CODE_CASES))
def test_a_library_change_reruns_the_jobs_that_import_it(demo, demo_jobs, parsed_workflow, tmp_path, module):
    import json

    from workflow_helpers import downstream, planned_job_list

    from sing.workflow.code import CodeHasher

    work = _with_own_sources(demo, tmp_path / "code")
    path = work / "src" / "sing" / module
    path.write_text(path.read_text() + "\n# a comment and a new docstring change nothing\n")
    assert planned_job_list(work, "--rerun-triggers", "mtime") == []
    path.write_text(path.read_text() + "\n_CHANGED_BY_THE_TEST = 1\n")
    name = "sing." + module.removesuffix(".py").replace("/", ".")
    hasher = CodeHasher(work / "src")
    scripts = {rule.name: REPO / "workflow_scripts" / Path(rule.script).name
               for rule in parsed_workflow.rules if rule.script}
    seeds = {job.key for job in demo_jobs if job.rule in scripts and name in hasher.closure([scripts[job.rule]])}
    expected = downstream(demo_jobs, seeds) - {("all", ())}
    must, must_not = CODE_CASES[module]
    assert must <= {rule for rule, _ in seeds} and not must_not & {rule for rule, _ in seeds}
    for triggers in (("--rerun-triggers", "mtime"), ()):
        planned = {(rule, tuple(sorted(w.items()))) for rule, w in planned_job_list(work, *triggers)}
        planned.discard(("all", ()))
        assert planned == expected, (f"{module} {' '.join(triggers) or 'default triggers'}: "
                                     f"missed {sorted(expected - planned)}, extra {sorted(planned - expected)}")
    code = json.loads((work / "results/demo/manifests/score_chunk/demo_resnet50/demo_clip_a/000.json").read_text())
    assert code["code"]["script"] == "score_chunk.py" and "sing.core.metrics" in code["code"]["modules"]
