"""Between models: Spearman ρ of per-class |AS| between every pair of models, the two-space cross-check of
the model ordering (Fig 12a: Kendall τ / Spearman ρ), and the robustness correlation (supp. §4, Fig 12c)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import polars as pl

from .robustness import ROBUSTNESS_COLUMNS
from .stats import kendall_tau, pearson, spearman

__all__ = ["RANK_CORRELATION_COLUMNS", "ROBUSTNESS_SUMMARY_COLUMNS", "SPACE_CROSSCHECK_COLUMNS", "rank_correlations",
           "robustness_correlation", "space_crosscheck", "space_crosschecks"]

#: one row per (space, pair of models) (``tables/rank_correlation.parquet``)
RANK_CORRELATION_COLUMNS = ("space", "model_a", "model_b", "n_classes", "spearman_rho", "spearman_p")
#: one row per (model, pair of spaces) (``tables/space_crosscheck.parquet``)
SPACE_CROSSCHECK_COLUMNS = (
    "model", "space_a", "space_b", "ratio_a", "ratio_b", "rank_a", "rank_b", "n_models",
    "kendall_tau", "kendall_p", "spearman_rho", "spearman_p",
)
#: the per-model robustness rows with the Pearson r of their space (``tables/robustness.parquet``)
ROBUSTNESS_SUMMARY_COLUMNS = (*ROBUSTNESS_COLUMNS, "pearson_r", "pearson_p", "n_models")


def rank_correlations(class_summaries: pl.DataFrame, value: str = "abs_as_median") -> pl.DataFrame:
    """Spearman ρ (and p) of the per-class ``value`` between every pair of models, per space, over the
    classes both models have; rows sorted by (space, model_a, model_b), model_a < model_b."""
    rows = []
    for space in sorted(class_summaries["space"].unique().to_list()):
        sub = class_summaries.filter(pl.col("space") == space)
        models = sorted(sub["model"].unique().to_list())
        wide = sub.pivot(on="model", index="class_id", values=value, aggregate_function="first").sort("class_id")
        for i, a in enumerate(models):
            for b in models[i + 1:]:
                xa = wide[a].cast(pl.Float64).fill_null(np.nan).to_numpy()
                xb = wide[b].cast(pl.Float64).fill_null(np.nan).to_numpy()
                n = int(np.sum(np.isfinite(xa) & np.isfinite(xb)))
                rho, p = spearman(xa, xb)
                rows.append((space, a, b, n, rho, p))
    return pl.DataFrame(rows, schema={"space": pl.String, "model_a": pl.String, "model_b": pl.String,
                                      "n_classes": pl.Int64, "spearman_rho": pl.Float64, "spearman_p": pl.Float64},
                        orient="row")


def _ordinal_rank_desc(values: np.ndarray) -> np.ndarray:
    """1 = largest; NaN last; ties by position (values are model ratios, already sorted by model key)."""
    v = np.where(np.isfinite(values), values, -np.inf)
    order = np.argsort(-v, kind="stable")
    r = np.empty(len(v), dtype=np.int64)
    r[order] = np.arange(1, len(v) + 1)
    return r


def space_crosscheck(model_summaries: pl.DataFrame, value: str = "ratio") -> pl.DataFrame:
    """Fig 12a: each model's ``value`` in two CLIP spaces, its rank in each, and Kendall τ / Spearman ρ
    (with p) between the two orderings (repeated on every row of the pair of spaces). One block per pair of
    spaces (space_a < space_b); empty with the schema when there is a single space."""
    schema = {"model": pl.String, "space_a": pl.String, "space_b": pl.String, "ratio_a": pl.Float64,
              "ratio_b": pl.Float64, "rank_a": pl.Int64, "rank_b": pl.Int64, "n_models": pl.Int64,
              "kendall_tau": pl.Float64, "kendall_p": pl.Float64, "spearman_rho": pl.Float64,
              "spearman_p": pl.Float64}
    spaces = sorted(model_summaries["space"].unique().to_list())
    rows = []
    for i, sa in enumerate(spaces):
        for sb in spaces[i + 1:]:
            a = model_summaries.filter(pl.col("space") == sa).select("model", pl.col(value).alias("ra"))
            b = model_summaries.filter(pl.col("space") == sb).select("model", pl.col(value).alias("rb"))
            j = a.join(b, on="model", how="inner").sort("model")
            ra = j["ra"].cast(pl.Float64).fill_null(np.nan).to_numpy()
            rb = j["rb"].cast(pl.Float64).fill_null(np.nan).to_numpy()
            tau, tp = kendall_tau(ra, rb)
            rho, rp = spearman(ra, rb)
            rka, rkb = _ordinal_rank_desc(ra), _ordinal_rank_desc(rb)
            for k, m in enumerate(j["model"].to_list()):
                rows.append((m, sa, sb, float(ra[k]), float(rb[k]), int(rka[k]), int(rkb[k]), j.height,
                             tau, tp, rho, rp))
    return pl.DataFrame(rows, schema=schema, orient="row").sort("space_a", "space_b", "model")


def space_crosschecks(model_summaries: pl.DataFrame, paper_models: Sequence[str], value: str = "ratio"
                      ) -> pl.DataFrame:
    """The Fig. 12a cross-check twice: over the paper models (``paper_models`` that have rows; the paper compares
    its 5 models) and over every model, as :func:`space_crosscheck` blocks with a leading column ``models``
    (``paper`` / ``all``). Sorted by (models, space_a, space_b, model). When no model of ``paper_models`` has
    rows, the ``paper`` block is over every model, as the paper-model figures then show every model."""
    paper = model_summaries.filter(pl.col("model").is_in(list(paper_models)))
    if paper.height == 0:
        paper = model_summaries
    blocks = [space_crosscheck(frame, value).select(pl.lit(label).alias("models"), pl.all())
              for label, frame in (("paper", paper), ("all", model_summaries))]
    return pl.concat(blocks).sort("models", "space_a", "space_b", "model")


def robustness_correlation(robustness: pl.DataFrame) -> pl.DataFrame:
    """Per-model robustness rows plus the Pearson r (and p) across models of acc_principal vs
    acc_translated, computed per space (supp. §4, Fig 12c: paper r = 0.972)."""
    out = []
    for space in sorted(robustness["space"].unique().to_list()):
        sub = robustness.filter(pl.col("space") == space).sort("model")
        r, p = pearson(sub["acc_principal"].to_numpy(), sub["acc_translated"].to_numpy())
        out.append(sub.with_columns(pl.lit(r, dtype=pl.Float64).alias("pearson_r"),
                                    pl.lit(p, dtype=pl.Float64).alias("pearson_p"),
                                    pl.lit(sub.height, dtype=pl.Int64).alias("n_models")))
    if not out:
        return robustness.with_columns(pl.lit(None, dtype=pl.Float64).alias("pearson_r"),
                                       pl.lit(None, dtype=pl.Float64).alias("pearson_p"),
                                       pl.lit(None, dtype=pl.Int64).alias("n_models"))
    return pl.concat(out).select(ROBUSTNESS_SUMMARY_COLUMNS).sort("space", "model")
