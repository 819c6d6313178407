"""Building a figure by name from the workflow's tables, and writing it: PNG and SVG (vl-convert, offline), a
self-contained HTML (the Vega JavaScript inlined, so the report opens offline) and the plotted data as parquet.

Every figure function takes polars tables (and the settings dict of the workflow's ``figures`` config plus
``display`` / ``space_display`` name maps) and returns ``(chart, data)``: the Altair chart and the exact table it
plots. Angles are in degrees. Scaling choices (1000 classes × 13 models): per-image distributions are drawn from
precomputed quantiles (box glyphs: whiskers 5-95 %, box 25-75 %, tick = median), except Fig. 3a, whose point
clouds are a bounded uniform subsample (``tables/joint_sample``, ``analyses.joint_points`` images per model) with
ellipses from the covariance of every image; class-level panels show the k classes with the highest and the
lowest median |AS| plus the distribution over all classes.
"""

from __future__ import annotations

import logging
from typing import Any, Iterator, Mapping

import polars as pl

from .. import outputs
from ..core.files import atomic_path
from ..io.fonts import missing_glyphs, register_vl_fonts
from ..io.storage import write_frame
from .theme import clean, finalize

__all__ = ["build", "check_glyphs", "make", "save"]

log = logging.getLogger(__name__)


def _read(p) -> pl.DataFrame:
    return pl.read_parquet(p)


def build(figure: str, inputs: Mapping[str, Any], settings: Mapping[str, Any] | None = None):
    """(chart, data) of ``figure`` (a name of :data:`sing.outputs.FIGURES`) from input paths (``inputs``: table
    name -> parquet path, and for a figure that reads files, e.g. ``spectra``, ``geometries``: a list of paths).
    Calls the figure's builder as its spec says; ValueError naming a missing input."""
    spec = outputs.figure(figure)

    def need(name):
        if name not in inputs or inputs[name] is None:
            raise ValueError(f"figure {figure}: missing input {name!r}")
        return _read(inputs[name])

    tables = [need(name) for name in spec.tables]
    files = [list(inputs.get(name) or []) for name in spec.files]
    return spec.load()(*tables, *files, dict(settings or {}), **spec.options)


def save(chart, data: pl.DataFrame, *, png=None, svg=None, html=None, data_path=None, scale: float = 2.0,
         metadata: Mapping[str, Any] | None = None) -> None:
    """Write the themed chart as PNG / SVG (vl-convert) / self-contained HTML, and its data as parquet;
    each file atomically. PNG text uses the chart's fonts with sing's wide-coverage fallback font; characters
    no font covers are reported in the log (:func:`check_glyphs`)."""
    chart = finalize(chart)
    for path, fmt in ((png, "png"), (svg, "svg"), (html, "html")):
        if path is None:
            continue
        with atomic_path(path) as tmp:
            if fmt == "png":
                check_glyphs(chart, path)
                chart.save(str(tmp), format="png", scale_factor=scale)
            elif fmt == "svg":
                chart.save(str(tmp), format="svg")
            else:
                chart.save(str(tmp), format="html", inline=True)
    if data_path is not None:
        write_frame(clean(data), data_path, metadata or {"kind": "figure_data"})


def _strings(node) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from _strings(k)
            yield from _strings(v)
    elif isinstance(node, (list, tuple)):
        for v in node:
            yield from _strings(v)


def check_glyphs(chart, where) -> dict[str, str]:
    """Prepare PNG rendering of ``chart``: register sing's wide-coverage fallback font with vl-convert
    (:func:`sing.io.fonts.register_vl_fonts`), then log a warning naming each text of the chart (labels, titles,
    data values) with characters that no available font covers — they would be drawn as empty boxes. Returns
    {text: uncovered characters}."""
    register_vl_fonts()
    missing = missing_glyphs(_strings(chart.to_dict()))
    for text, chars in missing.items():
        codes = ", ".join(f"U+{ord(c):04X}" for c in chars)
        log.warning("%s: label %r has characters no installed font covers (%s %s): they render as empty boxes in "
                    "the PNG (the SVG and HTML keep the text); install a font covering them", where, text, chars,
                    codes)
    return missing


def make(figure: str, inputs: Mapping[str, Any], outputs: Mapping[str, Any], settings=None) -> pl.DataFrame:
    """Build ``figure`` and write the outputs present in ``outputs`` (png, svg, html, data)."""
    chart, data = build(figure, inputs, settings)
    save(chart, data, png=outputs.get("png"), svg=outputs.get("svg"), html=outputs.get("html"),
         data_path=outputs.get("data"), metadata={"kind": "figure_data", "figure": figure})
    return data
