"""The library's import contract: the layers of pyproject.toml's [tool.importlinter] (no circles, lower layers
never import higher ones), and which packages may be imported without torch."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from workflow_helpers import REPO


def test_import_layers_hold():
    """`lint-imports` (import-linter) checks every import, including those inside functions."""
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    assert exe, "import-linter is not installed (pip install -e '.[test]')"
    proc = subprocess.run([exe], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 broken" in proc.stdout


@pytest.mark.parametrize("module", ["sing.registry", "sing.data.classes", "sing.data.preflight", "sing.io.fonts",
                                    "sing.analysis.concepts", "sing.core.geometry",
                                    "sing.core.translator", "sing.core.perturb", "sing.io.tables",
                                    "sing.analysis.steering", "sing.analysis.summaries", "sing.figures.render",
                                    "sing.cli", "sing.io.schema", "sing.models.lock", "sing.unclip.pipeline",
                                    "sing.outputs", "sing.models.sources", "sing.workflow.plan",
                                    "sing.workflow.settings", "sing.workflow.checks", "sing.workflow.code",
                                    "sing.workflow.manifests", "sing.workflow.slurm"])
def test_light_modules_do_not_import_torch(module):
    """The Snakefile reads sing.workflow (and through it registry / outputs / classes / concepts / schema / lock / the
    UnCLIP model ids) at parse time, and the figures, analyses and CLI entry
    point must stay cheap to import (torch costs seconds and ~0.5 GB)."""
    code = f"import sys, {module}; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_job_scripts_use_one_style():
    """Job scripts log through sing.io.logs.setup_logging(snakemake.log[0]), read snakemake.* directly (no noqa
    aliases) and keep no defaults of their own (no `.get(key, default)`: defaults live in the schema)."""
    for script in sorted((REPO / "workflow_scripts").glob("*.py")):
        text = script.read_text()
        assert "setup_logging(snakemake.log[0])" in text, script.name
        assert "noqa" not in text and ".get(" not in text, script.name
