"""Shared look and helpers of every figure: the theme (:func:`finalize`), colours, titles, display names from the
registry's entries (passed in the figure settings), the primary space, NaN cleaning, and the box glyph drawn from
precomputed quantiles."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import altair as alt
import numpy as np
import polars as pl

alt.data_transformers.disable_max_rows()

FONT = "DejaVu Sans, Liberation Sans, Arial, sans-serif"
#: colours: original / equivalent features (paper Fig 5), perturbation kinds (Fig 9)
ORIG_COLOR, EQ_COLOR, ARROW_COLOR = "#1f77b4", "#d62728", "#2ca02c"
KIND_COLORS = {"null_removal": "#1f77b4", "null": "#2ca02c", "random": "#7f7f7f", "principal": "#d62728"}
LOG_FLOOR = 1e-12  # logit changes are drawn on a log axis; exact zeros (nullity 0) sit at this floor


def display_name(key: str, settings: Mapping[str, Any] | None) -> str:
    names = dict((settings or {}).get("display") or {})
    return str(names.get(key) or key)  # display names come from the registry (config `models:`)


def space_name(key: str, settings: Mapping[str, Any] | None) -> str:
    names = dict((settings or {}).get("space_display") or {})
    return str(names.get(key) or key)


def primary_space(table: pl.DataFrame, settings: Mapping[str, Any] | None, column: str = "space") -> str:
    """The space the single-space figures show: settings.primary_space, else the first configured space
    present, else the first in sorted order."""
    present = sorted(table[column].unique().to_list())
    if not present:
        raise ValueError(f"table has no rows (no {column})")
    s = dict(settings or {})
    for cand in [s.get("primary_space"), *list(s.get("space_display") or {}), *list(s.get("spaces") or [])]:
        if cand in present:
            return cand
    return present[0]


def model_subset(models: Sequence[str], settings: Mapping[str, Any] | None, key: str = "paper_models") -> list[str]:
    wanted = list((settings or {}).get(key) or [])
    sub = [m for m in wanted if m in models]
    return sub if sub else list(models)


def with_display(df: pl.DataFrame, settings, column: str = "model", out: str = "model_name") -> pl.DataFrame:
    keys = df[column].unique().to_list()
    mapping = {k: display_name(k, settings) for k in keys}
    return df.with_columns(pl.col(column).replace_strict(mapping, return_dtype=pl.String).alias(out))


def clean(df: pl.DataFrame) -> pl.DataFrame:
    """NaN -> null for every float column (JSON has no NaN)."""
    floats = [c for c, t in df.schema.items() if t in (pl.Float32, pl.Float64)]
    return df.with_columns(pl.col(floats).fill_nan(None)) if floats else df


def shorten(text: str, n: int = 24) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def fmt(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "n/a"
    return f"{x:.{digits}g}" if abs(x) < 1e-3 and x != 0 else f"{x:.{digits}f}"


def pfmt(p: Any) -> str:
    if p is None or (isinstance(p, float) and not np.isfinite(p)):
        return "n/a"
    return f"{p:.2g}" if p < 0.001 else f"{p:.3f}"


def finalize(chart: alt.TopLevelMixin) -> alt.TopLevelMixin:
    """The shared theme: white background, readable fonts, no frame."""
    return (chart.configure(background="white", font=FONT, padding=12)
            .configure_view(stroke=None)
            .configure_axis(labelFontSize=12, titleFontSize=13, gridColor="#e6e6e6", labelLimit=220)
            .configure_legend(labelFontSize=12, titleFontSize=12, labelLimit=260)
            .configure_title(fontSize=16, subtitleFontSize=12, subtitleColor="#444", anchor="start")
            .configure_header(labelFontSize=13, titleFontSize=13))


def title(text: str, subtitle: str | Sequence[str] | None = None) -> alt.TitleParams:
    if subtitle is None:
        return alt.TitleParams(text)
    return alt.TitleParams(text, subtitle=list(subtitle) if not isinstance(subtitle, str) else [subtitle])


def box_layers(base: alt.Chart, cat: alt.X | alt.Y, horizontal: bool, q: Sequence[str], color: Any,
                value_title: str, log_scale: bool = False, size: int = 12) -> alt.LayerChart:
    """Box glyph from quantile columns q = (lo, q25, median, q75, hi)."""
    lo, q25, med, q75, hi = q
    scale = alt.Scale(type="log") if log_scale else alt.Scale(zero=False)
    if horizontal:
        whisk = base.mark_rule(strokeWidth=1.5).encode(y=cat, x=alt.X(f"{lo}:Q", title=value_title, scale=scale),
                                                       x2=f"{hi}:Q", color=color)
        box = base.mark_bar(size=size, opacity=0.75).encode(y=cat, x=f"{q25}:Q", x2=f"{q75}:Q", color=color)
        tick = base.mark_tick(color="black", thickness=2, size=size + 2).encode(y=cat, x=f"{med}:Q")
    else:
        whisk = base.mark_rule(strokeWidth=1.5).encode(x=cat, y=alt.Y(f"{lo}:Q", title=value_title, scale=scale),
                                                       y2=f"{hi}:Q", color=color)
        box = base.mark_bar(size=size, opacity=0.75).encode(x=cat, y=f"{q25}:Q", y2=f"{q75}:Q", color=color)
        tick = base.mark_tick(color="black", thickness=2, size=size + 2).encode(x=cat, y=f"{med}:Q")
    return alt.layer(whisk, box, tick)
