"""Figures of the experiments: open-vocabulary concepts (Fig 5, supp. Figs 15-16), the concepts each model's null
space carries most across classes (beyond the paper), the null-space validation (supp. Fig 9) and null-space
steering (Table 1)."""

from __future__ import annotations

import math
from typing import Sequence

import altair as alt
import numpy as np
import polars as pl

from ..analysis.steering import CALIBRATIONS, steering_summary
from .theme import (
    ARROW_COLOR,
    EQ_COLOR,
    KIND_COLORS,
    LOG_FLOOR,
    ORIG_COLOR,
    bounded_domain,
    clean,
    display_name,
    model_subset,
    primary_space,
    random_weights_note,
    space_name,
    title,
    with_caveat,
    with_display,
)


def open_vocabulary(table: pl.DataFrame, settings=None):
    """Fig 5 (supp. Figs 15-16): per concept, the mean angle of T f (blue) and of T f̃ (red) to the concept, joined by a
    green segment whose length is |AS|; right: AS per concept (positive = the equivalent is closer)."""
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
            angles = bounded_domain(sub.select("angle_orig_mean", "angle_eq_mean").to_numpy(), None, 180.0, count=4)
            seg = base.mark_rule(color=ARROW_COLOR, strokeWidth=3).encode(
                y=y, x=alt.X("angle_orig_mean:Q", title="angle to concept (°), lower = more similar",
                             scale=alt.Scale(domain=[max(0.0, angles[0]), angles[1]], nice=False),
                             axis=alt.Axis(tickCount=4)), x2="angle_eq_mean:Q")
            p0 = base.mark_circle(size=70, color=ORIG_COLOR, opacity=1).encode(
                y=y, x="angle_orig_mean:Q", tooltip=["concept", "angle_orig_mean", "angle_eq_mean", "as_mean", "n"])
            p1 = base.mark_circle(size=70, color=EQ_COLOR, opacity=1).encode(y=y, x="angle_eq_mean:Q")
            name = str(names.get(class_id, class_id))
            # "Jellyfish — ResNet50 (random)": the model's display name may carry its own parentheses
            left = alt.layer(seg, p0, p1).properties(width=330, height=max(160, 15 * len(order)), title=title(
                f"{name[:1].upper()}{name[1:]} — {display_name(model, s)}",
                "blue: original T f, red: equivalent T f̃, green: |AS|"))
            bars = base.mark_bar(size=9).encode(
                y=alt.Y("label:N", sort=order, title=None, axis=alt.Axis(labels=False, ticks=False)),
                x=alt.X("as_mean:Q", title="AS (°)", axis=alt.Axis(tickCount=3)),
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
        with_caveat(f"{space_name(space, s)} space", random_weights_note(s, models, [space]))))
    return chart, pl.concat(data, how="vertical_relaxed")


def model_concepts(table: pl.DataFrame, settings=None, top: int = 10):
    """Per model (the figure models, the primary space), the ``top`` concepts of one dictionary (``builtin`` when
    present, else the first by name) whose mean |AS| of null removal over the analysed classes is largest; bar
    colour: the sign of the mean AS (green: the equivalent feature is closer to the concept, purple: farther).
    A table without rows (no dictionary configured) gives a one-line chart saying so."""
    s = dict(settings or {})
    if table.is_empty():
        note = pl.DataFrame({"text": ["no concept dictionary in this run (analyses.open_vocabulary.dictionaries)"]})
        return alt.Chart(note).mark_text(align="left", fontSize=13).encode(text="text:N").properties(
            width=420, height=40, title=title("Concepts the null space carries most")), note
    space = primary_space(table, s)
    t = clean(table.filter(pl.col("space") == space))
    names = sorted(t["dictionary"].unique().to_list())
    dictionary = "builtin" if "builtin" in names else names[0]
    t = t.filter((pl.col("dictionary") == dictionary) & (pl.col("rank") <= top)).with_columns(
        pl.when(pl.col("as_mean") >= 0).then(pl.lit("closer")).otherwise(pl.lit("farther")).alias("dir"))
    panels, data = [], []
    models = model_subset(sorted(t["model"].unique().to_list()), s)
    for model in models:
        sub = t.filter(pl.col("model") == model).sort("rank")
        panels.append(alt.Chart(sub).mark_bar(size=10).encode(
            y=alt.Y("concept:N", sort=sub["concept"].to_list(), title=None),
            x=alt.X("abs_as_mean:Q", title="mean |AS| over classes (°)"),
            color=alt.Color("dir:N", title="equivalent is", scale=alt.Scale(
                domain=["closer", "farther"], range=["#2ca02c", "#9467bd"]), legend=alt.Legend(orient="bottom")),
            tooltip=["concept", "abs_as_mean", "abs_as_max", "class_of_max", "as_mean", "n_top", "n_classes"],
        ).properties(width=220, height=max(120, 16 * sub.height), title=title(
            display_name(model, s), f"{sub['n_classes'].max()} classes")))
        data.append(sub.with_columns(pl.lit(display_name(model, s)).alias("model_name")))
    chart = alt.concat(*panels, columns=3, spacing=30).properties(title=title(
        "Concepts the null space carries most", with_caveat(f"dictionary {dictionary}, {space_name(space, s)} space",
                                                          random_weights_note(s, models, [space]))))
    return chart, pl.concat(data, how="vertical_relaxed")


