"""Every figure builds from small synthetic tables and writes valid PNG / SVG / HTML / parquet."""

from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest

from sing.analysis.comparisons import robustness_correlation, space_crosscheck, space_crosschecks
from sing.analysis.open_vocabulary import CLASS_CONCEPT_COLUMNS, OPEN_VOCABULARY_COLUMNS, model_concepts
from sing.analysis.sensitivity import SENSITIVITY_COLUMNS, ordering_stability
from sing.analysis.stats import leakage_z
from sing.analysis.steering import STEERING_COLUMNS
from sing.analysis.summaries import CLASS_SUMMARY_COLUMNS, JOINT_SAMPLE_COLUMNS, MODEL_SUMMARY_COLUMNS, STAT_COLUMNS
from sing.analysis.translator_study import COSINE_COLUMNS, CURVE_COLUMNS, STUDY_COLUMNS
from sing.analysis.validation import VALIDATION_COLUMNS
from sing.core.geometry import head_geometry
from sing.figures.render import build, make
from sing.figures.theme import finalize
from sing.outputs import figure_names

MODELS = ["resnet", "dinovit1", "resnext", "efficientnet", "bitresnet", "vgg16", "densenet"]
SPACES = ["openai_vitl14", "eva02_l14"]
SETTINGS = {
    "paper_models": ["dinovit1", "resnet", "resnext", "efficientnet", "bitresnet"],
    "display": {"resnet": "ResNet50", "dinovit1": "DinoViT", "resnext": "ResNeXt101", "efficientnet": "EfficientNet",
                "bitresnet": "BiT-ResNetV2", "vgg16": "VGG16", "densenet": "DenseNet121"},
    "space_display": {"openai_vitl14": "CLIP ViT-L/14 (Karlo)", "eva02_l14": "EVA02-CLIP-L/14"},
    "models": MODELS, "formats": ["png", "svg", "html"],
}


