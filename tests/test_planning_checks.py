"""Planning-time checks (issue 20): every mistake a newcomer made is named before any job runs, with the config
key, the value and the fix. One test per mistake of the issue, plus one of our own per kind of mistake."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from sing.data import availability
from sing.data.availability import (
    DataAvailabilityError,
    SampleRequest,
    check_dataset_root,
    check_samples,
    count_images,
    sample_requests,
)
from sing.data.classes import ClassCatalog, catalog_from_settings, dataset_root_problem
from sing.io.config_files import ConfigFileError, load_config_file
from sing.io.host import CudaProbe, HostError, check_device, check_slurm, cuda_devices, executor_is_local
from sing.io.schema import config_keys_named, unknown_config_keys

REPO = Path(__file__).resolve().parents[1]
SCHEMA = yaml.safe_load((REPO / "schemas" / "config.schema.yaml").read_text())


def make_folder_dataset(root: Path, counts: dict[str, dict[str, int]], junk: int = 0) -> Path:
    """<root>/<split>/<class>/<i>.jpg for {split: {class: number of files}} (empty files: only names count)."""
    for split, classes in counts.items():
        for c, n in classes.items():
            folder = root / split / c
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                (folder / f"{i}.jpg").touch()
            for j in range(junk):
                (folder / f"notes{j}.txt").touch()
    return root


def folder_catalog(root: Path) -> ClassCatalog:
    return catalog_from_settings({"kind": "folder", "root": str(root)})


def assert_keys_exist(message: str):
    unknown = set(unknown_config_keys(message, SCHEMA))
    assert not unknown, f"message names keys the schema lacks: {unknown}\n{message}"


# ------------------------------------------------------------------ sample sizes the dataset cannot supply
def test_robustness_default_500_on_a_small_dataset_is_named_with_key_value_and_fix(tmp_path):
    """The issue: samples.robustness.per_class defaults to 500; 8 images per class failed after a minute of jobs."""
    root = make_folder_dataset(tmp_path / "pets", {"train": {"Abyssinian": 8, "Bengal": 9, "Birman": 12},
                                                   "val": {"Abyssinian": 3, "Bengal": 3, "Birman": 3}})
    cat = folder_catalog(root)
    samples = {"translator": {"split": "train", "per_class": 5}, "analysis": {"split": "val", "per_class": 3},
               "robustness": {"split": "train", "per_class": 500, "take_all_if_fewer": False}}
    requests = sample_requests(samples, {name: cat.ids for name in samples})
    with pytest.raises(DataAvailabilityError) as e:
        check_samples(cat, requests)
    msg = str(e.value)
    assert len(e.value.problems) == 1, msg  # translator (5 <= 8) and analysis (3) can be drawn
    assert "config samples.robustness.per_class: 500 images per class from split 'train'" in msg
    assert "3 of the 3 classes" in msg and "'Abyssinian': 8 (" in msg and str(root / "train" / "Abyssinian") in msg
    assert "Set samples.robustness.per_class: 8" in msg  # the largest value every class can supply
    assert "samples.robustness.take_all_if_fewer: true" in msg
    assert_keys_exist(msg)
    # the fixes it names do work
    for fix in ({"per_class": 8}, {"take_all_if_fewer": True}):
        fixed = {**samples, "robustness": {**samples["robustness"], **fix}}
        check_samples(cat, sample_requests(fixed, {name: cat.ids for name in fixed}))


def test_the_job_time_fallback_names_the_sample_key_too():
    """The same mistake reaching a job (a dataset changed after planning): the extraction's listing check names
    the sample's config keys (run_extraction passes samples.<its sample>)."""
    from sing.data.extraction import sample_usable
    from sing.data.images import sample_class

    files = [f"train/a/{i}.jpg" for i in range(8)]
    with pytest.raises(ValueError, match=r"class a: asked for 500 images \(samples.robustness.per_class\) but only 8 "
                                         r"exist in /d/train/a \(set samples.robustness.take_all_if_fewer: true to "
                                         r"use what exists, or lower samples.robustness.per_class\)"):
        sample_class(files, 500, 0, "a", folder="/d/train/a", setting="samples.robustness")
    with pytest.raises(ValueError, match=r"asked for 500 images but only 8 exist \(set take_all_if_fewer: true"):
        sample_class(files, 500, 0, "a")

    def encode(ids, rnd):  # every other file unreadable
        keep = [i for i in ids if int(i.rsplit("/", 1)[1][:-4]) % 2 == 0]
        return {"image_ids": keep, "skipped": [{"image_id": i} for i in ids if i not in keep]}

    with pytest.raises(ValueError, match=r"asked for 6 images \(samples.analysis.per_class\) but only 4 of the 8 "
                                         r".*lower samples.analysis.per_class"):
        sample_usable(encode, {"a": files}, 6, where={"a": "/d/train/a"}, setting="samples.analysis")


