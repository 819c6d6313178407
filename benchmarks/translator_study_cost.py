"""Cost of the translator study (issue 17): CPU wall time at the offline demo's shapes, measured CPU training
throughput, and a FLOP-based estimate for the full configuration on one GPU.

Usage: python benchmarks/translator_study_cost.py [--threads 1] [--full-defaults]
Random features stand in for the demo's (random-weight models: no result is read, only time).
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from sing.analysis.translator_study import translator_study
from sing.core.nonlinear import build_module, count_parameters, translator_loss

# the demo: 2 models × 2 spaces; translator sample 6 classes × 8 images (folds 4 -> 1 fold stops early); the
# ridge row at a fixed α (the workflow passes the production translator's CV-chosen α);
# study evaluation = the rest of the synthetic train split (12 − 8 = 4 a class × 6 classes)
DEMO_MODELS = {"demo_resnet50": 2048, "demo_densenet121": 1024}
DEMO_SPACES = {"demo_clip_a": 384, "demo_clip_b": 384}
# the paper's 13 classifiers (FACTS §1: m), 2 spaces of 768 d; schema defaults: 10 × 1000 translator images, 5 folds
FULL_M = {"vgg16": 4096, "vgg19": 4096, "densenet": 1024, "resnet": 2048, "dinovit1": 1024, "efficientnet": 1280,
          "bitresnet": 2048, "resnext": 2048, "convnext": 1024, "swin_large": 1536, "dinov2": 2048, "deit": 1024,
          "eva02_large": 1024}


def demo_study(kw, seed=0):
    rng = np.random.default_rng(seed)
    total = 0.0
    rows = []
    for model, m in DEMO_MODELS.items():
        for space, n in DEMO_SPACES.items():
            F = np.abs(rng.standard_normal((48 + 24, m)))
            Z = rng.standard_normal((48 + 24, n)) + 1.0
            ids = [f"img{i:03d}" for i in range(72)]
            t0 = time.perf_counter()
            res = translator_study(F[:48], Z[:48], ids[:48], F[48:], Z[48:], ids[48:], model=model, space=space,
                                   ridge_alpha=100.0, folds=4, seed=0, **kw)
            dt = time.perf_counter() - t0
            total += dt
            rows.append({"model": model, "space": space, "wall_s": round(dt, 2),
                         "epochs": res.table["epochs_run"].drop_nulls().to_list()})
    return total, rows


def cpu_throughput(m=1024, h=1024, n=768, batch=256, steps=20):
    """Training GFLOP/s of an mlp4 step (6 × params × batch FLOPs: forward 2, backward 4)."""
    torch.manual_seed(0)
    mod = build_module("mlp4", m, n, h)
    opt = torch.optim.AdamW(mod.parameters(), lr=1e-4, weight_decay=0.1)
    x, z = torch.randn(batch, m), torch.randn(batch, n)
    def step():
        opt.zero_grad()
        translator_loss(mod(x), z, "mse").backward()
        opt.step()

    for _ in range(3):
        step()
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    dt = (time.perf_counter() - t0) / steps
    return 6 * count_parameters(mod) * batch / dt / 1e9, dt


def full_estimate(per_class=10, n_classes=1000, folds=5, n_out=768, spaces=2, epochs=(50, 200), gpu_tflops=25.0,
                  stop_images=None):
    """TFLOP per epoch of all 11 gradient-trained translators of one (model, space), and GPU minutes."""
    n_img = per_class * n_classes
    n_train = n_img * (folds - 1) // folds
    n_stop = n_img - n_train
    out = {}
    for key, m in FULL_M.items():
        params = {a: count_parameters(build_module(a, m, n_out, None)) for a in ("linear", "mlp3", "mlp4", "residual")}
        per_loss = params["mlp3"] + params["mlp4"] + params["residual"]
        units = 3 * per_loss + 2 * params["linear"]  # linear/cosine, linear/mse_cosine by AdamW; linear/mse = ridge
        tflop = (6 * units * n_train + 2 * units * n_stop) / 1e12
        out[key] = {"m": m, "params_mlp4": params["mlp4"], "tflop_per_epoch": round(tflop, 2),
                    **{f"gpu_min_{e}ep": round(tflop * e / gpu_tflops / 60 * spaces, 2) for e in epochs}}
    return out


def scoring_throughput(m=2048, n=768, rows=512, arch="mlp4"):
    """Rows/s of NonlinearTranslator.__call__ (float64, CPU, eval mode) at hidden = m: the cost of scoring with a
    non-linear translator (each image translates f, f̃ and one f per baseline seed)."""
    from sing.core.nonlinear import NonlinearTranslator

    torch.manual_seed(0)
    T = NonlinearTranslator(build_module(arch, m, n), architecture=arch, loss="mse", in_dim=m, out_dim=n)
    F = np.random.default_rng(0).standard_normal((rows, m))
    T(F[:8])
    t0 = time.perf_counter()
    T(F)
    dt = time.perf_counter() - t0
    return rows / dt, 2 * count_parameters(T.module) * rows / dt / 1e9


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--full-defaults", action="store_true", help="also time the demo shapes at the full defaults")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    demo_kw = {"hidden_dim": 64, "max_epochs": 20, "patience": 5, "batch_size": 64, "lr": 1e-4}
    total, rows = demo_study(demo_kw)
    print(json.dumps({"threads": args.threads, "demo_config": demo_kw, "demo_total_s": round(total, 1),
                      "per_pair": rows}))
    if args.full_defaults:
        full_kw = {"hidden_dim": None, "max_epochs": 200, "patience": 10, "batch_size": 256, "lr": 1e-4}
        total, rows = demo_study(full_kw)
        print(json.dumps({"demo_shapes_full_defaults": full_kw, "total_s": round(total, 1), "per_pair": rows}))
    rps, g64 = scoring_throughput()
    print(json.dumps({"scoring_rows_per_s_mlp4_2048_float64": round(rps, 1), "gflops_float64": round(g64, 1)}))
    gflops, step = cpu_throughput()
    print(json.dumps({"cpu_train_gflops_mlp4_1024": round(gflops, 1), "step_s": round(step, 4)}))
    est = full_estimate()
    tot = {k: round(sum(v[k] for v in est.values()), 1) for k in next(iter(est.values())) if k.startswith("gpu_min")}
    print(json.dumps({"full_estimate": est, "total_gpu_minutes_13x2": tot}))