def synthetic_tables(models=MODELS, spaces=SPACES, n_classes=60, n_images=40, seed=0):
    rng = np.random.default_rng(seed)
    ms_rows, cs_frames, val, steer, ov, rob, joint = [], [], [], [], [], [], []
    names = [f"class number {k} with a long name" if k % 7 == 0 else f"class {k}" for k in range(n_classes)]
    for mi, model in enumerate(models):
        leak = 0.2 + mi * 0.3
        nullity = 0 if model == "densenet" and False else 24 * (mi + 1)
        for space in spaces:
            med = np.abs(rng.gamma(2, leak / 2, n_classes)) + 1e-3
            is_med = rng.gamma(5, 2 + mi, n_classes)
            b = rng.gamma(2, leak, (n_classes, 5))
            cs = pl.DataFrame({
                "model": model, "space": space, "class_id": [f"n{k:08d}" for k in range(n_classes)],
                "class_index": np.arange(n_classes, dtype=np.int32), "class_name": names, "n": 50,
                "as_median": med * rng.choice([-1, 1], n_classes), "as_mean": med, "as_iqr": med,
                "abs_as_median": med, "abs_as_mean": med * 1.1, "abs_as_q05": med * 0.2, "abs_as_q25": med * 0.6,
                "abs_as_q75": med * 1.5, "abs_as_q95": med * 2.5, "is_median": is_med, "is_mean": is_med,
                "is_iqr": is_med / 3, "is_q25": is_med * 0.8, "is_q75": is_med * 1.2, "ratio": is_med / med,
                "accuracy": rng.random(n_classes), "null_ratio_median": rng.random(n_classes),
                "max_logit_change_rel": rng.random(n_classes) * 1e-7,
                "baseline_abs_as_mean": b.mean(1), "baseline_is_mean": b.mean(1) * 3,
                "as_z": leakage_z(med * 1.1, b), "is_z": rng.normal(0, 2, n_classes)})
            cs_frames.append(cs.select(CLASS_SUMMARY_COLUMNS))
            ratio = float(np.median(is_med) / np.median(med))
            pts = np.column_stack([rng.gamma(2, leak, n_images), rng.gamma(5, 2 + mi, n_images)])
            pts[:, 1] += 2 * pts[:, 0]  # correlated: tilted ellipses
            joint.append(pl.DataFrame({"model": model, "space": space, "image_id": [f"i{j}" for j in range(n_images)],
                                       "class_id": "n00000000", "class_index": np.zeros(n_images, np.int32),
                                       "abs_as": pts[:, 0], "is_deg": pts[:, 1]}))
            cov = np.cov(pts.T)
            ms_rows.append({"model": model, "space": space, "rank": 1000, "nullity": nullity, "in_dim": 1000 + nullity,
                            "sv_max": 3.0, "sv_min_nonzero": 0.1, "sv_rank_gap": float("nan"), "rank_threshold": 1e-5,
                            "n_images": 50 * n_classes,
                            "n_classes": n_classes, **{c: float(cs[c].median()) for c in STAT_COLUMNS},
                            "abs_as_mean": float(pts[:, 0].mean()), "is_mean": float(pts[:, 1].mean()),
                            "ratio": ratio, "ratio_ci_low": ratio * 0.9, "ratio_ci_high": ratio * 1.12,
                            "image_ratio_median": ratio * 1.1, "image_ratio_ci_low": ratio,
                            "image_ratio_ci_high": ratio * 1.2,
                            "abs_as_var": cov[0, 0], "is_var": cov[1, 1], "abs_as_is_cov": cov[0, 1],
                            "bootstrap_unit": "class", "alpha": 10.0, "r2": 0.6, "cosine_mean": 0.8,
                            "translator_flags": "", "random_weights": False, "accuracy": 0.7,
                            "max_logit_change_rel": 1e-7, "null_ratio_median": 0.4, "baseline_abs_as_mean": 1.0,
                            "baseline_is_mean": 3.0, "as_z": 1.0, "is_z": 0.5})
            kinds = np.repeat(["null", "random", "principal"], n_images)
            lc = np.where(kinds == "null", rng.gamma(2, 1e-6, kinds.size), rng.gamma(3, 2 + 3 * (kinds == "principal"),
                                                                                  kinds.size))
            if model == "densenet":
                lc = np.where(kinds == "null", 0.0, lc)
            val.append(pl.DataFrame({"model": model, "space": space, "image_id": [f"i{j % n_images}" for j in
                                                                                  range(kinds.size)],
                                     "kind": kinds, "seed": np.zeros(kinds.size, dtype=np.int64),
                                     "norm": np.ones(kinds.size), "logit_change": lc, "logit_change_rel": lc / 10,
                                     "clip_drift_deg": rng.gamma(2, 3, kinds.size)}))
            for calibration in ("mean_is", "per_image"):
                reach = rng.random(n_images) > (0.1 if calibration == "per_image" else -1)
                a = np.where(reach, rng.gamma(3, leak, n_images), np.nan)
                steer.append(pl.DataFrame({"model": model, "space": space, "calibration": calibration,
                                           "image_id": [f"i{j}" for j in range(n_images)],
                                           "eps": np.where(reach, 1.0, np.nan), "is_deg": np.where(reach, 40.0, np.nan),
                                           "as_deg": a, "abs_as": a, "included": reach,
                                           "reason": np.where(reach, "ok", "unreachable")}).with_columns(
                    pl.col("eps", "is_deg", "as_deg", "abs_as").fill_nan(None)))
            acc = 0.5 + 0.05 * mi + rng.normal(0, 0.01)
            rob.append({"model": model, "space": space, "acc_principal": acc,
                        "acc_translated": acc - 0.1 + rng.normal(0, 0.02),
                        "train_acc_principal": 0.9, "train_acc_translated": 0.8, "l2_principal": 1e-4,
                        "l2_translated": 1e-3, "n_train": 800, "n_test": 200,
                        "n_test_excluded": 0, "n_classes": 100, "converged": True})
            for wnid, concepts in (("n02437312", [f"concept {j}" for j in range(30)]),
                                   ("n01910747", ["tentacles", "ocean"])):
                a0 = rng.uniform(70, 85, len(concepts) + 1)
                as_ = rng.normal(0, leak, len(concepts) + 1)
                ov.append(pl.DataFrame({"model": model, "space": space, "class_id": wnid,
                                        "kind": ["class"] + ["concept"] * len(concepts),
                                        "concept": [f"an image of a {wnid}"] + concepts, "angle_orig_mean": a0,
                                        "angle_eq_mean": a0 - as_, "as_mean": as_, "as_std": np.abs(as_) / 2,
                                        "abs_as_mean": np.abs(as_), "n": 130}))
    ms = pl.DataFrame(ms_rows).select(MODEL_SUMMARY_COLUMNS)
    return {
        "model_summary": ms,
        "class_summary": pl.concat(cs_frames),
        "validation": pl.concat(val).select(VALIDATION_COLUMNS),
        "steering": pl.concat(steer).select(STEERING_COLUMNS),
        "robustness": robustness_correlation(pl.DataFrame(rob)),
        "open_vocabulary": pl.concat(ov).select(OPEN_VOCABULARY_COLUMNS),
        "space_crosscheck": space_crosschecks(ms, SETTINGS["paper_models"]),
        "joint_sample": pl.concat(joint).select(JOINT_SAMPLE_COLUMNS),
        **translator_tables(ms, rng),
        "model_concepts": concept_table(models, spaces, np.random.default_rng(seed + 1)),
    }