def _quantiles(df: pl.DataFrame, by: Sequence[str], col: str, prefix: str) -> pl.DataFrame:
    def q(p):
        return pl.col(col).quantile(p, interpolation="linear")

    return df.group_by(*by).agg(q(0.05).alias(f"{prefix}_q05"), q(0.25).alias(f"{prefix}_q25"),
                                q(0.5).alias(f"{prefix}_q50"), q(0.75).alias(f"{prefix}_q75"),
                                q(0.95).alias(f"{prefix}_q95"), pl.len().alias("n"))


def log_ticks(values, floor: float = LOG_FLOOR, max_ticks: int = 7) -> tuple[list[float], list[str], list[float]]:
    """Evenly spaced ticks of a log axis holding ``values`` (> 0, some possibly at the numerical ``floor``):
    powers of ten every k decades (k so that there are at most ``max_ticks``), aligned on the floor when a value
    sits there, with labels ("≤ 1e-12" for the floor, "1e-9", "0.001", "1", "1000", ...) and the axis domain,
    which reaches one step below the floor so values there are drawn whole, not cut at the edge. Returns
    (tick values, labels, [domain start, domain end])."""
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v) & (v > 0)]
    if not v.size:
        v = np.array([floor, 1.0])
    at_floor = bool((v <= floor * (1 + 1e-9)).any())
    lo_e = math.floor(math.log10(max(v.min(), floor)) + 1e-9)
    hi_e = math.ceil(math.log10(v.max()) - 1e-9)
    hi_e = max(hi_e, lo_e + 1)
    step = max(1, math.ceil((hi_e - lo_e) / (max_ticks - 1)))
    exps = list(range(lo_e, hi_e + step, step))
    hi_e = exps[-1]
    domain_lo = lo_e - step if at_floor else lo_e
    ticks = [10.0 ** e for e in exps]

    def label(e: int) -> str:
        if at_floor and e == lo_e and 10.0 ** e <= floor * (1 + 1e-9):
            return f"≤ {floor:g}"
        return {-3: "0.001", -2: "0.01", -1: "0.1", 0: "1", 1: "10", 2: "100", 3: "1000"}.get(e, f"1e{e}")

    return ticks, [label(e) for e in exps], [10.0 ** domain_lo, 10.0 ** hi_e]


def validation(table: pl.DataFrame, settings=None):
    """Fig 9: logit change (log axis) and CLIP drift of null removal (δ = −Π_n f, the paper's) and of equal-norm
    null-space / random / principal perturbations. Logit changes below the numerical floor (``LOG_FLOOR``, 1e-12:
    exact zeros of a nullity-0 head, or null steps at float precision) are drawn at the floor, which the axis labels
    "≤ 1e-12", and the floor sits one tick step inside the axis, so a distribution there is drawn whole and
    labelled, not cut to half a tick."""
    s = dict(settings or {})
    space = primary_space(table, s)
    t = table.filter(pl.col("space") == space).with_columns(
        pl.max_horizontal(pl.col("logit_change"), pl.lit(LOG_FLOOR)).alias("logit_change_floored"))
    a = _quantiles(t, ["model", "kind"], "logit_change_floored", "lc")
    b = _quantiles(t, ["model", "kind"], "clip_drift_deg", "drift").drop("n")
    df = clean(with_display(a.join(b, on=["model", "kind"]), s)).sort("model", "kind")
    df = df.with_columns((pl.col("lc_q95") <= LOG_FLOOR).alias("lc_at_floor"))
    models = sorted(df["model"].unique().to_list())
    morder = [display_name(m, s) for m in model_subset(models, s, "models")]
    kinds = [k for k in KIND_COLORS if k in df["kind"].unique().to_list()]
    color = alt.Color("kind:N", title="perturbation", scale=alt.Scale(domain=kinds,
                      range=[KIND_COLORS[k] for k in kinds]), legend=alt.Legend(orient="top"))
    base = alt.Chart(df)
    y = alt.Y("model_name:N", sort=morder, title=None)
    yoff = alt.YOffset("kind:N", sort=kinds)
    h = max(120, 42 * len(morder))
    ticks, labels, log_domain = log_ticks(df.select("lc_q05", "lc_q95").to_numpy())
    label_expr = (f"{json_list(labels)}[indexof({json_list(ticks)}, datum.value)]")
    drift_domain = bounded_domain(df.select("drift_q05", "drift_q95").to_numpy(), 0.0, 180.0, count=4)

    def panel(prefix, axis_title, log_scale):
        if log_scale:
            scale = alt.Scale(type="log", domain=log_domain, nice=False)
            axis = alt.Axis(values=ticks, labelExpr=label_expr, labelOverlap=False, grid=True)
        else:
            scale = alt.Scale(domain=drift_domain, nice=False)
            axis = alt.Axis(tickCount=4)
        whisk = base.mark_rule(strokeWidth=1.5).encode(
            y=y, yOffset=yoff, x=alt.X(f"{prefix}_q05:Q", title=axis_title, scale=scale, axis=axis),
            x2=f"{prefix}_q95:Q", color=color)
        box = base.mark_bar(size=9, opacity=0.8).encode(y=y, yOffset=yoff, x=f"{prefix}_q25:Q", x2=f"{prefix}_q75:Q",
                                                        color=color, tooltip=["model_name", "kind", f"{prefix}_q50",
                                                                              "n"])
        tick = base.mark_tick(color="black", thickness=2, size=10).encode(y=y, yOffset=yoff, x=f"{prefix}_q50:Q")
        layers = [whisk, box, tick]
        if log_scale and df["lc_at_floor"].any():
            # a distribution entirely at the floor is a point: mark it so it is seen and read as "≤ 1e-12"
            floor_rows = base.transform_filter("datum.lc_at_floor")
            layers += [
                floor_rows.mark_point(shape="diamond", filled=True, size=70, opacity=1).encode(
                    y=y, yOffset=yoff, x=f"{prefix}_q50:Q", color=color),
                floor_rows.mark_text(align="left", dx=8, fontSize=11, color="#333").encode(
                    y=y, yOffset=yoff, x=f"{prefix}_q50:Q", text=alt.value(f"all ≤ {LOG_FLOOR:g}"))]
        return alt.layer(*layers).properties(width=330, height=h)

    left = panel("lc", "logit change ‖W δ‖ (log scale)", True).properties(title=title(
        "Logit change", f"values below {LOG_FLOOR:g} are drawn at “≤ {LOG_FLOOR:g}”"))
    right = panel("drift", "CLIP drift ∠(T f, T f_δ) in degrees", False).properties(title=title(
        "CLIP-space drift", f"f_δ = f + δ; {space_name(space, s)} space"))
    chart = alt.hconcat(left, right).properties(title=title(
        "Null removal vs equal-norm null-space, random and principal perturbations",
        with_caveat("held-out analysis images; null_removal: δ = −Π_n f; the others: random directions of norm "
                    "‖Π_n f‖; box 25-75 %, whiskers 5-95 %, tick median", random_weights_note(s, models, [space]))))
    return chart, df


