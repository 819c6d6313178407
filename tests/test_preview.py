"""The report's table previews (sing.io.preview, issue 20): display names instead of keys (the key in the tooltip),
strings as text, numbers to 4 significant digits, the key columns first and frozen, the table's own caption, a
RANDOM WEIGHTS banner naming the models and spaces whose rows come from random weights."""

from __future__ import annotations

import re

import polars as pl

from sing.io.preview import preview_html, random_weight_names

NAMES = {"models": {"resnet": "ResNet50 (random)", "vgg": "VGG16"}, "spaces": {"clip": "CLIP ViT-L/14"},
         "classes": {"n01440764": "tench"}}
STEERING = pl.DataFrame({"eps": [17.671234, 3.0], "is_deg": [41.04, 40.0], "reason": ["ok", "<b>x</b>"],
                         "included": [True, None], "model": ["resnet", "vgg"], "space": ["clip", "clip"],
                         "calibration": ["mean_is", "per_image"], "image_id": ["val/a.JPEG", "val/b.JPEG"],
                         "class_id": ["n01440764", "n01440764"]})


def cells(page: str) -> list[list[str]]:
    return [re.findall(r"<td[^>]*>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", page)]


def test_keys_first_frozen_by_display_name_and_values_as_text():
    page = preview_html(STEERING, title="tables/steering.parquet", caption="One row per <i>image</i>.",
                        names=NAMES)
    header = re.findall(r"<th[^>]*>(\w+)", page)
    assert header[:5] == ["model", "space", "calibration", "class_id", "image_id"]  # the keys first, in KEY order
    assert '<td class="key k0" title="resnet">ResNet50 (random)</td>' in page  # frozen, display name, key in tooltip
    assert '<td class="key k1" title="clip">CLIP ViT-L/14</td>' in page and ".k1 { position: sticky; left: 13em" in page
    assert '<th class="key k0">model<br><span class="dtype">String · display name</span></th>' in page
    assert '<td class="key" title="n01440764">tench</td>' in page
    first = cells(page)[1]
    assert first[5:] == ["17.67", "41.04", "ok", "true"]  # 4 significant digits, strings unquoted
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page  # values are escaped
    assert '<span class="null">—</span>' in page and "One row per <i>image</i>." in page
    assert "RANDOM WEIGHTS" not in page


def test_long_tables_show_first_and_last_rows_and_random_weights_are_named():
    frame = pl.DataFrame({"model": ["resnet"] * 5 + ["vgg"] * 5, "x": list(range(10))})
    shown = random_weight_names(frame, {"models": ["resnet", "other"], "spaces": ["clip"]}, NAMES)
    assert shown == ["ResNet50 (random)", "CLIP ViT-L/14"]  # 'other' has no row; no space column: every space
    page = preview_html(frame, title="t", names=NAMES, max_rows=4, random_weights=shown)
    assert "showing the first 2 and the last 2 of 10 rows" in page and "… 6 rows not shown …" in page
    assert [c[1] for c in cells(page) if len(c) == 2] == ["0", "1", "8", "9"]
    assert "<b>RANDOM WEIGHTS</b>: rows of ResNet50 (random), CLIP ViT-L/14 come from untrained weights" in page


def test_model_orderings_are_shown_by_display_names():
    """translator_stability's orders ("key > key") read with display names, the keys kept in the cell's title."""
    frame = pl.DataFrame({"space": ["s"], "variant": ["alpha_x10"], "order_default": ["a > b"],
                          "order_variant": ["b > a"]})
    page = preview_html(frame, title="t", names={"models": {"a": "Model A", "b": "Model B"}, "spaces": {"s": "S"}})
    assert ">Model B &gt; Model A<" in page and ">Model A &gt; Model B<" in page and 'title="b &gt; a"' in page
