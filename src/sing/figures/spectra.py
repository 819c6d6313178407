"""Singular-value spectra of the classifier heads with their rank thresholds."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import altair as alt
import numpy as np
import polars as pl

from ..core.geometry import HeadGeometry
from .theme import model_subset, title, with_display


def load_spectra(geometry_paths: Sequence[str | os.PathLike]) -> pl.DataFrame:
    """Normalised singular values per model from HeadGeometry files at ``.../<model>/geometry.safetensors``."""
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
    df = with_display(spec, s).with_columns(
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
    chart = alt.layer(lines, thr).properties(width=560, height=360, title=title(
        "Singular-value spectra of the classifier heads",
        ["dashed: each head's rank threshold max(atol, rtol·σ_max); the directions of the σᵢ below it and the",
         "m − min(c, m) input directions without a singular value span the null space (nullity in the legend)"]))
    return chart, df


def spectra_of_files(geometry_paths: Sequence[str | os.PathLike], settings=None):
    """:func:`spectra` of the head geometry files ``geometry_paths`` (:func:`load_spectra`): the builder of the
    ``spectra`` figure (:data:`sing.outputs.FIGURES`)."""
    return spectra(load_spectra(list(geometry_paths)), settings)
