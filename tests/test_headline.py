"""The report's front page leads with the answer (issue 20): the model-level table and one sentence per space naming
the least and the most leaking model, with what tempers the reading (random weights, overlapping intervals,
flagged translators)."""

from __future__ import annotations

import polars as pl
import pytest

from sing.analysis.headline import HEADLINE_COLUMNS, headline_sentences, headline_table
from sing.figures.checks import nested_parentheses

DISPLAY = {"resnet": "ResNet50", "vgg16": "VGG16", "deit": "DeiT III (random)", "dense": "DenseNet121"}
SPACES = {"openai_vitl14": "CLIP ViT-L/14", "eva02_l14": "EVA02-CLIP-L/14"}


def summary(rows):
    cols = {"model": pl.String, "space": pl.String, "ratio": pl.Float64, "ratio_ci_low": pl.Float64,
            "ratio_ci_high": pl.Float64, "abs_as_median": pl.Float64, "is_median": pl.Float64, "nullity": pl.Int64,
            "n_images": pl.Int64, "translator_flags": pl.String, "random_weights": pl.Boolean}
    return pl.DataFrame([dict(zip(cols, r)) for r in rows], schema=cols)


MS = summary([
    ("vgg16", "eva02_l14", 4.0, 3.5, 4.6, 2.0, 8.0, 3096, 100, "", False),
    ("resnet", "eva02_l14", 12.0, 10.0, 14.0, 0.5, 6.0, 1048, 100, "", False),
    ("resnet", "openai_vitl14", 12.5, 11.0, 13.9, 0.4, 5.0, 1048, 100, "", False),
    ("vgg16", "openai_vitl14", 11.0, 9.0, 13.0, 0.6, 6.6, 3096, 100, "low_r2", False),
    ("dense", "openai_vitl14", None, None, None, 0.0, 2.0, 0, 100, "", False),
])


def test_table_orders_spaces_as_configured_and_models_by_ratio():
    t = headline_table(MS, DISPLAY, SPACES)
    assert tuple(t.columns) == HEADLINE_COLUMNS
    assert t.select("space", "model").rows() == [("openai_vitl14", "resnet"), ("openai_vitl14", "vgg16"),
                                                  ("openai_vitl14", "dense"), ("eva02_l14", "resnet"),
                                                  ("eva02_l14", "vgg16")]
    assert t["model_name"].to_list()[:2] == ["ResNet50", "VGG16"] and t["space_name"][0] == "CLIP ViT-L/14"
    with pytest.raises(ValueError, match="no rows"):
        headline_table(MS.head(0))


def test_one_sentence_per_space_names_least_and_most_leaking_and_says_if_intervals_overlap():
    s = headline_sentences(MS, DISPLAY, SPACES, stability={"eva02_l14": "The EVA02 ordering is stable."})
    assert s[0] == ("CLIP ViT-L/14 — least leaking of 2 models: ResNet50, IS/|AS| 12.5 [11, 13.9], median |AS| 0.4°; "
                    "most leaking: VGG16, IS/|AS| 11 [9, 13], median |AS| 0.6°. Their 95 % intervals overlap, so this "
                    "ordering is not established.")
    assert s[1] == "CLIP ViT-L/14 — no ratio for DenseNet121: median |AS| = 0, e.g. nullity 0."
    assert s[2].startswith("EVA02-CLIP-L/14 — least leaking of 2 models: ResNet50") and s[2].endswith(
        "Their 95 % intervals do not overlap.")
    assert s[3] == "The EVA02 ordering is stable."
    assert s[4] == "Translator warnings (see the aggregate_model logs): VGG16 → CLIP ViT-L/14: low_r2."
    assert not any(nested_parentheses(x) for x in s)


def test_random_weights_come_first_and_a_lone_model_is_not_ranked():
    ms = summary([("deit", "openai_vitl14", 3.0, 2.0, 4.0, 1.0, 3.0, 24, 30, "", True)])
    s = headline_sentences(ms, DISPLAY, SPACES)
    assert s[0] == ("Random weights: DeiT III (random). Every number below exercises the code path and is not a "
                    "finding.")
    assert s[1].startswith("CLIP ViT-L/14 — one model with a ratio: DeiT III (random)") and "nothing to compare" in s[1]
    assert not any(nested_parentheses(x) for x in s)


def test_front_page_leads_with_the_answer_and_renders_as_snakemake_renders_it():
    """The front page's reStructuredText: the answer first (the sentences), one model-level table per space, the
    figure links by title; docutils (as `snakemake --report` renders it, with the report's link targets
    appended) raises no warning, and every link resolves."""
    import io

    from docutils.core import publish_parts

    from sing.analysis.headline import front_page

    random = MS.with_columns(pl.Series("random_weights", [True, True, True, True, False]))
    figures = [("Fig. 3a — |AS| and IS per image, paper models", "ratio_scatter.png"),
               ("supp. Fig. 9 — Null-space validation", "validation.png")]
    page = front_page(random, display=DISPLAY, space_display=SPACES, figures=figures,
                      stability={"openai_vitl14": "The ordering of models in CLIP ViT-L/14 is not stable."},
                      method="Method\n------\n\nThe method.\n")
    answer, table_at, figures_at = page.index("The answer"), page.index(".. list-table:: CLIP ViT-L/14"), \
        page.index("Figures\n-------")
    assert page.index(".. warning::") < answer < table_at < figures_at < page.index("Method")
    assert page.index("least leaking of 2 models: ResNet50") < page.index("not stable") < table_at
    assert ".. list-table:: EVA02-CLIP-L/14" in page
    links = "\n".join(f".. _{target}: javascript:app.showResultInfo('{target}')" for _, target in figures)
    messages = io.StringIO()
    body = publish_parts(page + "\n" + links, writer="html", settings_overrides={
        "report_level": 2, "halt_level": 5, "warning_stream": messages})["html_body"]
    assert not messages.getvalue(), messages.getvalue()
    assert "javascript:app.showResultInfo('ratio_scatter.png')" in body
    assert "Fig. 3a — |AS| and IS per image, paper models</a>" in body
    assert '<th class="head">IS/|AS| [95 % CI]</th>' in body
    assert "<td>12.5 [11, 13.9]</td>" in body and "<td>random</td>" in body
    assert "low_r2 = held-out R² below translator.min_heldout_r2" in body
