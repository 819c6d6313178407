"""Class-level figures: per-class |AS| (Fig 4) and the leakage heat map against random subspaces."""

from __future__ import annotations

import altair as alt
import numpy as np
import polars as pl

from .theme import (
    box_layers,
    clean,
    display_name,
    fmt,
    model_subset,
    primary_space,
    shorten,
    space_name,
    title,
    with_display,
)


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
        sub = clean(cs.filter(pl.col("model") == model)).sort("abs_as_median", "class_index",
                                                                 descending=[True, False], nulls_last=True)
        n = sub.height
        if n <= 2 * k:
            pick = sub.with_columns(pl.lit("all classes").alias("group"))
        else:
            pick = pl.concat([sub.head(k).with_columns(pl.lit(f"highest {k}").alias("group")),
                              sub.tail(k).with_columns(pl.lit(f"lowest {k}").alias("group"))])
        pick = pick.with_columns(
            pl.col("class_name").map_elements(lambda t: shorten(str(t)), return_dtype=pl.String).alias("label"),
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
            box_panels.append(box_layers(
                alt.Chart(part), alt.X("label:N", sort=order, title=None, axis=alt.Axis(labelAngle=-50)), False,
                ("abs_as_q05", "abs_as_q25", "abs_as_median", "abs_as_q75", "abs_as_q95"), alt.value(col),
                "|AS| (°)", size=10).properties(
                width=max(120, 17 * len(order)), height=200,
                title=title(f"{name}: {g} classes" if g != "all classes" else f"{name}: all {n} classes",
                             "by median |AS|")))
        hist = alt.Chart(sub.select("abs_as_median")).mark_bar(color="#888").encode(
            x=alt.X("abs_as_median:Q", bin=alt.Bin(maxbins=30), title="median |AS| per class (°)",
                    axis=alt.Axis(tickCount=5)),
            y=alt.Y("count():Q", title="classes")).properties(width=200, height=200, title=title(
                f"{name}: all {n} classes", f"median of class medians = {fmt(sub['abs_as_median'].median())}°"))
        # the histogram of class medians only adds information when the boxes do not show every class
        panels.append(alt.hconcat(*box_panels, hist, spacing=24) if n > 2 * k else alt.hconcat(*box_panels))
        data.append(pick.select("model", "model_name", "class_id", "class_index", "class_name", "label", "group", "n",
                                "abs_as_q05", "abs_as_q25", "abs_as_median", "abs_as_q75", "abs_as_q95"))
    if not panels:
        raise ValueError("class_violins: no models to plot")
    chart = alt.vconcat(*panels, spacing=28).properties(title=title(
        "Per-class leakage |AS| after null removal",
        f"{space_name(space, s)} space; box 25-75 %, whiskers 5-95 % of the images of a class, tick median"))
    return chart, pl.concat(data)


def leakage_heatmap(class_summary: pl.DataFrame, settings=None):
    """Leakage z-score (null-space |AS| vs random subspaces of the same dimension), models × classes."""
    s = dict(settings or {})
    space = primary_space(class_summary, s)
    cs = clean(class_summary.filter(pl.col("space") == space))
    max_classes = int(s.get("heatmap_classes", 40))
    per_class = (cs.group_by("class_id").agg(pl.col("as_z").mean().alias("mean_z"), pl.col("class_name").first())
                 .sort("mean_z", "class_id", descending=[True, False], nulls_last=True))
    n_all = per_class.height
    n_models = max(1, cs["model"].n_unique())
    if n_all > max_classes:
        # every model's own top classes (so no model's worst leakage is hidden), then by mean z over models
        k = max(1, -(-max_classes // n_models))
        top = (cs.sort("as_z", "class_id", descending=[True, False], nulls_last=True)
               .group_by("model", maintain_order=True)
               .head(k)["class_id"].unique().to_list())
        keep = set(top[:max_classes])
        for w in per_class["class_id"].to_list():
            if len(keep) >= max_classes:
                break
            keep.add(w)
        per_class = per_class.filter(pl.col("class_id").is_in(list(keep)))
    order_w = per_class["class_id"].to_list()
    df = cs.filter(pl.col("class_id").is_in(order_w))
    df = with_display(df, s).with_columns(
        pl.col("class_name").map_elements(lambda t: shorten(str(t), 22), return_dtype=pl.String).alias("label"))
    labels = dict(zip(df["class_id"].to_list(), df["label"].to_list()))
    order = [labels[w] for w in order_w]
    df = df.with_columns(pl.col("class_id").replace_strict({w: lab for w, lab in zip(order_w, order)},
                                                       return_dtype=pl.String).alias("label"))
    zabs = df["as_z"].abs().max()
    zmax = float(min(10.0, zabs)) if zabs is not None and np.isfinite(zabs) and zabs > 0 else 1.0
    models = sorted(df["model"].unique().to_list())
    rank = {m: i for i, m in enumerate(model_subset(models, s, "models"))}
    morder = [display_name(m, s) for m in sorted(models, key=lambda m: (rank.get(m, 99), m))]
    chart = alt.Chart(df.select("model", "model_name", "class_id", "label", "class_name", "as_z", "is_z",
                                "abs_as_mean", "baseline_abs_as_mean")).mark_rect().encode(
        x=alt.X("label:N", sort=order, title=None, axis=alt.Axis(labelAngle=-55)),
        y=alt.Y("model_name:N", sort=morder, title=None),
        color=alt.Color("as_z:Q", title=["leakage z", "(|AS|)"], scale=alt.Scale(
            scheme="redblue", reverse=True, domain=[-zmax, zmax], clamp=True)),
        tooltip=["model_name", "class_name", "class_id", "as_z", "is_z", "abs_as_mean", "baseline_abs_as_mean"],
    ).properties(width=max(300, 18 * len(order)), height=max(80, 24 * len(morder)), title=title(
        "Null-space leakage vs random subspaces of the same dimension",
        [f"z = (mean |AS| of null removal − baseline mean) / baseline std over random subspaces; "
         f"{space_name(space, s)} space",
         (f"{len(order)} of {n_all} classes: each model's highest-z classes, sorted by mean z over models"
          if n_all > len(order)
          else f"all {n_all} classes") + f"; colour clipped at ±{fmt(zmax, 2)}; red = more leakage"]))
    return chart, df.sort("model", "class_id")
