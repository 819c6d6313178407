"""Figures as they are drawn (issue 20): axes show only possible values, tick labels never run together, titles have
no parentheses inside parentheses, a value at the numerical floor is drawn and labelled, correlations over fewer
than 4 models read "n too small", the class figure draws what its subtitle says, and every figure computed from
random weights says so. Checked on the rendered scene graph and SVG (sing.figures.checks), for synthetic tables
here and for both demos' tables in the workflow tests at the end."""

from __future__ import annotations

import json
import re
from pathlib import Path

import altair as alt
import numpy as np
import polars as pl
import pytest
from test_figures import MODELS, SETTINGS, synthetic_tables, write_inputs

from sing.figures import checks
from sing.figures.checks import figure_problems, nested_parentheses
from sing.figures.render import build
from sing.figures.settings import figure_settings
from sing.figures.theme import LOG_FLOOR, MIN_MODELS, bounded_domain, clip_polyline, correlation_text, finalize
from sing.outputs import figure_names, figure_tables

#: display names with parentheses of their own, as the demo's "ResNet50 (random)"
PAREN_SETTINGS = {**SETTINGS, "display": {k: f"{v} (random)" for k, v in SETTINGS["display"].items()},
                  "space_display": {k: f"{v} (random)" for k, v in SETTINGS["space_display"].items()},
                  "random_weights": {"models": list(MODELS), "spaces": []}}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return write_inputs(tmp_path_factory.mktemp("checks"), synthetic_tables())


def spec_text(chart) -> str:
    return json.dumps(finalize(chart).to_dict(), ensure_ascii=False)


def title_lines(chart) -> list[str]:
    """The top-level title and subtitle lines of a chart's spec."""
    t = finalize(chart).to_dict().get("title") or {}
    sub = t.get("subtitle") or []
    return [t.get("text", "")] + ([sub] if isinstance(sub, str) else list(sub))


# ------------------------------------------------------------------ the checker finds each fault of the issue
def test_checker_finds_an_abs_as_axis_below_zero():
    """Fig. 3a before: 95 % ellipses pushed the |AS| axis to −0.4."""
    df = pl.DataFrame({"abs_as": [-0.4, 0.2, 1.1], "is_deg": [3.0, 10.0, 190.0]})
    chart = alt.Chart(df).mark_line().encode(x=alt.X("abs_as:Q", title="|AS| (°)"), y=alt.Y("is_deg:Q", title="IS (°)"))
    problems = checks.impossible_domains(checks.axes(chart))
    assert any("'|AS| (°)': domain starts at -0.4, below 0" in p for p in problems), problems
    assert any("'IS (°)': domain ends at 200, above 180" in p for p in problems), problems


def test_checker_finds_tick_labels_that_run_together():
    """Open vocabulary before: "0.81.0" on a 170-px axis."""
    df = pl.DataFrame({"x": [0.0, 1.0]})
    chart = alt.Chart(df).mark_point().encode(x=alt.X("x:Q", title="AS (°)", axis=alt.Axis(
        values=[0, 0.2, 0.4, 0.6, 0.8, 1.0], format=".1f", labelOverlap=False))).properties(width=110)
    (drawn,) = checks.axes(chart)
    assert drawn.title == "AS (°)" and checks.overlapping_labels(drawn), [lab["text"] for lab in drawn.labels]
    assert any("overlap" in p for p in figure_problems(chart))
    assert not figure_problems(chart.properties(width=400))


def test_checker_finds_uneven_log_ticks():
    """Fig. 9 before: log ticks 1e-12, 1e-9, 1e-7, 1e-5 (three decades, then two)."""
    df = pl.DataFrame({"x": [1e-12, 10.0]})

    def chart(values):
        return alt.Chart(df).mark_point().encode(x=alt.X("x:Q", title="logit change", scale=alt.Scale(type="log"),
                                                         axis=alt.Axis(values=values, format=".0e")))

    assert any("log ticks unevenly spaced" in p for p in figure_problems(chart([1e-12, 1e-9, 1e-7, 1e-5, 1e-3])))
    assert figure_problems(chart([1e-12, 1e-9, 1e-6, 1e-3, 1.0])) == []


