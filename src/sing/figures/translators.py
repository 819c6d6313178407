"""Figures of the translator study (supp. §1.1: Table 2, Figs. 7-8) and of the translator sensitivity (beyond the
paper). Each builder takes the table(s) the workflow writes and the figure settings, and returns ``(chart, data)``
like the other builders (:mod:`sing.figures.experiments`); registering them is the workflow's business."""

from __future__ import annotations

import altair as alt
import polars as pl

from ..analysis.sensitivity import DEFAULT_VARIANT, variant_label
from .experiments import json_list, log_ticks
from .theme import (
    clean,
    display_name,
    fmt,
    model_subset,
    primary_space,
    random_weights_note,
    space_name,
    title,
    with_caveat,
    with_display,
)

__all__ = ["ARCH_COLORS", "cosine_histograms", "training_curves", "translator_sensitivity", "translator_study"]

ARCH_COLORS = {"linear": "#1f77b4", "mlp3": "#ff7f0e", "mlp4": "#2ca02c", "residual": "#9467bd"}
_ARCH_NAMES = {"linear": "linear", "mlp3": "3-layer MLP", "mlp4": "4-layer MLP", "residual": "residual MLP"}
_LOSS_NAMES = {"mse": "MSE", "cosine": "cosine", "mse_cosine": "MSE + cosine"}


def _arch_color(archs):
    domain = [a for a in ARCH_COLORS if a in archs]
    return alt.Color("architecture:N", title="architecture", scale=alt.Scale(domain=domain,
                     range=[ARCH_COLORS[a] for a in domain]), legend=alt.Legend(orient="top"))


def _first_model(table: pl.DataFrame, settings) -> str:
    models = sorted(table["model"].unique().to_list())
    return model_subset(models, settings)[0]


def translator_study(table: pl.DataFrame, settings=None):
    """Table 2 as a chart: per model (rows) and (architecture, loss), the held-out mean cosine between T f and the
    real CLIP embedding with its 25-75 % range, and the held-out mse, in the primary space."""
    s = dict(settings or {})
    if table.height == 0:
        raise ValueError("translator_study: no rows to plot")
    space = primary_space(table, s)
    models = model_subset(sorted(table["model"].unique().to_list()), s, "models")
    df = clean(with_display(table.filter((pl.col("space") == space) & pl.col("model").is_in(models)), s))
    df = df.with_columns((pl.col("architecture").replace_strict(_ARCH_NAMES, default=pl.col("architecture"))
                          + " / " + pl.col("loss").replace_strict(_LOSS_NAMES, default=pl.col("loss")))
                         .alias("translator")).sort("model", "architecture", "loss")
    order = df.unique("translator", maintain_order=True)["translator"].to_list()
    morder = [display_name(m, s) for m in models]
    color = _arch_color(df["architecture"].unique().to_list())
    tip = ["model_name", "translator", "method", "alpha", "cosine_mean", "cosine_median", "mse", "r2", "epochs_run",
           "n_eval"]
    panels = []
    for model, name in zip(models, morder):
        base = alt.Chart(df.filter(pl.col("model") == model))
        y = alt.Y("translator:N", sort=order, title=None)
        rng = base.mark_rule(strokeWidth=2).encode(
            y=y, x=alt.X("cosine_q25:Q", title="held-out cosine(T f, z)", scale=alt.Scale(zero=False)),
            x2="cosine_q75:Q", color=color)
        dot = base.mark_circle(size=70, opacity=1).encode(y=y, x="cosine_mean:Q", color=color, tooltip=tip)
        left = alt.layer(rng, dot).properties(width=300, height=16 * len(order), title=name)
        right = base.mark_bar(size=10).encode(
            y=alt.Y("translator:N", sort=order, title=None, axis=alt.Axis(labels=False, ticks=False)),
            x=alt.X("mse:Q", title="held-out mse"), color=color, tooltip=tip).properties(width=200,
                                                                                         height=16 * len(order))
        panels.append(alt.hconcat(left, right, spacing=6))
    rows = alt.vconcat(*panels, spacing=20)
    n_eval = int(df["n_eval"].max()) if df.height else 0
    chart = rows.properties(title=title(
        "Translator study: linear vs non-linear translators", with_caveat([
            f"{space_name(space, s)} space; {n_eval} held-out images"
            + (f" of {k} class{'es' if k != 1 else ''}" if (k := int(df["n_eval_classes"].max() or 0)) else ""),
            "dot: mean cosine, bar: 25-75 % of images; right: mean squared error (lower is better)"],
            random_weights_note(s, models, [space]))))
    return chart, df


