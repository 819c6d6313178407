"""Glyphs in raster output (issue 9 item 10): a CJK display name is drawn in PNG figures and UnCLIP contact
sheets, and a label no font covers is reported naming it.

A missing glyph is drawn as the same box whatever the character ("tofu"), so two labels made of different
characters the font lacks render to identical pixels; drawn glyphs differ. That is the check used here."""

import io
import logging

import altair as alt
import numpy as np
import polars as pl
import pytest
from PIL import Image

from sing.figures.render import check_glyphs, save
from sing.io.fonts import fallback_font_file, missing_glyphs

CAT, BIRD = "猫のモデル 고양이", "鳥の模型 새모델"  # same number of characters, no character in common


def _chart(label):
    df = pl.DataFrame({"model": [label, "ResNet50"], "ratio": [1.0, 2.0]})
    return alt.Chart(df).mark_bar().encode(y=alt.Y("model:N", title=None), x="ratio:Q").properties(
        width=120, height=40)


def _png(tmp_path, label, name):
    path = tmp_path / f"{name}.png"
    save(_chart(label), pl.DataFrame({"x": [1]}), png=path)
    return np.asarray(Image.open(path).convert("L")).astype(int)


def test_cjk_label_is_drawn_in_png_figures(tmp_path):
    cat, bird = _png(tmp_path, CAT, "cat"), _png(tmp_path, BIRD, "bird")
    # main: both labels were rows of identical boxes, so the two PNGs were pixel-identical
    assert cat.shape != bird.shape or (cat != bird).sum() > 200
    assert not missing_glyphs([CAT, BIRD])


def test_uncovered_label_is_reported_naming_it(tmp_path, caplog):
    odd = "model \ue000\ue001"  # private-use characters: no font has them
    with caplog.at_level(logging.WARNING, logger="sing.figures.render"):
        assert check_glyphs(_chart(odd), tmp_path / "f.png") == {odd: "\ue000\ue001"}
        assert check_glyphs(_chart(CAT), tmp_path / "g.png") == {}
    msgs = [r.getMessage() for r in caplog.records]
    assert len(msgs) == 1 and repr(odd) in msgs[0] and "U+E000" in msgs[0] and "f.png" in msgs[0]


def test_missing_glyphs_against_given_fonts():
    font = fallback_font_file()
    assert font is not None, "the wide-coverage font package (manimgx-fonts-cjk) is a dependency"
    assert missing_glyphs(["plain ascii", "café"], font_files=[font]) == {}
    assert missing_glyphs(["猫 \ue000"], font_files=[font]) == {"猫 \ue000": "\ue000"}
    assert missing_glyphs(["猫"], font_files=[]) == {"猫": "猫"}


def test_cjk_label_is_drawn_in_contact_sheets():
    from sing.unclip.sheet import contact_sheet

    tile = Image.new("RGB", (32, 32), (200, 200, 200))
    sheets = [np.asarray(contact_sheet([[tile]], row_labels=[label], col_labels=["original"]).convert("L")).astype(int)
              for label in (CAT, BIRD)]
    assert sheets[0].shape != sheets[1].shape or (sheets[0] != sheets[1]).sum() > 50
    ascii_sheet = contact_sheet([[tile]], row_labels=["ILSVRC2012_val_1"], col_labels=["original"])
    buf = io.BytesIO()
    ascii_sheet.save(buf, format="PNG")  # ASCII labels keep Pillow's default font
    assert ascii_sheet.size[0] > 32


@pytest.mark.parametrize("label", ["ResNet50 (random)"])
def test_ascii_figures_load_no_font(label, monkeypatch):
    import sing.io.fonts as fonts

    monkeypatch.setattr(fonts, "_cmap", lambda p: pytest.fail("font loaded for an ASCII label"))
    assert missing_glyphs([label, "ratio", "IS / |AS|"]) == {}
