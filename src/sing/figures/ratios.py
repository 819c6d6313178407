"""Model-level figures: the joint distribution of |AS| and IS (Fig 3a), the IS/|AS| ratio with its bootstrap CI
(Fig 3b / 12b), the two-space cross-check (Fig 12a) and translator robustness (Fig 12c).

The ratio the figures plot is the ratio of medians, median IS / median |AS| (``model_summary.ratio``); the median
of per-image ratios (``image_ratio_median``) is in the table only."""

from __future__ import annotations

import altair as alt
import numpy as np
import polars as pl

from ..analysis.comparisons import robustness_correlation
from ..analysis.stats import covariance_ellipse
from .theme import (
    bounded_domain,
    clean,
    clip_polyline,
    correlation_text,
    display_name,
    model_subset,
    primary_space,
    random_weights_note,
    space_name,
    title,
    with_caveat,
    with_display,
)


def _models_in_space(model_summary: pl.DataFrame, space: str, settings, subset: bool) -> tuple[pl.DataFrame, str]:
    """The model-summary rows of one space (the paper's model subset if ``subset``), with display names, and
    which models they are ("paper models" or "all models") for the subtitle."""
    df = model_summary.filter(pl.col("space") == space)
    models = sorted(df["model"].to_list())
    keep = model_subset(models, settings) if subset else models
    which = "paper models" if subset and len(keep) < len(models) else "all models"
    return clean(with_display(df.filter(pl.col("model").is_in(keep)), settings)), which


def _stability_note(space: str, settings) -> list[str]:
    """Subtitle lines about the translator: that AS/IS come from a non-linear translator
    (``settings["translator_use"] == "best_nonlinear"``), and the sentence saying that the model ordering of
    ``space`` is not stable under the translator (``settings["stability_sentences"]``:
    :func:`sing.analysis.sensitivity.stability_sentences`, set by the figures job from
    ``tables/translator_stability``), wrapped; [] for the ridge with a stable ordering."""
    import textwrap

    s = dict(settings or {})
    lines = []
    if s.get("translator_use") == "best_nonlinear":
        lines.append("AS/IS with the translator study's best non-linear translator: f and f̃ translated separately, "
                     "linearity lost (not the paper's linear-translator quantity)")
    sentence = dict(s.get("stability_sentences") or {}).get(space)
    return [line for text in (*lines, *([sentence] if sentence else [])) for line in textwrap.wrap(text, 110)]


#: the two confidence ellipses of Fig 3a: (name in the data, legend label, radius or level)
ELLIPSES = (("ellipse_1sigma", "1σ ellipse", {"radius": 1.0}), ("ellipse_95", "95 % ellipse", {"level": 0.95}))


#: what |AS| and IS can be: |AS| >= 0 (an absolute angle difference), IS in [0°, 180°] (an angle)
ABS_AS_RANGE, IS_RANGE = (0.0, np.inf), (0.0, 180.0)


def _ellipse_rows(df: pl.DataFrame) -> tuple[list[dict], list[str]]:
    """Rows of the ellipses of every model, cut to the possible values (|AS| >= 0, IS in [0°, 180°]): the part
    of a normal approximation's contour beyond them is left out (each remaining arc is a ``segment``), never
    drawn. Returns (rows, display names of the models whose ellipses were cut)."""
    rows, cut = [], []
    for r in df.iter_rows(named=True):
        cov = [[r["abs_as_var"], r["abs_as_is_cov"]], [r["abs_as_is_cov"], r["is_var"]]]
        mean = [r["abs_as_mean"], r["is_mean"]]
        if not all(v is not None and np.isfinite(v) for v in (*mean, *cov[0], *cov[1])):
            continue  # a single image: no covariance
        for layer, label, size in ELLIPSES:
            points, _ = covariance_ellipse(mean, cov, n_points=128, **size)
            parts = clip_polyline(points, (ABS_AS_RANGE[0], IS_RANGE[0]), (ABS_AS_RANGE[1], IS_RANGE[1]))
            if len(parts) != 1 or len(parts[0]) != len(points):
                cut.append(r["model_name"])
            order = 0
            for segment, part in enumerate(parts):
                for x, y in part:
                    rows.append({"layer": layer, "contour": label, "model": r["model"], "model_name": r["model_name"],
                                 "abs_as": float(x), "is_deg": float(y), "order": order, "segment": segment})
                    order += 1
    return rows, list(dict.fromkeys(cut))


