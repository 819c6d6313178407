"""Run the real Snakemake workflow on the demo config in an isolated copy of the workflow."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = ["Snakefile", "rules", "schemas", "profiles", "report", "envs", "config.yaml", "config.demo.yaml",
                  "config.folder-demo.yaml", "demo"]
SHARED = ["workflow_scripts", "src", "examples"]  # job scripts, the library, example factories: symlinked


def registry() -> tuple[dict, dict, dict]:
    """(paper models, documented alternatives, demo models) as key -> compute spec: the catalogue of
    sing.registry and the demo's user entries (config.demo.yaml `models:`)."""
    from sing.registry import MODELS, PAPER_MODELS, ModelEntry

    demo = yaml.safe_load((REPO / "config.demo.yaml").read_text())["models"]
    paper = {key: MODELS[key].spec() for key in PAPER_MODELS}
    alternatives = {key: entry.spec() for key, entry in MODELS.items() if key not in PAPER_MODELS}
    return paper, alternatives, {key: ModelEntry.from_config(key, entry).spec() for key, entry in demo.items()}


def make_workdir(path: Path) -> Path:
    """A working copy of the workflow (job scripts and the library are shared via symlinks)."""
    path.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, path / name, dirs_exist_ok=True)
        else:
            shutil.copy2(src, path / name)
    for name in SHARED:
        link = path / name
        if not link.exists():
            link.symlink_to(REPO / name)
    return path


def load_workflow(workdir: Path, configfiles=("config.demo.yaml",)):
    """The parsed workflow of a working copy (Snakemake's API; no DAG, no job): ``.rules`` with each rule's
    ``name``, ``wildcard_names``, ``input``, ``output``, ``params``, ``resources``, ``script``, and
    ``_localrules``. Tests read rules here, never from the text of rules/*.smk."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    cwd = os.getcwd()
    try:
        with SnakemakeApi(OutputSettings(dryrun=True)) as api:  # dryrun: no log file
            api_workflow = api.workflow(resource_settings=ResourceSettings(cores=1),
                                        config_settings=ConfigSettings(configfiles=[workdir / f for f in configfiles]),
                                        snakefile=workdir / "Snakefile", workdir=workdir)
            return api_workflow._workflow
    finally:
        os.chdir(cwd)


def write_config(workdir: Path, name: str, overrides: dict) -> Path:
    target = workdir / name
    target.write_text(yaml.safe_dump(overrides, sort_keys=False))
    return target


def snakemake(workdir: Path, *args: str, configfiles=("config.demo.yaml",), timeout=900,
              check=True) -> subprocess.CompletedProcess:
    # targets and options before --configfile, which would take a target as one more config file; targets after
    # a `--` stay after it
    cut = args.index("--") if "--" in args else len(args)
    opts, targets = args[:cut], args[cut:]
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", *opts, "--configfile", *configfiles, *targets]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONHASHSEED": "0"}
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n"
                             f"{proc.stderr[-6000:]}")
    return proc


def planned_jobs(workdir: Path, *args: str, configfiles=("config.demo.yaml",)) -> dict[str, int]:
    """rule -> number of jobs a dry run would execute (from Snakemake's own job-stats table)."""
    proc = snakemake(workdir, "-n", "--quiet", "rules", *args, configfiles=configfiles)
    counts: dict[str, int] = {}
    lines = (proc.stdout + proc.stderr).splitlines()
    if any("Nothing to be done" in line for line in lines):
        return counts
    in_table = False
    for line in lines:
        parts = line.split()
        if parts[:2] == ["job", "count"]:
            in_table = True
            continue
        if in_table:
            if len(parts) == 2 and parts[1].isdigit():
                if parts[0] != "total":
                    counts[parts[0]] = int(parts[1])
            elif parts and not set(parts[0]) <= {"-"}:
                break
    return counts


def planned_job_list(workdir: Path, *args: str, configfiles=("config.demo.yaml",)) -> list[tuple[str, dict]]:
    """(rule, wildcards) of every job a dry run would execute."""
    proc = snakemake(workdir, "-n", *args, configfiles=configfiles)
    jobs: list[tuple[str, dict]] = []
    for line in (proc.stdout + proc.stderr).splitlines():
        stripped = line.strip()
        if stripped.startswith(("rule ", "localrule ")) and stripped.endswith(":"):
            jobs.append((stripped.split()[1].rstrip(":"), {}))
        elif stripped.startswith("wildcards:") and jobs:
            for item in stripped[len("wildcards:"):].split(","):
                key, _, value = item.strip().partition("=")
                jobs[-1][1][key] = value
    return jobs


@dataclass(frozen=True)
class Job:
    """One job of a dry run: its rule, wildcards (sorted (name, value) pairs), input and output files."""

    rule: str
    wildcards: tuple[tuple[str, str], ...]
    inputs: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str, tuple[tuple[str, str], ...]]:
        return self.rule, self.wildcards


def dry_run_jobs(workdir: Path, *args: str, configfiles=("config.demo.yaml",)) -> list[Job]:
    """Every job a dry run would execute, with its files (parsed from Snakemake's job listing)."""
    proc = snakemake(workdir, "-n", *args, configfiles=configfiles)
    jobs, current = [], None
    for line in (proc.stdout + proc.stderr).splitlines():
        stripped = line.strip()
        if stripped.startswith(("rule ", "localrule ")) and stripped.endswith(":"):
            current = {"rule": stripped.split()[1].rstrip(":"), "wildcards": {}, "input": [], "output": []}
            jobs.append(current)
        elif current is not None and line.startswith("    ") and ":" in stripped:
            field, _, value = stripped.partition(":")
            if field in ("input", "output"):
                current[field] = [v.strip() for v in value.split(",") if v.strip()]
            elif field == "wildcards":
                current["wildcards"] = dict(item.strip().partition("=")[::2] for item in value.split(","))
        elif not line.startswith("    "):
            current = None
    return [Job(j["rule"], tuple(sorted(j["wildcards"].items())), tuple(j["input"]), tuple(j["output"]))
            for j in jobs]


def downstream(jobs: list[Job], seeds: set) -> set:
    """Keys of the jobs in ``seeds`` (job keys) and of every job that reads, directly or not, one of their
    outputs (Snakemake's DAG of ``jobs``)."""
    producer = {out: job.key for job in jobs for out in job.outputs}
    readers: dict = {}
    for job in jobs:
        for path in job.inputs:
            if path in producer:
                readers.setdefault(producer[path], set()).add(job.key)
    out, todo = set(), list(seeds)
    while todo:
        key = todo.pop()
        if key not in out:
            out.add(key)
            todo.extend(readers.get(key, ()))
    return out


def local_rules(workflow) -> set[str]:
    """Rules whose jobs run on the submitting host (`localrules:`), and `all`."""
    return set(workflow._localrules) | {"all"}