def concept_table(models, spaces, rng, n_classes=5, n_concepts=14):
    """The model_concepts table (issue 18) of planted class tables: per (model, space) two dictionaries (the
    built-in one, which the figure shows, and a configured one), every concept of each in every class, reduced by
    the library's model_concepts."""
    frames = []
    for model in models:
        for space in spaces:
            for dictionary in ("builtin", "animals"):
                concepts = [f"{dictionary} concept {j}" for j in range(n_concepts)]
                rows = []
                for k in range(n_classes):
                    as_ = rng.normal(0, 1.5, n_concepts)
                    a0 = rng.uniform(70, 85, n_concepts)
                    rows.append(pl.DataFrame({
                        "model": model, "space": space, "dictionary": dictionary, "class_id": f"n{k:08d}",
                        "concept": concepts, "as_mean": as_, "as_std": np.abs(as_) / 2, "abs_as_mean": np.abs(as_),
                        "angle_orig_mean": a0, "angle_eq_mean": a0 - as_, "n": 50}).sort(
                        ["abs_as_mean", "concept"], descending=[True, False]).with_row_index("rank", offset=1)
                        .with_columns(pl.col("rank").cast(pl.Int64)))
                frames.append(model_concepts(pl.concat(rows).select(CLASS_CONCEPT_COLUMNS), top=3))
    return pl.concat(frames)