def training_curves(curves: pl.DataFrame, settings=None):
    """Fig. 7: per training objective (columns), the early-stopping set's MSE (top) and mean cosine (bottom) over
    the epochs, one line per architecture, for the first paper model in the primary space."""
    s = dict(settings or {})
    if curves.height == 0:
        raise ValueError("training_curves: no rows to plot")
    space = primary_space(curves, s)
    model = _first_model(curves.filter(pl.col("space") == space), s)
    df = clean(curves.filter((pl.col("space") == space) & (pl.col("model") == model)))
    long = df.unpivot(index=["architecture", "loss", "epoch"], on=["stop_mse", "stop_cosine_mean"],
                      variable_name="metric", value_name="value").with_columns(
        pl.col("metric").replace_strict({"stop_mse": "MSE", "stop_cosine_mean": "mean cosine"}),
        pl.col("loss").replace_strict(_LOSS_NAMES, default=pl.col("loss")).alias("objective"))
    chart = alt.Chart(long).mark_line(point=False).encode(
        x=alt.X("epoch:Q", title="epoch"), y=alt.Y("value:Q", title=None, scale=alt.Scale(zero=False)),
        color=_arch_color(long["architecture"].unique().to_list()),
        tooltip=["architecture", "objective", "epoch", "metric", "value"],
    ).properties(width=220, height=150).facet(
        row=alt.Row("metric:N", title=None, sort=["MSE", "mean cosine"]),
        column=alt.Column("objective:N", title="training objective", sort=list(_LOSS_NAMES.values())),
    ).resolve_scale(y="independent").properties(title=title(
        "Translator training curves", with_caveat(
            f"{display_name(model, s)} → {space_name(space, s)}; held-out translator images (early-stopping set), "
            "epoch 0 = before training", random_weights_note(s, [model], [space]))))
    return chart, long


def cosine_histograms(cosines: pl.DataFrame, settings=None, *, loss: str = "mse", bins: int = 40):
    """Fig. 8: distribution of the per-image cosine between T f and the real CLIP embedding on the held-out
    images, one histogram per architecture trained with ``loss`` (the linear row of ``mse`` is the ridge), for the
    first paper model in the primary space. ``bins`` equal-width bins over the observed range."""
    s = dict(settings or {})
    if cosines.height == 0:
        raise ValueError("cosine_histograms: no rows to plot")
    space = primary_space(cosines, s)
    model = _first_model(cosines.filter(pl.col("space") == space), s)
    df = cosines.filter((pl.col("space") == space) & (pl.col("model") == model) & (pl.col("loss") == loss))
    if df.height == 0:
        raise ValueError(f"cosine_histograms: no rows with loss {loss!r} for {model}/{space}")
    lo, hi = float(df["cosine"].min()), float(df["cosine"].max())
    width = (hi - lo) / bins if hi > lo else 1.0
    binned = (df.with_columns(((pl.col("cosine") - lo) / width).floor().clip(0, bins - 1).cast(pl.Int64).alias("bin"))
              .group_by("architecture", "bin").agg(pl.len().alias("count"))
              .with_columns((lo + pl.col("bin") * width).alias("bin_start"),
                            (lo + (pl.col("bin") + 1) * width).alias("bin_end")).sort("architecture", "bin"))
    chart = alt.Chart(binned).mark_bar(opacity=0.8).encode(
        x=alt.X("bin_start:Q", title="cosine(T f, z) on held-out images", bin="binned", scale=alt.Scale(zero=False)),
        x2="bin_end:Q", y=alt.Y("count:Q", title="images"),
        color=_arch_color(binned["architecture"].unique().to_list()),
        tooltip=["architecture", "bin_start", "bin_end", "count"],
    ).properties(width=260, height=120).facet(row=alt.Row("architecture:N", title=None,
                                                          sort=list(ARCH_COLORS))).properties(title=title(
        "Translated vs real CLIP embeddings", with_caveat(
            f"{display_name(model, s)} → {space_name(space, s)}; objective {_LOSS_NAMES.get(loss, loss)}; "
            f"{df['image_id'].n_unique()} held-out images", random_weights_note(s, [model], [space]))))
    return chart, binned