def json_list(values) -> str:
    """A Vega expression array literal of numbers or strings (JSON)."""
    import json

    return json.dumps(list(values), ensure_ascii=False)


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
    # |AS| >= 0: the lower end of mean − std is cut at 0 (and the subtitle says so)
    summ = summ.with_columns((pl.col("abs_as_mean") - pl.col("abs_as_std").fill_null(0)).alias("lo_raw"),
                             (pl.col("abs_as_mean") + pl.col("abs_as_std").fill_null(0)).alias("hi"),
                             pl.format("{}/{} images", pl.col("n_included"), pl.col("n")).alias("note"))
    cut = bool((summ["lo_raw"] < 0).any())
    summ = summ.with_columns(pl.col("lo_raw").clip(lower_bound=0.0).alias("lo")).drop("lo_raw")
    summ = summ.sort("abs_as_mean", "model", nulls_last=True)
    order = summ["model_name"].to_list()
    base = alt.Chart(summ)
    y = alt.Y("model_name:N", sort=order, title=None)
    bars = base.mark_bar(color="#e45756", size=18).encode(
        y=y, x=alt.X("abs_as_mean:Q", title="|AS| toward the target prompt (°), lower = more resistant",
                     scale=alt.Scale(domain=bounded_domain(summ["hi"].to_numpy(), 0.0), nice=False)),
        tooltip=["model_name", "abs_as_mean", "abs_as_std", "n_included", "n_excluded", "is_mean", "eps_mean"])
    err = base.mark_rule(color="black", strokeWidth=1.5).encode(y=y, x="lo:Q", x2="hi:Q")
    note = base.mark_text(align="left", dx=6, fontSize=11, color="#333").encode(y=y, x="hi:Q", text="note:N")
    target = s.get("steering_target")
    how = ("one step per model, mean IS over its images = " if calibration == "mean_is"
           else "one step per image, IS = ")
    is_t = s.get("steering_target_is_deg")
    chart = alt.layer(bars, err, note).properties(width=420, height=max(100, 30 * len(order)), title=title(
        "Null-space steering toward a target prompt (Table 1)",
        [f"step along the null-projected text gradient: {how}{f'{is_t:g}°' if is_t else 'the target IS'}"
         + (f"; target: “{target}”" if target else ""),
         f"bars: mean ± std over the counted images{' (cut at 0)' if cut else ''} (label: counted / all); "
         f"{space_name(space, s)} space"]))
    note = random_weights_note(s, summ["model"].to_list(), [space])
    if note:
        chart = chart.properties(title=title(chart.title.text, with_caveat(chart.title.subtitle, note)))
    return chart, summ
