"""Figures of the experiments: open-vocabulary concepts (Fig 5), the null-space validation (Fig 9) and null-space
steering (Table 1)."""

from __future__ import annotations

from typing import Sequence

import altair as alt
import polars as pl

from ..analysis.steering import CALIBRATIONS, steering_summary
from .theme import (
    ARROW_COLOR,
    EQ_COLOR,
    KIND_COLORS,
    LOG_FLOOR,
    ORIG_COLOR,
    clean,
    display_name,
    fmt,
    model_subset,
    primary_space,
    space_name,
    title,
    with_display,
)


def open_vocabulary(table: pl.DataFrame, settings=None):
    """Fig 5: per concept, the mean angle of T f (blue) and of T f̃ (red) to the concept, joined by a green
    segment whose length is |AS|; right: AS per concept (positive = the equivalent is closer)."""
    s = dict(settings or {})
    space = primary_space(table, s)
    t = clean(table.filter(pl.col("space") == space))
    models = sorted(t["model"].unique().to_list())
    chosen = s.get("openvocab_models") or [s.get("openvocab_model")] if s.get("openvocab_model") else None
    models = [m for m in (chosen or []) if m in models] or model_subset(models, s)[:1]
    names = dict(s.get("class_names") or {})  # class id -> display name (classes.parquet); else the id
    rows, data = [], []
    for model in models:
        panels = []
        for class_id in sorted(t.filter(pl.col("model") == model)["class_id"].unique().to_list()):
            sub = t.filter((pl.col("model") == model) & (pl.col("class_id") == class_id)).with_columns(
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
            left = alt.layer(seg, p0, p1).properties(width=330, height=max(160, 15 * len(order)), title=title(
                f"{str(names.get(class_id, class_id))[:1].upper()}{str(names.get(class_id, class_id))[1:]} "
                f"({display_name(model, s)})",
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
                                                    title=title("AS ± std", f"n = {sub['n'].max()} images"))
            panels.append(alt.hconcat(left, right, spacing=4))
            data.append(sub.with_columns(pl.lit(display_name(model, s)).alias("model_name"),
                                         pl.lit(names.get(class_id, class_id)).alias("class_name")))
        rows.extend(panels)
    if not rows:
        raise ValueError("open_vocabulary: no rows to plot")
    chart = alt.vconcat(*rows, spacing=30).properties(title=title(
        "Open-vocabulary concepts before and after null removal",
                                                       f"{space_name(space, s)} space"))
    return chart, pl.concat(data, how="vertical_relaxed")


def _quantiles(df: pl.DataFrame, by: Sequence[str], col: str, prefix: str) -> pl.DataFrame:
    def q(p):
        return pl.col(col).quantile(p, interpolation="linear")

    return df.group_by(*by).agg(q(0.05).alias(f"{prefix}_q05"), q(0.25).alias(f"{prefix}_q25"),
                                q(0.5).alias(f"{prefix}_q50"), q(0.75).alias(f"{prefix}_q75"),
                                q(0.95).alias(f"{prefix}_q95"), pl.len().alias("n"))


def validation(table: pl.DataFrame, settings=None):
    """Fig 9: logit change (log axis) and CLIP drift of null removal (δ = −Π_n f, the paper's) and of equal-norm
    null-space / random / principal perturbations."""
    s = dict(settings or {})
    space = primary_space(table, s)
    t = table.filter(pl.col("space") == space).with_columns(
        pl.max_horizontal(pl.col("logit_change"), pl.lit(LOG_FLOOR)).alias("logit_change_floored"))
    a = _quantiles(t, ["model", "kind"], "logit_change_floored", "lc")
    b = _quantiles(t, ["model", "kind"], "clip_drift_deg", "drift").drop("n")
    df = clean(with_display(a.join(b, on=["model", "kind"]), s)).sort("model", "kind")
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

    left = panel("lc", "logit change ‖W δ‖ (log scale)", True).properties(title=title(
        "Logit change", f"values below {LOG_FLOOR:g} drawn at {LOG_FLOOR:g}"))
    right = panel("drift", "CLIP drift ∠(T f, T(f+δ)) (°)", False).properties(title=title(
        "CLIP-space drift", space_name(space, s)))
    chart = alt.hconcat(left, right).properties(title=title(
        "Null removal vs equal-norm null-space, random and principal perturbations",
        "held-out analysis images; null_removal: δ = −Π_n f; the others: random directions of norm ‖Π_n f‖; "
        "box 25-75 %, whiskers 5-95 %, tick median"))
    return chart, df


def steering(table: pl.DataFrame, settings=None):
    """Table 1 as a chart: mean ± std |AS| toward the target after a null-space step calibrated to the target IS,
    with the calibration ``settings["steering_calibration"]`` ("mean_is": one step per model, mean IS = target,
    the default; "per_image": one step per image, IS = target on every included image)."""
    s = dict(settings or {})
    calibration = s.get("steering_calibration") or CALIBRATIONS[0]
    if calibration not in CALIBRATIONS:
        raise ValueError(f"steering_calibration: must be one of {CALIBRATIONS}, got {calibration!r}")
    space = primary_space(table, s)
    rows = table.filter((pl.col("space") == space) & (pl.col("calibration") == calibration))
    if rows.height == 0:
        raise ValueError(f"steering: no rows with calibration {calibration!r} in space {space!r}")
    summ = clean(with_display(steering_summary(rows), s))
    summ = summ.with_columns((pl.col("abs_as_mean") - pl.col("abs_as_std").fill_null(0)).alias("lo"),
                             (pl.col("abs_as_mean") + pl.col("abs_as_std").fill_null(0)).alias("hi"),
                             pl.format("{}/{} images", pl.col("n_included"), pl.col("n")).alias("note"))
    summ = summ.sort("abs_as_mean", "model", nulls_last=True)
    order = summ["model_name"].to_list()
    base = alt.Chart(summ)
    y = alt.Y("model_name:N", sort=order, title=None)
    bars = base.mark_bar(color="#e45756", size=18).encode(
        y=y, x=alt.X("abs_as_mean:Q", title="|AS| toward the target prompt (°), lower = more resistant"),
        tooltip=["model_name", "abs_as_mean", "abs_as_std", "n_included", "n_excluded", "is_mean", "eps_mean"])
    err = base.mark_rule(color="black", strokeWidth=1.5).encode(y=y, x="lo:Q", x2="hi:Q")
    note = base.mark_text(align="left", dx=6, fontSize=11, color="#333").encode(y=y, x="hi:Q", text="note:N")
    target = s.get("steering_target")
    how = ("one step per model, mean IS over its images = " if calibration == "mean_is"
           else "one step per image, IS = ")
    is_t = s.get("steering_target_is_deg")
    chart = alt.layer(bars, err, note).properties(width=420, height=max(100, 30 * len(order)), title=title(
        "Null-space steering toward a target prompt (Table 1)",
        [f"step along the null-projected text gradient: {how}{fmt(is_t) + '°' if is_t else 'the target IS'}"
         + (f"; target: “{target}”" if target else ""),
         f"bars: mean ± std over the counted images (label: counted / all); {space_name(space, s)} space"]))
    return chart, summ
