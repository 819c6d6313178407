"""What the workflow asks a cluster for: rules carry their resources, a site's generic SLURM profile keeps
its account and partition, every job is its own submission asking for its own time and CPUs (no bundles),
threads equal CPUs, GPU rules ask for a GPU.

The real scheduler and container run is .ci/hpc-demo (a 2-node SLURM cluster with GRES GPUs, every rule in
the Apptainer image); these dry runs check the submission plan on any machine.
"""

from __future__ import annotations

import os
import re
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from workflow_helpers import REPO, local_rules, make_workdir

from sing.workflow import GPU_RULES as _GPU_RULES

pytestmark = pytest.mark.workflow

GPU_RULES = set(_GPU_RULES)
SITE_PROFILE = {"executor": "slurm", "default-resources": ["slurm_account=acct_x", "slurm_partition=part_y"]}


def plan(workdir: Path, xdg: Path, *args: str) -> list[dict]:
    """Jobs of `snakemake --profile slurm -n` with `xdg` as XDG_CONFIG_HOME: rule, group, threads, resources."""
    import subprocess

    env = {**os.environ, "XDG_CONFIG_HOME": str(xdg), "PYTHONHASHSEED": "0"}
    cmd = [sys.executable, "-m", "snakemake", "--profile", "slurm", "-n", "--jobs", "100", "--cores", "64",
           "--configfile", "config.demo.yaml", *args]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-4000:]
    jobs, group = [], None
    for line in (proc.stdout + proc.stderr).splitlines():
        if re.match(r"(\[.*\] )?Group job \S+", line):
            group = line
        elif m := re.fullmatch(r"(    )?(?:local)?rule (\w+):", line):
            jobs.append({"rule": m.group(2), "group": group if m.group(1) else None, "threads": 1})
        elif jobs and (m := re.fullmatch(r"\s+threads: (\d+)", line)):
            jobs[-1]["threads"] = int(m.group(1))
        elif jobs and (m := re.fullmatch(r"\s+resources: (.*)", line)):
            jobs[-1]["resources"] = dict(kv.split("=", 1) for kv in m.group(1).split(", "))
    return jobs


def site_profile(root: Path, profile: dict) -> Path:
    """An XDG config folder holding `snakemake/slurm/config.yaml`, as a site installs one."""
    folder = root / "xdg" / "snakemake" / "slurm"
    folder.mkdir(parents=True)
    (folder / "config.yaml").write_text(yaml.safe_dump(profile))
    return root / "xdg"


@pytest.fixture(scope="module")
def local(parsed_workflow) -> set[str]:
    """Rules whose jobs run on the submitting host (localrules + `all`)."""
    return local_rules(parsed_workflow)


@pytest.fixture(scope="module")
def site_plan(tmp_path_factory) -> list[dict]:
    root = tmp_path_factory.mktemp("site")
    # the rules' own threads (the demo caps them at 1: max_threads; 64 caps nothing)
    return plan(make_workdir(root / "wf"), site_profile(root, SITE_PROFILE), "--config", "max_threads=64")


def test_generic_site_profile_keeps_account_and_partition(site_plan, local):
    remote = [job for job in site_plan if job["rule"] not in local]
    assert len(remote) > 40
    for job in remote:
        assert job["resources"].get("slurm_account") == "acct_x", job
        assert job["resources"].get("slurm_partition") == "part_y", job


def test_rules_carry_resources_threads_equal_cpus_and_gpu_rules_ask_for_one(site_plan, local):
    seen = set()
    for job in site_plan:
        if job["rule"] in local:
            continue
        res = job["resources"]
        seen.add(job["rule"])
        # >= 1 GB: the jobs sized from their inputs (sing.workflow.memory) ask for 1.5 GB at the demo's scale
        assert int(res["mem_mb"]) >= 1000 and int(res["runtime"]) >= 30, job
        assert int(res["cpus_per_task"]) == job["threads"], job
        assert (res.get("gpu") == "1") == (job["rule"] in GPU_RULES), job
    assert GPU_RULES <= seen
    threads = {job["rule"]: job["threads"] for job in site_plan}
    assert threads["extract_features"] == 8 and threads["embed_texts"] == 2 and threads["score_chunk"] == 1


def test_every_job_is_its_own_submission_with_its_own_time(site_plan):
    """No bundles: the SLURM plugin runs a bundle's members one at a time inside an allocation Snakemake sizes as
    if they ran side by side (issue 19; tests/test_cluster_resources.py), so each score job asks for its 30 min."""
    scores = [job for job in site_plan if job["rule"] == "score_chunk"]
    assert len(scores) == 8
    assert {job["group"] for job in site_plan} == {None}
    assert {(job["resources"]["runtime"], job["resources"]["cpus_per_task"]) for job in scores} == {("30", "1")}


def test_gpu_model_and_partition_reach_only_gpu_rules(tmp_path, local):
    xdg = site_profile(tmp_path, SITE_PROFILE)
    jobs = plan(make_workdir(tmp_path / "wf"), xdg, "--config", "slurm_gpu={model: h100, partition: gpu}")
    for job in jobs:
        res = job.get("resources", {})
        if job["rule"] in local:
            continue
        if job["rule"] in GPU_RULES:
            assert res["gpu_model"] == "h100" and res["slurm_partition"] == "gpu", job
        else:
            assert "gpu_model" not in res and res["slurm_partition"] == "part_y", job


def test_workflow_profile_never_replaces_site_lists():
    """A workflow profile's default-resources / set-resources / set-threads replace a site's whole list; its
    `jobs` would lift a local run's --cores limit; groups are bundles (see above)."""
    profile = yaml.safe_load((REPO / "profiles/default/config.yaml").read_text())
    assert not {"default-resources", "set-resources", "set-threads", "jobs", "group-components", "resources",
                "apptainer-args"} & set(profile)
    generic = yaml.safe_load((REPO / "profiles/slurm/config.yaml").read_text())
    assert generic["executor"] == "slurm" and "group-components" not in generic


def test_container_tag_is_the_package_version():
    schema = yaml.safe_load((REPO / "schemas/config.schema.yaml").read_text())
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    default = schema["properties"]["container"]["default"]
    assert default.endswith(f"/sing:{version}"), (default, version)


def test_image_self_tests_import_modules_that_exist():
    """The image's %test / install check import sing modules by name: a package move must not break the build
    (it did once: `sing.geometry` became `sing.core.geometry`, and only a full image build showed it)."""
    import importlib.util

    names = set()
    for path in (REPO / "envs").iterdir():
        if path.is_file():
            for imports in re.findall(r"import ((?:[\w.]+(?:, )?)+)", path.read_text(errors="ignore")):
                names |= {n for n in imports.split(", ") if n.split(".")[0] == "sing"}
    assert "sing.core.geometry" in names
    for name in sorted(names):
        assert importlib.util.find_spec(name) is not None, f"envs/ imports {name}, which does not exist"
