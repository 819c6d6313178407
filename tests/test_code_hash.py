"""sing.workflow.code: which sing modules a job script reaches (static import analysis, transitively) and the
hash of what they do (syntax trees without docstrings). The real DAG's reruns after a code change are in
tests/test_reruns.py."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

import pytest

from sing.workflow.code import CodeHasher, source_digest

REPO = Path(__file__).resolve().parents[1]


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


@pytest.fixture
def tree(tmp_path) -> Path:
    """A small package `sing` with every kind of import, and two scripts."""
    write(tmp_path / "src", {
        "sing/__init__.py": '"""pkg"""\n__version__ = "1"\n',
        "sing/core/__init__.py": "",
        "sing/core/metrics.py": "import numpy as np\n\ndef angle(a, b):\n    return np.arccos(a @ b)\n",
        "sing/core/files.py": "def write(p):\n    return p\n",
        "sing/analysis/__init__.py": "",
        "sing/analysis/scores.py": "from ..core.metrics import angle\nfrom . import helpers\n",
        "sing/analysis/helpers.py": "def f():\n    from sing.core import files  # in a function\n    return files\n",
        "sing/specs.py": 'BUILDERS = ["sing.figures.bars:draw", "not.a.module:f", "sing.core.files"]\n',
        "sing/figures/__init__.py": "",
        "sing/figures/bars.py": "import sing.core.files as f\n",
        "sing/data/__init__.py": "",
        "sing/data/extraction.py": "from sing.core.files import write\n",
    })
    write(tmp_path / "scripts", {
        "score.py": "from sing.analysis.scores import angle\n",
        "extract.py": "from sing.data import extraction\nimport sing.specs\n",
    })
    return tmp_path


def test_scripts_reach_their_modules_transitively(tree):
    h = CodeHasher(tree / "src")
    assert h.closure([tree / "scripts/score.py"]) == [
        "sing", "sing.analysis", "sing.analysis.helpers", "sing.analysis.scores", "sing.core", "sing.core.files",
        "sing.core.metrics"]
    # a "module:function" string names a builder imported at run time; a plain dotted string does not count
    assert h.closure([tree / "scripts/extract.py"]) == [
        "sing", "sing.core", "sing.core.files", "sing.data", "sing.data.extraction", "sing.figures",
        "sing.figures.bars", "sing.specs"]


def test_only_what_a_script_reaches_changes_its_hash(tree):
    before = {s: CodeHasher(tree / "src").script_code(tree / "scripts" / s) for s in ("score.py", "extract.py")}
    metrics = tree / "src/sing/core/metrics.py"
    metrics.write_text(metrics.read_text().replace("arccos(a @ b)", "arccos(a @ b) * 2"))
    after = {s: CodeHasher(tree / "src").script_code(tree / "scripts" / s) for s in ("score.py", "extract.py")}
    assert after["score.py"]["sha256"] != before["score.py"]["sha256"]
    assert after["score.py"]["modules"]["sing.core.metrics"] != before["score.py"]["modules"]["sing.core.metrics"]
    assert after["extract.py"] == before["extract.py"]  # extraction does not import the metrics


def test_comments_docstrings_and_layout_do_not_count():
    code = 'def f(x):\n    """Doc."""\n    return x + 1\n'
    same = ('"""A module docstring."""\n# a comment\n\n\ndef f(x):  # trailing\n'
            '    """Another doc,\n    two lines."""\n'
            '\n    return (x +\n            1)\n')
    assert source_digest(code) == source_digest(same)
    for changed in ('def f(x):\n    return x + 2\n', 'def f(y):\n    return y + 1\n',
                    'def f(x):\n    """Doc."""\n    "not a docstring"\n    return x + 1\n',
                    'def f(x):\n    if x:\n        """kept: a string statement inside a block is code"""\n'
                    '    return x + 1\n'):
        assert source_digest(changed) != source_digest(code), changed
    nested = ('class A:\n    """Doc."""\n    if True:\n        def g(self):\n            """Doc."""\n'
              '            return 1\n')
    assert source_digest(nested) == source_digest(nested.replace('"""Doc."""', '"""Other."""'))


def test_hashes_name_no_paths(tree, tmp_path):
    """A moved checkout hashes the same."""
    import shutil

    moved = tmp_path / "elsewhere"
    shutil.copytree(tree, moved)
    a = CodeHasher(tree / "src").script_code(tree / "scripts/score.py")
    b = CodeHasher(moved / "src").script_code(moved / "scripts/score.py")
    assert a == b and a["script"] == "score.py"


def test_the_disk_cache_reads_a_changed_file_again(tree, tmp_path):
    cache = tmp_path / "cache.json"
    first = CodeHasher(tree / "src", cache=cache)
    before = first.script_code(tree / "scripts/score.py")
    first.save()
    assert cache.is_file()
    metrics = tree / "src/sing/core/metrics.py"
    metrics.write_text(metrics.read_text() + "\nTAU = 6.28\n")
    os.utime(metrics, ns=(1, 1))  # even with an old mtime: the size differs
    after = CodeHasher(tree / "src", cache=cache).script_code(tree / "scripts/score.py")
    assert after["sha256"] != before["sha256"]
    assert CodeHasher(tree / "src", cache=cache).script_code(tree / "scripts/score.py") == after


def test_the_workflow_scripts_reach_the_modules_they_run():
    """On the real tree: scoring reaches the metrics, extraction does not; extraction reaches sing.data.extraction;
    the figures job reaches every figure builder (named by string in sing.outputs)."""
    from sing.outputs import FIGURES

    h = CodeHasher(REPO / "src")
    scripts = REPO / "workflow_scripts"
    reach = {p.name: set(h.closure([p])) for p in scripts.glob("*.py")}
    assert "sing.core.metrics" in reach["score_chunk.py"]
    assert "sing.core.metrics" not in reach["extract_features.py"] | reach["export_head.py"]
    assert "sing.data.extraction" in reach["extract_features.py"]
    assert "sing.data.extraction" not in reach["score_chunk.py"]
    assert {spec.builder.partition(":")[0] for spec in FIGURES} <= reach["make_figures.py"]
    assert "sing.workflow" not in {m.rpartition(".")[0] for s in reach.values() for m in s}  # jobs never plan