def translator_sensitivity(table: pl.DataFrame, stability: pl.DataFrame, settings=None, *, statistic: str = "ratio"):
    """Per space (columns): each model's ``statistic`` (default the IS/|AS| ratio of medians; the workflow passes
    ``translator.sensitivity.statistic`` as ``settings["sensitivity_statistic"]``) under every translator variant;
    the subtitle gives Kendall τ of the model ordering per variant."""
    s = dict(settings or {})
    statistic = s.get("sensitivity_statistic", statistic)
    if table.height == 0:
        raise ValueError("translator_sensitivity: no rows to plot")
    models = model_subset(sorted(table["model"].unique().to_list()), s, "models")
    df = clean(with_display(table.filter(pl.col("model").is_in(models)), s)).with_columns(
        pl.col("variant").map_elements(variant_label, return_dtype=pl.String).alias("variant_name"),
        pl.col("space").map_elements(lambda k: space_name(k, s), return_dtype=pl.String).alias("space_name"),
        (pl.col("variant") == DEFAULT_VARIANT).alias("is_default"))
    vorder = [variant_label(v) for v in [DEFAULT_VARIANT, *sorted(set(df["variant"].to_list()) - {DEFAULT_VARIANT})]]
    morder = [display_name(m, s) for m in models]
    base = alt.Chart(df)
    y = alt.Y("model_name:N", sort=morder, title=None)
    # powers of ten, evenly spaced (as the validation figure's log axis), not Vega's 1, 3, 5, 20, ...
    ticks, labels, domain = log_ticks(df[statistic].to_numpy())
    x = alt.X(f"{statistic}:Q", title={"ratio": "median IS / median |AS|", "image_ratio_median":
                                       "median of per-image IS / |AS|", "median_abs_as": "median |AS| (°)",
                                       "median_is": "median IS (°)"}.get(statistic, statistic),
              scale=alt.Scale(type="log", domain=domain, nice=False),
              axis=alt.Axis(values=ticks, labelExpr=f"{json_list(labels)}[indexof({json_list(ticks)}, datum.value)]",
                            labelOverlap=False, grid=True))
    line = base.mark_rule(color="#bbbbbb").encode(y=y, x=f"min({statistic}):Q", x2=f"max({statistic}):Q")
    pts = base.mark_point(size=70, filled=True).encode(
        y=y, x=x, shape=alt.Shape("variant_name:N", title="translator", sort=vorder, legend=alt.Legend(orient="top")),
        color=alt.Color("variant_name:N", title="translator", sort=vorder),
        tooltip=["model_name", "space_name", "variant_name", "translator", "alpha", statistic, "median_is",
                 "median_abs_as", "n_images"])
    notes = []
    for r in stability.filter(pl.col("statistic") == statistic).sort("space", "variant").iter_rows(named=True):
        notes.append(f"{space_name(r['space'], s)}, {variant_label(r['variant'])}: τ = {fmt(r['kendall_tau'], 2)}"
                     + ("" if r["stable"] is not False else " (order changes)"))
    chart = alt.layer(line, pts).properties(width=300, height=max(90, 28 * len(morder))).facet(
        column=alt.Column("space_name:N", title=None)).properties(title=title(
            "How much the verdict depends on the translator",
            with_caveat(notes or ["one model: no ordering to compare"],
                        random_weights_note(s, models, sorted(df["space"].unique().to_list())))))
    return chart, df