def test_empty_class_folder_is_named_at_planning(tmp_path):
    """The issue: an empty class folder failed after 54 s of jobs."""
    root = make_folder_dataset(tmp_path / "d", {"train": {"a": 4, "b": 4}, "val": {"a": 2, "b": 0}}, junk=1)
    cat = folder_catalog(root)
    req = SampleRequest("samples.analysis", "val", 2, cat.ids, take_all_if_fewer=True, classes_key="classes")
    with pytest.raises(DataAvailabilityError) as e:
        check_samples(cat, [req])
    msg = str(e.value)
    assert "config samples.analysis: 1 class folder(s) of split 'val' hold no image file (1 non-image file(s) " \
           "ignored)" in msg
    assert f"'b' ({root / 'val' / 'b'})" in msg and "even with take_all_if_fewer" in msg and "classes" in msg
    assert_keys_exist(msg)


def test_own_a_split_the_dataset_lacks_and_a_class_missing_from_one_split(tmp_path):
    """Ours: samples.analysis.split: val on a dataset with only train/; a class folder present in train only."""
    root = make_folder_dataset(tmp_path / "d", {"train": {"a": 4, "b": 4}})
    cat = folder_catalog(root)
    with pytest.raises(DataAvailabilityError, match=r"config samples.analysis.split: 'val', but .* has no val/ "
                                                    r"folder \(it has train/\); set samples.analysis.split: train"):
        check_samples(cat, [SampleRequest("samples.analysis", "val", 2, cat.ids)])
    make_folder_dataset(root, {"val": {"a": 3}})
    with pytest.raises(DataAvailabilityError) as e:
        check_samples(cat, [SampleRequest("samples.analysis", "val", 2, cat.ids, classes_key="classes")])
    assert "1 of its 2 classes (classes) have no folder in split 'val': 'b'" in str(e.value)


def test_all_problems_of_a_run_come_in_one_error_and_good_samples_pass(tmp_path):
    root = make_folder_dataset(tmp_path / "d", {"train": {"a": 3, "b": 0, "c": 10}, "val": {"a": 1, "b": 1, "c": 1}})
    cat = folder_catalog(root)
    reqs = [SampleRequest("samples.translator", "train", 5, ("a", "c")),
            SampleRequest("samples.robustness", "train", 2, ("a", "b", "c")),
            SampleRequest("samples.analysis", "val", 1, cat.ids),
            SampleRequest("samples.openvocab", "train", 1300, ("a", "c"), take_all_if_fewer=True)]
    with pytest.raises(DataAvailabilityError) as e:
        check_samples(cat, reqs)
    assert [p.split(":")[0] for p in e.value.problems] == ["config samples.translator.per_class",
                                                           "config samples.robustness"]
    counted = check_samples(cat, reqs[2:])
    assert counted["samples.analysis"] == {"a": 1, "b": 1, "c": 1}


