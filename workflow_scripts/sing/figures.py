"""Altair figures of the paper (and the leakage baseline), from the analysis tables.

Every figure function takes polars tables (and the settings dict of the workflow's ``figures`` config plus
``display`` / ``space_display`` name maps) and returns ``(chart, data)``: the Altair chart and the exact
table it plots. :func:`save` writes PNG and SVG (vl-convert, offline), a self-contained HTML (the Vega
JavaScript inlined, so the report opens offline) and the data as parquet. Angles are in degrees.

Scaling choices (1000 classes × 13 models): per-image distributions are drawn from precomputed quantiles
(box glyphs: whiskers 5-95 %, box 25-75 %, tick = median), never from raw rows; class-level panels show
the k classes with the highest and the lowest median |AS| plus the distribution over all classes.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import altair as alt
import numpy as np
import polars as pl

log = logging.getLogger(__name__)

alt.data_transformers.disable_max_rows()

FONT = "DejaVu Sans, Liberation Sans, Arial, sans-serif"
#: colours: original / equivalent features (paper Fig 5), perturbation kinds (Fig 9)
ORIG_COLOR, EQ_COLOR, ARROW_COLOR = "#1f77b4", "#d62728", "#2ca02c"
KIND_COLORS = {"null": "#2ca02c", "random": "#7f7f7f", "principal": "#d62728"}
LOG_FLOOR = 1e-12  # logit changes are drawn on a log axis; exact zeros (nullity 0) sit at this floor

#: display names of the authors' model keys (paper text / supp. Table 3); config `display` overrides them
FIGURES = ("ratio_scatter", "ratio_scatter_all", "ratio_bars", "ratio_bars_all", "class_violins", "open_vocabulary",
           "validation", "space_crosscheck", "robustness", "spectra", "leakage_heatmap", "steering")


# ---------------------------------------------------------------------------------------------------------
# Settings helpers
# ---------------------------------------------------------------------------------------------------------
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


def _with_display(df: pl.DataFrame, settings, column: str = "model", out: str = "model_name") -> pl.DataFrame:
    keys = df[column].unique().to_list()
    mapping = {k: display_name(k, settings) for k in keys}
    return df.with_columns(pl.col(column).replace_strict(mapping, return_dtype=pl.String).alias(out))


def _clean(df: pl.DataFrame) -> pl.DataFrame:
    """NaN -> null for every float column (JSON has no NaN)."""
    floats = [c for c, t in df.schema.items() if t in (pl.Float32, pl.Float64)]
    return df.with_columns(pl.col(floats).fill_nan(None)) if floats else df


def _shorten(text: str, n: int = 24) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def _fmt(x: Any, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not np.isfinite(x)):
        return "n/a"
    return f"{x:.{digits}g}" if abs(x) < 1e-3 and x != 0 else f"{x:.{digits}f}"


def _pfmt(p: Any) -> str:
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


def _title(text: str, subtitle: str | Sequence[str] | None = None) -> alt.TitleParams:
    if subtitle is None:
        return alt.TitleParams(text)
    return alt.TitleParams(text, subtitle=list(subtitle) if not isinstance(subtitle, str) else [subtitle])


def _box_layers(base: alt.Chart, cat: alt.X | alt.Y, horizontal: bool, q: Sequence[str], color: Any,
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


# ---------------------------------------------------------------------------------------------------------
# Model level: Fig 3a / 3b / 12a / 12b
# ---------------------------------------------------------------------------------------------------------
def _models_in_space(model_summary: pl.DataFrame, space: str, settings, subset: bool) -> tuple[pl.DataFrame, str]:
    """The model-summary rows of one space (the paper's model subset if ``subset``), with display names, and
    which models they are ("paper models" or "all models") for the subtitle."""
    df = model_summary.filter(pl.col("space") == space)
    models = sorted(df["model"].to_list())
    keep = model_subset(models, settings) if subset else models
    which = "paper models" if subset and len(keep) < len(models) else "all models"
    return _clean(_with_display(df.filter(pl.col("model").is_in(keep)), settings)), which


def ratio_scatter(model_summary: pl.DataFrame, settings=None, subset: bool = True):
    """Fig 3a: median |AS| vs median IS per model (cross = interquartile ranges over images)."""
    space = primary_space(model_summary, settings)
    df, which = _models_in_space(model_summary, space, settings, subset)
    df = df.select(
        "model", "model_name", "space", "abs_as_median", "abs_as_q25", "abs_as_q75", "is_median", "is_q25", "is_q75",
        "ratio", "nullity", "n_images").sort("model")
    base = alt.Chart(df)
    color = alt.Color("model_name:N", title="Model", legend=None, scale=alt.Scale(scheme="tableau20"))
    tooltip = ["model_name", "abs_as_median", "is_median", "ratio", "nullity", "n_images"]
    xbar = base.mark_rule(opacity=0.45, strokeWidth=2).encode(
        x=alt.X("abs_as_q25:Q"), x2="abs_as_q75:Q", y="is_median:Q", color=color)
    ybar = base.mark_rule(opacity=0.45, strokeWidth=2).encode(
        y=alt.Y("is_q25:Q"), y2="is_q75:Q", x="abs_as_median:Q", color=color)
    pts = base.mark_point(filled=True, size=140, opacity=1).encode(
        x=alt.X("abs_as_median:Q", title="median |AS| (°)  — class-text leakage, lower is better",
                scale=alt.Scale(zero=True)),
        y=alt.Y("is_median:Q", title="median IS (°)  — invariant variation", scale=alt.Scale(zero=True)),
        color=color, tooltip=tooltip)
    halo = base.mark_text(align="left", dx=9, dy=-9, fontSize=13, fontWeight="bold", stroke="white",
                          strokeWidth=4, strokeOpacity=0.9).encode(x="abs_as_median:Q", y="is_median:Q",
                                                                   text="model_name:N")
    labels = base.mark_text(align="left", dx=9, dy=-9, fontSize=13, fontWeight="bold", color="#222").encode(
        x="abs_as_median:Q", y="is_median:Q", text="model_name:N")
    chart = alt.layer(xbar, ybar, pts, halo, labels).properties(
        width=520, height=400,
        title=_title(f"AS vs IS after null removal ({which})",
                     f"{space_name(space, settings)} space; lines: interquartile range over images"))
    return chart, df


def ratio_bars(model_summary: pl.DataFrame, settings=None, subset: bool = True):
    """Fig 3b / 12b: IS/|AS| ratio per model, sorted, with the bootstrap CI."""
    space = primary_space(model_summary, settings)
    df, which = _models_in_space(model_summary, space, settings, subset)
    df = df.select(
        "model", "model_name", "space", "ratio", "ratio_ci_low", "ratio_ci_high", "bootstrap_unit", "nullity",
        "abs_as_median", "is_median").sort("ratio", "model", descending=[True, False], nulls_last=True)
    missing = df.filter(pl.col("ratio").is_null())["model_name"].to_list()
    order = df["model_name"].to_list()
    base = alt.Chart(df.filter(pl.col("ratio").is_not_null()))
    x = alt.X("model_name:N", sort=order, title=None, axis=alt.Axis(labelAngle=-35 if len(order) > 3 else 0))
    bars = base.mark_bar(color="#4c78a8", size=min(48, max(14, 420 // max(1, len(order))))).encode(
        x=x, y=alt.Y("ratio:Q", title="IS / |AS| ratio (higher is better)"),
        tooltip=["model_name", "ratio", "ratio_ci_low", "ratio_ci_high", "nullity"])
    err = alt.layer(
        base.mark_rule(color="black", strokeWidth=1.5).encode(x=x, y="ratio_ci_low:Q", y2="ratio_ci_high:Q"),
        base.mark_tick(color="black", thickness=1.5, size=12, orient="horizontal").encode(x=x, y="ratio_ci_low:Q"),
        base.mark_tick(color="black", thickness=1.5, size=12, orient="horizontal").encode(x=x, y="ratio_ci_high:Q"))
    text = base.mark_text(dy=-8, baseline="bottom", fontSize=11).encode(
        x=x, y="ratio_ci_high:Q", text=alt.Text("ratio:Q", format=".2f"))
    unit = ", ".join(sorted(set(df["bootstrap_unit"].drop_nulls().to_list()))) or "n/a"
    ci = (settings or {}).get("ci", 0.95)
    sub = [f"median IS ÷ median |AS| after null removal; {space_name(space, settings)} space",
           f"error bars: {int(round(100 * ci))}% percentile bootstrap CI (resampling: {unit})"]
    if missing:
        sub.append(f"no ratio (median |AS| = 0, e.g. nullity 0): {', '.join(missing)}")
    chart = alt.layer(bars, err, text).properties(width=max(320, 46 * len(order)), height=340,
                                                  title=_title(f"IS/|AS| ratio ({which})", sub))
    return chart, df


def space_crosscheck(crosscheck: pl.DataFrame, settings=None):
    """Fig 12a: the ratio per model in two CLIP spaces, with Kendall τ / Spearman ρ of the orderings."""
    if crosscheck.height == 0:
        raise ValueError("space_crosscheck: the table is empty (needs two CLIP spaces)")
    pair = crosscheck.select("space_a", "space_b").unique().sort("space_a", "space_b").row(0)
    df = crosscheck.filter((pl.col("space_a") == pair[0]) & (pl.col("space_b") == pair[1]))
    stats = df.row(0, named=True)
    long = pl.concat([
        df.select("model", pl.lit(space_name(pair[0], settings)).alias("space_name"), pl.col("ratio_a").alias("ratio"),
                  pl.col("rank_a").alias("rank")),
        df.select("model", pl.lit(space_name(pair[1], settings)).alias("space_name"), pl.col("ratio_b").alias("ratio"),
                  pl.col("rank_b").alias("rank")),
    ])
    long = _clean(_with_display(long, settings))
    first = primary_space(pl.DataFrame({"space": list(pair)}), settings)
    rank_col = "rank_a" if first == pair[0] else "rank_b"
    order = [display_name(m, settings) for m in df.sort(rank_col, "model")["model"].to_list()]
    chart = alt.Chart(long).mark_bar().encode(
        x=alt.X("model_name:N", sort=order, title=None, axis=alt.Axis(labelAngle=-35 if len(order) > 3 else 0)),
        xOffset=alt.XOffset("space_name:N"),
        y=alt.Y("ratio:Q", title="IS / |AS| ratio"),
        color=alt.Color("space_name:N", title="CLIP space", legend=alt.Legend(orient="top")),
        tooltip=["model_name", "space_name", "ratio", "rank"],
    ).properties(width=max(320, 56 * len(order)), height=320, title=_title(
        "Model ordering by IS/|AS| in two CLIP spaces",
        f"Kendall τ = {_fmt(stats['kendall_tau'])} (p = {_pfmt(stats['kendall_p'])}), "
        f"Spearman ρ = {_fmt(stats['spearman_rho'])} (p = {_pfmt(stats['spearman_p'])}), n = {stats['n_models']} "
        f"models; sorted by the {space_name(first, settings)} ratio"))
    return chart, long.sort("space_name", "model")


def robustness(robust: pl.DataFrame, settings=None):
    """Fig 12c: held-out accuracy on Π_p f vs on T(Π_p f), one point per model, Pearson r per space."""
    if "pearson_r" not in robust.columns:
        from .analysis import robustness_correlation

        robust = robustness_correlation(robust)
    df = _clean(_with_display(robust, settings)).with_columns(
        pl.col("space").replace_strict({s: space_name(s, settings) for s in robust["space"].unique().to_list()},
                                       return_dtype=pl.String).alias("space_name")).sort("space", "model")
    lo = float(min(df["acc_principal"].min(), df["acc_translated"].min()))
    hi = float(max(df["acc_principal"].max(), df["acc_translated"].max()))
    pad = max(0.02, 0.05 * (hi - lo))
    dom = [max(0.0, lo - pad), min(1.0, hi + pad)]
    panels = []
    first = primary_space(df, settings)
    for space in sorted(df["space"].unique().to_list(), key=lambda sp: (sp != first, sp)):
        sub = df.filter(pl.col("space") == space)
        r, p, n = sub.select("pearson_r", "pearson_p", "n_models").row(0)
        diag = alt.Chart(pl.DataFrame({"a": dom})).mark_line(strokeDash=[5, 4], color="#999").encode(
            x=alt.X("a:Q", scale=alt.Scale(domain=dom)), y=alt.Y("a:Q", scale=alt.Scale(domain=dom)))
        base = alt.Chart(sub)
        pts = base.mark_point(filled=True, size=110, color="#4c78a8", opacity=1).encode(
            x=alt.X("acc_principal:Q", title="accuracy on principal features Π_p f", scale=alt.Scale(domain=dom)),
            y=alt.Y("acc_translated:Q", title="accuracy on translated features T(Π_p f)",
                    scale=alt.Scale(domain=dom)),
            tooltip=["model_name", "space_name", "acc_principal", "acc_translated", "n_test"])
        labels = base.mark_text(align="left", dx=7, dy=-6, fontSize=11).encode(
            x="acc_principal:Q", y="acc_translated:Q", text="model_name:N")
        panels.append(alt.layer(diag, pts, labels).properties(width=380, height=380, title=_title(
            space_name(space, settings), f"Pearson r = {_fmt(r)} (p = {_pfmt(p)}, n = {n} models)")))
    chart = alt.hconcat(*panels, spacing=30).properties(title=_title(
        "Translator robustness: linear-probe accuracy before vs after translation",
        "held-out accuracy of a logistic-regression probe; dashed: y = x"))
    return chart, df


# ---------------------------------------------------------------------------------------------------------
# Class level: Fig 4 and the leakage heat map
# ---------------------------------------------------------------------------------------------------------
def class_violins(class_summary: pl.DataFrame, settings=None):
    """Fig 4: per-class |AS| after null removal. Per model: the k classes with the highest and the k with the
    lowest median |AS| as box glyphs (whiskers 5-95 %, box 25-75 %, tick median) sorted by median, and the
    histogram of the median |AS| over all classes."""
    s = dict(settings or {})
    k = int(s.get("violin_k", 12))
    space = primary_space(class_summary, s)
    cs = class_summary.filter(pl.col("space") == space)
    models = sorted(cs["model"].unique().to_list())
    models = model_subset(models, s, "violin_models") if s.get("violin_models") else model_subset(models, s)
    panels, data = [], []
    for model in models:
        sub = _clean(cs.filter(pl.col("model") == model)).sort("abs_as_median", "class_index",
                                                                 descending=[True, False], nulls_last=True)
        n = sub.height
        if n <= 2 * k:
            pick = sub.with_columns(pl.lit("all classes").alias("group"))
        else:
            pick = pl.concat([sub.head(k).with_columns(pl.lit(f"highest {k}").alias("group")),
                              sub.tail(k).with_columns(pl.lit(f"lowest {k}").alias("group"))])
        pick = pick.with_columns(
            pl.col("class_name").map_elements(lambda t: _shorten(str(t)), return_dtype=pl.String).alias("label"),
            pl.lit(display_name(model, s)).alias("model_name"))
        # unique labels (two classes may share a shortened name)
        labels = pick["label"].to_list()
        seen: dict[str, int] = {}
        uniq = []
        for lab in labels:
            seen[lab] = seen.get(lab, 0) + 1
            uniq.append(lab if seen[lab] == 1 else f"{lab} ({seen[lab]})")
        pick = pick.with_columns(pl.Series("label", uniq))
        groups = [(g, pick.filter(pl.col("group") == g)) for g in pick["group"].unique(maintain_order=True)]
        name = display_name(model, s)
        box_panels = []
        for g, part in groups:
            order = part["label"].to_list()
            col = {"lowest": "#1f77b4"}.get(g.split()[0], "#d62728" if g.startswith("highest") else "#4c78a8")
            box_panels.append(_box_layers(
                alt.Chart(part), alt.X("label:N", sort=order, title=None, axis=alt.Axis(labelAngle=-50)), False,
                ("abs_as_q05", "abs_as_q25", "abs_as_median", "abs_as_q75", "abs_as_q95"), alt.value(col),
                "|AS| (°)", size=10).properties(
                width=max(120, 17 * len(order)), height=200,
                title=_title(f"{name}: {g} classes" if g != "all classes" else f"{name}: all {n} classes",
                             "by median |AS|")))
        hist = alt.Chart(sub.select("abs_as_median")).mark_bar(color="#888").encode(
            x=alt.X("abs_as_median:Q", bin=alt.Bin(maxbins=30), title="median |AS| per class (°)",
                    axis=alt.Axis(tickCount=5)),
            y=alt.Y("count():Q", title="classes")).properties(width=200, height=200, title=_title(
                f"{name}: all {n} classes", f"median of class medians = {_fmt(sub['abs_as_median'].median())}°"))
        # the histogram of class medians only adds information when the boxes do not show every class
        panels.append(alt.hconcat(*box_panels, hist, spacing=24) if n > 2 * k else alt.hconcat(*box_panels))
        data.append(pick.select("model", "model_name", "wnid", "class_index", "class_name", "label", "group", "n",
                                "abs_as_q05", "abs_as_q25", "abs_as_median", "abs_as_q75", "abs_as_q95"))
    if not panels:
        raise ValueError("class_violins: no models to plot")
    chart = alt.vconcat(*panels, spacing=28).properties(title=_title(
        "Per-class leakage |AS| after null removal",
        f"{space_name(space, s)} space; box 25-75 %, whiskers 5-95 % of the images of a class, tick median"))
    return chart, pl.concat(data)


def leakage_heatmap(class_summary: pl.DataFrame, settings=None):
    """Leakage z-score (null-space |AS| vs random subspaces of the same dimension), models × classes."""
    s = dict(settings or {})
    space = primary_space(class_summary, s)
    cs = _clean(class_summary.filter(pl.col("space") == space))
    max_classes = int(s.get("heatmap_classes", 40))
    per_class = (cs.group_by("wnid").agg(pl.col("as_z").mean().alias("mean_z"), pl.col("class_name").first())
                 .sort("mean_z", "wnid", descending=[True, False], nulls_last=True))
    n_all = per_class.height
    n_models = max(1, cs["model"].n_unique())
    if n_all > max_classes:
        # every model's own top classes (so no model's worst leakage is hidden), then by mean z over models
        k = max(1, -(-max_classes // n_models))
        top = (cs.sort("as_z", "wnid", descending=[True, False], nulls_last=True).group_by("model", maintain_order=True)
               .head(k)["wnid"].unique().to_list())
        keep = set(top[:max_classes])
        for w in per_class["wnid"].to_list():
            if len(keep) >= max_classes:
                break
            keep.add(w)
        per_class = per_class.filter(pl.col("wnid").is_in(list(keep)))
    order_w = per_class["wnid"].to_list()
    df = cs.filter(pl.col("wnid").is_in(order_w))
    df = _with_display(df, s).with_columns(
        pl.col("class_name").map_elements(lambda t: _shorten(str(t), 22), return_dtype=pl.String).alias("label"))
    labels = dict(zip(df["wnid"].to_list(), df["label"].to_list()))
    order = [labels[w] for w in order_w]
    df = df.with_columns(pl.col("wnid").replace_strict({w: lab for w, lab in zip(order_w, order)},
                                                       return_dtype=pl.String).alias("label"))
    zabs = df["as_z"].abs().max()
    zmax = float(min(10.0, zabs)) if zabs is not None and np.isfinite(zabs) and zabs > 0 else 1.0
    models = sorted(df["model"].unique().to_list())
    rank = {m: i for i, m in enumerate(model_subset(models, s, "models"))}
    morder = [display_name(m, s) for m in sorted(models, key=lambda m: (rank.get(m, 99), m))]
    chart = alt.Chart(df.select("model", "model_name", "wnid", "label", "class_name", "as_z", "is_z",
                                "abs_as_mean", "baseline_abs_as_mean")).mark_rect().encode(
        x=alt.X("label:N", sort=order, title=None, axis=alt.Axis(labelAngle=-55)),
        y=alt.Y("model_name:N", sort=morder, title=None),
        color=alt.Color("as_z:Q", title=["leakage z", "(|AS|)"], scale=alt.Scale(
            scheme="redblue", reverse=True, domain=[-zmax, zmax], clamp=True)),
        tooltip=["model_name", "class_name", "wnid", "as_z", "is_z", "abs_as_mean", "baseline_abs_as_mean"],
    ).properties(width=max(300, 18 * len(order)), height=max(80, 24 * len(morder)), title=_title(
        "Null-space leakage vs random subspaces of the same dimension",
        [f"z = (mean |AS| of null removal − baseline mean) / baseline std over random subspaces; "
         f"{space_name(space, s)} space",
         (f"{len(order)} of {n_all} classes: each model's highest-z classes, sorted by mean z over models"
          if n_all > len(order)
          else f"all {n_all} classes") + f"; colour clipped at ±{_fmt(zmax, 2)}; red = more leakage"]))
    return chart, df.sort("model", "wnid")


# ---------------------------------------------------------------------------------------------------------
# Open vocabulary (Fig 5)
# ---------------------------------------------------------------------------------------------------------
def open_vocabulary(table: pl.DataFrame, settings=None):
    """Fig 5: per concept, the mean angle of T f (blue) and of T f̃ (red) to the concept, joined by a green
    segment whose length is |AS|; right: AS per concept (positive = the equivalent is closer)."""
    s = dict(settings or {})
    space = primary_space(table, s)
    t = _clean(table.filter(pl.col("space") == space))
    models = sorted(t["model"].unique().to_list())
    chosen = s.get("openvocab_models") or [s.get("openvocab_model")] if s.get("openvocab_model") else None
    models = [m for m in (chosen or []) if m in models] or model_subset(models, s)[:1]
    try:
        from .analysis import class_names_for

        wn = sorted(t["wnid"].unique().to_list())
        names = dict(zip(wn, class_names_for([0] * len(wn), wn)))
    except Exception:  # noqa: BLE001
        names = {}
    rows, data = [], []
    for model in models:
        panels = []
        for wnid in sorted(t.filter(pl.col("model") == model)["wnid"].unique().to_list()):
            sub = t.filter((pl.col("model") == model) & (pl.col("wnid") == wnid)).with_columns(
                pl.when(pl.col("kind") == "class").then(pl.lit("▶ ") + pl.col("concept"))
                .otherwise(pl.col("concept")).alias("label"),
                pl.when(pl.col("as_mean") >= 0).then(pl.lit("closer")).otherwise(pl.lit("farther")).alias("dir"),
            ).sort("angle_orig_mean", "concept")
            order = sub["label"].to_list()
            base = alt.Chart(sub)
            y = alt.Y("label:N", sort=order, title=None)
            seg = base.mark_rule(color=ARROW_COLOR, strokeWidth=3).encode(
                y=y, x=alt.X("angle_orig_mean:Q", title="angle to concept (°), lower = more similar",
                             scale=alt.Scale(zero=False)), x2="angle_eq_mean:Q")
            p0 = base.mark_circle(size=70, color=ORIG_COLOR, opacity=1).encode(
                y=y, x="angle_orig_mean:Q", tooltip=["concept", "angle_orig_mean", "angle_eq_mean", "as_mean", "n"])
            p1 = base.mark_circle(size=70, color=EQ_COLOR, opacity=1).encode(y=y, x="angle_eq_mean:Q")
            left = alt.layer(seg, p0, p1).properties(width=330, height=max(160, 15 * len(order)), title=_title(
                f"{str(names.get(wnid, wnid))[:1].upper()}{str(names.get(wnid, wnid))[1:]} ({display_name(model, s)})",
                "blue: original T f, red: equivalent T f̃, green: |AS|"))
            bars = base.mark_bar(size=9).encode(
                y=alt.Y("label:N", sort=order, title=None, axis=alt.Axis(labels=False, ticks=False)),
                x=alt.X("as_mean:Q", title="AS (°)"),
                color=alt.Color("dir:N", title="equivalent is", scale=alt.Scale(
                    domain=["closer", "farther"], range=["#2ca02c", "#9467bd"]), legend=alt.Legend(orient="bottom")),
                tooltip=["concept", "as_mean", "as_std", "abs_as_mean"])
            err = base.mark_rule(color="black").encode(
                y=alt.Y("label:N", sort=order), x=alt.X("as_lo:Q", title="AS (°)"), x2="as_hi:Q"
            ).transform_calculate(as_lo="datum.as_mean - datum.as_std", as_hi="datum.as_mean + datum.as_std")
            right = alt.layer(bars, err).properties(width=170, height=max(160, 15 * len(order)),
                                                    title=_title("AS ± std", f"n = {sub['n'].max()} images"))
            panels.append(alt.hconcat(left, right, spacing=4))
            data.append(sub.with_columns(pl.lit(display_name(model, s)).alias("model_name"),
                                         pl.lit(names.get(wnid, wnid)).alias("class_name")))
        rows.extend(panels)
    if not rows:
        raise ValueError("open_vocabulary: no rows to plot")
    chart = alt.vconcat(*rows, spacing=30).properties(title=_title("Open-vocabulary concepts before and after null removal",
                                                       f"{space_name(space, s)} space"))
    return chart, pl.concat(data, how="vertical_relaxed")


# ---------------------------------------------------------------------------------------------------------
# Validation (Fig 9), steering (Table 1), spectra
# ---------------------------------------------------------------------------------------------------------
def _quantiles(df: pl.DataFrame, by: Sequence[str], col: str, prefix: str) -> pl.DataFrame:
    def q(p):
        return pl.col(col).quantile(p, interpolation="linear")

    return df.group_by(*by).agg(q(0.05).alias(f"{prefix}_q05"), q(0.25).alias(f"{prefix}_q25"),
                                q(0.5).alias(f"{prefix}_q50"), q(0.75).alias(f"{prefix}_q75"),
                                q(0.95).alias(f"{prefix}_q95"), pl.len().alias("n"))


def validation(table: pl.DataFrame, settings=None):
    """Fig 9: logit change (log axis) and CLIP drift of equal-norm null / random / principal perturbations."""
    s = dict(settings or {})
    space = primary_space(table, s)
    t = table.filter(pl.col("space") == space).with_columns(
        pl.max_horizontal(pl.col("logit_change"), pl.lit(LOG_FLOOR)).alias("logit_change_floored"))
    a = _quantiles(t, ["model", "kind"], "logit_change_floored", "lc")
    b = _quantiles(t, ["model", "kind"], "clip_drift_deg", "drift").drop("n")
    df = _clean(_with_display(a.join(b, on=["model", "kind"]), s)).sort("model", "kind")
    models = sorted(df["model"].unique().to_list())
    morder = [display_name(m, s) for m in model_subset(models, s, "models")]
    kinds = [k for k in KIND_COLORS if k in df["kind"].unique().to_list()]
    color = alt.Color("kind:N", title="perturbation", scale=alt.Scale(domain=kinds,
                      range=[KIND_COLORS[k] for k in kinds]), legend=alt.Legend(orient="top"))
    base = alt.Chart(df)
    y = alt.Y("model_name:N", sort=morder, title=None)
    yoff = alt.YOffset("kind:N", sort=kinds)
    h = max(120, 42 * len(morder))

    def panel(prefix, title, log_scale):
        scale = alt.Scale(type="log") if log_scale else alt.Scale(zero=True)
        axis = alt.Axis(format=".0e") if log_scale else alt.Axis()
        whisk = base.mark_rule(strokeWidth=1.5).encode(
            y=y, yOffset=yoff, x=alt.X(f"{prefix}_q05:Q", title=title, scale=scale, axis=axis), x2=f"{prefix}_q95:Q",
            color=color)
        box = base.mark_bar(size=9, opacity=0.8).encode(y=y, yOffset=yoff, x=f"{prefix}_q25:Q", x2=f"{prefix}_q75:Q",
                                                        color=color, tooltip=["model_name", "kind", f"{prefix}_q50",
                                                                              "n"])
        tick = base.mark_tick(color="black", thickness=2, size=10).encode(y=y, yOffset=yoff, x=f"{prefix}_q50:Q")
        return alt.layer(whisk, box, tick).properties(width=330, height=h)

    left = panel("lc", "logit change ‖W δ‖ (log scale)", True).properties(title=_title(
        "Logit change", f"values below {LOG_FLOOR:g} drawn at {LOG_FLOOR:g}"))
    right = panel("drift", "CLIP drift ∠(T f, T(f+δ)) (°)", False).properties(title=_title(
        "CLIP-space drift", space_name(space, s)))
    chart = alt.hconcat(left, right).properties(title=_title(
        "Equal-norm perturbations: null vs random vs principal",
        "norm = ‖Π_n f‖ per image; box 25-75 %, whiskers 5-95 %, tick median"))
    return chart, df


def steering(table: pl.DataFrame, settings=None):
    """Table 1 as a chart: mean ± std |AS| toward the target after a null step calibrated to the target IS."""
    from .analysis import steering_summary

    s = dict(settings or {})
    space = primary_space(table, s)
    summ = _clean(_with_display(steering_summary(table.filter(pl.col("space") == space)), s))
    summ = summ.with_columns((pl.col("abs_as_mean") - pl.col("abs_as_std").fill_null(0)).alias("lo"),
                             (pl.col("abs_as_mean") + pl.col("abs_as_std").fill_null(0)).alias("hi"),
                             pl.format("{}/{} reachable", pl.col("n_reachable"), pl.col("n")).alias("note"))
    summ = summ.sort("abs_as_mean", "model", nulls_last=True)
    order = summ["model_name"].to_list()
    base = alt.Chart(summ)
    y = alt.Y("model_name:N", sort=order, title=None)
    bars = base.mark_bar(color="#e45756", size=18).encode(
        y=y, x=alt.X("abs_as_mean:Q", title="|AS| toward the target prompt (°), lower = more resistant"),
        tooltip=["model_name", "abs_as_mean", "abs_as_std", "n_reachable", "n_unreachable", "is_mean"])
    err = base.mark_rule(color="black", strokeWidth=1.5).encode(y=y, x="lo:Q", x2="hi:Q")
    note = base.mark_text(align="left", dx=6, fontSize=11, color="#333").encode(y=y, x="hi:Q", text="note:N")
    target = s.get("steering_target")
    is_t = table["is_deg"].drop_nulls().mean() if table["is_deg"].null_count() < table.height else None
    is_txt = f"{is_t:.4g}°" if is_t is not None else "the target"
    chart = alt.layer(bars, err, note).properties(width=420, height=max(100, 30 * len(order)), title=_title(
        "Null-space steering toward a target prompt (Table 1)",
        [f"step along the null-projected text gradient, calibrated to IS = {is_txt}"
         + (f"; target: “{target}”" if target else ""),
         f"bars: mean ± std over reachable images; {space_name(space, s)} space"]))
    return chart, summ


def load_spectra(geometry_paths: Sequence[str | os.PathLike]) -> pl.DataFrame:
    """Normalised singular values per model from HeadGeometry files at ``.../<model>/geometry.safetensors``."""
    from .geometry import HeadGeometry

    frames = []
    for p in geometry_paths:
        g = HeadGeometry.load(p)
        sv = np.asarray(g.singular_values, dtype=np.float64)
        smax = sv[0] if sv.size and sv[0] > 0 else 1.0
        frames.append(pl.DataFrame({
            "model": Path(p).parent.name, "index": np.arange(1, sv.size + 1, dtype=np.int64),
            "sv": sv, "sv_rel": np.maximum(sv / smax, 1e-16), "threshold_rel": max(g.threshold / smax, 1e-16),
            "rank": g.rank, "nullity": g.nullity, "in_dim": g.in_dim}))
    if not frames:
        raise ValueError("spectra: no geometry files given (input 'geometries')")
    return pl.concat(frames).sort("model", "index")


def spectra(spec: pl.DataFrame, settings=None):
    """Singular values of each head (÷ σ_max, log axis) with its rank threshold (dashed)."""
    s = dict(settings or {})
    df = _with_display(spec, s).with_columns(
        pl.format("{} (rank {}, null {})", pl.col("model_name"), pl.col("rank"), pl.col("nullity")).alias("legend"))
    models = sorted(df["model"].unique().to_list())
    order = [df.filter(pl.col("model") == m)["legend"][0] for m in model_subset(models, s, "models")]
    color = alt.Color("legend:N", sort=order, title="model (rank, nullity)", legend=alt.Legend(labelLimit=480),
                      scale=alt.Scale(scheme="tableau10" if len(order) <= 10 else "tableau20"))
    lines = alt.Chart(df).mark_line(strokeWidth=1.8).encode(
        x=alt.X("index:Q", title="singular value index"),
        y=alt.Y("sv_rel:Q", title="σᵢ / σ_max (log scale)", scale=alt.Scale(type="log")),
        color=color, tooltip=["model_name", "index", "sv", "rank"])
    thr = alt.Chart(df.group_by("model", "legend").agg(pl.col("threshold_rel").first()).sort("model")).mark_rule(
        strokeDash=[6, 4], strokeWidth=1.2).encode(y="threshold_rel:Q", color=color)
    chart = alt.layer(lines, thr).properties(width=560, height=360, title=_title(
        "Singular-value spectra of the classifier heads",
        ["dashed: each head's rank threshold max(atol, rtol·σ_max); the directions of the σᵢ below it and the",
         "m − min(c, m) input directions without a singular value span the null space (nullity in the legend)"]))
    return chart, df


# ---------------------------------------------------------------------------------------------------------
# Dispatch and saving
# ---------------------------------------------------------------------------------------------------------
def _read(p) -> pl.DataFrame:
    return pl.read_parquet(p)


def build(figure: str, inputs: Mapping[str, Any], settings: Mapping[str, Any] | None = None):
    """(chart, data) of ``figure`` from input paths (``inputs``: table name -> parquet path; for spectra
    also ``geometries``: list of geometry files)."""
    if figure not in FIGURES:
        raise ValueError(f"figure: unknown figure {figure!r} (known: {', '.join(FIGURES)})")

    def need(name):
        if name not in inputs or inputs[name] is None:
            raise ValueError(f"figure {figure}: missing input {name!r}")
        return _read(inputs[name])

    settings = dict(settings or {})
    makers: dict[str, Callable[[], Any]] = {
        "ratio_scatter": lambda: ratio_scatter(need("model_summary"), settings, subset=True),
        "ratio_scatter_all": lambda: ratio_scatter(need("model_summary"), settings, subset=False),
        "ratio_bars": lambda: ratio_bars(need("model_summary"), settings, subset=True),
        "ratio_bars_all": lambda: ratio_bars(need("model_summary"), settings, subset=False),
        "class_violins": lambda: class_violins(need("class_summary"), settings),
        "open_vocabulary": lambda: open_vocabulary(need("open_vocabulary"), settings),
        "validation": lambda: validation(need("validation"), settings),
        "space_crosscheck": lambda: space_crosscheck(need("space_crosscheck"), settings),
        "robustness": lambda: robustness(need("robustness"), settings),
        "spectra": lambda: spectra(load_spectra(list(inputs.get("geometries") or [])), settings),
        "leakage_heatmap": lambda: leakage_heatmap(need("class_summary"), settings),
        "steering": lambda: steering(need("steering"), settings),
    }
    return makers[figure]()


def save(chart, data: pl.DataFrame, *, png=None, svg=None, html=None, data_path=None, scale: float = 2.0,
         metadata: Mapping[str, Any] | None = None) -> None:
    """Write the themed chart as PNG / SVG (vl-convert) / self-contained HTML, and its data as parquet;
    each file atomically."""
    from .analysis import write_table
    from .storage import atomic_path

    chart = finalize(chart)
    for path, fmt in ((png, "png"), (svg, "svg"), (html, "html")):
        if path is None:
            continue
        with atomic_path(path) as tmp:
            if fmt == "png":
                chart.save(str(tmp), format="png", scale_factor=scale)
            elif fmt == "svg":
                chart.save(str(tmp), format="svg")
            else:
                chart.save(str(tmp), format="html", inline=True)
    if data_path is not None:
        write_table(_clean(data), data_path, metadata or {"kind": "figure_data"})


def make(figure: str, inputs: Mapping[str, Any], outputs: Mapping[str, Any], settings=None) -> pl.DataFrame:
    """Build ``figure`` and write the outputs present in ``outputs`` (png, svg, html, data)."""
    chart, data = build(figure, inputs, settings)
    save(chart, data, png=outputs.get("png"), svg=outputs.get("svg"), html=outputs.get("html"),
         data_path=outputs.get("data"), metadata={"kind": "figure_data", "figure": figure})
    return data
