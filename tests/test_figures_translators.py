"""Figure builders of the translator study (Table 2, Figs. 7-8) and of the translator sensitivity, from the tables the
library produces (a tiny real study; planted sensitivity rows)."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
import torch

from sing.analysis.sensitivity import ordering_stability
from sing.analysis.translator_study import translator_study as run_study
from sing.figures import translators as figs
from sing.figures.theme import finalize


@pytest.fixture(scope="module")
def study():
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    results = []
    for model in ("ma", "mb"):
        F = rng.standard_normal((60, 5))
        Z = np.abs(F @ rng.standard_normal((5, 4))) + 1.0
        ids = [f"{model}{i}" for i in range(60)]
        results.append(run_study(F[:45], Z[:45], ids[:45], F[45:], Z[45:], ids[45:], model=model, space="s",
                                 eval_classes=["c"] * 15, ridge_alpha=1.0, folds=3, hidden_dim=8, lr=1e-2,
                                 batch_size=16, max_epochs=3, patience=2))
    return (pl.concat([r.table for r in results]), pl.concat([r.curves for r in results]),
            pl.concat([r.cosines for r in results]))


SETTINGS = {"display": {"ma": "Model A", "mb": "Model B"}, "space_display": {"s": "Space S"}, "paper_models": ["mb"]}


def _spec(chart):
    return json.dumps(finalize(chart).to_dict(), ensure_ascii=False)


def test_study_table_chart(study):
    chart, data = figs.translator_study(study[0], SETTINGS)
    assert data.height == 24 and set(data["model_name"]) == {"Model A", "Model B"}
    assert "4-layer MLP / MSE + cosine" in data["translator"].to_list()
    assert "15 held-out images of 1 class;" not in _spec(chart) and "15 held-out images of 1 class" in _spec(chart)


def test_training_curves_and_histograms_show_the_first_paper_model(study):
    chart, data = figs.training_curves(study[1], SETTINGS)
    assert data["metric"].unique().sort().to_list() == ["MSE", "mean cosine"]
    assert data.filter(pl.col("architecture") == "mlp4")["epoch"].max() <= 3
    assert "Model B" in _spec(chart)
    chart, binned = figs.cosine_histograms(study[2], SETTINGS, bins=5)
    assert binned.group_by("architecture").agg(pl.col("count").sum())["count"].to_list() == [15] * 4
    assert binned["bin"].max() <= 4
    with pytest.raises(ValueError, match="loss 'l1'"):
        figs.cosine_histograms(study[2], SETTINGS, loss="l1")


def test_sensitivity_chart_lists_tau_per_variant():
    rows = []
    for m, (r0, r10) in {"ma": (2.0, 5.0), "mb": (3.0, 4.0)}.items():
        for v, r in (("default", r0), ("alpha_x10", r10)):
            rows.append({"model": m, "space": "s", "variant": v, "translator": "ridge", "alpha": 1.0,
                         "alpha_factor": 1.0, "n_images": 10, "median_abs_as": 1.0, "median_is": r, "ratio": r,
                         "image_ratio_median": r})
    table = pl.DataFrame(rows)
    chart, data = figs.translator_sensitivity(table, ordering_stability(table), SETTINGS)
    spec = _spec(chart)
    assert "Space S, α×10: τ = -1.00 (order changes)" in spec
    assert set(data["variant_name"]) == {"the CV-chosen α", "α×10"}
