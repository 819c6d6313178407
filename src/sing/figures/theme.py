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
#: a correlation across models (Pearson r, Kendall τ, Spearman ρ) over fewer models is shown as "n too small"
MIN_MODELS = 4


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
    """The shared theme: white background, readable fonts, no frame. Tick labels of continuous axes keep at
    least 8 px between them (Vega hides every other label until they do: never "92.092.5") and stay inside
    their axis (``labelFlush``), so labels of side-by-side panels cannot run into each other."""
    return (chart.configure(background="white", font=FONT, padding=12)
            .configure_view(stroke=None)
            .configure_axisQuantitative(labelOverlap=True, labelSeparation=8, labelFlush=True)
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


def nice_ceiling(x: float) -> float:
    """The smallest of 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k that is >= ``x`` (> 0), as an axis end:
    0.83 -> 1, 3.3 -> 4, 173 -> 200."""
    if not np.isfinite(x) or x <= 0:
        return 1.0
    k = np.floor(np.log10(x))
    for m in (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0):
        if m * 10**k >= x * (1 - 1e-12):
            return float(m * 10**k)
    return float(10 ** (k + 1))  # pragma: no cover


def nice_step(span: float, count: int = 5) -> float:
    """A tick step of 1, 2 or 5 × 10^k giving about ``count`` ticks over ``span`` (d3's ``tickIncrement``)."""
    if not np.isfinite(span) or span <= 0:
        return 1.0
    raw = span / max(1, count)
    power = np.floor(np.log10(raw))
    error = raw / 10**power
    factor = 10 if error >= np.sqrt(50) else 5 if error >= np.sqrt(10) else 2 if error >= np.sqrt(2) else 1
    return float(factor * 10**power)


def bounded_domain(values: Any, lo: float | None = 0.0, hi: float | None = None, count: int = 5) -> list[float]:
    """An axis domain [start, end] holding every finite value of ``values``, never outside the quantity's
    possible values [``lo``, ``hi``] (|AS| >= 0, IS in [0, 180], ratios >= 0, ...): the start is ``lo`` (None:
    the smallest value rounded down to a nice tick step), the end the largest value rounded up to one, then
    both cut to [``lo``, ``hi``]. Use with ``alt.Scale(domain=..., nice=False)``."""
    v = np.asarray(values, dtype=np.float64).ravel()
    v = v[np.isfinite(v)]
    if not v.size:
        return [lo or 0.0, hi if hi is not None else 1.0]
    vmin, vmax = float(v.min()), float(v.max())
    start = lo if lo is not None else vmin
    end = vmax
    for _ in range(3):  # d3's nice(): the step of the extended domain may differ; repeat until it is stable
        span = end - start
        step = nice_step(span if span > 0 else (abs(vmax) or 1.0), count)
        new_start = float(f"{np.floor(vmin / step) * step:.12g}") if lo is None else start
        new_end = float(f"{np.ceil(vmax / step) * step:.12g}")  # 1.2, not 1.2000000000000002
        if (new_start, new_end) == (start, end):
            break
        start, end = new_start, new_end
    if lo is not None:
        start = max(start, lo)
    if hi is not None:
        end = min(end, hi)
        start = min(start, hi)
    return [start, end if end > start else start + step]


def clip_polyline(points: Any, lo: Sequence[float] = (0.0, 0.0), hi: Sequence[float] = (np.inf, np.inf)
                  ) -> list[np.ndarray]:
    """The parts of the polyline ``points`` (N, 2) inside the box [lo, hi] (Liang-Barsky per segment; a crossing
    ends a part exactly on the box edge). A closed curve (first point = last point) whose first and last parts
    meet at the start is returned with them joined. Returns a list of (k, 2) arrays (k >= 2); [] when nothing is
    inside. No part runs along the box edge: what lies outside is left out, not flattened onto it."""
    P = np.asarray(points, dtype=np.float64)
    lo_, hi_ = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    parts: list[list[np.ndarray]] = []
    first = last = None  # (segment, t) where the first part starts / the last part ends
    open_end = None  # index of the last segment whose clipped part reached its end point
    for i in range(len(P) - 1):
        p, d = P[i], P[i + 1] - P[i]
        t0, t1 = 0.0, 1.0
        inside = True
        for axis in range(2):
            for bound, sign in ((lo_[axis], -1.0), (hi_[axis], 1.0)):
                q = sign * (bound - p[axis])  # distance to the bound, positive inside
                r = sign * d[axis]
                if r == 0:
                    if q < 0:
                        inside = False
                    continue
                t = q / r
                if r > 0:
                    t1 = min(t1, t)
                else:
                    t0 = max(t0, t)
        if not inside or t0 >= t1:
            open_end = None
            continue
        a, b = np.clip(p + t0 * d, lo_, hi_), np.clip(p + t1 * d, lo_, hi_)  # on the edge, not 1e-19 past it
        if open_end == i - 1 and t0 == 0.0 and parts:
            parts[-1].append(b)
        else:
            parts.append([a, b])
            if first is None:
                first = (i, t0)
        last = (i, t1)
        open_end = i if t1 == 1.0 else None
    closed = len(P) > 2 and np.allclose(P[0], P[-1], rtol=0, atol=1e-12 * max(1.0, float(np.abs(P).max())))
    if closed and len(parts) > 1 and first == (0, 0.0) and last == (len(P) - 2, 1.0):
        parts[0] = parts.pop() + parts[0][1:]
    return [np.array(part) for part in parts]


def correlation_text(name: str, value: Any, p: Any, n: Any, unit: str = "models") -> str:
    """``"Pearson r = 0.972 (p = 0.001, n = 13 models)"``, or ``"Pearson r: n too small (n = 2 models; needs
    ≥ 4)"`` below :data:`MIN_MODELS`: a correlation across 2 or 3 models is ±1 or meaningless, never a finding."""
    n = int(n) if n is not None and np.isfinite(float(n)) else 0
    if n < MIN_MODELS:
        return f"{name}: n too small ({n} {unit}; needs ≥ {MIN_MODELS})"
    return f"{name} = {fmt(value)} (p = {pfmt(p)}, n = {n} {unit})"


def random_weights_note(settings: Mapping[str, Any] | None, models: Sequence[str] = (),
                        spaces: Sequence[str] = ()) -> list[str] | None:
    """The caveat a figure shows when any of ``models`` / ``spaces`` it draws has random weights
    (``settings["random_weights"]``: {"models": [...], "spaces": [...]}, :func:`sing.models.lock.random_weight_keys`
    of the figures job's weights settings), else None."""
    random = dict((settings or {}).get("random_weights") or {})
    hit = [display_name(m, settings) for m in models if m in set(random.get("models") or ())]
    hit += [space_name(s, settings) for s in spaces if s in set(random.get("spaces") or ())]
    if not hit:
        return None
    return [f"RANDOM WEIGHTS: {', '.join(hit)}", "the numbers exercise the code path; they are not findings"]


def with_caveat(subtitle: str | Sequence[str] | None, note: Sequence[str] | None) -> list[str] | str | None:
    """``subtitle`` with the random-weights ``note`` lines first (when there is a note)."""
    if not note:
        return subtitle
    lines = [] if subtitle is None else ([subtitle] if isinstance(subtitle, str) else list(subtitle))
    return [*note, *lines]