def test_checker_finds_nested_parentheses():
    assert nested_parentheses("Jellyfish (ResNet50 (random))") and nested_parentheses("∠(T f, T(f+δ))")
    assert not nested_parentheses("Jellyfish — ResNet50 (random)") and not nested_parentheses("|AS| (°) (log)")
    chart = alt.Chart(pl.DataFrame({"x": [1]})).mark_point().encode(x="x:Q").properties(
        title="Jellyfish (ResNet50 (random))")
    assert figure_problems(chart) == ["title 'Jellyfish (ResNet50 (random))': parentheses inside parentheses"]


def test_text_width_uses_the_fonts_advance_widths():
    w = checks.text_width("0.8", 12)
    assert 15 < w < 23 and checks.text_width("0.8", 24) == pytest.approx(2 * w)
    assert checks.text_width("WWW", 12) > checks.text_width("iii", 12)


# ------------------------------------------------------------------ helpers the figures use
def test_clip_polyline_cuts_at_the_edge_and_keeps_the_rest():
    t = np.linspace(0, 2 * np.pi, 401)
    ellipse = np.c_[0.3 + np.cos(t), 5 + 2 * np.sin(t)]  # reaches x = -0.7
    parts = clip_polyline(ellipse, (0, 0), (np.inf, 180))
    assert len(parts) == 1  # the cut ellipse is one arc: its start (inside) is joined to its end
    arc = parts[0]
    assert arc[:, 0].min() == 0.0 and (arc[:, 0] >= 0).all()
    assert arc[0, 0] == 0.0 and arc[-1, 0] == 0.0  # ends on the edge, exactly
    inside = ellipse[ellipse[:, 0] >= 0]
    # every inside point (the closed curve's first = last point once) plus the two crossings; nothing along x = 0
    assert len(arc) == len(inside) - 1 + 2
    assert clip_polyline(ellipse + [5, 0], (0, 0), (np.inf, 180))[0].shape == ellipse.shape  # untouched
    assert clip_polyline(ellipse - [10, 0], (0, 0), (np.inf, 180)) == []
    two = clip_polyline(np.c_[np.cos(t), np.sin(t)], (-np.inf, -0.5), (np.inf, 0.5))  # a band cuts two arcs
    assert len(two) == 2


def test_bounded_domain_never_leaves_the_possible_values():
    assert bounded_domain([0.1, 3.3]) == [0.0, 3.5]
    assert bounded_domain([-0.4, 2.0], 0.0) == [0.0, 2.0]  # |AS|: from 0 even if a contour point was below
    assert bounded_domain([150, 179], 0.0, 180.0) == [0.0, 180.0]  # IS: never beyond 180
    assert bounded_domain([72.3, 94.1], None, 180.0, count=4) == [70.0, 95.0]
    assert bounded_domain([0.93, 0.999], None, 1.0) == [0.93, 1.0]  # accuracies: never beyond 1


def test_correlations_over_fewer_than_four_models_are_not_numbers():
    assert correlation_text("Pearson r", 1.0, 0.0, 2) == f"Pearson r: n too small (2 models; needs ≥ {MIN_MODELS})"
    assert correlation_text("Kendall τ", 0.33, 1.0, 3).startswith("Kendall τ: n too small")
    assert correlation_text("Pearson r", 0.972, 0.0001, 13) == "Pearson r = 0.972 (p = 0.0001, n = 13 models)"


# ------------------------------------------------------------------ every figure, synthetic tables
@pytest.mark.parametrize("figure", figure_names())
def test_every_figure_reads_right(figure, inputs):
    """No impossible axis values, no labels running together, no nested parentheses, even with display names
    that carry their own parentheses; and a figure drawing a random-weight model says so first."""
    chart, _ = build(figure, inputs, PAREN_SETTINGS)
    assert figure_problems(chart) == []
    lines = title_lines(chart)
    assert lines[1].startswith("RANDOM WEIGHTS: ") and "(random)" in lines[1], lines
    assert "not findings" in lines[2]
    without, _ = build(figure, inputs, SETTINGS)
    assert not any("RANDOM" in line for line in title_lines(without))


