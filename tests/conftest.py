"""Session fixtures shared by the workflow, report and browser tests: the demo is run once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from workflow_helpers import make_workdir, snakemake


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> Path:
    """One complete, uninterrupted demo run shared by the tests below."""
    workdir = make_workdir(tmp_path_factory.mktemp("demo"))
    snakemake(workdir)
    return workdir


@pytest.fixture(scope="session")
def demo_report(demo) -> Path:
    """`snakemake --report report.html` of the demo run, in the demo's working directory."""
    snakemake(demo, "--report", "report.html")
    return demo / "report.html"