def ratio_scatter(model_summary: pl.DataFrame, joint: pl.DataFrame, settings=None, subset: bool = True):
    """Fig 3a: the joint distribution of |AS| and IS after null removal, per model: a uniform subsample of its
    images (points, ``tables/joint_sample``), the covariance confidence ellipses of all its images (1σ solid,
    95 % dashed, centred on the means; :func:`sing.analysis.stats.covariance_ellipse`) and the medians (large
    points, labelled). The axes show only possible values (|AS| from 0, IS within [0°, 180°]): an ellipse
    reaching beyond them is cut there and the subtitle says so. Returns the chart and one long table of
    everything drawn (``layer``: image, ellipse_1sigma, ellipse_95, median; ``segment``: arc of a cut ellipse)."""
    space = primary_space(model_summary, settings)
    df, which = _models_in_space(model_summary, space, settings, subset)
    df = df.sort("model")
    keep = df["model"].to_list()
    pts = clean(with_display(joint.filter((pl.col("space") == space) & pl.col("model").is_in(keep)), settings))
    ellipse_rows, cut = _ellipse_rows(df)
    schema = {"layer": pl.String, "contour": pl.String, "model": pl.String, "model_name": pl.String,
              "abs_as": pl.Float64, "is_deg": pl.Float64, "order": pl.Int64, "segment": pl.Int64}
    long = pl.concat([
        pts.select(pl.lit("image").alias("layer"), pl.lit("image").alias("contour"), "model", "model_name", "abs_as",
                   "is_deg", pl.lit(0).cast(pl.Int64).alias("order"), pl.lit(0).cast(pl.Int64).alias("segment")),
        pl.DataFrame(ellipse_rows, schema=schema),
        df.select(pl.lit("median").alias("layer"), pl.lit("median").alias("contour"), "model", "model_name",
                  pl.col("abs_as_median").alias("abs_as"), pl.col("is_median").alias("is_deg"),
                  pl.lit(0).cast(pl.Int64).alias("order"), pl.lit(0).cast(pl.Int64).alias("segment")),
    ], how="vertical_relaxed")
    color = alt.Color("model_name:N", title="Model", scale=alt.Scale(scheme="tableau10"),
                      legend=alt.Legend(orient="right", symbolOpacity=1))
    x_dom = bounded_domain(long["abs_as"].to_numpy(), *ABS_AS_RANGE[:1])
    y_dom = bounded_domain(long["is_deg"].to_numpy(), *IS_RANGE)
    x = alt.X("abs_as:Q", title="|AS| (°)  — class-text leakage, lower is better",
              scale=alt.Scale(domain=x_dom, nice=False))
    y = alt.Y("is_deg:Q", title="IS (°)  — invariant variation, higher is better",
              scale=alt.Scale(domain=y_dom, nice=False))
    n_pts = int(pts.group_by("model").len()["len"].max()) if pts.height else 0
    # per-image points must stay visible next to the ellipses: fewer points, larger and more opaque
    dense = pts.height > 600
    images = alt.Chart(long.filter(pl.col("layer") == "image")).mark_point(
        filled=True, size=16 if dense else 30, opacity=0.35 if dense else 0.6, strokeWidth=0).encode(
        x=x, y=y, color=color, tooltip=["model_name", "abs_as", "is_deg"])
    rings = alt.Chart(long.filter(pl.col("layer").str.starts_with("ellipse"))).mark_line(strokeWidth=2).encode(
        x="abs_as:Q", y="is_deg:Q", color=color, order="order:Q", detail=alt.Detail(["layer:N", "segment:N"]),
        strokeDash=alt.StrokeDash("contour:N", title="covariance ellipse", sort=[e[1] for e in ELLIPSES],
                                  scale=alt.Scale(domain=[e[1] for e in ELLIPSES], range=[[1, 0], [6, 4]])))
    med = long.filter(pl.col("layer") == "median")
    base = alt.Chart(med)
    medians = base.mark_point(filled=True, size=170, opacity=1, stroke="black", strokeWidth=1).encode(
        x="abs_as:Q", y="is_deg:Q", color=color, tooltip=["model_name", "abs_as", "is_deg"])
    halo = base.mark_text(align="left", dx=9, dy=-9, fontSize=13, fontWeight="bold", stroke="white",
                          strokeWidth=4, strokeOpacity=0.9).encode(x="abs_as:Q", y="is_deg:Q", text="model_name:N")
    labels = base.mark_text(align="left", dx=9, dy=-9, fontSize=13, fontWeight="bold", color="#222").encode(
        x="abs_as:Q", y="is_deg:Q", text="model_name:N")
    sub = [f"{space_name(space, settings)} space; small dots: up to {n_pts} images per model; large dots: medians",
           "ellipses: covariance of all images, 1σ (solid) and 95 % (dashed), centred on the means"]
    if cut:
        sub.append("ellipses are cut where they leave the possible values (|AS| ≥ 0, 0° ≤ IS ≤ 180°): "
                   "normal approximations of bounded scores")
    chart = alt.layer(images, rings, medians, halo, labels).properties(
        width=520, height=400,
        title=title(f"Joint distribution of |AS| and IS after null removal, {which}",
                    with_caveat([*sub, *_stability_note(space, settings)],
                                random_weights_note(settings, keep, [space]))))
    return chart, long.sort("layer", "model", "segment", "order")


