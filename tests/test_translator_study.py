"""Non-linear translators and the translator study (supp. §1.1, Table 2, Figs. 7-8): architectures, objectives,
persistence, deterministic training with early stopping, held-out metrics against scikit-learn, the planted MLP
target the MLPs fit and the ridge cannot, and scoring with a non-linear translator."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
import torch
from sklearn.metrics import mean_squared_error, r2_score

from sing.analysis.scores import score_images
from sing.analysis.translator_study import (
    COSINE_COLUMNS,
    CURVE_COLUMNS,
    STUDY_CLASSES,
    STUDY_COLUMNS,
    best_translator,
    heldout_metrics,
    study_heldout_sample,
    train_translator,
    training_device,
    translator_study,
)
from sing.core.geometry import head_geometry
from sing.core.nonlinear import (
    ARCHITECTURES,
    LOSSES,
    NonlinearTranslator,
    build_module,
    count_parameters,
    translator_loss,
)
from sing.core.translator import LinearTranslator, is_linear, load_translator, translator_params


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models: one intra-op thread is several times faster than two on a busy machine (no result changes)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def planted_mlp(N, m=6, n=4, hidden=12, seed=0, noise=0.01):
    """Z = c + W2 |W1 f|: an MLP with |·| activation. For Gaussian f every output is uncorrelated with every
    feature (E[|w·f| f] = 0), so the best linear map explains nothing (R² ≈ 0) while an MLP can fit it."""
    rng = np.random.default_rng(seed)
    W1 = rng.standard_normal((hidden, m)) / np.sqrt(m)
    W2 = rng.standard_normal((n, hidden)) / np.sqrt(hidden)
    c = 3.0 + rng.standard_normal(n)
    g = np.random.default_rng(seed + 100)
    F = g.standard_normal((N, m))
    Z = c + np.abs(F @ W1.T) @ W2.T + noise * g.standard_normal((N, n))
    return F, Z


# ------------------------------------------------------------------------------------------------ modules
@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_architectures_shapes_parameter_counts_and_layout(arch):
    m, n, h = 7, 5, 11
    torch.manual_seed(0)
    mod = build_module(arch, m, n, hidden_dim=h, dropout=0.1)
    assert mod(torch.zeros(3, m)).shape == (3, n)
    block = lambda a, b: 2 * a + a * b + b  # LayerNorm (γ, β) + FC  # noqa: E731
    expected = {"linear": m * n + n,
                "mlp3": m * h + h + block(h, h) + block(h, n),
                "mlp4": m * h + h + 2 * block(h, h) + block(h, n),
                "residual": m * h + h + block(h, h) + block(h, n)}[arch]
    assert count_parameters(mod) == expected
    keys = set(mod.state_dict())
    # the authors' translator loader's parameter names (so their state dicts load strictly)
    want = {"linear": {"weight", "bias"},
            "mlp3": {"layers.0.weight", "layers.4.weight", "layers.8.weight", "layers.5.weight"},
            "mlp4": {"layers.12.weight", "layers.9.weight"},
            "residual": {"input_proj.weight", "residual.3.weight", "output_proj.0.weight", "output_proj.3.bias"}}[arch]
    assert want <= keys
    if arch == "residual":  # h + block(h) feeds the projection
        x = torch.randn(4, m)
        mod.eval()
        hh = mod.input_proj(x)
        torch.testing.assert_close(mod(x), mod.output_proj(hh + mod.residual(hh)))


def test_module_arguments_are_checked():
    with pytest.raises(ValueError, match="architecture"):
        build_module("mlp5", 3, 2)
    with pytest.raises(ValueError, match="hidden_dim"):
        build_module("mlp3", 3, 2, hidden_dim=0)
    with pytest.raises(ValueError, match="dropout"):
        build_module("mlp3", 3, 2, dropout=1.0)
    assert count_parameters(build_module("mlp3", 3, 2)) == 3 * 3 + 3 + (6 + 9 + 3) + (6 + 6 + 2)  # hidden = m


def test_losses_match_their_formulas():
    g = torch.Generator().manual_seed(0)
    P = torch.randn(9, 4, generator=g, dtype=torch.float64)
    Z = torch.randn(9, 4, generator=g, dtype=torch.float64)
    p, z = P.numpy(), Z.numpy()
    mse = np.mean(np.sum((p - z) ** 2, axis=1)) / 4  # eq. 14 / n
    cos = np.mean(1 - np.sum(p * z, 1) / (np.linalg.norm(p, axis=1) * np.linalg.norm(z, axis=1)))  # eq. 15
    assert float(translator_loss(P, Z, "mse")) == pytest.approx(mse, rel=1e-12)
    assert float(translator_loss(P, Z, "cosine")) == pytest.approx(cos, rel=1e-12)
    assert float(translator_loss(P, Z, "mse_cosine", cosine_weight=0.5)) == pytest.approx(mse + 0.5 * cos, rel=1e-12)
    with pytest.raises(ValueError, match="loss"):
        translator_loss(P, Z, "l1")
    with pytest.raises(ValueError, match="shapes"):
        translator_loss(P, Z[:, :3], "mse")


# ------------------------------------------------------------------------------------------------ NonlinearTranslator
def _translator(arch="mlp3", m=6, n=4, h=8, seed=0):
    torch.manual_seed(seed)
    return NonlinearTranslator(build_module(arch, m, n, h), architecture=arch, loss="mse", in_dim=m, out_dim=n,
                               hidden_dim=h, seed=seed, metrics={"note": 1})


def test_nonlinear_translator_call_kinds_and_float64(tmp_path):
    T = _translator()
    F = np.random.default_rng(0).standard_normal((5, 6))
    out = T(F)
    assert out.dtype == np.float64 and out.shape == (5, 4)
    ref = T.module.double().eval()(torch.from_numpy(F)).detach().numpy()  # float64 reference, same weights
    T.module.float()
    np.testing.assert_allclose(out, ref, rtol=0, atol=1e-13)
    assert T(F.astype(np.float32)).dtype == np.float32
    t = T(torch.from_numpy(F).float())
    assert isinstance(t, torch.Tensor) and t.dtype == torch.float32
    np.testing.assert_allclose(T(F[0]), out[0], rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="in_dim"):
        T(np.zeros((2, 5)))
    with pytest.raises(ValueError, match="NaN"):
        T(np.full((2, 6), np.nan))
    assert not T.is_linear and not is_linear(T)
    assert not hasattr(T, "weight")
    with pytest.raises(ValueError, match="linear translator"):
        translator_params(T)


def test_nonlinear_translator_save_load_roundtrip(tmp_path):
    T = _translator("residual")
    T.save(tmp_path / "t.safetensors", provenance={"run": "x"})
    back = load_translator(tmp_path / "t.safetensors")
    assert isinstance(back, NonlinearTranslator)
    assert back.config() == T.config() and back.loss == "mse" and back.seed == 0 and back.metrics == {"note": 1}
    F = np.random.default_rng(1).standard_normal((3, 6))
    np.testing.assert_array_equal(back(F), T(F))
    lin = LinearTranslator(np.ones((4, 6)), np.zeros(4), alpha=1.0)
    lin.save(tmp_path / "l.safetensors")
    assert isinstance(load_translator(tmp_path / "l.safetensors"), LinearTranslator)
    with pytest.raises(ValueError, match="nonlinear_translator"):
        NonlinearTranslator.load(tmp_path / "l.safetensors")
    with pytest.raises(FileNotFoundError):
        load_translator(tmp_path / "missing.safetensors")


def test_authors_state_dict_layout_loads_strictly():
    """A state dict laid out like the authors' `3layer` module (Linear, then [LayerNorm, GELU, Dropout, Linear] × 2)
    loads into mlp3 with strict=True and computes that stack."""
    m, h, n = 5, 7, 3
    seq = torch.nn.Sequential(torch.nn.Linear(m, h), torch.nn.LayerNorm(h), torch.nn.GELU(), torch.nn.Dropout(0.1),
                              torch.nn.Linear(h, h), torch.nn.LayerNorm(h), torch.nn.GELU(), torch.nn.Dropout(0.1),
                              torch.nn.Linear(h, n)).eval()
    mod = build_module("mlp3", m, n, h)
    mod.load_state_dict({f"layers.{k}": v for k, v in seq.state_dict().items()}, strict=True)
    x = torch.randn(4, m)
    torch.testing.assert_close(mod.eval()(x), seq(x))


# ------------------------------------------------------------------------------------------------ scoring
def test_scoring_with_a_linear_module_equals_the_linear_translator():
    """Scores translate f and f̃ separately; for an affine T this equals the linear shortcut T f̃ = T f − W_T Π_n f
    (to 1e-12), and a NonlinearTranslator holding the same affine map scores exactly like LinearTranslator."""
    rng = np.random.default_rng(0)
    W = rng.standard_normal((4, 9))
    g = head_geometry(W)
    A, b = rng.standard_normal((5, 9)), rng.standard_normal(5) + 3
    lin = LinearTranslator(A, b)
    mod = build_module("linear", 9, 5)
    with torch.no_grad():
        mod.weight.copy_(torch.from_numpy(A))
        mod.bias.copy_(torch.from_numpy(b))
    nl = NonlinearTranslator(mod, architecture="linear", loss="mse", in_dim=9, out_dim=5)
    assert is_linear(lin) and is_linear(nl)
    F = rng.standard_normal((12, 9))
    shortcut = lin(F) - g.project_null(F) @ A.T  # uses linearity
    np.testing.assert_allclose(lin(g.remove_null(F)), shortcut, rtol=0, atol=1e-12 * np.abs(shortcut).max())
    zt = rng.standard_normal(5)
    s_lin = score_images(F, zt, g, lin, W=W)
    # float32 weights in the module: compare with a LinearTranslator of the float32-rounded weights
    lin32 = LinearTranslator(mod.weight.detach().double().numpy(), mod.bias.detach().double().numpy())
    s_nl = score_images(F, zt, g, nl, W=W)
    s_32 = score_images(F, zt, g, lin32, W=W)
    for k in ("as_deg", "is_deg", "angle_orig_deg", "angle_eq_deg"):
        np.testing.assert_allclose(s_nl[k], s_32[k], rtol=0, atol=1e-12)
        np.testing.assert_allclose(s_lin[k], s_32[k], rtol=0, atol=1e-4)  # float32 rounding of the weights only
    np.testing.assert_array_equal(nl.weight, lin32.weight)


def test_scoring_with_a_nonlinear_translator_translates_f_and_f_tilde_separately():
    rng = np.random.default_rng(1)
    W = rng.standard_normal((4, 6))
    g = head_geometry(W)
    T = _translator("mlp4")
    F = rng.standard_normal((7, 6))
    zt = rng.standard_normal(4)
    s = score_images(F, zt, g, T, W=W)
    from sing.core.metrics import angle_deg

    z, z_eq = T(F), T(g.remove_null(F))
    np.testing.assert_allclose(s["is_deg"], angle_deg(z, z_eq), rtol=0, atol=1e-12)
    np.testing.assert_allclose(s["as_deg"], angle_deg(z, zt) - angle_deg(z_eq, zt), rtol=0, atol=1e-12)
    # linearity is lost: T f̃ differs from T f − (T(Π_n f) − T(0))
    lin_guess = z - (T(g.project_null(F)) - T(np.zeros((1, 6))))
    assert np.abs(lin_guess - z_eq).max() > 1e-3


# ------------------------------------------------------------------------------------------------ metrics, samples
def test_heldout_metrics_match_sklearn_and_numpy():
    rng = np.random.default_rng(2)
    Z = rng.standard_normal((40, 6)) + 2
    P = Z + 0.3 * rng.standard_normal((40, 6))
    P[:, 2] = Z[:, 2]  # one perfectly predicted output
    got = heldout_metrics(P, Z)
    assert got["mse"] == pytest.approx(mean_squared_error(Z, P), rel=1e-13)
    assert got["r2"] == pytest.approx(r2_score(Z, P), rel=1e-13)
    assert got["sq_error_mean"] == pytest.approx(np.mean(np.sum((P - Z) ** 2, axis=1)), rel=1e-13)
    cos = np.array([p @ z / np.linalg.norm(p) / np.linalg.norm(z) for p, z in zip(P, Z)])
    assert got["cosine_mean"] == pytest.approx(cos.mean(), rel=1e-13)
    assert got["cosine_median"] == pytest.approx(np.median(cos), rel=1e-13)
    assert got["cosine_q05"] == pytest.approx(np.percentile(cos, 5), rel=1e-13)
    assert got["cosine_q95"] == pytest.approx(np.percentile(cos, 95), rel=1e-13)
    assert got["cosine_min"] == pytest.approx(cos.min(), rel=1e-13)
    with pytest.raises(ValueError, match="zero norm"):
        heldout_metrics(np.zeros((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError, match="shape"):
        heldout_metrics(P, Z[:, :5])


def test_study_heldout_sample_is_disjoint_deterministic_and_checked():
    files = {"a": [f"a/{i}.JPEG" for i in range(20)], "b": [f"b/{i}.JPEG" for i in range(20)]}
    from sing.data.images import sample_class

    translator = sample_class(files["a"], 5, 0, "a") + sample_class(files["b"], 5, 0, "b")
    s = study_heldout_sample(files, 8, 0, exclude=translator)
    assert [len(v) for v in s.values()] == [8, 8]
    assert not set(s["a"] + s["b"]) & set(translator)
    # the next images of the translator sample's own order: a prefix-stable, disjoint continuation
    assert s["a"] == sample_class(files["a"], 13, 0, "a")[5:]
    assert study_heldout_sample({"a": files["a"][::-1]}, 8, 0, exclude=translator)["a"] == s["a"]
    with pytest.raises(ValueError, match="class a: 15 images left"):
        study_heldout_sample(files, 16, 0, exclude=translator)
    assert len(study_heldout_sample(files, 16, 0, exclude=translator, take_all_if_fewer=True)["b"]) == 15
    assert study_heldout_sample(files, 3, 0)["a"] == sample_class(files["a"], 3, 0, "a")  # nothing excluded
    assert len(STUDY_CLASSES) == 16
    from sing.data.classes import imagenet_wnids

    assert set(STUDY_CLASSES) <= set(imagenet_wnids())


def test_training_device_never_falls_back_silently():
    assert training_device("cpu").type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="device: 'cuda' requested but CUDA is not available"):
            training_device("cuda")
        assert training_device("auto").type == "cpu"
    with pytest.raises(ValueError, match="device"):
        training_device("tpu")


# ------------------------------------------------------------------------------------------------ training
def _train(seed=0, **kw):
    F, Z = planted_mlp(160, seed=3)
    args = dict(architecture="mlp3", loss="mse", hidden_dim=16, lr=1e-2, batch_size=32, max_epochs=12, patience=4,
                seed=seed)
    args.update(kw)
    return train_translator(F[:120], Z[:120], F[120:], Z[120:], **args)


def test_training_is_deterministic_and_keeps_the_best_epoch():
    state = torch.random.get_rng_state()
    T1, c1 = _train()
    assert torch.equal(torch.random.get_rng_state(), state)  # the caller's RNG is untouched
    T2, c2 = _train()
    assert c1.equals(c2)
    F = np.random.default_rng(0).standard_normal((4, 6))
    np.testing.assert_array_equal(T1(F), T2(F))
    T3, c3 = _train(seed=1)
    assert not c3.equals(c1)
    assert tuple(c1.columns) == CURVE_COLUMNS[4:]
    assert c1["epoch"].to_list() == list(range(c1.height)) and np.isnan(c1["train_loss"][0])
    best = int(c1["epoch"][int(np.argmin(c1["stop_loss"].to_numpy()))])
    assert T1.metrics["best_epoch"] == best
    assert T1.metrics["epochs_run"] == c1.height - 1 <= 12
    # the returned translator holds the best epoch's weights: its stopping loss is the recorded minimum
    Fs, Zs = planted_mlp(160, seed=3)
    pred = torch.from_numpy(T1(Fs[120:])).float()
    got = float(translator_loss(pred, torch.from_numpy(Zs[120:]).float(), "mse"))
    assert got == pytest.approx(float(c1["stop_loss"].min()), rel=1e-5)


def test_early_stopping_stops_after_patience():
    _, curves = _train(lr=5.0, max_epochs=40, patience=2, loss="cosine")  # too large a step: no improvement
    stop = curves["stop_loss"].to_numpy()
    best = int(np.argmin(stop))
    assert curves.height - 1 == best + 2 < 40  # stopped exactly `patience` epochs after the best one


def test_training_checks_arguments():
    F, Z = planted_mlp(20)
    with pytest.raises(ValueError, match="Z_stop"):
        train_translator(F, Z, F[:3], Z[:2], architecture="mlp3", loss="mse")
    with pytest.raises(ValueError, match="batch_size"):
        train_translator(F, Z, F, Z, architecture="mlp3", loss="mse", batch_size=0)
    with pytest.raises(ValueError, match="lr"):
        train_translator(F, Z, F, Z, architecture="mlp3", loss="mse", lr=0)
    with pytest.raises(ValueError, match="architecture"):
        train_translator(F, Z, F, Z, architecture="mlp9", loss="mse")


# ------------------------------------------------------------------------------------------------ the study
def test_study_planted_mlp_target_mlps_fit_it_the_ridge_cannot():
    F, Z = planted_mlp(1000, seed=0)
    ids = [f"img{i:04d}" for i in range(1000)]
    res = translator_study(F[:800], Z[:800], ids[:800], F[800:], Z[800:], ids[800:], model="m", space="s",
                           eval_classes=[f"c{i % 4}" for i in range(200)], architectures=("linear", "mlp3", "residual"),
                           losses=("mse",), alphas=[0.01, 1.0, 100.0], folds=5, hidden_dim=32, lr=1e-2, batch_size=100,
                           max_epochs=40, patience=10)
    t = res.table
    assert tuple(t.columns) == STUDY_COLUMNS and t.height == 3
    row = {a: r for a, r in zip(t["architecture"], t.iter_rows(named=True))}
    assert row["linear"]["method"] == "ridge" and row["linear"]["r2"] < 0.05
    for a in ("mlp3", "residual"):
        assert row[a]["method"] == "adamw" and row[a]["r2"] > 0.75, (a, row[a]["r2"])
        assert row[a]["mse"] < 0.3 * row["linear"]["mse"]
        assert row[a]["rank_mse"] < row["linear"]["rank_mse"]
    assert row["linear"]["rank_mse"] == 3.0
    assert row["linear"]["n_train"] == row["mlp3"]["n_train"] and row["mlp3"]["n_stop"] > 0
    assert row["linear"]["n_train"] + row["linear"]["n_stop"] == 800
    assert row["mlp3"]["n_eval"] == 200 and row["mlp3"]["n_eval_classes"] == 4
    assert best_translator(t) in {("mlp3", "mse"), ("residual", "mse")}
    assert best_translator(t, "mse", nonlinear_only=False) != ("linear", "mse")
    # the ridge row is sklearn's Ridge at the chosen alpha on the training folds, evaluated on the eval images
    from sklearn.linear_model import Ridge

    from sing.core.translator import fold_ids_for

    train = fold_ids_for(ids[:800], 5, 0) != 0
    ref = Ridge(alpha=row["linear"]["alpha"]).fit(F[:800][train], Z[:800][train]).predict(F[800:])
    assert row["linear"]["mse"] == pytest.approx(mean_squared_error(Z[800:], ref), rel=1e-9)
    fixed = translator_study(F[:800], Z[:800], ids[:800], F[800:], Z[800:], ids[800:], model="m", space="s",
                             architectures=("linear",), losses=("mse",), ridge_alpha=3.0, folds=5)
    ref3 = Ridge(alpha=3.0).fit(F[:800][train], Z[:800][train]).predict(F[800:])
    assert fixed.table["alpha"][0] == 3.0
    assert fixed.table["mse"][0] == pytest.approx(mean_squared_error(Z[800:], ref3), rel=1e-9)
    c = res.cosines
    assert tuple(c.columns) == COSINE_COLUMNS and c.height == 600
    assert set(c["class_id"].unique()) == {"c0", "c1", "c2", "c3"}


def test_study_ridge_at_a_fixed_alpha_primal_and_dual_equal_sklearn():
    from sklearn.linear_model import Ridge

    from sing.analysis.translator_study import _ridge_at

    rng = np.random.default_rng(5)
    for N, m in ((40, 7), (12, 30)):  # primal (N ≥ m) and dual (N < m)
        F = rng.standard_normal((N, m)) + 1.5
        Z = rng.standard_normal((N, 4)) + 2.0
        T = _ridge_at(F, Z, 0.7)
        ref = Ridge(alpha=0.7).fit(F, Z)
        np.testing.assert_allclose(T.weight, ref.coef_, rtol=1e-9, atol=1e-11)
        np.testing.assert_allclose(T.bias, ref.intercept_, rtol=1e-9, atol=1e-11)
        assert T.alpha == 0.7


def test_study_full_grid_rows_and_curves():
    F, Z = planted_mlp(120, seed=1)
    ids = [f"i{i}" for i in range(120)]
    res = translator_study(F[:90], Z[:90], ids[:90], F[90:], Z[90:], ids[90:], model="m", space="s",
                           alphas=[1.0], folds=3, hidden_dim=8, lr=1e-3, batch_size=32, max_epochs=2, patience=1)
    t = res.table
    assert t.height == 12
    assert set(zip(t["architecture"], t["loss"])) == {(a, lo) for a in ARCHITECTURES for lo in LOSSES}
    assert t.filter(pl.col("method") == "ridge").height == 1
    assert t["n_eval_classes"].null_count() == 12
    assert tuple(res.curves.columns) == CURVE_COLUMNS
    assert res.curves.select("architecture", "loss").unique().height == 11  # every gradient-trained row
    assert set(res.translators) == set(zip(t["architecture"], t["loss"]))
    assert sorted(t["rank_mse"].to_list()) == pytest.approx(sorted(pl.Series(t["mse"]).rank("average").to_list()))


def test_study_is_deterministic_keeps_wall_times_apart_and_keeps_fig11_inputs(tmp_path):
    """Two runs give equal tables and byte-equal saved translators (wall times only in ``timings``); the training
    seed is separate from the fold seed; the Fig. 11 rows are the first image of each class through every
    translator, equal to translating it directly, and sheet_columns reads them back."""
    from sing.analysis.translator_study import (
        EMBEDDING_COLUMNS,
        TIMING_COLUMNS,
        sheet_columns,
        study_embeddings,
        translate_all,
    )

    F, Z = planted_mlp(120, seed=2)
    ids = [f"i{i:03d}" for i in range(120)]
    classes = [f"c{i % 3}" for i in range(30)]
    kw = dict(model="m", space="s", eval_classes=classes, architectures=("linear", "mlp3"), losses=("mse", "cosine"),
              ridge_alpha=1.0, folds=3, hidden_dim=8, lr=1e-3, batch_size=32, max_epochs=3, patience=2)
    runs = [translator_study(F[:90], Z[:90], ids[:90], F[90:], Z[90:], ids[90:], **kw) for _ in range(2)]
    assert runs[0].table.equals(runs[1].table) and "wall_s" not in runs[0].table.columns
    assert tuple(runs[0].timings.columns) == TIMING_COLUMNS and runs[0].timings.height == 4
    mlp = runs[0].table.filter(pl.col("architecture") == "mlp3").row(0, named=True)
    assert mlp["train_gflop"] == pytest.approx((6 * mlp["n_params"] * mlp["n_train"] + 2 * mlp["n_params"]
                                                * mlp["n_stop"]) * mlp["epochs_run"] / 1e9)
    for i, res in enumerate(runs):
        res.translators[("mlp3", "mse")].save(tmp_path / f"t{i}.safetensors")
    assert (tmp_path / "t0.safetensors").read_bytes() == (tmp_path / "t1.safetensors").read_bytes()
    other = translator_study(F[:90], Z[:90], ids[:90], F[90:], Z[90:], ids[90:], **kw, train_seed=5)
    assert other.table.filter(pl.col("method") == "ridge").equals(runs[0].table.filter(pl.col("method") == "ridge"))
    assert not other.table.equals(runs[0].table)  # the MLPs start elsewhere; the folds (and the ridge) do not move
    emb = study_embeddings(runs[0].translators, F[90:], Z[90:], ids[90:], classes)
    assert tuple(emb.columns) == EMBEDDING_COLUMNS and emb.height == 3 * (1 + 4)
    assert emb["image_id"].unique(maintain_order=True).to_list() == ["i090", "i091", "i092"]  # first of c0, c1, c2
    columns, z_true, rows = sheet_columns(emb, 2)
    assert rows == ["i090", "i091"] and list(columns) == ["linear/mse", "linear/cosine", "mlp3/mse", "mlp3/cosine"]
    np.testing.assert_array_equal(z_true, Z[90:92])
    direct = translate_all(runs[0].translators, F[90:92])
    for name in columns:
        np.testing.assert_array_equal(columns[name], direct[name])
    with pytest.raises(ValueError, match="n_images"):
        sheet_columns(emb, 0)


def test_study_refuses_overlap_and_bad_folds():
    F, Z = planted_mlp(30)
    ids = [f"i{i}" for i in range(30)]
    with pytest.raises(ValueError, match="translator sample"):
        translator_study(F[:20], Z[:20], ids[:20], F[15:], Z[15:], ids[15:], model="m", space="s")
    with pytest.raises(ValueError, match="stop_fold"):
        translator_study(F[:20], Z[:20], ids[:20], F[20:], Z[20:], ids[20:], model="m", space="s", folds=3,
                         stop_fold=3)
    with pytest.raises(ValueError, match="training folds"):
        translator_study(F[:20], Z[:20], ids[:20], F[20:], Z[20:], ids[20:], model="m", space="s", folds=2,
                         architectures=("linear",), losses=("mse",), alphas=[1.0, 10.0])
