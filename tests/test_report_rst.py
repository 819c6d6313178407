"""Every reStructuredText file the Snakemake report includes renders without a docutils system message.

Snakemake 9 renders a caption (and the workflow description) in two steps (snakemake/report/__init__.py,
`FileRecord.render` and `auto_report`): Jinja2 with `trim_blocks` / `lstrip_blocks` and a `snakemake` object
(config, wildcards, params, ...), then `docutils.core.publish_parts(..., writer="html")`. A markup error
(e.g. `|AS|`, which is substitution syntax) does not fail the build: docutils embeds a "System Message"
block in the page. Here both steps run as in Snakemake, with undefined Jinja names made an error, and every
message at WARNING (level 2) or above fails the test.
"""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import jinja2
import pytest
import yaml
from docutils.core import publish_parts
from report_helpers import named_anchors, readme_anchors, readme_tables
from snakemake.utils import validate

REPO = Path(__file__).resolve().parents[1]
REPORT = REPO / "report"
RST_FILES = sorted(REPORT.rglob("*.rst"))
CONFIG = yaml.safe_load((REPO / "config.yaml").read_text())
validate(CONFIG, str(REPO / "schemas" / "config.schema.yaml"), set_default=True)  # as sing.workflow.config does


def rule_wildcards(rst: Path) -> list[dict]:
    """Wildcards/params a caption is rendered with: one set per table for the table caption."""
    if rst.name == "table.rst":
        return [{"wildcards": {"table": t}, "params": {"embedded": embedded}}
                for t in readme_tables() for embedded in (True, False)]
    return [{"wildcards": {}, "params": {}}]


def render(rst: Path, wildcards: dict, params: dict) -> tuple[str, str]:
    """(html body, docutils messages) as Snakemake's report renders the file."""
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)
    snakemake = SimpleNamespace(config=CONFIG, wildcards=SimpleNamespace(**wildcards),
                                params=SimpleNamespace(**params), rule="test")
    text = env.from_string(rst.read_text()).render(snakemake=snakemake, categories={}, files=[])
    messages = io.StringIO()
    body = publish_parts(text, writer="html", settings_overrides={
        "report_level": 2, "halt_level": 5, "warning_stream": messages})["body"]
    return body, messages.getvalue()


def test_the_report_has_rst_files():
    assert REPORT / "workflow.rst" in RST_FILES and len(RST_FILES) > 10


@pytest.mark.parametrize("rst", RST_FILES, ids=lambda p: str(p.relative_to(REPORT)))
def test_rst_renders_without_system_messages(rst):
    for context in rule_wildcards(rst):
        body, messages = render(rst, **context)
        assert not messages, f"{rst.relative_to(REPO)} ({context}): docutils says:\n{messages}"
        assert "system-message" not in body


def test_checker_catches_substitution_syntax(tmp_path):
    """The check itself: the markup that broke the report on main is reported."""
    bad = tmp_path / "bad.rst"
    bad.write_text("Large |AS| means leakage.\n")
    _, messages = render(bad, {}, {})
    assert 'Undefined substitution referenced: "AS"' in messages
    bad.write_text("A *dangling emphasis.\n")
    assert "WARNING" in render(bad, {}, {})[1]


def test_table_caption_names_an_existing_readme_section():
    rst = REPORT / "captions" / "table.rst"
    assert readme_tables(), "results/README.md documents no tables/<name>.parquet"
    for table in readme_tables():
        for embedded in (True, False):
            body, _ = render(rst, {"table": table}, {"embedded": embedded})
            named = named_anchors(body)
            assert named and named <= readme_anchors(), (table, named, sorted(readme_anchors()))
            assert f"tables/{table}.parquet" in body