def translator_tables(model_summary, rng, n_eval=20, epochs=6):
    """Planted tables of the translator study and sensitivity (the library's columns): per (model, space) the
    default ratio of the model summary and three variants, one of them reversing the order."""
    sens, study, curves, cosines = [], [], [], []
    for r in model_summary.iter_rows(named=True):
        base = {"model": r["model"], "space": r["space"], "n_images": 40, "median_abs_as": 1.0, "median_is": r["ratio"]}
        for variant, factor, ratio in (("default", 1.0, r["ratio"]), ("alpha_x0.1", 0.1, r["ratio"] * 1.1),
                                       ("alpha_x10", 10.0, 100.0 / r["ratio"]), ("best_nonlinear", None, r["ratio"])):
            sens.append({**base, "variant": variant, "translator": "mlp3/mse" if factor is None else "ridge",
                         "alpha": None if factor is None else 10.0 * factor, "alpha_factor": factor, "ratio": ratio,
                         "image_ratio_median": ratio * 1.05})
        for arch in ("linear", "mlp3", "mlp4", "residual"):
            for loss in ("mse", "cosine", "mse_cosine"):
                cos = np.clip(rng.normal(0.8, 0.05, n_eval), -1, 1)
                row = {c: None for c in STUDY_COLUMNS}
                row.update(model=r["model"], space=r["space"], architecture=arch, loss=loss, method="adamw",
                           hidden_dim=64, n_params=1000, n_train=80, n_stop=20, n_eval=n_eval, n_eval_classes=4,
                           epochs_run=epochs, best_epoch=epochs - 1, train_gflop=1e-3, mse=float(rng.random()),
                           sq_error_mean=1.0, r2=0.5, cosine_mean=float(cos.mean()), cosine_median=0.8,
                           cosine_q05=0.7, cosine_q25=0.75, cosine_q75=0.85, cosine_q95=0.9,
                           cosine_min=float(cos.min()), device="cpu", rank_mse=1.0, rank_cosine=1.0)
                study.append(row)
                cosines.append(pl.DataFrame({"model": r["model"], "space": r["space"], "architecture": arch,
                                             "loss": loss, "image_id": [f"i{j}" for j in range(n_eval)],
                                             "class_id": "c", "cosine": cos}))
                if (arch, loss) != ("linear", "mse"):
                    e = np.arange(epochs + 1)
                    curves.append(pl.DataFrame({"model": r["model"], "space": r["space"], "architecture": arch,
                                                "loss": loss, "epoch": e, "train_loss": 1.0 / (e + 1),
                                                "train_mse": 1.0 / (e + 1), "train_cosine_mean": 1 - 1 / (e + 2),
                                                "stop_loss": 1.0 / (e + 1), "stop_mse": 1.0 / (e + 1),
                                                "stop_cosine_mean": 1 - 1 / (e + 2)}))
    sensitivity = pl.DataFrame(sens, schema_overrides={"alpha": pl.Float64, "alpha_factor": pl.Float64})
    return {"translator_sensitivity": sensitivity.select(SENSITIVITY_COLUMNS),
            "translator_stability": ordering_stability(sensitivity),
            "translator_study": pl.DataFrame(study, schema_overrides={"alpha": pl.Float64}).select(STUDY_COLUMNS),
            "translator_curves": pl.concat(curves).select(CURVE_COLUMNS),
            "translator_cosines": pl.concat(cosines).select(COSINE_COLUMNS)}


def write_inputs(tmp_path, tables, models=MODELS):
    paths = {}
    for name, df in tables.items():
        paths[name] = tmp_path / f"{name}.parquet"
        df.write_parquet(paths[name])
    geoms = []
    rng = np.random.default_rng(0)
    for k, model in enumerate(models):
        (tmp_path / "heads" / model).mkdir(parents=True, exist_ok=True)
        W = rng.standard_normal((30, 40 + 4 * k)) * np.linspace(1, 0.01, 40 + 4 * k)
        p = tmp_path / "heads" / model / "geometry.safetensors"
        head_geometry(W).save(p)
        geoms.append(str(p))
    paths["geometries"] = geoms
    return paths


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fig_inputs")
    return write_inputs(tmp, synthetic_tables())


def check_outputs(out):
    png = out["png"].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    svg = out["svg"].read_text()
    assert svg.lstrip().startswith("<svg") or "<svg" in svg[:400]
    assert svg.rstrip().endswith("</svg>")
    html = out["html"].read_text()
    assert "<html" in html.lower() and "vega" in html.lower()
    assert "cdn.jsdelivr" not in html  # self-contained: opens offline
    data = pl.read_parquet(out["data"])
    assert data.height > 0


@pytest.mark.parametrize("figure", figure_names())
def test_every_figure_renders(figure, inputs, tmp_path):
    out = {fmt: tmp_path / f"{figure}.{fmt}" for fmt in ("png", "svg", "html")}
    out["data"] = tmp_path / f"{figure}.data.parquet"
    make(figure, inputs, out, SETTINGS)
    check_outputs(out)


def test_figure_data_is_deterministic(inputs, tmp_path):
    for i in range(2):
        make("ratio_bars", inputs, {"data": tmp_path / f"d{i}.parquet", "svg": tmp_path / f"f{i}.svg"}, SETTINGS)
    assert (tmp_path / "d0.parquet").read_bytes() == (tmp_path / "d1.parquet").read_bytes()
    assert (tmp_path / "f0.svg").read_bytes() == (tmp_path / "f1.svg").read_bytes()


