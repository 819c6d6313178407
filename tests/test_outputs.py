"""One declaration per table, figure and model source (sing.outputs, sing.models.sources), and everything that
must agree with them checked against them: figure builders, report captions, results/README.md, the config
schema's source enum, the workflow's rules."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from report_helpers import readme_tables

from sing import outputs
from sing.models.sources import SOURCES
from sing.outputs import FIGURES, TABLES, FigureSpec, TableSpec

REPO = Path(__file__).resolve().parents[1]


def test_figure_and_table_names_match_the_workflow_outputs():
    from sing.figures import render

    for figure in outputs.figure_names():  # every name builds (unknown ones raise)
        with pytest.raises(ValueError, match="missing input|no geometry"):
            render.build(figure, {})
    with pytest.raises(ValueError, match="unknown figure 'nope'"):
        render.build("nope", {})
    assert set(outputs.figure_tables()) <= set(outputs.table_names())


def test_every_figure_builder_resolves_and_takes_its_inputs():
    import inspect

    for spec in FIGURES:
        builder = spec.load()
        params = inspect.signature(builder).parameters
        positional = [p for p in params.values() if p.kind is p.POSITIONAL_OR_KEYWORD]
        assert len(positional) >= len(spec.tables) + len(spec.files) + 1, spec.name  # tables, files, settings
        assert set(spec.options) <= set(params), spec.name


def test_every_figure_has_its_caption_and_every_caption_a_figure():
    captions = {p.name for p in (REPO / "report" / "captions").glob("*.rst")}
    declared = {spec.caption for spec in FIGURES}
    assert declared <= captions
    # the other captions: the shared table caption, and the UnCLIP pictures' (rules/unclip.smk)
    assert captions - declared == {"table.rst", "unclip.rst", "unclip_gallery.rst", "unclip_translators.rst",
                                   "unclip_perturbations.rst"}


def test_results_readme_documents_every_table():
    assert readme_tables() == sorted(outputs.table_names())


def test_every_table_is_written_by_a_rule(parsed_workflow):
    """A collected table has a rule writing its part per (model, space), which collect_table joins; any other
    table is written whole by a rule of its own."""
    outputs_of = {rule.name: [str(o) for o in rule.output] for rule in parsed_workflow.rules}
    written = {o.split("/tables/")[1] for name, files in outputs_of.items() if name != "collect_table"
               for o in files if "/tables/" in o}
    for spec in TABLES:
        if spec.collected:
            part = f"per_model/{{model,[^}}]*}}/{{space,[^}}]*}}/{spec.name}.parquet"
            assert any(re.fullmatch(part, w) for w in written), (spec.name, sorted(written))
            assert re.fullmatch(rule_constraint(parsed_workflow, "collect_table"), spec.name)
        else:
            assert f"{spec.name}.parquet" in written, spec.name
    assert set(outputs.per_image_tables()) <= set(outputs.collected_tables())


def rule_constraint(workflow, rule: str) -> str:
    """The regex a rule's `table` wildcard must match."""
    output = str(next(iter(workflow.get_rule(rule).output)))
    return re.search(r"\{table,([^}]*)\}", output).group(1)


def test_specs_refuse_bad_declarations():
    with pytest.raises(ValueError, match="identifier"):
        TableSpec("model-summary", "x", "y", "z")
    with pytest.raises(ValueError, match="not 'module:function'"):
        FigureSpec("f", "sing.figures.ratios.ratio_bars", ("model_summary",), "s")
    with pytest.raises(ValueError, match="unknown input files"):
        FigureSpec("f", "m:f", (), "s", files=("heads",))
    with pytest.raises(ValueError, match="unknown table"):
        outputs.table("nope")
    assert FIGURES[0].caption == "ratio_scatter.rst" and TABLES[0].name == "model_summary"


def test_outputs_and_sources_import_only_the_standard_library():
    code = ("import sys; before = set(sys.modules); import sing.outputs, sing.models.sources; "
            "new = sorted(m.split('.')[0] for m in set(sys.modules) - before); print(' '.join(new))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert {m for m in out if m not in set(sys.stdlib_module_names)} == {"sing"}, out


# ----------------------------------------------------------------------------------------------- model sources
def test_the_schema_lists_exactly_the_registered_sources():
    schema = yaml.safe_load((REPO / "schemas" / "config.schema.yaml").read_text())
    node = schema["definitions"]["model_entry"]["properties"]["source"]
    assert node["enum"] == list(SOURCES)
    for name in SOURCES:
        assert f"`{name}`" in node["description"], name


def test_every_source_builder_resolves():
    from sing.models import classifiers

    for source in SOURCES.values():
        assert callable(source.load()), source.name
        assert source.load().__module__ == classifiers.__name__, source.name


def test_load_classifier_refuses_an_unregistered_source_or_a_missing_field():
    from sing.models.classifiers import load_classifier

    with pytest.raises(ValueError, match=r"model 'x': unknown source 'torchvision' \(one of"):
        load_classifier("x", {"source": "torchvision"})
    with pytest.raises(ValueError, match="model 'x': source timm needs a 'name'"):
        load_classifier("x", {"source": "timm"})
