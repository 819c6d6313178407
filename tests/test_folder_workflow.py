"""Integration tests: the real Snakefile on config.folder-demo.yaml (a synthetic image folder with non-WordNet class
names, classifiers whose checkpoints the workflow writes itself, a python-factory model). One run is shared."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from safetensors.numpy import load_file
from workflow_helpers import planned_job_list, planned_jobs, snakemake, write_config

from sing.data.classes import file_key

pytestmark = pytest.mark.workflow

CONFIG = ("config.folder-demo.yaml",)
RESULTS = Path("results/folder-demo")
ORDER = ["Abyssinian", "British Shorthair", "Maine_Coon", "狸花猫", "Ægean", "09"]  # demo/pets/class_index.txt
ANALYSED = ORDER[:5]


def refused(workdir: Path, name: str, overrides: dict) -> str:
    extra = write_config(workdir, name, overrides)
    proc = snakemake(workdir, "-n", configfiles=(*CONFIG, str(extra)), check=False)
    assert proc.returncode != 0
    return proc.stdout + proc.stderr


def test_every_table_and_figure_with_awkward_class_ids(folder_demo):
    R = folder_demo / RESULTS
    for table in ["model_summary", "class_summary", "rank_correlation", "steering", "validation", "robustness",
                  "open_vocabulary", "translator_eval"]:
        assert pl.read_parquet(R / "tables" / f"{table}.parquet").height > 0, table
    from sing.outputs import figure_names

    study_off = {"translator": {"study": {"enabled": False}}}  # config.folder-demo.yaml: the run without the study
    for figure in figure_names(study_off):
        assert (R / "figures" / f"{figure}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", figure
    assert not list((R / "figures").glob("translator_study*"))
    assert not (R / "tables" / "translator_study.parquet").exists()
    assert pl.read_parquet(R / "tables" / "translator_sensitivity.parquet")["variant"].unique().sort().to_list() == [
        "alpha_x0.1", "alpha_x10", "default"]  # no best non-linear translator without the study
    assert (R / "figures" / "unclip" / "pets_smallnet.png").stat().st_size > 1000
    assert (R / "figures" / "unclip" / "pets_smallnet.perturbations.png").stat().st_size > 1000
    assert not (R / "figures" / "unclip" / "pets_smallnet.translators.png").exists()

    classes = pl.read_parquet(R / "classes.parquet")
    assert classes["class_id"].to_list() == ORDER and classes["class_index"].to_list() == list(range(6))
    names = dict(zip(classes["class_id"], classes["name"]))
    prompts = dict(zip(classes["class_id"], classes["prompt_name"]))
    assert names["狸花猫"] == "Dragon Li" and names["Maine_Coon"] == "Maine Coon"
    assert names["Abyssinian"] == "Abyssinian"
    assert prompts["狸花猫"] == "dragon li cat" and prompts["Maine_Coon"] == "maine coon cat"

    cs = pl.read_parquet(R / "tables" / "class_summary.parquet")
    assert set(cs["class_id"]) == set(ANALYSED) and "Dragon Li" in set(cs["class_name"])
    assert dict(zip(cs["class_id"], cs["class_index"]))["Ægean"] == 4
    text = pl.read_parquet(R / "text" / "demo_clip_a" / "classes.parquet").filter(pl.col("kind") == "class")
    assert dict(zip(text["key"], text["prompt"]))["狸花猫"] == "an image of a dragon li cat"
    steer = pl.read_parquet(R / "tables" / "steering.parquet")
    assert steer["image_id"].str.starts_with("val/British Shorthair/").all()
    ov = pl.read_parquet(R / "tables" / "open_vocabulary.parquet")
    assert set(ov["class_id"]) == {"狸花猫"} and "a rice field" in set(ov["concept"])


def test_nullity_is_m_minus_k_and_heads_come_from_the_checkpoints(folder_demo):
    R = folder_demo / RESULTS
    ms = pl.read_parquet(R / "tables" / "model_summary.parquet")
    got = {(m, r, n) for m, r, n in ms.select("model", "rank", "nullity").unique().rows()}
    assert got == {("pets_resnet18", 6, 512 - 6), ("pets_smallnet", 6, 64 - 6)}
    # the exported head is the checkpoint's own 6-way classifier (timm would have put a random one in its place)
    head = load_file(str(R / "heads" / "pets_resnet18" / "head.safetensors"))
    ckpt = load_file(str(R / "checkpoints" / "pets_resnet18.safetensors"))
    np.testing.assert_array_equal(head["weight"], ckpt["fc.weight"])
    assert "matches folder dataset" in (R / "logs" / "export_head" / "pets_resnet18.log").read_text()
    scores = pl.concat([pl.read_parquet(p) for p in (R / "scores").rglob("*.parquet")])
    assert scores["logit_change_rel"].max() <= 1e-4 and scores["pred_class"].is_between(0, 5).all()


def test_per_class_files_map_back_to_their_class(folder_demo):
    R = folder_demo / RESULTS
    classes = pl.read_parquet(R / "classes.parquet")
    by_key = {k: (c, ch) for c, k, ch in classes.select("class_id", "file_key", "chunk").rows()}
    files = [p for p in (R / "features" / "pets_resnet18" / "analysis").rglob("*.parquet")
             if p.name != "skipped.parquet"]
    assert len(files) == len(ANALYSED)
    for p in files:
        class_id, chunk = by_key[p.stem]
        assert p.parent.name == f"chunk-{chunk:03d}" and file_key(class_id) == p.stem
        assert set(pl.read_parquet(p)["class_id"]) == {class_id}
    assert (R / "features" / "pets_resnet18" / "analysis" / f"chunk-{by_key['09'][1]:03d}").is_dir()  # Maine_Coon's
    # one unreadable file per class and split: when the sample reaches it, it is skipped, listed and replaced
    skipped = [pl.read_parquet(p) for p in R.glob("features/pets_resnet18/*/*/skipped.parquet")]
    assert skipped and all(set(t["class_id"]) <= set(ORDER) and t["error"].str.len_chars().min() > 0 for t in skipped)
    junk = [i for p in files for i in pl.read_parquet(p)["image_id"] if not i.endswith(".jpg")]
    assert not junk  # Thumbs.db, desktop.ini, notes.txt are never sampled
    assert "ignored 2 non-image file(s)" in (R / "logs" / "extract_features" / "pets_resnet18"
                                             / "analysis-000.log").read_text()


def test_folder_rerun_has_nothing_to_do(folder_demo):
    assert planned_jobs(folder_demo, configfiles=CONFIG) == {}


def test_adding_a_class_reruns_only_its_chunk(folder_demo):
    chunks = dict(pl.read_parquet(folder_demo / RESULTS / "classes.parquet").select("class_id", "chunk").rows())
    assert chunks["09"] == chunks["Maine_Coon"] == 2  # "09" lands in chunk 002 beside Maine_Coon
    extra = write_config(folder_demo, "add_class.yaml", {"classes": ORDER})
    jobs = planned_job_list(folder_demo, configfiles=(*CONFIG, str(extra)))
    rules = {rule for rule, _ in jobs}
    assert {"extract_features", "embed_images", "score_chunk"} <= rules
    assert not rules & {"export_head", "head_geometry", "extract_translator_features", "embed_translator_images",
                        "fit_translator", "embed_texts", "steering", "train_probes", "open_vocabulary",
                        "synthetic_dataset", "synthetic_checkpoints", "dataset_classes"}
    chunked = [w for rule, w in jobs if rule in {"extract_features", "embed_images", "score_chunk"}]
    assert {w["chunk"] for w in chunked} == {"002"}
    assert sum(rule == "extract_features" for rule, _ in jobs) == 2  # one per model


def test_head_dataset_class_count_mismatch_is_refused_by_name(folder_demo):
    out = refused(folder_demo, "k5.yaml", {"models": {"pets_resnet18": {
        "source": "timm", "name": "resnet18", "checkpoint": "results/folder-demo/checkpoints/pets_resnet18.safetensors",
        "model_kwargs": {"num_classes": 5}, "display": "x"}}})
    assert "models.pets_resnet18" in out and "5 outputs" in out and "6 classes" in out
    assert "folder dataset results/folder-demo/pets" in out


# The class-order file and the ImageNet defaults on a folder dataset: tests/test_workflow_plan.py (no Snakemake).


# ----------------------------------------------------------------------------------------------- reruns
# A job's settings hold the class ids, indices and names it computes with (sing.workflow.settings class_order /
# class_names), never the paths of the class-index or class-names files: each change reruns exactly its jobs.
def _plan(workdir: Path, overrides: dict, name: str) -> set:
    from workflow_helpers import planned_job_list

    extra = write_config(workdir, name, overrides)
    plans = []
    for triggers in (("--rerun-triggers", "mtime"), ()):
        plans.append({(rule, tuple(sorted(w.items())))
                      for rule, w in planned_job_list(workdir, *triggers, configfiles=(*CONFIG, str(extra)))})
    assert plans[0] == plans[1], f"mtime and default triggers differ: {plans[0] ^ plans[1]}"
    return plans[0] - {("all", ())}


def _expected(workdir: Path, seeds) -> set:
    from workflow_helpers import downstream, dry_run_jobs

    jobs = dry_run_jobs(workdir, "--forceall", configfiles=CONFIG)
    keys = {job.key for job in jobs if any(seed(job.rule, dict(job.wildcards)) for seed in seeds)}
    return downstream(jobs, keys) - {("all", ())}


def _names_file(workdir: Path, change) -> str:
    path = workdir / "names-edited.tsv"
    path.write_text(change((workdir / "demo/pets/classes.tsv").read_text(encoding="utf-8")), encoding="utf-8")
    return str(path)


def test_a_display_name_reruns_only_what_prints_it(folder_demo):
    names = _names_file(folder_demo, lambda t: t.replace("Dragon Li\t", "Li Hua cat\t"))
    planned = _plan(folder_demo, {"dataset": {"class_names": names}}, "display.yaml")
    assert planned == _expected(folder_demo, [lambda r, w: r in ("dataset_classes", "aggregate_model", "figures",
                                                                  "table_preview", "table_preview_per_image")])
    assert not {r for r, _ in planned} & {"embed_texts", "extract_features", "score_chunk"}


def test_a_prompt_name_reruns_the_class_prompts_and_what_scores_with_them(folder_demo):
    names = _names_file(folder_demo, lambda t: t.replace("\tdragon li cat", "\tdragon li, a chinese cat"))
    planned = _plan(folder_demo, {"dataset": {"class_names": names}}, "prompt.yaml")
    assert planned == _expected(folder_demo, [
        lambda r, w: r == "dataset_classes",
        lambda r, w: r == "embed_texts" and w["part"] in ("classes", "concepts")])
    assert "score_chunk" in {r for r, _ in planned} and "extract_features" not in {r for r, _ in planned}


def test_a_new_class_order_reruns_the_chunks_whose_indices_move(folder_demo):
    order = folder_demo / "order-swapped.txt"  # Ægean (analysed, chunk 001) and 09 (not analysed) swap places
    order.write_text("\n".join(ORDER[:4] + ["09", "Ægean"]) + "\n", encoding="utf-8")
    planned = _plan(folder_demo, {"dataset": {"class_index": str(order)}}, "order.yaml")
    chunks = {dict(w).get("chunk") for r, w in planned if r == "embed_images"}
    assert chunks == {"001"}  # chunk 000 (Abyssinian 0) and 002 (Maine_Coon 2) keep their indices
    rules = {r for r, _ in planned}
    assert {"synthetic_checkpoints", "export_head", "dataset_classes", "embed_translator_images"} <= rules