def test_paper_subset_and_display_names(inputs):
    chart, data = build("ratio_bars", inputs, SETTINGS)
    assert set(data["model"].to_list()) == set(SETTINGS["paper_models"])
    assert data["ratio"].to_list() == sorted(data["ratio"].to_list(), reverse=True)
    assert "DinoViT" in data["model_name"].to_list()
    _, data = build("ratio_bars_all", inputs, SETTINGS)
    assert set(data["model"].to_list()) == set(MODELS)
    spec = json.dumps(finalize(chart).to_dict())
    assert "median IS / median |AS|" in spec  # names the ratio it plots: the ratio of medians


def test_class_violins_cap_classes_per_model(inputs):
    _, data = build("class_violins", {"class_summary": inputs["class_summary"]},
                        {**SETTINGS, "class_k": 5})
    per_model = data.group_by("model").len()
    assert per_model["len"].max() == 10  # 5 highest + 5 lowest of 60 classes
    top = data.filter((pl.col("model") == "resnet") & (pl.col("group") == "highest 5"))["abs_as_median"].to_numpy()
    low = data.filter((pl.col("model") == "resnet") & (pl.col("group") == "lowest 5"))["abs_as_median"].to_numpy()
    assert top.min() >= low.max()


def test_leakage_heatmap_caps_and_sorts_classes(inputs):
    _, data = build("leakage_heatmap", {"class_summary": inputs["class_summary"]}, {**SETTINGS,
                                                                                         "heatmap_classes": 12})
    assert data["class_id"].n_unique() == 12


def test_unknown_figure_and_missing_input(inputs):
    with pytest.raises(ValueError, match="unknown figure"):
        build("nope", inputs, SETTINGS)
    with pytest.raises(ValueError, match="model_summary"):
        build("ratio_bars", {}, SETTINGS)
    with pytest.raises(ValueError, match="geometries"):
        build("spectra", {"model_summary": inputs["model_summary"]}, SETTINGS)


def test_space_crosscheck_with_one_space_says_so(tmp_path):
    """One CLIP space (a folder-dataset run, config.folder-demo.yaml): no pair to compare, a note instead of a crash."""
    from sing.analysis.comparisons import SPACE_CROSSCHECK_COLUMNS
    from sing.figures import ratios

    empty = space_crosscheck(pl.DataFrame({"model": ["a"], "space": ["s"], "ratio": [1.0]}))
    assert empty.height == 0 and tuple(empty.columns) == SPACE_CROSSCHECK_COLUMNS
    chart, data = ratios.space_crosscheck(empty, {})
    assert data.height == 0 and "not applicable" in str(chart.to_dict()["title"])


def _spec(chart) -> str:
    return json.dumps(finalize(chart).to_dict(), ensure_ascii=False)


def test_the_crosscheck_is_over_the_paper_models_with_their_own_tau(inputs):
    """Fig. 12a on figures.paper_models (the paper's 5), Kendall τ over those models (scipy), and every run model
    in space_crosscheck_all with τ over all of them; each titled by its model set, τ as correlation_text writes it
    (issue 20: "n too small" below 4 models)."""
    from scipy.stats import kendalltau

    from sing.figures.theme import correlation_text

    chart, paper = build("space_crosscheck", inputs, SETTINGS)
    chart_all, every = build("space_crosscheck_all", inputs, SETTINGS)
    assert set(paper["model"]) == set(SETTINGS["paper_models"]) and set(every["model"]) == set(MODELS)
    for spec, models, n in ((_spec(chart), "paper", 5), (_spec(chart_all), "all", len(MODELS))):
        table = pl.read_parquet(inputs["space_crosscheck"]).filter(pl.col("models") == models)
        tau, p = kendalltau(table["ratio_a"].to_numpy(), table["ratio_b"].to_numpy())
        assert table.height == n and np.allclose(table["kendall_tau"].to_numpy(), tau, atol=1e-12)
        assert correlation_text("Kendall τ", tau, p, n) in spec, models
        assert f"Kendall τ = {tau:.3f} (p = " in spec and f"n = {n} models)" in spec
        assert f"in two CLIP spaces, {models} models" in spec


