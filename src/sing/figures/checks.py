"""Checks of a figure as it is drawn (not as it is specified): the chart is rendered by vl-convert (the same
renderer as the PNG / SVG outputs) and its scene graph and SVG are inspected.

* :func:`axes`: every drawn axis with its title, scale, rendered domain (from the SVG's accessibility text,
  ``"... for a linear scale with values from 0 to 8"``) and visible tick labels with their positions;
* :func:`impossible_domains`: an axis whose domain shows values its quantity cannot take (|AS| < 0, an angle
  outside [0°, 180°], a negative ratio, an accuracy outside [0, 1], a log axis at or below 0);
* :func:`overlapping_labels`: visible tick labels of one axis that touch or overlap (text widths measured with
  the font's own advance widths through fontTools, so "92.0" and "92.5" drawn edge to edge count);
* :func:`uneven_log_ticks`: a log axis whose labelled ticks are not evenly spaced (1e-12, 1e-9, 1e-7);
* :func:`nested_parentheses`: titles, subtitles, axis, legend and header titles with parentheses inside
  parentheses ("Jellyfish (ResNet50 (random))");
* :func:`figure_problems`: all of them, as sentences naming the figure part.

Used by the tests on every figure; cheap enough (one extra render) to run in the figures job too.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

__all__ = ["Axis", "axes", "figure_problems", "impossible_domains", "nested_parentheses", "overlapping_labels",
           "text_width", "titles", "uneven_log_ticks"]

#: what an axis title says it shows -> the values that quantity can take (lo, hi; None: unbounded). First match
#: wins; a signed AS axis ("AS (°)") has no bound.
QUANTITY_RANGES: tuple[tuple[str, float | None, float | None], ...] = (
    (r"IS\s*/\s*\|AS\||ratio", 0.0, None),
    (r"\|AS\|", 0.0, None),
    (r"\bIS\b", 0.0, 180.0),
    (r"angle|∠|drift", 0.0, 180.0),
    (r"accuracy", 0.0, 1.0),
    (r"\bclasses\b|\bcount\b|\bimages\b", 0.0, None),
)
#: smallest gap between two tick labels of one axis, in pixels (about one space at 12 px: closer labels read
#: as one number, "0.81.0")
MIN_GAP = 4.0
_DOMAIN = re.compile(r"X-axis|Y-axis")
_ARIA = re.compile(r'aria-label="((?:X|Y)-axis[^"]*)"')
_ARIA_PARTS = re.compile(r"(?P<axis>[XY])-axis(?: titled '(?P<title>.*?)')? for an? (?P<scale>[\w ]+?) scale"
                         r"(?: with values from (?P<lo>\S+) to (?P<hi>\S+)| with \d+ values?)")


@dataclass
class Axis:
    """One drawn axis: ``orient`` (top, bottom, left, right), ``title``, ``scale`` ("linear", "log",
    "discrete", ...), ``domain`` (lo, hi) of a continuous scale as rendered (None for discrete ones) and
    ``labels``: visible tick labels as dicts (text, x, y, align, baseline, angle, fontSize)."""

    orient: str
    title: str = ""
    scale: str = ""
    domain: tuple[float, float] | None = None
    labels: list[dict] = field(default_factory=list)


def _number(text: str) -> float | None:
    text = text.replace("−", "-").replace("\u2009", "").replace(",", "").strip()
    try:
        return float(text)
    except ValueError:
        return None


def _render(chart) -> tuple[dict, str]:
    import vl_convert

    from ..io.fonts import register_vl_fonts
    from .theme import finalize

    register_vl_fonts()
    spec = chart if isinstance(chart, dict) else finalize(chart).to_dict()
    return vl_convert.vegalite_to_scenegraph(spec), vl_convert.vegalite_to_svg(spec)


def _walk(node: Any) -> Iterator[dict]:
    if isinstance(node, dict):
        yield node
        for item in node.get("items", []) or []:
            yield from _walk(item)


def _axis_groups(scenegraph: dict) -> Iterator[dict]:
    for node in _walk(scenegraph["scenegraph"]):
        if node.get("role") == "axis" and node.get("marktype") == "group":
            yield from node.get("items", [])


def _text(item: dict) -> str:
    text = item.get("text")
    return " ".join(map(str, text)) if isinstance(text, list) else str(text if text is not None else "")


def axes(chart) -> list[Axis]:
    """The axes of ``chart`` (an Altair chart or a Vega-Lite dict) as vl-convert draws them (see :class:`Axis`);
    axes in drawing order."""
    scenegraph, svg = _render(chart)
    return _axes(scenegraph, svg)


def _axes(scenegraph: dict, svg: str) -> list[Axis]:
    out = []
    for group in _axis_groups(scenegraph):
        axis = Axis(str(group.get("orient", "")))
        for mark in group.get("items", []):
            role = mark.get("role")
            if role == "axis-title":
                axis.title = " ".join(_text(i) for i in mark.get("items", []))
            elif role == "axis-label":
                axis.labels = [{**i, "text": _text(i)} for i in mark.get("items", [])
                               if i.get("opacity", 1) != 0 and _text(i)]
        if axis.title or axis.labels or any(m.get("role") == "axis-domain" for m in group.get("items", [])):
            out.append(axis)  # (an axis group holding only grid lines is not an axis of its own)
    described = [m.groupdict() for m in (_ARIA_PARTS.search(a) for a in _ARIA.findall(svg)) if m]
    # the SVG describes the axes in the same drawing order as the scene graph; match by title and direction
    pending = list(described)
    for axis in out:
        letter = "X" if axis.orient in ("top", "bottom") else "Y"
        for d in pending:
            if d["axis"] == letter and (d["title"] or "") == axis.title:
                axis.scale = d["scale"]
                if d["lo"] is not None:
                    lo, hi = _number(d["lo"]), _number(d["hi"])
                    axis.domain = (lo, hi) if lo is not None and hi is not None else None
                pending.remove(d)
                break
    return out


def impossible_domains(axes_: list[Axis]) -> list[str]:
    """Axes whose rendered domain reaches values the quantity in their title cannot take
    (:data:`QUANTITY_RANGES`), and log axes reaching 0 or below."""
    problems = []
    for axis in axes_:
        if axis.domain is None:
            continue
        lo, hi = axis.domain
        if "log" in axis.scale and lo <= 0:
            problems.append(f"axis {axis.title!r}: log scale from {lo:g}")
        for pattern, qlo, qhi in QUANTITY_RANGES:
            if re.search(pattern, axis.title):
                tol = 1e-9 * max(1.0, abs(hi - lo))
                if qlo is not None and lo < qlo - tol:
                    problems.append(f"axis {axis.title!r}: domain starts at {lo:g}, below {qlo:g}")
                if qhi is not None and hi > qhi + tol:
                    problems.append(f"axis {axis.title!r}: domain ends at {hi:g}, above {qhi:g}")
                break
    return problems


@functools.cache
def _font(bold: bool):
    """fontTools (cmap, advance widths, units per em) of DejaVu Sans (the charts' first font), or None."""
    from fontTools.ttLib import TTFont

    from ..io.fonts import SYSTEM_FONT_DIRS

    name = "DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf"
    for folder in SYSTEM_FONT_DIRS:
        for path in Path(folder).expanduser().rglob(name) if Path(folder).expanduser().is_dir() else ():
            font = TTFont(str(path), lazy=True)
            return font.getBestCmap(), font["hmtx"].metrics, font["head"].unitsPerEm
    return None


def text_width(text: str, font_size: float, bold: bool = False) -> float:
    """Width in pixels of ``text`` in DejaVu Sans at ``font_size`` (advance widths; 0.62 em per character for
    characters the font lacks, or for every character when the font is not installed)."""
    font = _font(bool(bold))
    if font is None:
        return 0.62 * font_size * len(text)
    cmap, metrics, upm = font
    units = 0.0
    for ch in text:
        glyph = cmap.get(ord(ch))
        units += metrics[glyph][0] if glyph in metrics else 0.62 * upm
    return units * font_size / upm


def _extent(label: dict, along: str) -> tuple[float, float]:
    """(start, end) of a label along the axis direction ``along`` ("x" or "y"), unrotated."""
    size = float(label.get("fontSize", 11))
    if along == "x":
        w = text_width(label["text"], size, label.get("fontWeight") in ("bold", 700))
        x = float(label.get("x", 0))
        align = label.get("align", "center")
        start = x - w / 2 if align == "center" else (x - w if align == "right" else x)
        return start, start + w
    y = float(label.get("y", 0))
    baseline = label.get("baseline", "middle")
    start = y - size / 2 if baseline == "middle" else (y - size if baseline in ("bottom", "alphabetic") else y)
    return start, start + size


def overlapping_labels(axis: Axis, gap: float = MIN_GAP) -> list[tuple[str, str]]:
    """Pairs of neighbouring visible tick labels of ``axis`` that read as one: on a horizontal axis closer than
    ``gap`` pixels ("92.092.5"; widths from the font's advance widths), on a vertical axis overlapping (font-size
    boxes along y); rotated labels: the distance across their (parallel) baselines below 0.9 font size."""
    labels = axis.labels
    if len(labels) < 2:
        return []
    horizontal = axis.orient in ("top", "bottom")
    angle = float(labels[0].get("angle", 0) or 0)
    out = []
    if angle and horizontal:
        ordered = sorted(labels, key=lambda lab: float(lab.get("x", 0)))
        for a, b in zip(ordered, ordered[1:]):
            across = abs(float(b["x"]) - float(a["x"])) * abs(math.sin(math.radians(angle)))
            if across < float(a.get("fontSize", 11)) * 0.9:
                out.append((a["text"], b["text"]))
        return out
    along = "x" if horizontal else "y"
    need = gap if horizontal else 0.0  # stacked labels of a vertical axis read as lines: they only must not overlap
    ordered = sorted(labels, key=lambda lab: _extent(lab, along)[0])
    for a, b in zip(ordered, ordered[1:]):
        if _extent(b, along)[0] - _extent(a, along)[1] < need - 1e-9:
            out.append((a["text"], b["text"]))
    return out


def uneven_log_ticks(axis: Axis, tolerance: float = 1.5) -> bool:
    """Whether the visible tick labels of a log axis are unevenly spaced (1e-12, 1e-9, 1e-7, ...: the eye reads
    equal distances as equal factors), by more than ``tolerance`` pixels."""
    if "log" not in axis.scale or len(axis.labels) < 3:
        return False
    along = "x" if axis.orient in ("top", "bottom") else "y"
    positions = sorted(float(lab.get(along, 0)) for lab in axis.labels)
    gaps = [b - a for a, b in zip(positions, positions[1:])]
    return max(gaps) - min(gaps) > tolerance


def titles(scenegraph: dict) -> list[str]:
    """Every title text drawn: chart titles and subtitles, axis, legend and header titles and header labels."""
    out = []
    for node in _walk(scenegraph["scenegraph"]):
        role = str(node.get("role", ""))
        if node.get("marktype") == "text" and (role.endswith("title") or role in ("title-text", "title-subtitle")
                                               or role.endswith("-header") or role.endswith("header-label")):
            for item in node.get("items", []):
                text = item.get("text")
                out.extend(map(str, text) if isinstance(text, list) else [str(text or "")])
    return [t for t in out if t]


def nested_parentheses(text: str) -> bool:
    """Whether ``text`` has a parenthesis (or bracket) inside another one: "Jellyfish (ResNet50 (random))"."""
    depth = 0
    for ch in text:
        if ch in "([":
            depth += 1
            if depth > 1:
                return True
        elif ch in ")]":
            depth = max(0, depth - 1)
    return False


def figure_problems(chart) -> list[str]:
    """Everything :func:`impossible_domains`, :func:`overlapping_labels` and :func:`nested_parentheses` find in
    ``chart`` as drawn, one sentence each (empty list: none)."""
    scenegraph, svg = _render(chart)
    drawn = _axes(scenegraph, svg)
    problems = impossible_domains(drawn)
    for axis in drawn:
        for a, b in overlapping_labels(axis):
            problems.append(f"axis {axis.title or axis.orient!r}: tick labels {a!r} and {b!r} overlap")
        if uneven_log_ticks(axis):
            problems.append(f"axis {axis.title or axis.orient!r}: log ticks unevenly spaced "
                            f"({', '.join(lab['text'] for lab in axis.labels)})")
    problems += [f"title {t!r}: parentheses inside parentheses" for t in titles(scenegraph) if nested_parentheses(t)]
    return problems
