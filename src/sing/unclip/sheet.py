"""Contact sheets: a labelled grid of pictures (:func:`contact_sheet`) and the Fig. 6 sheet of one model
(:func:`null_space_sheet`: original, null-removed and null-space-steered renderings of the same features)."""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np

from ..core.arrays import as_float64
from ..core.metrics import angle_deg
from ..io.fonts import fallback_font_file, missing_glyphs
from .embeddings import equivalent_pair_embeddings, steering_embeddings
from .render import render_embeddings

__all__ = ["contact_sheet", "null_space_sheet"]

log = logging.getLogger(__name__)


def _font(size: int, texts: Sequence[str] = ()):
    """Pillow's default font, or sing's wide-coverage fallback font (:mod:`sing.io.fonts`) when a label has
    characters beyond printable ASCII; a label with characters neither covers is logged (it would show boxes)."""
    from PIL import ImageFont

    texts = [str(t) for t in texts]
    fallback = fallback_font_file()
    if not missing_glyphs(texts, font_files=()):
        try:
            return ImageFont.load_default(size=size)
        except TypeError:  # Pillow < 10.1
            return ImageFont.load_default()
    if fallback is None:
        log.warning("contact sheet: labels with characters beyond ASCII (%s) are drawn with Pillow's default font, "
                    "which may show boxes: install manimgx-fonts-cjk", [t for t in texts if not t.isascii()])
        return ImageFont.load_default(size=size)
    for text, chars in missing_glyphs(texts, font_files=[fallback]).items():
        log.warning("contact sheet: label %r has characters no font covers (%s): they render as empty boxes", text,
                    chars)
    return ImageFont.truetype(str(fallback), size)


def _text_wh(draw: Any, text: str, font: Any) -> tuple[int, int]:
    if not text:
        return 0, 0
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
    return int(x1 - x0), int(y1 - y0)


def _wrap(draw: Any, text: str, font: Any, width: int) -> list[str]:
    lines: list[str] = []
    for para in str(text).split("\n"):
        cur = ""
        for word in para.split(" "):
            cand = word if not cur else f"{cur} {word}"
            if cur and _text_wh(draw, cand, font)[0] > width:
                lines.append(cur)
                cur = word
            else:
                cur = cand
        lines.append(cur)
    return lines


