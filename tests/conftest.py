"""Session fixtures shared by the workflow, rerun, report and browser tests: the demo is run once per session."""

from __future__ import annotations

from pathlib import Path

import pytest
from workflow_helpers import load_workflow, make_workdir, snakemake


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> Path:
    """One complete, uninterrupted demo run shared by the workflow tests; they only read it or dry-run on it
    (a dry run leaves the manifests as it found them)."""
    workdir = make_workdir(tmp_path_factory.mktemp("demo"))
    snakemake(workdir)
    return workdir


@pytest.fixture(scope="session")
def demo_report(demo) -> Path:
    """`snakemake --report report.html` of the demo run, in the demo's working directory."""
    snakemake(demo, "--report", "report.html")
    return demo / "report.html"


@pytest.fixture(scope="session")
def parsed_workflow(tmp_path_factory):
    """The workflow as Snakemake parses it (no DAG, no job; about a second), with the folder demo's config, under
    which every conditional rule exists (synthetic dataset and checkpoints, UnCLIP pictures)."""
    workdir = make_workdir(tmp_path_factory.mktemp("parsed"))
    return load_workflow(workdir, configfiles=("config.folder-demo.yaml",))
