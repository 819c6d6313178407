"""A result table as a browsable HTML page for the report: what one row is, the key columns first and frozen
while the others scroll, display names in place of model / space / class keys (the key in each cell's tooltip),
strings as text, numbers to 4 significant digits, and a RANDOM WEIGHTS banner over tables computed from random
weights.

Only the first and last rows are shown (``max_rows`` in all). Every value is HTML-escaped.
"""

from __future__ import annotations

import html
import math
from typing import Any, Mapping, Sequence

import polars as pl

__all__ = ["KEY_COLUMNS", "NAMED_COLUMNS", "preview_html", "random_weight_names"]

#: columns that identify a row, in the order they are shown first (those the table has)
KEY_COLUMNS = ("model", "space", "model_a", "model_b", "space_a", "space_b", "calibration", "variant", "class_id",
               "class_name", "image_id", "kind", "concept", "seed")
#: key columns shown by display name: column -> which name map (``names`` of :func:`preview_html`)
NAMED_COLUMNS = {"model": "models", "model_a": "models", "model_b": "models", "space": "spaces",
                 "space_a": "spaces", "space_b": "spaces", "class_id": "classes"}
#: columns holding a model ordering "key_1 > key_2 > ..." (translator_stability), shown by display names
ORDER_COLUMNS = {"order_default": "models", "order_variant": "models"}
_FROZEN = 3  # key columns frozen at the left edge (each 13em wide)
_WIDTH_EM = 13


def random_weight_names(frame: pl.DataFrame, random: Mapping[str, Sequence[str]],
                        names: Mapping[str, Mapping[str, str]] | None = None) -> list[str]:
    """Display names of the models and spaces of ``random`` ({"models": keys, "spaces": keys} with random
    weights) that rows of ``frame`` come from (a table without a ``model`` / ``space`` column covers every one)."""
    names = names or {}
    out = []
    for column, kind in (("model", "models"), ("space", "spaces")):
        covered = set(frame[column].cast(pl.String).unique().to_list()) if column in frame.columns else None
        mapping = names.get(kind) or {}
        out += [mapping.get(key, key) for key in random.get(kind, ()) if covered is None or key in covered]
    return out


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '<span class="null">—</span>'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return html.escape(f"{value:.4g}")
    if isinstance(value, (list, tuple)):
        return html.escape(", ".join(str(v) for v in value))
    return html.escape(str(value))


def _rows(frame: pl.DataFrame, max_rows: int) -> tuple[list[dict], int]:
    """The rows shown (the first and last ``max_rows`` // 2 when there are more) and where the gap is."""
    if frame.height <= max_rows:
        return frame.to_dicts(), -1
    head = max_rows - max_rows // 2
    return frame.head(head).to_dicts() + frame.tail(max_rows // 2).to_dicts(), head


def preview_html(frame: pl.DataFrame, *, title: str, caption: str = "", names: Mapping[str, Mapping[str, str]] | None
                 = None, max_rows: int = 100, random_weights: Sequence[str] = (), note: str = "") -> str:
    """The HTML page previewing ``frame`` (module docstring).

    title : the page heading (the table's path); caption : what one row is and what the table holds (HTML, shown
    above the table); names : {"models" | "spaces" | "classes": key -> display name} for :data:`NAMED_COLUMNS`;
    random_weights : display names of the models / spaces with random weights among those the table covers (a
    banner names them); note : a last line (e.g. where the columns are documented).
    """
    names = names or {}
    keys = [c for c in KEY_COLUMNS if c in frame.columns]
    columns = keys + [c for c in frame.columns if c not in keys]
    frozen = keys[:_FROZEN]
    rows, gap = _rows(frame.select(columns), max_rows)
    shown = "all rows" if gap < 0 else f"the first {gap} and the last {max_rows // 2} of {frame.height:,} rows"

    def th(c: str) -> str:
        cls = f' class="key k{frozen.index(c)}"' if c in frozen else (' class="key"' if c in keys else "")
        named = " · display name" if c in NAMED_COLUMNS and names.get(NAMED_COLUMNS[c]) else ""
        return (f"<th{cls}>{html.escape(c)}<br><span class=\"dtype\">"
                f"{html.escape(str(frame.schema[c]))}{named}</span></th>")

    def td(c: str, value: Any) -> str:
        cls = f' class="key k{frozen.index(c)}"' if c in frozen else (' class="key"' if c in keys else "")
        mapping = names.get(NAMED_COLUMNS.get(c, ""), {})
        if value is not None and mapping and str(value) in mapping:
            return (f'<td{cls} title="{html.escape(str(value))}">{html.escape(str(mapping[str(value)]))}</td>')
        order = names.get(ORDER_COLUMNS.get(c, ""), {})
        if isinstance(value, str) and order:
            shown = " > ".join(order.get(key, key) for key in value.split(" > "))
            return f'<td{cls} title="{html.escape(value)}">{html.escape(shown)}</td>'
        return f"<td{cls}>{_cell(value)}</td>"

    body = []
    for i, row in enumerate(rows):
        if i == gap:
            body.append(f'<tr class="gap"><td colspan="{len(columns)}">… {frame.height - max_rows:,} rows '
                        "not shown …</td></tr>")
        body.append("<tr>" + "".join(td(c, row[c]) for c in columns) + "</tr>")
    sticky = "\n".join(f".k{i} {{ position: sticky; left: {i * _WIDTH_EM}em; z-index: 1; }}" for i in range(_FROZEN))
    banner = ""
    if random_weights:
        banner = (f'<p class="random"><b>RANDOM WEIGHTS</b>: rows of {html.escape(", ".join(random_weights))} '
                  "come from untrained weights; their numbers exercise the code path and are not findings.</p>")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; margin: 1em; }}
.scroll {{ overflow-x: auto; max-width: 100%; }}
table {{ border-collapse: separate; border-spacing: 0; font-size: 13px; }}
th, td {{ border: 1px solid #ccc; padding: 2px 6px; background: #fff; white-space: nowrap; text-align: right; }}
th {{ background: #f3f3f3; vertical-align: bottom; }}
.key {{ text-align: left; }}
th.key, td.key {{ min-width: {_WIDTH_EM - 1}em; max-width: {_WIDTH_EM - 1}em; overflow: hidden;
  text-overflow: ellipsis; }}
td.key {{ background: #fafafa; }}
{sticky}
.dtype {{ color: #777; font-weight: normal; font-size: 11px; }}
.null {{ color: #999; }}
.gap td {{ text-align: center; color: #777; background: #f7f7f7; }}
.random {{ background: #fff3cd; border: 1px solid #e0c060; padding: 6px 10px; }}
</style></head>
<body><h1>{html.escape(title)}</h1>
{banner}
{f"<p>{caption}</p>" if caption else ""}
<p>{frame.height:,} rows &times; {frame.width} columns; showing {shown}. The key columns come first and stay in
view while the table scrolls; model, space and class columns show display names (the key is in each cell's
tooltip and in the parquet). Second header row: column type.{(" " + note) if note else ""}</p>
<div class="scroll"><table>
<thead><tr>{"".join(th(c) for c in columns)}</tr></thead>
<tbody>
{chr(10).join(body)}
</tbody></table></div>
</body></html>
"""
