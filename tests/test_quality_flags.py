"""Issue 20: a weak translator is flagged (log warning and model_summary column), anything computed from random
weights says so (model_summary column, figure subtitles), and a job that fails at run time leaves its traceback in
its own log file."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

import numpy as np
import polars as pl
import pytest
from test_analysis import synthetic_scores
from test_planning_checks import SCHEMA

from sing.analysis.summaries import MODEL_SUMMARY_COLUMNS, model_summary, uses_random_weights
from sing.analysis.translation import QUALITY_DEFAULTS, fit_translator_from_pairs, translator_flags
from sing.core.geometry import head_geometry
from sing.core.translator import LinearTranslator
from sing.figures.settings import figure_settings
from sing.io.schema import unknown_config_keys
from sing.models.lock import random_weight_keys

ALPHAS = [0.01, 0.1, 1.0, 10.0, 100.0]


def translator(metrics=None, alpha=1.0, n_train=1000, in_dim=10):
    return LinearTranslator(np.ones((4, in_dim)), np.zeros(4), alpha=alpha, metrics=metrics, n_train=n_train)


# ------------------------------------------------------------------ translator quality flags
def test_the_issue_case_is_flagged_low_r2_alpha_at_the_edge_and_few_samples():
    """The issue: 24 samples x 512 dims, held-out R² 0.44, α at the edge of the grid: no warning."""
    T = translator({"heldout_r2": 0.44, "cv_alphas": ALPHAS}, alpha=100.0, n_train=24, in_dim=512)
    flags = translator_flags(T)
    assert list(flags) == ["low_r2", "alpha_at_edge", "few_samples"]
    assert "held-out R² 0.440 < 0.5 (translator.min_heldout_r2)" in flags["low_r2"]
    assert "α = 100 is the largest value of translator.alphas" in flags["alpha_at_edge"]
    assert "add larger values" in flags["alpha_at_edge"]
    assert "24 training images for 512 feature dimensions" in flags["few_samples"]
    for text in flags.values():  # every key a flag names is in the schema
        assert unknown_config_keys(text, SCHEMA) == [], text


def test_flags_follow_their_thresholds_and_need_their_metric():
    good = translator({"heldout_r2": 0.8, "cv_alphas": ALPHAS}, alpha=1.0)
    assert translator_flags(good) == {}
    assert list(translator_flags(good, {"min_heldout_r2": 0.9})) == ["low_r2"]
    low_edge = translator({"heldout_r2": 0.8, "cv_alphas": ALPHAS}, alpha=0.01)
    assert "smallest value" in translator_flags(low_edge)["alpha_at_edge"]
    # one alpha (no grid) and no cross-validation (no held-out R²): nothing to judge, nothing flagged
    assert translator_flags(translator({"cv_alphas": [1.0]}, alpha=1.0)) == {}
    assert list(translator_flags(translator({}, n_train=5, in_dim=10), {"min_samples_per_dim": 0.4})) == []
    assert list(translator_flags(translator({}, n_train=3, in_dim=10), {"min_samples_per_dim": 0.4})) == ["few_samples"]
    assert QUALITY_DEFAULTS == {"min_heldout_r2": 0.5, "min_samples_per_dim": 1.0}


def test_a_real_underdetermined_fit_is_flagged_and_logged(caplog):
    """A planted ridge problem with fewer images than dimensions and pure-noise targets: R² below 0.5, α pushed to
    the largest value of the grid (CV prefers shrinking everything), and few samples."""
    rng = np.random.default_rng(0)
    F, Z = rng.standard_normal((24, 64)), rng.standard_normal((24, 8))
    ids = [f"i{k}" for k in range(24)]
    with caplog.at_level(logging.WARNING, logger="sing.analysis.translation"):
        T = fit_translator_from_pairs(feature_ids=ids, features=F, target_ids=ids, targets=Z, alphas=ALPHAS,
                                      folds=4, seed=0, quality={}, what="toy -> clip")
    assert T.metrics["heldout_r2"] < 0.5 and T.alpha == max(ALPHAS)
    logged = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("translator toy -> clip: held-out R²") and m.endswith("[low_r2]") for m in logged)
    assert any("[alpha_at_edge]" in m for m in logged) and any("[few_samples]" in m for m in logged)
    caplog.clear()
    fit_translator_from_pairs(feature_ids=ids, features=F, target_ids=ids, targets=Z, alphas=ALPHAS, folds=4, seed=0)
    assert not caplog.records  # without quality thresholds the fit logs nothing (the model summary judges)


def test_model_summary_has_the_flags_and_random_weight_columns(caplog):
    g = head_geometry(np.random.default_rng(1).standard_normal((6, 10)))
    weak = translator({"heldout_r2": 0.3, "cv_alphas": ALPHAS}, alpha=1.0)
    with caplog.at_level(logging.WARNING):
        row = model_summary(synthetic_scores(n_classes=6), "m", "s", g, weak, n_boot=50).row(0, named=True)
    assert row["translator_flags"] == "low_r2" and row["random_weights"] is None
    assert any("translator m -> s: held-out R² 0.300" in r.getMessage() for r in caplog.records)
    ok = translator({"heldout_r2": 0.9, "cv_alphas": ALPHAS}, alpha=1.0)
    ms = model_summary(synthetic_scores(n_classes=6), "m", "s", g, ok, n_boot=50, random_weights=True)
    assert tuple(ms.columns) == MODEL_SUMMARY_COLUMNS
    assert ms.schema["translator_flags"] == pl.String and ms.schema["random_weights"] == pl.Boolean
    assert ms.row(0, named=True)["translator_flags"] == "" and ms.row(0, named=True)["random_weights"] is True


# ------------------------------------------------------------------ random weights, wherever shown
WEIGHTS = {"models": {"demo_resnet50": {"files": []}, "resnet": {"files": [{"file": "x", "sha256": "0"}]},
                      "unlocked": None},
           "spaces": {"demo_clip_a": {"files": []}, "openai_vitl14": {"files": [{"repo": "r", "file": "f"}]}}}


def test_random_weight_keys_are_the_entries_that_lock_no_file():
    assert random_weight_keys(WEIGHTS) == {"models": ["demo_resnet50"], "spaces": ["demo_clip_a"]}
    assert random_weight_keys(None) == {"models": [], "spaces": []}


def test_random_weights_are_read_from_the_translators_provenance(tmp_path):
    """model_summary learns it from the translator file, whose fit job's settings carry the weights block."""
    T = translator({"heldout_r2": 0.9})
    for model, space, expected in (("demo_resnet50", "openai_vitl14", True), ("resnet", "demo_clip_a", True),
                                   ("resnet", "openai_vitl14", False)):
        path = tmp_path / f"{model}-{space}.safetensors"
        T.save(path, provenance={"settings_sha256": "x", "weights": {
            "models": {model: WEIGHTS["models"][model]}, "spaces": {space: WEIGHTS["spaces"][space]}}})
        loaded = LinearTranslator.load(path)
        assert uses_random_weights(model, space, loaded) is expected
    T.save(tmp_path / "bare.safetensors")
    assert uses_random_weights("resnet", "x", LinearTranslator.load(tmp_path / "bare.safetensors")) is None
    assert uses_random_weights("resnet", "openai_vitl14", weights=WEIGHTS) is False


