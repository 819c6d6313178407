"""Issue 19, kind 2: what a job needs on a cluster or in a container comes from the workflow itself or is checked at
run time. (a) A bundle of score jobs asks for the time and CPUs its members really use when the SLURM plugin runs
them one at a time; (b) GPU flags and binds come from the workflow, not from profiles/default, which Snakemake
does not load for a `module` (and a GPU job that still finds no GPU fails: tests/test_loader_failures.py)."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]

SCORE = {"runtime": 30, "mem_mb": 8000, "cpus_per_task": 1}  # rules/analysis.smk, rule score_chunk


def _snakemake_group_request(members, pools):
    """What Snakemake 9 asks SLURM for a group of `members` under the global resource `pools`
    (snakemake.resources.GroupResources.basic_layered, the code the submitting process runs)."""
    from types import SimpleNamespace

    from snakemake.resources import GroupResources, Resource, Resources

    jobs = [SimpleNamespace(resources={**m, "_cores": m["cpus_per_task"], "_nodes": 1}, pipe_group=None)
            for m in members]
    constraints = Resources({k: Resource(k, v) for k, v in {**pools, "_cores": 10_000, "_nodes": 10_000}.items()})
    return GroupResources.basic_layered([jobs], constraints, run_local=False)


def test_the_slurm_plugin_runs_a_group_one_member_at_a_time():
    """What bundle_resources assumes, read from the installed plugin: a group job runs inside its allocation as
    `snakemake --executor slurm-jobstep --jobs 1`."""
    import snakemake_executor_plugin_slurm as plugin

    assert "--jobs 1" in inspect.getsource(plugin.Executor.additional_general_args)


def test_bundle_resources_is_the_sequential_truth():
    from sing.analysis.resources import bundle_resources

    need = bundle_resources([SCORE] * 20)
    assert need == {"runtime": 600, "mem_mb": 8000, "cpus_per_task": 1}
    assert bundle_resources([SCORE] * 20, parallel=8)["runtime"] == 90  # 3 rounds of 30 min
    assert bundle_resources([SCORE] * 20, parallel=8)["cpus_per_task"] == 8
    mixed = bundle_resources([{"runtime": 50, "slurm_partition": "cpu"}, {"runtime": 10, "slurm_partition": "cpu"},
                              {"runtime": 30, "slurm_partition": "cpu"}], parallel=2)
    assert mixed == {"runtime": 50, "slurm_partition": "cpu"}  # longest first: [50], [30, 10]
    with pytest.raises(ValueError, match="disagree on slurm_partition"):
        bundle_resources([{"slurm_partition": "a"}, {"slurm_partition": "b"}])
    with pytest.raises(ValueError, match="no members"):
        bundle_resources([])


def test_no_submission_bundles_jobs_it_sizes_as_if_they_ran_side_by_side(parsed_workflow):
    """The issue's example (a): profiles/default bundled 20 score jobs (`group-components: score=20`); Snakemake sizes
    a bundle as parallel layers under the profile's pools (90 min, 8 CPUs, 64 GB) but the plugin runs the members
    one after another (600 min, 1 CPU, 8 GB): any score job over 4.5 min pushed the bundle past its limit. Every
    job group the workflow or its profiles define must ask for at least the time its members take in sequence
    (now: there is none; score jobs are submitted one by one, or as a SLURM array: docs/hpc.md)."""
    from sing.analysis.resources import bundle_resources

    profiles = [yaml.safe_load((REPO / f"profiles/{p}/config.yaml").read_text()) or {} for p in ("default", "slurm")]
    sizes = {k: int(v) for p in profiles for k, v in (g.split("=") for g in p.get("group-components", []))}
    pools = {k: int(v) for p in profiles for k, v in (r.split("=") for r in p.get("resources", []))}
    groups = {rule.group: rule for rule in parsed_workflow.rules if rule.group}
    for name, rule in groups.items():
        members = [{"runtime": int(rule.resources["runtime"].value), "mem_mb": 8000,
                    "cpus_per_task": int(rule.resources["_cores"].value)}] * sizes.get(name, 1)
        asked, need = _snakemake_group_request(members, pools), bundle_resources(members)
        assert asked["runtime"] >= need["runtime"], (name, asked, need)
    assert parsed_workflow.get_rule("score_chunk").group is None
    assert not sizes and not pools, "group-components / resources pools are back in a profile: see docs/hpc.md"


def test_the_workflow_profile_leaves_the_local_core_limit_alone():
    """Kind 2 and 5: `jobs: 100` in profiles/default (loaded by every plain run) made Snakemake lift `--cores 2`:
    with --jobs set, its scheduler stops counting cores locally (read from the installed Snakemake), so a
    `--cores 2` run started every ready job at once (4 jobs, 6 threads, seen on a fresh demo)."""
    import inspect

    from snakemake.scheduling.job_scheduler import JobScheduler

    assert "Do not restrict cores locally if nodes are used" in inspect.getsource(JobScheduler.__init__)
    profile = yaml.safe_load((REPO / "profiles/default/config.yaml").read_text())
    assert "jobs" not in profile and "cores" not in profile


def test_snakemake_sizes_a_bundle_as_parallel_layers():
    """Documents the mismatch the test above guards, independently of the profiles' current content."""
    asked = _snakemake_group_request([SCORE] * 20, {"mem_mb": 64000, "cpus_per_task": 8})
    assert (asked["runtime"], asked["cpus_per_task"], asked["mem_mb"]) == (90, 8, 64000)
    alone = _snakemake_group_request([SCORE], {"mem_mb": 64000, "cpus_per_task": 8})
    assert (alone["runtime"], alone["cpus_per_task"], alone["mem_mb"]) == (30, 1, 8000)