def test_imagenet_flat_val_is_counted_from_the_solution_csv(tmp_path):
    wnids = ["n01440764", "n01443537"]
    (tmp_path / "val").mkdir()
    rows = ["ImageId,PredictionString"]
    for k, w in enumerate(wnids):
        for i in range(3 if k == 0 else 2):
            name = f"ILSVRC2012_val_{k * 10 + i:08d}"
            rows.append(f"{name},{w} 0 0 1 1")
            if not (k == 1 and i == 1):  # one listed image of the second class has no file
                (tmp_path / "val" / f"{name}.JPEG").touch()
    (tmp_path / "LOC_val_solution.csv").write_text("\n".join(rows) + "\n")
    cat = catalog_from_settings({"kind": "imagenet", "root": str(tmp_path)})
    counts = count_images(cat, "val", wnids)
    assert (counts[wnids[0]].count, counts[wnids[1]].count, counts[wnids[1]].missing) == (3, 1, 1)
    with pytest.raises(DataAvailabilityError, match="extraction.on_missing_image: skip"):
        check_samples(cat, [SampleRequest("samples.analysis", "val", 1, tuple(wnids))])
    check_samples(cat, [SampleRequest("samples.analysis", "val", 1, tuple(wnids))], on_missing_image="skip")


def test_synthetic_datasets_are_checked_from_their_generator_settings(tmp_path):
    cat = ClassCatalog("imagenet", ("n01440764", "n01443537"), str(tmp_path / "not-yet"))
    synthetic = {"classes": ["n01440764", "n01443537"], "train_per_class": 12, "val_per_class": 6,
                 "bad_per_split": 1}
    check_samples(cat, [SampleRequest("samples.robustness", "train", 10, cat.ids)], synthetic=synthetic)
    with pytest.raises(DataAvailabilityError, match="Set samples.robustness.per_class: 13"):
        check_samples(cat, [SampleRequest("samples.robustness", "train", 500, cat.ids)], synthetic=synthetic)


def test_counting_reads_names_only_stops_early_and_caches_by_folder_mtime(tmp_path, monkeypatch):
    root = make_folder_dataset(tmp_path / "d", {"train": {"a": 50}}, junk=2)
    (root / "train" / "a" / ".hidden.jpg").touch()
    (root / "train" / "a" / "sub.jpg").mkdir()  # a folder named like an image is not an image
    cat = folder_catalog(root)
    assert count_images(cat, "train", ["a"])["a"].count == 50
    early = count_images(cat, "train", ["a"], stop_after=10)["a"]
    assert (early.count, early.complete) == (10, False)
    cache = tmp_path / "counts.json"
    assert count_images(cat, "train", ["a"], cache=cache)["a"].count == 50
    calls = []
    real = availability._scan
    monkeypatch.setattr(availability, "_scan", lambda *a: calls.append(a) or real(*a))
    assert count_images(cat, "train", ["a"], cache=cache)["a"].count == 50 and not calls  # from the cache
    time.sleep(0.01)
    (root / "train" / "a" / "new.jpg").touch()
    os.utime(root / "train" / "a", ns=(time.time_ns(), time.time_ns() + 10**9))  # coarse-mtime file systems
    assert count_images(cat, "train", ["a"], cache=cache)["a"].count == 51 and len(calls) == 1
    assert json.loads(cache.read_text())[str(root / "train" / "a")][1] == 51


# ------------------------------------------------------------------ dataset roots
def test_nonexistent_imagenet_root_names_dataset_root(tmp_path):
    """The issue: a non-existent ImageNet root was not caught at planning."""
    with pytest.raises(DataAvailabilityError) as e:
        check_dataset_root({"kind": "imagenet", "root": str(tmp_path / "path" / "to" / "imagenet")})
    msg = str(e.value)
    assert msg.startswith(f"config dataset.root: {tmp_path / 'path' / 'to' / 'imagenet'} does not exist")
    assert f"the nearest existing parent is {tmp_path}" in msg and "Set dataset.root" in msg
    assert_keys_exist(msg)
    check_dataset_root({"kind": "imagenet", "root": str(tmp_path / "x"), "synthetic": {"classes": ["n01440764"]}})