def test_an_unstable_ordering_is_said_in_the_model_level_figures(inputs):
    """The translator_stability sentence (τ < 1 for some variant) is a subtitle line of the model-level figures of
    that space, and absent when the ordering is stable."""
    from sing.analysis.sensitivity import stability_sentences

    stability = pl.read_parquet(inputs["translator_stability"])
    sentences = stability_sentences(stability, pl.read_parquet(inputs["translator_sensitivity"]),
                                    space_display=SETTINGS["space_display"])
    assert set(sentences) == set(SPACES)  # the planted alpha_x10 variant reverses the order everywhere
    assert "Kendall τ = -1.00 at α×10" in sentences["openai_vitl14"]
    settings = {**SETTINGS, "stability_sentences": sentences}
    for figure in ("ratio_bars", "ratio_bars_all", "ratio_scatter", "ratio_scatter_all"):
        assert "is not stable under the" in _spec(build(figure, inputs, settings)[0]), figure
        assert "is not stable" not in _spec(build(figure, inputs, SETTINGS)[0]), figure
    nonlinear = _spec(build("ratio_bars", inputs, {**SETTINGS, "translator_use": "best_nonlinear"})[0])
    assert "best non-linear translator: f and f̃ translated separately, linearity lost" in nonlinear


def test_ratio_scatter_draws_the_joint_distribution_with_covariance_ellipses(inputs):
    from scipy.stats import chi2

    tables = {name: pl.read_parquet(inputs[name]) for name in ("model_summary", "joint_sample")}
    _, data = build("ratio_scatter", {k: inputs[k] for k in ("model_summary", "joint_sample")}, SETTINGS)
    assert set(data["layer"].unique().to_list()) == {"image", "ellipse_1sigma", "ellipse_95", "median"}
    ms = tables["model_summary"].filter(pl.col("space") == "openai_vitl14")
    for model in SETTINGS["paper_models"]:
        row = ms.filter(pl.col("model") == model).row(0, named=True)
        mu = np.array([row["abs_as_mean"], row["is_mean"]])
        S = np.array([[row["abs_as_var"], row["abs_as_is_cov"]], [row["abs_as_is_cov"], row["is_var"]]])
        for layer, r2 in (("ellipse_1sigma", 1.0), ("ellipse_95", chi2.ppf(0.95, 2))):
            e = data.filter((pl.col("model") == model) & (pl.col("layer") == layer)).sort("segment", "order")
            xy = e.select("abs_as", "is_deg").to_numpy()
            assert (xy[:, 0] >= 0).all() and ((xy[:, 1] >= 0) & (xy[:, 1] <= 180)).all()  # possible values only
            on_curve = (xy[:, 0] > 0) & (xy[:, 1] > 0)  # points where an arc is cut lie on the axis, between two
            d = xy[on_curve] - mu                       # points of the contour
            np.testing.assert_allclose(np.einsum("ij,jk,ik->i", d, np.linalg.inv(S), d), r2, rtol=1e-9)
        med = data.filter((pl.col("model") == model) & (pl.col("layer") == "median"))
        assert med.select("abs_as", "is_deg").row(0) == (row["abs_as_median"], row["is_median"])
        pts = data.filter((pl.col("model") == model) & (pl.col("layer") == "image"))
        assert pts.height == tables["joint_sample"].filter((pl.col("model") == model)
                                                           & (pl.col("space") == "openai_vitl14")).height


def test_steering_figure_shows_the_configured_calibration(inputs):
    _, mean = build("steering", {"steering": inputs["steering"]}, SETTINGS)
    _, per = build("steering", {"steering": inputs["steering"]}, {**SETTINGS, "steering_calibration": "per_image"})
    assert set(mean["calibration"].to_list()) == {"mean_is"} and set(per["calibration"].to_list()) == {"per_image"}
    assert (mean["n_included"] == mean["n"]).all() and (per["n_included"] < per["n"]).any()
    with pytest.raises(ValueError, match="steering_calibration"):
        build("steering", {"steering": inputs["steering"]}, {**SETTINGS, "steering_calibration": "median"})
