"""The answer first: what the report's front page leads with, from ``tables/model_summary.parquet`` alone.

* :func:`headline_table`: one row per (space, model), best ratio first: display names, the ratio of medians
  IS / |AS| with its bootstrap CI, median |AS| and IS, nullity, translator flags and whether the numbers rest on
  random weights;
* :func:`headline_sentences`: per CLIP space one sentence naming the least and the most leaking model (by the
  ratio, the paper's Fig. 3b ordering) with their intervals and whether those overlap, followed by the stability
  sentence of that space when the caller has one (the translator-sensitivity analysis), and sentences for what
  must temper the reading: random weights, flagged translators.

Display names come from the caller (the registry entries' ``display``); nothing here reads files.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import polars as pl

__all__ = ["HEADLINE_COLUMNS", "front_page", "headline_sentences", "headline_table"]

#: the front page's model-level table
HEADLINE_COLUMNS = ("space", "space_name", "model", "model_name", "ratio", "ratio_ci_low", "ratio_ci_high",
                    "abs_as_median", "is_median", "nullity", "n_images", "translator_flags", "random_weights")


def _name(key: str, names: Mapping[str, str] | None) -> str:
    return str((names or {}).get(key) or key)


def headline_table(model_summary: pl.DataFrame, display: Mapping[str, str] | None = None,
                   space_display: Mapping[str, str] | None = None) -> pl.DataFrame:
    """:data:`HEADLINE_COLUMNS` of every (space, model) of ``model_summary``, spaces in the order of
    ``space_display`` (then sorted), models by ratio, highest first (a model without a ratio, median |AS| = 0,
    last). ``display`` / ``space_display``: key -> display name (missing: the key). ValueError for an empty table."""
    if model_summary.height == 0:
        raise ValueError("model_summary: no rows")
    spaces = list(dict.fromkeys([s for s in (space_display or {}) if s in set(model_summary["space"])]
                                + sorted(model_summary["space"].unique().to_list())))
    ms = model_summary
    for column, value in (("translator_flags", ""), ("random_weights", None)):
        if column not in ms.columns:
            ms = ms.with_columns(pl.lit(value).alias(column))
    df = ms.with_columns(
        pl.col("space").replace_strict({s: _name(s, space_display) for s in spaces}, return_dtype=pl.String)
        .alias("space_name"),
        pl.col("model").replace_strict({m: _name(m, display) for m in ms["model"].unique().to_list()},
                                       return_dtype=pl.String).alias("model_name"),
        pl.col("space").replace_strict({s: i for i, s in enumerate(spaces)}, return_dtype=pl.Int64).alias("_order"),
        pl.col("ratio").fill_nan(None),
    )
    return (df.sort("_order", "ratio", "model", descending=[False, True, False], nulls_last=True)
            .select(HEADLINE_COLUMNS))


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:.{digits}g}"


def _ratio(row: Mapping[str, Any]) -> str:
    return (f"IS/|AS| {_fmt(row['ratio'])} [{_fmt(row['ratio_ci_low'])}, {_fmt(row['ratio_ci_high'])}], "
            f"median |AS| {_fmt(row['abs_as_median'])}°")


def headline_sentences(model_summary: pl.DataFrame, display: Mapping[str, str] | None = None,
                       space_display: Mapping[str, str] | None = None, ci: float = 0.95,
                       stability: Mapping[str, str] | None = None) -> list[str]:
    """The front page's sentences (module docstring), in order: a random-weights warning when any row rests on
    random weights; per space, the least and most leaking model by the ratio of medians (highest and lowest IS/|AS|,
    with ``ci`` bootstrap intervals) and whether their intervals overlap, then ``stability[space]`` when given;
    models without a ratio (median |AS| = 0); flagged translators."""
    table = headline_table(model_summary, display, space_display)
    out: list[str] = []
    random = table.filter(pl.col("random_weights").fill_null(False))
    if random.height:
        names = ", ".join(dict.fromkeys(random["model_name"].to_list()))
        out.append(f"Random weights: {names}. Every number below exercises the code path and is not a finding.")
    level = f"{int(round(100 * ci))} %"
    for space in table["space"].unique(maintain_order=True).to_list():
        rows = table.filter(pl.col("space") == space)
        space_name = rows["space_name"][0]
        ranked = rows.filter(pl.col("ratio").is_not_null())
        if ranked.height == 0:
            out.append(f"{space_name} — no model has a ratio: median |AS| = 0 for every model.")
        elif ranked.height == 1:
            best = ranked.row(0, named=True)
            out.append(f"{space_name} — one model with a ratio: {best['model_name']}, {_ratio(best)}; nothing to "
                       "compare it with.")
        else:
            best, worst = ranked.row(0, named=True), ranked.row(-1, named=True)
            overlap = best["ratio_ci_low"] is not None and worst["ratio_ci_high"] is not None and (
                best["ratio_ci_low"] <= worst["ratio_ci_high"])
            out.append(
                f"{space_name} — least leaking of {ranked.height} models: {best['model_name']}, {_ratio(best)}; "
                f"most leaking: {worst['model_name']}, {_ratio(worst)}. "
                + (f"Their {level} intervals overlap, so this ordering is not established."
                   if overlap else f"Their {level} intervals do not overlap."))
        missing = rows.filter(pl.col("ratio").is_null())["model_name"].to_list()
        if missing and ranked.height:
            out.append(f"{space_name} — no ratio for {', '.join(missing)}: median |AS| = 0, e.g. nullity 0.")
        if stability and stability.get(space):
            out.append(str(stability[space]))
    flagged = table.filter(pl.col("translator_flags").fill_null("") != "")
    if flagged.height:
        items = [f"{r['model_name']} → {r['space_name']}: {r['translator_flags']}"
                 for r in flagged.iter_rows(named=True)]
        out.append("Translator warnings (see the aggregate_model logs): " + "; ".join(items) + ".")
    return out


def _rst_escape(text: str) -> str:
    """Plain text inside reStructuredText: the characters that start markup are escaped."""
    out = str(text)
    for ch in ("\\", "*", "`", "|", "_"):
        out = out.replace(ch, "\\" + ch)
    return out


def _cell(x: Any, digits: int = 3) -> str:
    return _fmt(x, digits)


def front_page(model_summary: pl.DataFrame, *, display: Mapping[str, str] | None = None,
               space_display: Mapping[str, str] | None = None, ci: float = 0.95,
               stability: Mapping[str, str] | None = None, figures: Sequence[tuple[str, str]] = (),
               method: str = "", title: str = "SING — what leaks into the null space", head: str = "") -> str:
    """The report's front page as reStructuredText, the answer first: :func:`headline_sentences` (random weights,
    per space the least and most leaking model and whether that ordering is established, ``stability[space]``,
    translator warnings), then per space the model-level table (:func:`headline_table`: model, IS/|AS| with
    its ``ci`` interval, median |AS| and IS in degrees, nullity, images, translator flags; 3 significant
    digits), then one link per figure (``figures``: (title, report target) pairs, the target being the name of
    the file's report entry, e.g. ``ratio_scatter.png``), then ``method`` (reStructuredText appended as is).
    ``head``: reStructuredText placed right after the title (e.g. a style block for the page that shows it).
    """
    table = headline_table(model_summary, display, space_display)
    level = f"{int(round(100 * ci))} %"
    lines = [title, "=" * len(title), ""] + ([head, ""] if head else [])
    sentences = headline_sentences(model_summary, display, space_display, ci=ci, stability=stability)
    if table["random_weights"].fill_null(False).any():
        lines += [".. warning::", "", "   " + _rst_escape(sentences[0]), ""]
        sentences = sentences[1:]
    lines += ["The answer", "----------", ""]
    for sentence in sentences:
        lines += [f"* {_rst_escape(sentence)}"]
    lines += ["", f"Model-level table: IS/\\|AS\\| is the ratio of medians (median IS ÷ median \\|AS\\|, higher = "
              f"less class semantics in the null space) with its {level} bootstrap interval; angles in degrees.", ""]
    header = ["Model", f"IS/|AS| [{level} CI]", "median |AS| (°)", "median IS (°)", "nullity", "images",
              "translator flags", "weights"]
    weights = {True: "random", False: "pretrained", None: "unknown"}
    for space in table["space"].unique(maintain_order=True).to_list():
        rows = table.filter(pl.col("space") == space)
        lines += [f".. list-table:: {_rst_escape(rows['space_name'][0])}", "   :header-rows: 1", ""]
        body = [[r["model_name"], f"{_cell(r['ratio'])} [{_cell(r['ratio_ci_low'])}, {_cell(r['ratio_ci_high'])}]",
                 _cell(r["abs_as_median"]), _cell(r["is_median"]), str(r["nullity"]), f"{r['n_images']:,}",
                 r["translator_flags"] or "—", weights[r["random_weights"]]] for r in rows.iter_rows(named=True)]
        for row in [header, *body]:
            lines += [f"   * - {_rst_escape(row[0])}", *[f"     - {_rst_escape(c)}" for c in row[1:]]]
        lines += [""]
    if (table["translator_flags"].fill_null("") != "").any():
        lines += [_rst_escape("Translator flags: low_r2 = held-out R² below translator.min_heldout_r2; "
                              "alpha_at_edge = the cross-validated penalty is the smallest or largest of "
                              "translator.alphas; few_samples = fewer training images than "
                              "translator.min_samples_per_dim × the feature dimension. Each is a warning in "
                              "that model's aggregate_model log."), ""]
    if figures:
        lines += ["Figures", "-------", ""]
        lines += [f"* `{_rst_escape(t)} <{target}_>`__" for t, target in figures]
        lines += [""]
    if method:
        lines += [method]
    return "\n".join(lines) + "\n"