def test_nonexistent_folder_root_says_does_not_exist_and_names_dataset_root(tmp_path):
    """The issue: a missing folder-dataset root never said "does not exist" or named dataset.root (this check runs
    where the workflow reads the class folders, at parse time)."""
    with pytest.raises(FileNotFoundError, match=r"^config dataset.root: .*/pets does not exist \(folder dataset"):
        catalog_from_settings({"kind": "folder", "root": str(tmp_path / "pets")})


def test_own_root_one_level_too_high_or_a_file(tmp_path):
    """Ours: dataset.root pointing at the folder above the dataset, or at an archive."""
    make_folder_dataset(tmp_path / "datasets" / "imagenet", {"train": {"n01440764": 1}, "val": {"n01440764": 1}})
    with pytest.raises(DataAvailabilityError, match=r"holds no train/ or val/ folder .* did you mean "
                                                    r".*/datasets/imagenet, which has them\?"):
        check_dataset_root({"kind": "imagenet", "root": str(tmp_path / "datasets")})
    archive = tmp_path / "ILSVRC2012_img_train.tar"
    archive.write_bytes(b"x")
    assert "is a file, not a folder (an archive must be extracted first" in dataset_root_problem(archive, "imagenet")
    check_dataset_root({"kind": "imagenet", "root": str(tmp_path / "datasets" / "imagenet")})
    make_folder_dataset(tmp_path / "trainonly", {"train": {"a": 1}})
    assert "has no val/ folder, which the configured samples read" in dataset_root_problem(tmp_path / "trainonly")


# ------------------------------------------------------------------ devices
def test_cuda_on_a_cpu_only_machine_names_extraction_device():
    """The issue: extraction.device: cuda on a CPU-only machine failed per job without naming the key."""
    no_gpu = CudaProbe(0, "no NVIDIA driver on this machine (libcuda.so.1 cannot be loaded)")
    with pytest.raises(HostError) as e:
        check_device("cuda", probe=lambda: no_gpu)
    msg = str(e.value)
    assert msg.startswith("config extraction.device: 'cuda', but this machine has no CUDA device")
    assert "no NVIDIA driver" in msg and "Set extraction.device: auto" in msg
    assert_keys_exist(msg)
    assert check_device("auto", probe=lambda: no_gpu) is None and check_device("cpu", probe=lambda: no_gpu) is None
    # a cluster run plans GPU jobs on a login node without a GPU: not this machine's jobs, not checked
    assert check_device("cuda", local=False, probe=lambda: no_gpu) is None
    assert executor_is_local(None) and executor_is_local("local") and not executor_is_local("slurm")