def ratio_bars(model_summary: pl.DataFrame, settings=None, subset: bool = True):
    """Fig 3b / 12b: the ratio of medians (median IS / median |AS|) per model, sorted, with its bootstrap CI."""
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
        x=x, y=alt.Y("ratio:Q", title="median IS / median |AS| (higher is better)"),
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
    sub += _stability_note(space, settings)
    note = random_weights_note(settings, df["model"].to_list(), [space])
    chart = alt.layer(bars, err, text).properties(width=max(320, 46 * len(order)), height=340,
                                                  title=title(f"IS/|AS| ratio, {which}", with_caveat(sub, note)))
    return chart, df


def space_crosscheck(crosscheck: pl.DataFrame, settings=None, subset: bool = True):
    """Fig 12a: the ratio of medians per model in two CLIP spaces, with Kendall τ / Spearman ρ of the orderings,
    over the paper models (``subset``; the table's ``models == "paper"`` block, the paper's 5 by default) or every
    run model (``models == "all"``). A run with one CLIP space has no pair to compare: the figure says so (an empty
    table, not an error)."""
    which = "paper models" if subset else "all models"
    if "models" in crosscheck.columns:
        crosscheck = crosscheck.filter(pl.col("models") == ("paper" if subset else "all")).drop("models")
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
        y=alt.Y("ratio:Q", title="median IS / median |AS|"),
        color=alt.Color("space_name:N", title="CLIP space", legend=alt.Legend(orient="top")),
        tooltip=["model_name", "space_name", "ratio", "rank"],
    ).properties(width=max(320, 56 * len(order)), height=320, title=title(
        f"Model ordering by IS/|AS| in two CLIP spaces, {which}",
        with_caveat([f"{correlation_text('Kendall τ', stats['kendall_tau'], stats['kendall_p'], stats['n_models'])}; "
                     f"{correlation_text('Spearman ρ', stats['spearman_rho'], stats['spearman_p'], stats['n_models'])}",
                     f"sorted by the {space_name(first, settings)} ratio"],
                    random_weights_note(settings, df["model"].to_list(), list(pair)))))
    return chart, long.sort("space_name", "model")


def robustness(robust: pl.DataFrame, settings=None):
    """Fig 12c: held-out accuracy on Π_p f vs on T(Π_p f), one point per model, Pearson r per space."""
    if "pearson_r" not in robust.columns:
        robust = robustness_correlation(robust)
    df = clean(with_display(robust, settings)).with_columns(
        pl.col("space").replace_strict({s: space_name(s, settings) for s in robust["space"].unique().to_list()},
                                       return_dtype=pl.String).alias("space_name")).sort("space", "model")
    acc = df.select("acc_principal", "acc_translated").to_numpy()
    dom = bounded_domain(acc, None, 1.0, count=5)  # accuracies: within [0, 1], ends on ticks
    dom[0] = max(0.0, dom[0])
    panels = []
    first = primary_space(df, settings)
    for space in sorted(df["space"].unique().to_list(), key=lambda sp: (sp != first, sp)):
        sub = df.filter(pl.col("space") == space)
        r, p, n = sub.select("pearson_r", "pearson_p", "n_models").row(0)
        diag = alt.Chart(pl.DataFrame({"a": dom})).mark_line(strokeDash=[5, 4], color="#999").encode(
            x=alt.X("a:Q", scale=alt.Scale(domain=dom)), y=alt.Y("a:Q", scale=alt.Scale(domain=dom)))
        base = alt.Chart(sub)
        pts = base.mark_point(filled=True, size=110, color="#4c78a8", opacity=1).encode(
            x=alt.X("acc_principal:Q", title="accuracy on principal features Π_p f",
                    scale=alt.Scale(domain=dom, nice=False), axis=alt.Axis(tickCount=5)),
            y=alt.Y("acc_translated:Q", title="accuracy on translated features T(Π_p f)",
                    scale=alt.Scale(domain=dom, nice=False), axis=alt.Axis(tickCount=5)),
            tooltip=["model_name", "space_name", "acc_principal", "acc_translated", "n_train", "n_test"])
        labels = base.mark_text(align="left", dx=7, dy=-6, fontSize=11).encode(
            x="acc_principal:Q", y="acc_translated:Q", text="model_name:N")
        panels.append(alt.layer(diag, pts, labels).properties(width=380, height=380, title=title(
            space_name(space, settings), correlation_text("Pearson r", r, p, n))))
    n_train, n_test = int(df["n_train"].max()), int(df["n_test"].max())
    chart = alt.hconcat(*panels, spacing=30).properties(title=title(
        "Translator robustness: linear-probe accuracy before vs after translation",
        with_caveat([f"multinomial logistic-regression probes trained on {n_train:,} robustness-sample images, "
                     f"accuracy on {n_test:,} held-out analysis images", "dashed: y = x"],
                    random_weights_note(settings, sorted(df["model"].unique().to_list()),
                                        sorted(df["space"].unique().to_list())))))
    return chart, df
