"""Issue 19 through the real workflow: every documented way of running sing gets what its jobs need (kind 2), odd
paths work end to end (kind 3), explicit targets plan on a fresh results folder and a local run stays within
the machine's memory and cores (kind 5).

The library halves are unit-tested in test_cluster_resources.py, test_special_paths.py, test_loader_failures.py
and test_scale_memory.py; these run Snakemake (dry runs, and a few cheap real jobs).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from workflow_helpers import REPO, make_workdir, snakemake

from sing.analysis.resources import local_memory_mb
from sing.io.storage import read_frame
from sing.workflow import GPU_RULES

pytestmark = pytest.mark.workflow

MODULE_SNAKEFILE = f"""\
configfile: "config.demo.yaml"
configfile: "gpu.yaml"


module sing:
    snakefile: {str(REPO / "Snakefile")!r}
    config: config


use rule * from sing as sing_*
"""


def run(workdir: Path, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", *args]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONHASHSEED": "0"}
    return subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout, env=env)


# ---------------------------------------------------------------- kind 2: sing as a Snakemake module
@pytest.fixture(scope="module")
def module_workdir(tmp_path_factory) -> Path:
    """Another workflow that uses sing as a module (`use rule * from sing as sing_*`), the way the catalogue's
    workflows are reused; it asks for the GPU (`extraction.device: cuda`) on this GPU-less machine."""
    workdir = tmp_path_factory.mktemp("module")
    shutil.copy2(REPO / "config.demo.yaml", workdir / "config.demo.yaml")
    (workdir / "gpu.yaml").write_text(yaml.safe_dump({"extraction": {"device": "cuda"}}))
    (workdir / "Snakefile").write_text(MODULE_SNAKEFILE)
    return workdir


def test_a_module_run_keeps_gpu_resources_and_container_gpu_support(module_workdir, monkeypatch):
    """The issue's example (b): a module does not load profiles/default, whose `apptainer-args: --nv` gave GPU jobs
    their GPU in the container. Parsed as a module under --sdm apptainer, the workflow itself sets APPTAINER_NV
    (Apptainer reads it as --nv) and the binds, and every GPU rule (renamed sing_*) still asks for its GPU."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import (
        ConfigSettings,
        DeploymentMethod,
        DeploymentSettings,
        OutputSettings,
        ResourceSettings,
    )

    for var in ("APPTAINER_NV", "SINGULARITY_NV", "APPTAINER_BIND", "SINGULARITY_BIND"):
        monkeypatch.delenv(var, raising=False)  # restored after the test
    data = module_workdir.parent / f"{module_workdir.name}-data"  # a dataset outside the working directory
    (module_workdir / "outside.yaml").write_text(yaml.safe_dump({"dataset": {"root": str(data / "imagenet")}}))
    monkeypatch.chdir(module_workdir)
    with SnakemakeApi(OutputSettings(dryrun=True)) as api:
        workflow = api.workflow(
            resource_settings=ResourceSettings(cores=1),
            config_settings=ConfigSettings(configfiles=[module_workdir / "outside.yaml"]),
            deployment_settings=DeploymentSettings(deployment_method={DeploymentMethod.APPTAINER}),
            snakefile=module_workdir / "Snakefile", workdir=module_workdir)._workflow
        rules = {rule.name: rule for rule in workflow.rules}
    assert os.environ["APPTAINER_NV"] == "1" and os.environ["SINGULARITY_NV"] == "1"
    assert str(module_workdir.parent.resolve()) in os.environ["APPTAINER_BIND"].split(",")
    assert {f"sing_{name}" for name in GPU_RULES} <= set(rules)
    for name, rule in rules.items():
        gpu = rule.resources.get("gpu")
        assert (gpu is not None and gpu.value == 1) == (name.removeprefix("sing_") in GPU_RULES), name