def test_the_real_probe_answers_without_torch():
    code = ("import sys; from sing.io.host import cuda_devices; p = cuda_devices(); "
            "print(p.count, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[1] == "False"
    try:
        import torch
    except ImportError:  # pragma: no cover
        return
    assert int(out[0]) == torch.cuda.device_count()  # the driver API and torch agree


def test_own_cuda_visible_devices_hiding_every_gpu_and_an_index_beyond_the_count(monkeypatch):
    """Ours: a GPU node whose CUDA_VISIBLE_DEVICES is empty (a job without a GPU allocation), and cuda:3 on a
    2-GPU machine."""
    with pytest.raises(HostError, match="CUDA_VISIBLE_DEVICES=''"):
        check_device("cuda", probe=lambda: CudaProbe(0, "CUDA_VISIBLE_DEVICES='' hides every GPU"))
    with pytest.raises(HostError, match=r"'cuda:3', but this machine shows 2 CUDA device\(s\) \(cuda:0 .. cuda:1\)"):
        check_device("cuda:3", probe=lambda: CudaProbe(2))
    assert check_device("cuda:1", probe=lambda: CudaProbe(2)).count == 2
    with pytest.raises(ValueError, match="'gpu' is not a device"):
        check_device("gpu")
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert cuda_devices().count == 0  # the real probe, whatever the machine


# ------------------------------------------------------------------ config files
def test_yaml_indentation_error_names_file_line_and_column(tmp_path):
    """The issue: a YAML indentation error gave "Config file is not valid JSON or YAML" with no file or line."""
    f = tmp_path / "pets.yaml"
    f.write_text("results_dir: results/pets\ndataset:\n  kind: folder\n   root: /data/pets\n")
    with pytest.raises(ConfigFileError) as e:
        load_config_file(f)
    assert (e.value.line, e.value.column) == (4, 8)
    msg = str(e.value)
    assert msg.startswith(f"config file {f}, line 4, column 8: mapping values are not allowed here")
    assert "   4 |    root: /data/pets" in msg and "likely cause: a key indented deeper" in msg


def test_own_duplicate_key_tabs_json_and_top_level(tmp_path):
    """Ours: a key written twice (YAML and Snakemake keep the last one silently), tab indentation, a JSON error, a
    list at the top level; the valid demo configs load as yaml.safe_load reads them."""
    cases = {
        "dup.yaml": ("samples:\n  robustness: {per_class: 8}\nsamples:\n  analysis: {per_class: 5}\n",
                     r"line 3, column 1: key 'samples' appears twice in this mapping \(first at line 1\)"),
        "nested.yaml": ("analyses:\n  ci: 0.9\n  bootstrap: 10\n  ci: 0.95\n", r"line 4, column 3: key 'ci'"),
        "tab.yaml": ("dataset:\n\tkind: folder\n", r"(?s)line 2, column 1: .*2 \| →kind.*spaces, not tabs"),
        "bad.json": ('{"results_dir": "r",\n "dataset": }\n', r"line 2, column 13: invalid JSON: Expecting value"),
        "list.yaml": ("- results_dir: r\n", r"holds a list, not keys at its top level"),
    }
    for name, (text, pattern) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(ConfigFileError, match=pattern):
            load_config_file(tmp_path / name)
    with pytest.raises(ConfigFileError, match="missing.yaml: does not exist"):
        load_config_file(tmp_path / "missing.yaml")
    (tmp_path / "empty.yaml").write_text("# nothing\n")
    assert load_config_file(tmp_path / "empty.yaml") == {}
    (tmp_path / "merge.yaml").write_text("base: &b {x: 1}\nother:\n  <<: *b\n  x: 2\n")
    assert load_config_file(tmp_path / "merge.yaml")["other"] == {"x": 2}  # an explicit key overrides a merge
    for name in ("config.yaml", "config.demo.yaml", "config.folder-demo.yaml"):
        assert load_config_file(REPO / name) == yaml.safe_load((REPO / name).read_text())


# ------------------------------------------------------------------ SLURM executor without SLURM
def test_slurm_executor_without_slurm_commands_gives_one_message():
    """The issue: --profile slurm on a machine without SLURM printed "No such file or directory: 'sinfo'" 156
    times after planning 814 jobs."""
    with pytest.raises(HostError) as e:
        check_slurm("slurm", which=lambda cmd: None)
    msg = str(e.value)
    assert msg.count("\n") == 0 and "sbatch, squeue, sinfo, scancel are not on PATH" in msg
    assert "no SLURM command at all" in msg and ".venv/bin/snakemake --cores N (no --profile slurm)" in msg
    check_slurm("local", which=lambda cmd: None)
    check_slurm(None, which=lambda cmd: None)


def test_own_partial_slurm_install_names_the_missing_commands():
    """Ours: a node with sbatch but no squeue (the workflow profile reads job status through squeue)."""
    have = {"sbatch": "/usr/bin/sbatch", "sinfo": "/usr/bin/sinfo", "scancel": "/usr/bin/scancel"}
    with pytest.raises(HostError, match=r"squeue is not on PATH \(found: sbatch, sinfo, scancel;"):
        check_slurm("slurm", which=have.get)
    check_slurm("slurm", which=lambda cmd: f"/usr/bin/{cmd}")


# ------------------------------------------------------------------ config keys in messages
def test_config_keys_named_in_text():
    text = ("set ``figures.violin_k``, models.resnet.display, samples.translator.{split, seed}; see "
            "tables/model_summary.parquet, classes.parquet and sing.registry.MODELS; dataset.root.")
    assert config_keys_named(text, SCHEMA) == ["figures.violin_k", "models.<key>.display", "samples.translator.split",
                                               "samples.translator.seed", "dataset.root"]
    assert unknown_config_keys(text, SCHEMA) == ["figures.violin_k"]


def test_translator_quality_thresholds_are_the_schema_defaults():
    """The library's default thresholds are the config's (translator.min_heldout_r2 / min_samples_per_dim)."""
    from sing.analysis.translation import QUALITY_DEFAULTS

    props = SCHEMA["properties"]["translator"]["properties"]
    assert QUALITY_DEFAULTS == {key: props[key]["default"] for key in QUALITY_DEFAULTS}


# ------------------------------------------------------------------ through sing.workflow, as the Snakefile calls them
# The workflow builds a Plan (config-only checks, every invocation) and, while Snakemake builds the DAG, asks
# MachineChecks for each rule it plans (rules/execution.smk check_machine): a real run stops on the problems before any
# job, a dry run prints them as warnings. These tests call exactly that, without Snakemake (milliseconds).
from sing.workflow.check_config import check_config  # noqa: E402
from sing.workflow.config import is_config_mistake, load_schema, merge_configs, resolve_config  # noqa: E402
from sing.workflow.machine import MachineChecks, rules_decided_by  # noqa: E402
from sing.workflow.plan import Plan  # noqa: E402

WF_SCHEMA = load_schema(REPO / "schemas" / "config.schema.yaml")
PETS = ["Abyssinian", "British Shorthair", "Maine_Coon", "狸花猫", "Ægean", "09"]  # the folder demo's classes
IMAGE_RULE, DEVICE_ONLY_RULE = "extract_features", "embed_texts"  # a rule reading images; one needing only a device


def pets_plan(root: Path, **overrides) -> Plan:
    """The folder demo's config on a real (not generated) image folder at ``root``."""
    base = [yaml.safe_load((REPO / f).read_text()) for f in ("config.yaml", "config.folder-demo.yaml")]
    mine = {"dataset": {"root": str(root), "synthetic": None, "class_index": str(REPO / "demo/pets/class_index.txt"),
                        "class_names": str(REPO / "demo/pets/classes.tsv")}}
    return Plan(resolve_config(merge_configs(*base, mine, overrides), WF_SCHEMA), WF_SCHEMA)


def demo_plan(**overrides) -> Plan:
    base = [yaml.safe_load((REPO / f).read_text()) for f in ("config.yaml", "config.demo.yaml")]
    return Plan(resolve_config(merge_configs(*base, overrides), WF_SCHEMA), WF_SCHEMA)


def pets_counts(train: int = 10, val: int = 5, **per_class) -> dict:
    return {"train": {c: per_class.get(c, (train, val))[0] for c in PETS},
            "val": {c: per_class.get(c, (train, val))[1] for c in PETS}}


def test_machine_checks_run_for_the_rules_that_need_them_once_each():
    """The kinds follow the schema: rules dataset.root / extraction.device decide (x-decides). prefetch_weights
    needs none (it runs on a login node without the dataset); a cluster executor skips the device."""
    assert IMAGE_RULE in rules_decided_by(WF_SCHEMA, "dataset.root")
    assert "prefetch_weights" not in rules_decided_by(WF_SCHEMA, "dataset.root")
    assert DEVICE_ONLY_RULE in rules_decided_by(WF_SCHEMA, "extraction.device")
    machine = MachineChecks(demo_plan(), which=lambda c: None, probe=lambda: CudaProbe(0, "no driver"))
    assert machine.kinds("prefetch_weights", "local") == []
    assert machine.kinds(IMAGE_RULE, "local") == ["device", "dataset"]
    assert machine.kinds(IMAGE_RULE, "slurm") == ["slurm", "dataset"]
    assert machine.kinds("figures", None) == []
    assert machine.problems(IMAGE_RULE, "local") == []  # demo: device cpu, synthetic dataset
    assert machine.problems(IMAGE_RULE, "slurm")[0].startswith("executor slurm")
    assert machine.problems(IMAGE_RULE, "slurm") == []  # each kind once per invocation


def test_workflow_names_robustness_500_on_a_small_own_dataset(tmp_path):
    """The issue's mistake through the workflow's own path: the folder demo's config on real folders of 8 train
    images per class, with samples.robustness.per_class at its default (500)."""
    root = make_folder_dataset(tmp_path / "pets", pets_counts(8, 5))
    plan = pets_plan(root, samples={"robustness": {"per_class": 500}})
    problems = MachineChecks(plan).problems(IMAGE_RULE, "local")
    assert len(problems) == 1
    assert problems[0].startswith("config samples.robustness.per_class: 500 images per class from split 'train'")
    assert "Set samples.robustness.per_class: 8" in problems[0]
    assert_keys_exist(problems[0])
    assert MachineChecks(pets_plan(root)).problems(IMAGE_RULE, "local") == []  # the demo's 8 fit


def test_workflow_names_an_empty_class_folder(tmp_path):
    root = make_folder_dataset(tmp_path / "pets", pets_counts(Maine_Coon=(0, 5)), junk=1)
    problems = MachineChecks(pets_plan(root)).problems(IMAGE_RULE, "local")
    text = "\n".join(problems)
    assert "class folder(s) of split 'train' hold no image file (1 non-image file(s) ignored): 'Maine_Coon'" in text
    assert "samples.translator" in text and "samples.robustness" in text  # both samples read train


def test_own_workflow_names_a_class_missing_from_val_and_the_per_class_of_analysis(tmp_path):
    """Ours: one class without a val folder; analysis asks 6 val images of 5."""
    counts = pets_counts()
    del counts["val"]["Ægean"]
    root = make_folder_dataset(tmp_path / "pets", counts)
    problems = MachineChecks(pets_plan(root, samples={"analysis": {"per_class": 6}})).problems(IMAGE_RULE, None)
    text = "\n".join(problems)
    assert "config samples.analysis: 1 of its 5 classes (classes) have no folder in split 'val': 'Ægean'" in text
    assert "config samples.analysis.per_class: 6 images per class from split 'val'" in text
    for p in problems:
        assert_keys_exist(p)


def test_workflow_names_a_nonexistent_imagenet_root():
    """The issue: `dataset_classes` logged "ImageNet-1k at /path/to/imagenet: 1000 classes" and jobs ran."""
    plan = demo_plan(dataset={"root": "/path/to/imagenet", "synthetic": None})  # builds: the class list is sing's
    problems = MachineChecks(plan).problems(IMAGE_RULE, "local")
    assert problems == [problems[0]] and problems[0].startswith("config dataset.root: /path/to/imagenet does not exist")
    assert "Set dataset.root to the dataset folder" in problems[0]
    assert MachineChecks(plan).problems("prefetch_weights", "local") == []


def test_own_workflow_names_an_imagenet_root_one_level_too_high(tmp_path):
    make_folder_dataset(tmp_path / "data" / "imagenet", {"train": {"n01440764": 1}, "val": {"n01440764": 1}})
    plan = demo_plan(dataset={"root": str(tmp_path / "data"), "synthetic": None})
    problems = MachineChecks(plan).problems(IMAGE_RULE, "local")
    assert "config dataset.root" in problems[0] and str(tmp_path / "data" / "imagenet") in problems[0]


def test_workflow_names_a_nonexistent_folder_root_when_it_plans(tmp_path):
    """A folder dataset's classes are its folders, so the Plan itself cannot be built: a config mistake."""
    with pytest.raises(FileNotFoundError) as e:
        pets_plan(tmp_path / "nowhere")
    assert is_config_mistake(e.value)
    assert str(e.value).startswith("config dataset.root: ") and "does not exist" in str(e.value)


def test_workflow_names_cuda_on_a_cpu_only_machine_for_local_runs_only():
    plan = demo_plan(extraction={"device": "cuda"})
    no_gpu = lambda: CudaProbe(0, "no NVIDIA driver on this machine (libcuda.so.1 cannot be loaded)")  # noqa: E731
    problems = MachineChecks(plan, probe=no_gpu).problems(DEVICE_ONLY_RULE, "local")
    assert len(problems) == 1 and problems[0].startswith("config extraction.device: 'cuda', but this machine")
    assert "Set extraction.device: auto" in problems[0]
    assert_keys_exist(problems[0])
    assert MachineChecks(plan, probe=no_gpu, which=lambda c: "/x").problems(DEVICE_ONLY_RULE, "slurm") == []


def test_own_workflow_passes_cuda_where_the_driver_shows_a_device():
    plan = demo_plan(extraction={"device": "cuda"})
    assert MachineChecks(plan, probe=lambda: CudaProbe(1)).problems(DEVICE_ONLY_RULE, "local") == []


def test_workflow_names_the_slurm_executor_without_slurm_once():
    machine = MachineChecks(demo_plan(), which=lambda c: None)
    first = [machine.problems(rule, "slurm") for rule in ("all", IMAGE_RULE, "figures", "fit_translator")]
    assert [len(p) for p in first] == [1, 0, 0, 0]
    assert "sbatch, squeue, sinfo, scancel are not on PATH" in first[0][0]


def test_workflow_names_a_synthetic_per_class_the_generator_does_not_make():
    """The demo's generated dataset has 12 + 1 train files per class: robustness asking 500 is refused by the
    Plan (config only, every invocation, dry runs included)."""
    with pytest.raises(DataAvailabilityError) as e:
        demo_plan(samples={"robustness": {"per_class": 500}})
    assert "Set samples.robustness.per_class: 13" in str(e.value) and is_config_mistake(e.value)


def test_check_config_names_the_file_and_line_of_a_yaml_error(tmp_path):
    """The issue: Snakemake says "Config file is not valid JSON or YAML" with no file or line for a --configfile;
    `sing check-config FILE` (which its docs point to) names both, then checks the merged config's keys."""
    bad = tmp_path / "pets.yaml"
    bad.write_text("samples:\n  robustness:\n    per_class: 5\n   analysis: 3\n")
    code, message = check_config([str(bad)], workflow=REPO)
    assert code == 1 and f"config file {bad}, line 4, column 4" in message
    assert "likely cause: this line's indentation does not match the keys beside it" in message
    code, message = check_config(["config.demo.yaml"], workflow=REPO)
    assert code == 0 and message.startswith("ok: ")
    over = tmp_path / "over.yaml"
    over.write_text("samples: {robustness: {per_class: 500}}\n")
    code, message = check_config([str(REPO / "config.demo.yaml"), str(over)], workflow=REPO)
    assert code == 1 and "config samples.robustness.per_class: 500" in message
    assert check_config([str(bad)], workflow=tmp_path)[0] == 1  # no schema there: the syntax is still checked
    assert check_config([str(over)], workflow=tmp_path)[0] == 2


def test_own_check_config_through_the_cli(tmp_path, capsys):
    from sing.cli import main

    dup = tmp_path / "dup.yaml"
    dup.write_text("results_dir: a\nresults_dir: b\n")
    assert main(["check-config", str(dup)]) == 1
    assert "key 'results_dir' appears twice in this mapping (first at line 1)" in capsys.readouterr().err
