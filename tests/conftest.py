"""Fixtures shared by the workflow tests (tests/test_workflow.py, tests/test_reruns.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from workflow_helpers import make_workdir, snakemake


@pytest.fixture(scope="session")
def demo(tmp_path_factory) -> Path:
    """One complete, uninterrupted demo run shared by the workflow tests; they only read it or dry-run on it
    (a dry run leaves the manifests as it found them)."""
    workdir = make_workdir(tmp_path_factory.mktemp("demo"))
    snakemake(workdir)
    return workdir