def test_ratio_scatter_shows_only_possible_values_and_visible_points(inputs):
    chart, data = build("ratio_scatter", inputs, SETTINGS)
    assert data["abs_as"].min() >= 0 and data["is_deg"].min() >= 0 and data["is_deg"].max() <= 180
    ellipses = data.filter(pl.col("layer").str.starts_with("ellipse"))
    assert (ellipses["abs_as"] == 0).any()  # the synthetic 95 % ellipses reach below 0: they were cut there
    assert "cut where they leave the possible values" in " ".join(title_lines(chart))
    spec = finalize(chart).to_dict()
    images = next(layer for layer in spec["layer"] if layer["mark"].get("type") == "point"
                  and layer["mark"].get("size", 0) < 100)
    assert images["mark"]["opacity"] >= 0.35 and images["mark"]["size"] >= 16
    x = images["encoding"]["x"]["scale"]["domain"]
    assert x[0] == 0.0 and x[1] >= data["abs_as"].max()


def test_validation_draws_values_at_the_floor_visibly_with_even_log_ticks(inputs):
    """densenet's null perturbations are exact zeros (nullity-0-like): all at the 1e-12 floor."""
    chart, data = build("validation", inputs, SETTINGS)
    densenet_null = data.filter((pl.col("model") == "densenet") & (pl.col("kind") == "null"))
    assert densenet_null["lc_at_floor"].to_list() == [True]
    drawn = checks.axes(chart)
    log_axis = next(a for a in drawn if "logit change" in a.title)
    labels = [lab["text"] for lab in log_axis.labels]
    assert labels[0] == f"≤ {LOG_FLOOR:g}"
    assert log_axis.domain[0] < LOG_FLOOR  # the floor is inside the axis: marks there are drawn whole
    positions = [float(lab["x"]) for lab in log_axis.labels]
    gaps = np.diff(positions)
    np.testing.assert_allclose(gaps, gaps[0], rtol=1e-6)  # evenly spaced decades
    text = spec_text(chart)
    assert f"all ≤ {LOG_FLOOR:g}" in text and '"shape": "diamond"' in text


def test_robustness_and_crosscheck_say_n_too_small_below_four_models(tmp_path):
    few = synthetic_tables(models=MODELS[:3], n_classes=8, n_images=10)
    inputs = write_inputs(tmp_path, few, models=MODELS[:3])
    for figure, names in (("robustness", ["Pearson r"]), ("space_crosscheck", ["Kendall τ", "Spearman ρ"])):
        chart, _ = build(figure, inputs, SETTINGS)
        text = spec_text(chart)
        for name in names:
            assert f"{name}: n too small (3 models; needs ≥ 4)" in text, (figure, name)
            assert f"{name} =" not in text
    (tmp_path / "many").mkdir()
    chart, _ = build("robustness", write_inputs(tmp_path / "many", synthetic_tables()), SETTINGS)
    assert re.search(r"Pearson r = -?\d\.\d{3} \(p = ", spec_text(chart))


def test_class_figure_draws_what_it_says(inputs, tmp_path):
    """Above 2k classes per model: k highest, k lowest and the histogram; at most 2k: every class, no histogram.
    The subtitle says which, and names no config key the schema lacks (figures.violin_k was one)."""
    chart, data = build("class_violins", {"class_summary": inputs["class_summary"]}, {**SETTINGS, "class_k": 5})
    text = spec_text(chart)
    assert "the 5 classes with the highest and the 5 with the lowest median |AS|; histogram: all classes" in text
    assert '"bin"' in text and set(data["group"]) == {"highest 5", "lowest 5"}
    small = synthetic_tables(n_classes=6)
    chart, data = build("class_violins", write_inputs(tmp_path, small), {**SETTINGS, "class_k": 5})
    text = spec_text(chart)
    assert "every class (6 or fewer per model: at most 10 are all shown, no histogram)" in text
    assert '"bin"' not in text and set(data["group"]) == {"all classes"}
    assert "violin" not in text