def contact_sheet(rows: Sequence[Sequence[Any]], row_labels: Sequence[str] | None = None,
                  col_labels: Sequence[str] | None = None, *, cell_size: int | None = None, pad: int = 4,
                  font_size: int = 14, label_width: int | None = None, background=(255, 255, 255)):
    """One PIL image: a grid of ``rows`` (lists of equal length; ``None`` = an empty "n/a" cell) with column
    headers and row labels.

    Every image is resized to ``cell_size``² (default: the largest image side). Layout, with
    ``L`` = label column width (0 without row labels) and ``T`` = header height (0 without column labels)::

        width  = L + ncols·cell + (ncols + 1)·pad
        height = T + nrows·cell + (nrows + 1)·pad

    Cell (i, j) has its top-left corner at ``(L + pad + j·(cell + pad), T + pad + i·(cell + pad))``.
    """
    from PIL import Image, ImageDraw

    rows = [list(r) for r in rows]
    if not rows or not rows[0]:
        raise ValueError("rows: need at least one row with at least one image")
    ncols = len(rows[0])
    if any(len(r) != ncols for r in rows):
        raise ValueError(f"rows: all rows must have the same length ({[len(r) for r in rows]})")
    nrows = len(rows)
    if row_labels is not None and len(row_labels) != nrows:
        raise ValueError(f"row_labels: expected {nrows} labels, got {len(row_labels)}")
    if col_labels is not None and len(col_labels) != ncols:
        raise ValueError(f"col_labels: expected {ncols} labels, got {len(col_labels)}")
    imgs = [im for r in rows for im in r if im is not None]
    if cell_size is None:
        cell_size = max([max(im.size) for im in imgs], default=64)
    cell = int(cell_size)
    if cell < 1 or pad < 0:
        raise ValueError("cell_size must be >= 1 and pad >= 0")
    font = _font(font_size, [*(row_labels or ()), *(col_labels or ()), "n/a"])
    scratch = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    line_h = max(_text_wh(scratch, "Ag", font)[1], 1) + 2
    if row_labels is not None:
        L = label_width if label_width is not None else min(
            max(_text_wh(scratch, str(s), font)[0] for s in row_labels) + 2 * pad, max(cell, 8 * font_size))
        L = int(L)
        row_lines = [_wrap(scratch, str(s), font, max(L - 2 * pad, 1)) for s in row_labels]
    else:
        L, row_lines = 0, []
    if col_labels is not None:
        col_lines = [_wrap(scratch, str(s), font, cell) for s in col_labels]
        T = max(len(c) for c in col_lines) * line_h + pad
    else:
        T, col_lines = 0, []
    W = L + ncols * cell + (ncols + 1) * pad
    H = T + nrows * cell + (nrows + 1) * pad
    sheet = Image.new("RGB", (W, H), background)
    draw = ImageDraw.Draw(sheet)
    for j, lines in enumerate(col_lines):
        x0 = L + pad + j * (cell + pad)
        for k, line in enumerate(lines):
            tw = _text_wh(draw, line, font)[0]
            draw.text((x0 + max((cell - tw) // 2, 0), pad + k * line_h), line, fill=(0, 0, 0), font=font)
    for i, r in enumerate(rows):
        y0 = T + pad + i * (cell + pad)
        if row_lines:
            lines = row_lines[i]
            ty = y0 + max((cell - len(lines) * line_h) // 2, 0)
            for k, line in enumerate(lines):
                draw.text((pad, ty + k * line_h), line, fill=(0, 0, 0), font=font)
        for j, im in enumerate(r):
            x0 = L + pad + j * (cell + pad)
            if im is None:
                draw.rectangle([x0, y0, x0 + cell - 1, y0 + cell - 1], fill=(220, 220, 220))
                tw, th = _text_wh(draw, "n/a", font)
                draw.text((x0 + (cell - tw) // 2, y0 + (cell - th) // 2), "n/a", fill=(90, 90, 90), font=font)
                continue
            tile = im.convert("RGB")
            if tile.size != (cell, cell):
                tile = tile.resize((cell, cell), Image.Resampling.LANCZOS)
            sheet.paste(tile, (x0, y0))
    return sheet


def null_space_sheet(pipeline: Any, F: Any, geometry: Any, translator: Any, prompts: Sequence[str],
                     z_text: Any, target_is_deg: float, *, row_labels: Sequence[str] | None = None, seed: int = 0,
                     decoder_steps: int = 25, super_res_steps: int = 7, batch_size: int = 8,
                     decoder_guidance_scale: float = 8.0, cell_size: int | None = None):
    """Fig. 6 contact sheet: one row per feature; columns original ``T f``, null-removed ``T̂ f̃`` and one
    null-space steering toward each prompt (``T̂ f_ε``, ``∠(T f, T f_ε) = target_is_deg``).

    Returns ``(sheet, records)``: ``records`` has one dict per cell: row, column, kind ("original" |
    "null_removed" | "steered"), prompt, image_score_deg ``∠(T f, T̂ ·)``, eps, reason ("ok" | "unreachable" |
    "no_direction" | "no_null_space") and principal_change ``max |Π_p(f' − f)|`` (≈ 0: the head cannot see the change).
    Unreachable targets give an "n/a" cell. All images are rendered in one :func:`render_embeddings` call.
    """
    F64 = as_float64(F, "F", ndim=2)
    Zt = as_float64(z_text, "z_text", ndim=2)
    if Zt.shape[0] != len(prompts):
        raise ValueError(f"z_text: {Zt.shape[0]} rows for {len(prompts)} prompts")
    N = F64.shape[0]
    Z, Z_eq = equivalent_pair_embeddings(F64, geometry, translator)
    columns: list[tuple[str, str | None, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = [
        ("original", None, Z, np.zeros(N), np.full(N, "ok"), np.zeros(N)),
        ("null_removed", None, Z_eq, np.full(N, np.nan), np.full(N, "ok"),
         np.abs(geometry.project_principal(geometry.remove_null(F64) - F64)).max(axis=1)),
    ]
    for p, t in zip(prompts, Zt):
        st = steering_embeddings(F64, geometry, translator, t, float(target_is_deg))
        dp = np.abs(geometry.project_principal(np.nan_to_num(st.features - F64))).max(axis=1)
        columns.append(("steered", p, st.embeddings, np.asarray(st.eps, float), st.reason, dp))
    flat, where = [], []
    for j, (_, _, E, _, reason, _) in enumerate(columns):
        for i in range(N):
            if reason[i] == "ok" and np.isfinite(E[i]).all():
                flat.append(E[i])
                where.append((i, j))
    images = render_embeddings(pipeline, np.stack(flat), seed=seed, decoder_steps=decoder_steps,
                               super_res_steps=super_res_steps, batch_size=batch_size,
                               decoder_guidance_scale=decoder_guidance_scale) if flat else []
    grid: list[list[Any]] = [[None] * len(columns) for _ in range(N)]
    for (i, j), im in zip(where, images):
        grid[i][j] = im
    records = []
    for j, (kind, prompt, E, eps, reason, dp) in enumerate(columns):
        for i in range(N):
            ok = reason[i] == "ok"
            records.append({
                "row": i, "column": j, "kind": kind, "prompt": prompt,
                "image_score_deg": float(angle_deg(Z[i], E[i])) if ok else float("nan"),
                "eps": float(eps[i]), "reason": str(reason[i]), "principal_change": float(dp[i]),
            })
    col_labels = ["original", "null removed"] + [f"to: {p}" for p in prompts]
    labels = list(row_labels) if row_labels is not None else [str(i) for i in range(N)]
    return contact_sheet(grid, labels, col_labels, cell_size=cell_size), records