def test_a_gpu_job_of_a_module_without_a_gpu_stops_naming_the_cause(module_workdir):
    """Kind 1 / 2: the same module, really run: `extraction.device: cuda` on this GPU-less machine stops the run
    when the DAG is built, before any job, naming the key and the cause (the jobs' own start check,
    sing.models.devices.resolve_device, is tested in tests/test_loader_failures.py), instead of running GPU jobs on
    the CPU; with the device set to the CPU on purpose the same target runs, and a module run's manifests get the
    code hash of the renamed rules and the local memory pool."""
    target = "results/demo/text/demo_clip_a/steering.parquet"
    proc = run(module_workdir, target, timeout=300)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "config extraction.device: 'cuda', but this machine has no CUDA device" in out, out[-3000:]
    assert not (module_workdir / target).exists()
    proc = run(module_workdir, target, "--config", "extraction={device: cpu}", timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "local run: running jobs share mem_mb=" in out and (module_workdir / target).exists()
    manifest = yaml.safe_load((module_workdir / "results/demo/manifests/embed_texts/demo_clip_a/steering.json")
                              .read_text())
    assert manifest["code"]["script"] == "embed_texts.py" and manifest["extraction"]["device"] == "cpu"


def _concurrency(log: str) -> tuple[int, int]:
    """(most jobs running at once, their largest mem_mb sum) from a Snakemake run's log."""
    running: dict[str, int] = {}
    most = most_mb = 0
    job = None
    for line in log.splitlines():
        if m := re.match(r"\s+jobid: (\d+)$", line):
            job = m.group(1)
        elif job and (m := re.match(r"\s+resources: .*\bmem_mb=(\d+)", line)):
            running[job] = int(m.group(1))
            most, most_mb = max(most, len(running)), max(most_mb, sum(running.values()))
            job = None
        elif m := re.match(r"Finished jobid: (\d+)", line):
            running.pop(m.group(1), None)
    return most, most_mb


def test_a_local_run_stays_within_the_machine_and_its_cores(tmp_path):
    """Kind 5, the second member: `--cores 2` on this machine ran every ready job at once (profiles/default's `jobs`
    lifted the core limit) under a 64 GB memory pool. Now explicit targets on a fresh folder run in one go, the
    pool is the machine's memory, and the jobs running at once never ask for more than it (two head exports of
    16 GB each do not fit a 24 GB machine together)."""
    workdir = make_workdir(tmp_path / "wf")
    targets = ["results/demo/classes.parquet", "results/demo/heads/demo_resnet50/head.safetensors",
               "results/demo/heads/demo_densenet121/head.safetensors"]
    proc = snakemake(workdir, "--", *targets)
    out = proc.stdout + proc.stderr
    pool = int(re.search(r'Provided resources: .*mem_mb=Resource\("mem_mb", (\d+)\)', out).group(1))
    assert pool <= local_memory_mb() - 1000
    most, most_mb = _concurrency(out)
    assert 1 <= most <= 2 and most_mb <= pool, (most, most_mb, pool)
    assert all((workdir / t).exists() for t in targets)


# ---------------------------------------------------------------- kind 3: an odd results folder, end to end
def test_collect_tables_under_a_results_folder_with_brackets_spaces_and_quotes(demo):
    """The issue's example: a results_dir under `run[1]` crashed every collect_table job (polars read the path as a
    glob). The finished demo's results, copied under `run[1] it's/` (brackets, a space, a quote), collect again
    through the real rule (only it: the copied per-model tables are its inputs) and give the demo's tables."""
    odd = demo / "run[1] it's" / "results"
    shutil.copytree(demo / "results" / "demo", odd, symlinks=True, ignore=shutil.ignore_patterns("imagenet", "weights"))
    (demo / "odd.yaml").write_text(yaml.safe_dump({"results_dir": str(odd.relative_to(demo))}))
    try:
        tables = [f"{odd.relative_to(demo)}/tables/{name}.parquet" for name in ("validation", "translator_eval")]
        snakemake(demo, "--allowed-rules", "collect_table", "--forcerun", "collect_table", "--", *tables,
                  configfiles=("config.demo.yaml", "odd.yaml"))
        for name in ("validation", "translator_eval"):
            assert read_frame(odd / "tables" / f"{name}.parquet").equals(
                read_frame(demo / "results" / "demo" / "tables" / f"{name}.parquet"))
    finally:
        shutil.rmtree(demo / "run[1] it's")
        (demo / "odd.yaml").unlink()


def test_a_model_key_with_a_dot_is_a_name_not_a_pattern(tmp_path):
    """Kind 3, the second member: model and space keys became wildcard constraints joined as regular expressions,
    so a key `demo.r50` (allowed: letters, digits, `_ . -`) also matched the files of `demoxr50`. They are
    escaped; a key that cannot name files at all is refused at planning (tests/test_workflow_plan.py)."""
    from workflow_helpers import load_workflow

    workdir = make_workdir(tmp_path / "wf")
    demo = yaml.safe_load((REPO / "config.demo.yaml").read_text())
    (workdir / "dot.yaml").write_text(yaml.safe_dump({
        "models": {"demo.r50": demo["models"]["demo_resnet50"]}, "run_models": ["demo.r50", "demo_densenet121"],
        "figures": {"paper_models": ["demo.r50", "demo_densenet121"]}}))
    workflow = load_workflow(workdir, configfiles=("config.demo.yaml", "dot.yaml"))
    pattern = workflow.get_rule("score_chunk").output[0].regex()
    assert pattern.match("results/demo/scores/demo.r50/demo_clip_a/chunk-000")
    assert not pattern.match("results/demo/scores/demoxr50/demo_clip_a/chunk-000")
