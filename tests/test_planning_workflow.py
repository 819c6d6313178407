"""Planning-time mistakes end to end (issue 20): the real Snakefile stops before any job, with one message naming
the config key (or the executor), the value and the fix, and no traceback. Each command here stops while
Snakemake plans (seconds; no demo run). Every check also has its unit test in tests/test_planning_checks.py
(through sing.workflow, milliseconds)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from workflow_helpers import make_workdir, write_config

pytestmark = pytest.mark.workflow

RESULTS = Path("results/demo")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return make_workdir(tmp_path_factory.mktemp("planning"))


def run(workdir: Path, *args: str, configfiles=("config.demo.yaml",), env=None) -> tuple[int, str]:
    """`snakemake ARGS --cores 1 --configfile ...` (a real run unless ARGS has -n; targets first: `--configfile`
    would take them as config files): exit code and all output."""
    cmd = [sys.executable, "-m", "snakemake", *args, "--cores", "1", "--configfile", *configfiles]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
    return proc.returncode, proc.stdout + proc.stderr


def assert_stopped_before_any_job(code: int, out: str, workdir: Path):
    assert code == 1, out[-3000:]
    assert "Traceback" not in out and "Finished job" not in out and "localrule " not in out, out[-3000:]
    assert not (workdir / RESULTS / "imagenet").exists()  # not even the synthetic dataset was made


def test_a_nonexistent_imagenet_root_stops_the_run_and_is_a_warning_in_a_dry_run(workdir):
    extra = write_config(workdir, "noroot.yaml", {"dataset": {"root": "/path/to/imagenet", "synthetic": None}})
    code, out = run(workdir, configfiles=("config.demo.yaml", extra.name))
    assert_stopped_before_any_job(code, out, workdir)
    assert out.count("Error: config dataset.root: /path/to/imagenet does not exist") == 1
    assert "ImageNet-1k at /path/to/imagenet: 1000 classes" not in out  # the issue: dataset_classes ran
    code, out = run(workdir, "-n", configfiles=("config.demo.yaml", extra.name))
    assert code == 0 and "config dataset.root: /path/to/imagenet does not exist" in out
    assert "(a run stops here)" in out and not (workdir / RESULTS / "logs" / "availability.json").exists()


def test_cuda_on_a_machine_whose_jobs_see_no_gpu_stops_the_run(workdir):
    extra = write_config(workdir, "cuda.yaml", {"extraction": {"device": "cuda"}})
    code, out = run(workdir, configfiles=("config.demo.yaml", extra.name), env={"CUDA_VISIBLE_DEVICES": ""})
    assert_stopped_before_any_job(code, out, workdir)
    assert "Error: config extraction.device: 'cuda', but this machine has no CUDA device" in out
    assert "Set extraction.device: auto" in out


def path_without(tmp_path: Path, commands) -> str:
    """A PATH holding every command of this one but ``commands`` (CI machines may have SLURM installed)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for folder in os.environ.get("PATH", "").split(os.pathsep):
        if not os.path.isdir(folder):
            continue
        for entry in os.scandir(folder):
            target = bin_dir / entry.name
            if entry.name not in commands and not target.exists() and os.access(entry.path, os.X_OK):
                target.symlink_to(entry.path)
    return str(bin_dir)


def test_the_slurm_profile_without_slurm_commands_stops_with_one_message(workdir, tmp_path):
    from sing.io.host import SLURM_COMMANDS

    code, out = run(workdir, "--profile", "profiles/slurm", env={"PATH": path_without(tmp_path, SLURM_COMMANDS)})
    assert_stopped_before_any_job(code, out, workdir)
    assert out.count("sbatch, squeue, sinfo, scancel are not on PATH") == 1, out[-3000:]
    assert "No such file or directory" not in out


def test_a_yaml_error_in_config_yaml_names_the_file_and_line(workdir):
    config = workdir / "config.yaml"
    text = config.read_text()
    try:
        config.write_text(text + "samples:\n  robustness:\n    per_class: 5\n   analysis: 3\n")
        code, out = run(workdir, "-n")
        line = len(text.splitlines()) + 4
        assert code == 1 and f"Error: config file config.yaml, line {line}, column 4" in out, out[-3000:]
        assert "likely cause: this line's indentation does not match the keys beside it" in out
        assert "Traceback" not in out
    finally:
        config.write_text(text)


def test_own_a_key_given_twice_in_a_configfile_names_both_lines(workdir):
    (workdir / "twice.yaml").write_text("results_dir: results/a\nweights_dir: w\nresults_dir: results/b\n")
    code, out = run(workdir, "-n", configfiles=("config.demo.yaml", "twice.yaml"))
    assert code == 1 and "key 'results_dir' appears twice in this mapping (first at line 1)" in out
    assert "twice.yaml, line 3" in out


def test_own_a_per_class_the_generated_dataset_cannot_supply_stops_even_a_dry_run(workdir):
    """The issue's robustness default on the demo's generated dataset: a config mistake, one line, no traceback."""
    extra = write_config(workdir, "r500.yaml", {"samples": {"robustness": {"per_class": 500}}})
    code, out = run(workdir, "-n", configfiles=("config.demo.yaml", extra.name))
    assert code == 1 and "Traceback" not in out
    assert "Error: config samples.robustness.per_class: 500 images per class from split 'train'" in out
    assert "Set samples.robustness.per_class: 13" in out


def test_a_job_that_fails_at_run_time_has_its_traceback_in_its_own_log(workdir):
    """The issue: a failing job's exception reached only Snakemake's console. One job (a table preview of a
    corrupt table) run alone: its log holds the error and the traceback (sing.io.logs.setup_logging)."""
    table = workdir / RESULTS / "tables" / "model_summary.parquet"
    table.parent.mkdir(parents=True, exist_ok=True)
    table.write_text("not a parquet file")
    code, out = run(workdir, str(RESULTS / "tables" / "model_summary.preview.html"), "--allowed-rules",
                    "table_preview")
    assert code == 1, out[-3000:]
    log = (workdir / RESULTS / "logs" / "table_preview" / "model_summary.log").read_text()
    assert "CRITICAL sing.job: the job failed: ComputeError: parquet" in log
    assert "Traceback (most recent call last):" in log and "read_frame(snakemake.input.table)" in log