def test_figure_settings_carry_the_random_weight_keys():
    job = {"figures": {"paper_models": ["demo_resnet50"], "formats": ["png"]}, "run_models": ["demo_resnet50"],
           "run_spaces": ["demo_clip_a"], "models": {"demo_resnet50": {"display": "ResNet50 (random)"}},
           "spaces": {"demo_clip_a": {"display": "CLIP"}}, "dataset": {"class_names": {"n1": "tench"}},
           "analyses": {"steering": {"target": "t", "target_is_deg": 40.0, "calibration": "mean_is"}},
           "weights": WEIGHTS}
    s = figure_settings(job)
    assert s["random_weights"] == {"models": ["demo_resnet50"], "spaces": ["demo_clip_a"]}
    assert s["display"] == {"demo_resnet50": "ResNet50 (random)"} and s["steering_calibration"] == "mean_is"


# ------------------------------------------------------------------ a job's log holds its traceback
def run_job(tmp_path, body: str) -> tuple[subprocess.CompletedProcess, str]:
    script = tmp_path / "job.py"
    log = tmp_path / "logs" / "job.log"
    script.write_text(textwrap.dedent(f"""
        import logging, sys, threading
        from sing.io.logs import setup_logging
        setup_logging({str(log)!r})
        logging.info("job started")
    """) + textwrap.dedent(body))
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    return proc, log.read_text()


def test_an_uncaught_exception_lands_in_the_jobs_own_log(tmp_path):
    """The issue: a job failing at run time left its exception only in Snakemake's console."""
    proc, log = run_job(tmp_path, """
        def sample(n):
            raise ValueError(f"class n01440764: asked for {n} images but only 8 exist")
        sample(500)
    """)
    assert proc.returncode == 1
    assert "job started" in log
    assert "CRITICAL sing.job: the job failed: ValueError: class n01440764: asked for 500 images" in log
    assert "Traceback (most recent call last):" in log and 'in sample' in log
    assert "ValueError: class n01440764" in proc.stderr  # the console (Snakemake's) still shows it


def test_own_a_failing_thread_and_an_exception_chain_are_logged_once(tmp_path):
    """Ours: an exception raised in a worker thread, and a chained exception (the cause is kept); setup_logging
    called twice (a script re-initialising its log) still logs each failure once."""
    proc, log = run_job(tmp_path, f"""
        setup_logging({str(tmp_path / 'logs' / 'job.log')!r})
        def work():
            raise RuntimeError("decoder died")
        t = threading.Thread(target=work, name="decoder-0"); t.start(); t.join()
        try:
            {{}}["weights"]
        except KeyError as e:
            raise ValueError("bad lock entry") from e
    """)
    assert proc.returncode == 1
    assert log.count("the job failed in thread decoder-0: RuntimeError: decoder died") == 1
    assert log.count("the job failed: ValueError: bad lock entry") == 1
    assert "KeyError: 'weights'" in log and "The above exception was the direct cause" in log


@pytest.mark.parametrize("code", ["raise SystemExit(3)", "sys.exit(0)"])
def test_a_plain_exit_is_not_reported_as_a_failure(tmp_path, code):
    proc, log = run_job(tmp_path, code)
    assert "the job failed" not in log and proc.returncode in (0, 3)