# ---------------------------------------------------------------- (b) container flags from the workflow
def test_apptainer_environment_gives_gpu_support_and_binds_without_a_profile(tmp_path):
    """The issue's example (b): as a `module`, profiles/default (apptainer-args: --nv) is not loaded and GPU jobs ran
    on the CPU. The workflow sets APPTAINER_NV / SINGULARITY_NV itself (Apptainer reads them as --nv), with the
    binds, so every way of running sing gets them."""
    from sing.io.paths import apptainer_environment

    data = tmp_path / "data"
    data.mkdir()
    wf = tmp_path / "wf"
    wf.mkdir()
    env = apptainer_environment({"dataset.root": data}, cwd=wf, environ={"APPTAINER_BIND": "/site"})
    assert env == {"APPTAINER_BIND": f"/site,{data}", "SINGULARITY_BIND": str(data), "APPTAINER_NV": "1",
                   "SINGULARITY_NV": "1"}
    kept = apptainer_environment({}, cwd=wf, environ={"APPTAINER_NV": "0"})
    assert kept["APPTAINER_NV"] == "0"  # the user's own choice is kept
    assert "APPTAINER_NV" not in apptainer_environment({}, cwd=wf, environ={}, gpu=False)


def test_local_memory_pool_never_exceeds_the_machine():
    """Kind 5's local-run member: profiles/default pools 64 GB; a 24 GB machine must plan at most its own memory."""
    from sing.analysis.resources import local_memory_mb, local_memory_pool_mb

    machine = local_memory_mb()
    assert 0 < machine < 10**8
    assert local_memory_pool_mb(64000) <= min(64000, machine - 1000 if machine > 1001 else 1)
    assert local_memory_pool_mb(None) == max(1, machine - 1000)
    assert local_memory_pool_mb(1000) == min(1000, max(1, machine - 1000))


def test_every_rule_sizes_memory_through_mem_mb(parsed_workflow):
    """A rule's mem_mb goes through rules/execution.smk mem_mb() (the config's max_mem_mb, the local pool): a
    literal `mem_mb=32000` would bypass both (a local run then waited for it alone; issue 19, kind 5)."""
    literal = [rule.name for rule in parsed_workflow.rules if "mem_mb" in rule.resources.keys()
               and "mem_mb" not in getattr(rule.resources["mem_mb"]._value, "__qualname__", "")]
    assert not literal, f"use mem_mb=mem_mb(MB) in these rules: {literal}"
