"""The real Snakemake DAG with published translators (translator.published), concept dictionaries
(text.dictionaries) and intermediate files replaced by hand, on copies of the one finished demo (conftest `demo`).

- a published (model, space) is imported instead of fitted, the translator sample is extracted only where another
  pair still fits one, and evaluate_translator still runs on it (real jobs);
- a changed published file reruns that pair only, once locked again (prefetch_weights), and stops the import job
  naming the file until then;
- a translator, head or geometry replaced by hand stops the run naming it; one placed where the workflow had not
  recorded one is recomputed;
- a configured dictionary adds its own job and the concept tables of its space.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from workflow_helpers import downstream, dry_run_jobs, planned_job_list, snakemake, write_config

pytestmark = pytest.mark.workflow

R = Path("results/demo")
PAIR = ("demo_densenet121", "demo_clip_a")  # DenseNet-121: m = 1024; demo_clip_a: ViT-S/32, n = 384
PAIR_WILDCARDS = (("model", PAIR[0]), ("space", PAIR[1]))


def _copy(demo: Path, target: Path) -> Path:
    shutil.copytree(demo, target, symlinks=True)  # mtimes kept: the copy is as up to date as the demo
    return target


def _save_published(path: Path, translator_file: Path, scale: float = 1.0) -> np.ndarray:
    """A torch.save state dict {weight, bias} (float32, the authors' best.pt layout) made from a sing translator."""
    import torch

    from sing.core.translator import LinearTranslator

    T = LinearTranslator.load(translator_file)
    weight = (T.weight * scale).astype(np.float32)  # (out, in), as torch.nn.Linear
    torch.save({"weight": torch.from_numpy(weight), "bias": torch.from_numpy(T.bias.astype(np.float32))}, path)
    return weight


def _planned(work: Path, *args: str, configfiles) -> set:
    return {(rule, tuple(sorted(w.items()))) for rule, w in planned_job_list(work, *args, configfiles=configfiles)
            } - {("all", ())}


def test_a_published_translator_replaces_the_fit_of_its_pair_only(demo, tmp_path):
    """Dry run on the finished demo: the pair's import job and what reads its translator, nothing else; the
    translator sample is still extracted for DenseNet (its other space fits one) but no longer read by the pair's
    validation. With both of DenseNet's translators published, its translator sample is not extracted at all."""
    published = tmp_path / "best.pt"
    _save_published(published, demo / R / "translators" / PAIR[0] / f"{PAIR[1]}.safetensors")
    extra = write_config(demo, "published.yaml", {"translator": {"published": {PAIR[0]: {PAIR[1]: str(published)}}}})
    jobs = dry_run_jobs(demo, configfiles=("config.demo.yaml", str(extra)))
    rules = {job.rule for job in jobs}
    assert ("import_translator", PAIR_WILDCARDS) in {job.key for job in jobs}
    assert "fit_translator" not in rules and not rules & {"extract_translator_features", "embed_translator_images"}
    assert ("evaluate_translator", PAIR_WILDCARDS) in {job.key for job in jobs}
    validation = next(j for j in jobs if j.key == ("validation", PAIR_WILDCARDS))
    assert not any(path.endswith("translator.parquet") for path in validation.inputs)

    both = write_config(demo, "published-both.yaml", {"translator": {"published": {PAIR[0]: {
        PAIR[1]: str(published), "demo_clip_b": str(published)}}}})
    proc = snakemake(demo, "-n", configfiles=("config.demo.yaml", str(both)), check=False)
    assert proc.returncode != 0  # demo_clip_b is 256-d: refused before any job, naming the key and both numbers
    out = proc.stdout + proc.stderr
    assert f"translator.published.{PAIR[0]}.demo_clip_b" in out and "out_dim is 384" in out and "dimension 256" in out


def test_the_import_job_runs_and_a_changed_file_reruns_that_pair_only(demo, tmp_path):
    """On a copy: prefetch_weights locks the published file, the import and evaluate_translator run for real (the
    imported translator holds exactly the file's weights and its sha256; the evaluation says `published`), the
    rest is brought up to date with --touch. A changed file stops the import job naming it until it is locked
    again; then exactly that pair's import and what depends on it rerun, under both trigger settings."""
    import hashlib

    import polars as pl

    from sing.core.translator import LinearTranslator
    from sing.models.lock import read_lock

    work = _copy(demo, tmp_path / "published")
    published = tmp_path / "best.pt"
    weight = _save_published(published, work / R / "translators" / PAIR[0] / f"{PAIR[1]}.safetensors")
    extra = write_config(work, "published.yaml", {"translator": {"published": {PAIR[0]: {PAIR[1]: str(published)}}}})
    configs = ("config.demo.yaml", str(extra))
    translator = work / R / "translators" / PAIR[0] / f"{PAIR[1]}.safetensors"
    evaluation = work / R / "tables" / "per_model" / PAIR[0] / PAIR[1] / "translator_eval.parquet"
    snakemake(work, "prefetch_weights", configfiles=configs)
    lock = read_lock(work / R / "weights")["translators"][f"{PAIR[0]}/{PAIR[1]}"]
    digest = hashlib.sha256(published.read_bytes()).hexdigest()
    assert lock["files"][0]["sha256"] == digest and lock["spec"] == {"published": str(published)}

    snakemake(work, str(evaluation.relative_to(work)), configfiles=configs)
    T = LinearTranslator.load(translator)
    np.testing.assert_array_equal(T.weight, weight.astype(np.float64))  # exactly the file's weights
    assert T.source["sha256"] == digest and T.source["kind"] == "published"
    assert set(pl.read_parquet(evaluation)["translator"]) == {"published"}
    snakemake(work, "--touch", configfiles=configs)
    assert _planned(work, configfiles=configs) == set()

    _save_published(published, translator, scale=2.0)  # the authors publish a new version
    proc = snakemake(work, str(translator.relative_to(work)), configfiles=configs, check=False)
    assert proc.returncode != 0 and "changed since prefetch" in proc.stdout + proc.stderr
    assert str(published) in proc.stdout + proc.stderr

    snakemake(work, "prefetch_weights", configfiles=configs)  # its input changed: it reruns and locks the new file
    all_jobs = dry_run_jobs(work, "--forceall", configfiles=configs)
    expected = downstream(all_jobs, {("import_translator", PAIR_WILDCARDS)}) - {("all", ())}
    assert ("score_chunk", (("chunk", "000"), ("model", PAIR[0]), ("space", "demo_clip_b"))) not in expected
    for triggers in (("--rerun-triggers", "mtime"), ()):
        assert _planned(work, *triggers, configfiles=configs) == expected, triggers


def test_an_intermediate_file_replaced_by_hand_stops_the_run_naming_it(demo, tmp_path):
    """A translator saved from elsewhere in place of the workflow's (another valid sing file), a head from
    another model, a geometry edited in place: the next invocation (a dry run too) stops before planning a job,
    naming each file. A translator placed where no job recorded one is recomputed (its job reruns)."""
    work = _copy(demo, tmp_path / "replaced")
    translator = work / R / "translators" / "demo_resnet50" / "demo_clip_a.safetensors"
    head = work / R / "heads" / "demo_resnet50" / "head.safetensors"
    shutil.copy(work / R / "translators" / "demo_densenet121" / "demo_clip_a.safetensors", translator)
    shutil.copy(work / R / "heads" / "demo_densenet121" / "head.safetensors", head)
    proc = snakemake(work, "-n", check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "2 intermediate file(s) changed since the job that wrote them" in out
    assert str(translator.relative_to(work)) in out and str(head.relative_to(work)) in out
    assert "translator.published" in out

    work2 = _copy(demo, tmp_path / "placed")
    translator = work2 / R / "translators" / "demo_resnet50" / "demo_clip_a.safetensors"
    (work2 / R / "written" / "translators" / "demo_resnet50" / "demo_clip_a.safetensors.json").unlink()
    shutil.copy(work2 / R / "translators" / "demo_densenet121" / "demo_clip_a.safetensors", translator)
    planned = _planned(work2, configfiles=("config.demo.yaml",))
    assert ("fit_translator", (("model", "demo_resnet50"), ("space", "demo_clip_a"))) in planned


def test_a_configured_dictionary_adds_its_job_and_its_space_concept_tables(demo, tmp_path):
    """A parquet dictionary of demo_clip_a: one concept_dictionary job for it, the class_concepts of that space
    (every model), their collection, previews and figures; nothing of demo_clip_b, no embedding of images."""
    from sing.data.dictionaries import ConceptDictionary, write_dictionary

    rng = np.random.default_rng(0)
    path = tmp_path / "mine.parquet"
    write_dictionary(path, ConceptDictionary("mine", ("red", "wood", "sky"), rng.normal(size=(3, 384))))
    extra = write_config(demo, "dictionary.yaml", {"text": {"dictionaries": {"mine": {
        "path": str(path), "space": "demo_clip_a", "fingerprint": False}}}})
    planned = _planned(demo, configfiles=("config.demo.yaml", str(extra)))
    rules = {rule for rule, _ in planned}
    assert ("concept_dictionary", (("dictionary", "mine"), ("space", "demo_clip_a"))) in planned
    assert {w for rule, w in planned if rule == "class_concepts"} == {
        (("model", m), ("space", "demo_clip_a")) for m in ("demo_resnet50", "demo_densenet121")}
    assert rules <= {"concept_dictionary", "class_concepts", "collect_table", "table_preview", "figures", "front_page"}
    assert json.loads((demo / R / "manifests" / "class_concepts" / "demo_resnet50" / "demo_clip_a.json").read_text(
    ))["analyses"]["open_vocabulary"]["dictionaries"] == ["builtin"]  # the dry run left the manifest as it was
