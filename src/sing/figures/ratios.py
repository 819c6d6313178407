"""Model-level figures: AS vs IS (Fig 3a), the IS/|AS| ratio with its bootstrap CI (Fig 3b / 12b), the two-space
cross-check (Fig 12a) and translator robustness (Fig 12c)."""

from __future__ import annotations

import altair as alt
import polars as pl

from ..analysis.comparisons import robustness_correlation
from .theme import clean, display_name, fmt, model_subset, pfmt, primary_space, space_name, title, with_display


def _models_in_space(model_summary: pl.DataFrame, space: str, settings, subset: bool) -> tuple[pl.DataFrame, str]:
    """The model-summary rows of one space (the paper's model subset if ``subset``), with display names, and
    which models they are ("paper models" or "all models") for the subtitle."""
    df = model_summary.filter(pl.col("space") == space)
    models = sorted(df["model"].to_list())
    keep = model_subset(models, settings) if subset else models
    which = "paper models" if subset and len(keep) < len(models) else "all models"
    return clean(with_display(df.filter(pl.col("model").is_in(keep)), settings)), which


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
        title=title(f"AS vs IS after null removal ({which})",
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
                                                  title=title(f"IS/|AS| ratio ({which})", sub))
    return chart, df


def space_crosscheck(crosscheck: pl.DataFrame, settings=None):
    """Fig 12a: the ratio per model in two CLIP spaces, with Kendall τ / Spearman ρ of the orderings. A run with
    one CLIP space has no pair to compare: the figure says so (an empty table, not an error)."""
    if crosscheck.height == 0:
        note = pl.DataFrame({"note": ["One CLIP space in run_spaces: the cross-check compares the model ordering "
                                      "of two spaces."]})
        chart = alt.Chart(note).mark_text(fontSize=13, align="left", baseline="middle").encode(
            x=alt.value(0), y=alt.value(20), text="note:N").properties(
            width=520, height=40, title=title("Model ordering by IS/|AS| in two CLIP spaces", "not applicable"))
        return chart, crosscheck
    pair = crosscheck.select("space_a", "space_b").unique().sort("space_a", "space_b").row(0)
    df = crosscheck.filter((pl.col("space_a") == pair[0]) & (pl.col("space_b") == pair[1]))
    stats = df.row(0, named=True)
    long = pl.concat([
        df.select("model", pl.lit(space_name(pair[0], settings)).alias("space_name"), pl.col("ratio_a").alias("ratio"),
                  pl.col("rank_a").alias("rank")),
        df.select("model", pl.lit(space_name(pair[1], settings)).alias("space_name"), pl.col("ratio_b").alias("ratio"),
                  pl.col("rank_b").alias("rank")),
    ])
    long = clean(with_display(long, settings))
    first = primary_space(pl.DataFrame({"space": list(pair)}), settings)
    rank_col = "rank_a" if first == pair[0] else "rank_b"
    order = [display_name(m, settings) for m in df.sort(rank_col, "model")["model"].to_list()]
    chart = alt.Chart(long).mark_bar().encode(
        x=alt.X("model_name:N", sort=order, title=None, axis=alt.Axis(labelAngle=-35 if len(order) > 3 else 0)),
        xOffset=alt.XOffset("space_name:N"),
        y=alt.Y("ratio:Q", title="IS / |AS| ratio"),
        color=alt.Color("space_name:N", title="CLIP space", legend=alt.Legend(orient="top")),
        tooltip=["model_name", "space_name", "ratio", "rank"],
    ).properties(width=max(320, 56 * len(order)), height=320, title=title(
        "Model ordering by IS/|AS| in two CLIP spaces",
        f"Kendall τ = {fmt(stats['kendall_tau'])} (p = {pfmt(stats['kendall_p'])}), "
        f"Spearman ρ = {fmt(stats['spearman_rho'])} (p = {pfmt(stats['spearman_p'])}), n = {stats['n_models']} "
        f"models; sorted by the {space_name(first, settings)} ratio"))
    return chart, long.sort("space_name", "model")


def robustness(robust: pl.DataFrame, settings=None):
    """Fig 12c: held-out accuracy on Π_p f vs on T(Π_p f), one point per model, Pearson r per space."""
    if "pearson_r" not in robust.columns:
        robust = robustness_correlation(robust)
    df = clean(with_display(robust, settings)).with_columns(
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
        panels.append(alt.layer(diag, pts, labels).properties(width=380, height=380, title=title(
            space_name(space, settings), f"Pearson r = {fmt(r)} (p = {pfmt(p)}, n = {n} models)")))
    chart = alt.hconcat(*panels, spacing=30).properties(title=title(
        "Translator robustness: linear-probe accuracy before vs after translation",
        "held-out accuracy of a logistic-regression probe; dashed: y = x"))
    return chart, df