# ------------------------------------------------------------------ both demos, as the workflow drew them
def check_run(results: Path):
    """Every figure rebuilt from a finished run's tables with the figures job's own settings (its manifest):
    drawn without problems, and (the demos use random weights only) each says so first."""
    job = json.loads((results / "manifests" / "figures" / "settings.json").read_text())
    settings = figure_settings(job)
    inputs = {t: results / "tables" / f"{t}.parquet" for t in figure_tables()
              if (results / "tables" / f"{t}.parquet").exists()}
    inputs["geometries"] = sorted(str(p) for p in (results / "heads").glob("*/geometry.safetensors"))
    assert settings["random_weights"]["models"] == sorted(job["run_models"])
    made = [f for f in figure_names() if (results / "figures" / f"{f}.data.parquet").exists()]
    assert len(made) >= 13, made  # the run's figures (the folder demo runs without the translator study)
    for figure in made:
        chart, data = build(figure, inputs, settings)
        assert figure_problems(chart) == [], figure
        if data.height:  # (one CLIP space: the cross-check is a note, no number drawn)
            assert title_lines(chart)[1].startswith("RANDOM WEIGHTS"), figure
    ms = pl.read_parquet(results / "tables" / "model_summary.parquet")
    assert ms["random_weights"].to_list() == [True] * ms.height
    assert set(ms["translator_flags"].to_list()) <= {"", "low_r2", "alpha_at_edge", "few_samples",
                                                     "alpha_at_edge, few_samples", "low_r2, few_samples",
                                                     "low_r2, alpha_at_edge", "low_r2, alpha_at_edge, few_samples"}
    assert all("few_samples" in f for f in ms["translator_flags"])  # demo translators: fewer images than dims


@pytest.mark.workflow
def test_demo_figures_read_right(demo):
    check_run(demo / "results" / "demo")


@pytest.mark.workflow
def test_folder_demo_figures_read_right(folder_demo):
    check_run(folder_demo / "results" / "folder-demo")


# ------------------------------------------------------------------ captions say what is drawn
CAPTIONS = Path(__file__).resolve().parents[1] / "report" / "captions"


def caption(name: str) -> str:
    return " ".join((CAPTIONS / f"{name}.rst").read_text(encoding="utf-8").split())


def test_captions_say_what_the_figures_draw(inputs):
    """Each caption's claim about the drawing, against the drawing (synthetic tables: 60 classes, 7 models)."""
    from sing.figures.classes import CLASS_K

    text = spec_text(build("validation", inputs, PAREN_SETTINGS)[0])
    assert "≤ 1e-12" in caption("validation") and "≤ 1e-12" in text and "all ≤ 1e-12" in caption("validation")
    assert "f_δ = f + δ" in caption("validation") and "T f_δ" in text
    chart, data = build("open_vocabulary", inputs, SETTINGS)
    assert "“Class — Model”" in caption("open_vocabulary") and "Fig. 5" in caption("open_vocabulary")
    assert any(" — " in t for t in re.findall(r'"text": "([^"]+)"', spec_text(chart)))
    assert f"its {CLASS_K} classes with the highest and its {CLASS_K} with the lowest" in caption("class_violins")
    assert f"at most {2 * CLASS_K} classes shows every class and no histogram" in caption("class_violins")
    assert "histogram: all classes" in spec_text(build("class_violins", inputs, SETTINGS)[0])  # 60 > 24
    assert f"fewer than {MIN_MODELS} models" in caption("robustness") and "n too small" in caption("robustness")
    assert f"fewer than {MIN_MODELS} models" in caption("space_crosscheck")
    legend = spec_text(build("spectra", inputs, SETTINGS)[0])
    assert "“model: rank r, nullity n”" in caption("spectra") and re.search(r": rank \d+, nullity \d+", legend)
    assert "cut at 0" in caption("steering") and (build("steering", inputs, SETTINGS)[1]["lo"] >= 0).all()
    for name in ("ratio_scatter", "ratio_scatter_all"):
        assert "\\|AS\\| ≥ 0, 0° ≤ IS ≤ 180°" in caption(name)
    for path in CAPTIONS.glob("*.rst"):
        if path.stem in figure_names():
            assert "starts its subtitle with RANDOM WEIGHTS" in caption(path.stem), path.name
