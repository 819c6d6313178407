"""Benchmark: streaming RidgeStats vs scikit-learn RidgeCV, plus AS/IS scoring throughput.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_ridge.py                # N=200,000, m=2048, n=768, 8 alphas, 5 folds
    .venv/bin/python benchmarks/bench_ridge.py --quick        # N=20,000, m=512, n=256 (about 20 s)
    .venv/bin/python benchmarks/bench_ridge.py --n 50000 --skip-sklearn

What it does, in one run:

1. Streaming path (own subprocess, so its peak RSS is its own): synthetic float32 chunks
   ``F`` (N×m) and ``Z = F A + b + noise`` (N×n) are generated chunk by chunk and fed to
   ``RidgeStats.update``; ``F`` is never in memory as a whole. Then ``select_alpha`` (k-fold CV over the
   alphas, exact from the per-fold statistics) and ``solve``. The same path is re-run at N/10 to show
   that its peak RSS does not depend on N.
2. Reference (own subprocess): the same chunks materialised as float64 and
   ``sklearn.linear_model.RidgeCV(alphas, cv=k, scoring="neg_mean_squared_error")`` - i.e.
   ``GridSearchCV(Ridge(), cv=KFold(k))`` (contiguous, unshuffled folds); the streaming run uses the same
   contiguous fold blocks. ``scoring`` is set to MSE because that is the criterion ``RidgeStats`` selects
   with (RidgeCV's default with ``cv`` is R²; ``RidgeStats.cv_scores(scoring="r2")`` also exists).
3. Reports the time ratio, whether both chose the same alpha, the max coefficient difference, the
   streaming peak RSS, and AS/IS scoring throughput (features/s with 30 prompts).

Timings exclude generating the synthetic data (both paths); the streaming time includes the float32 →
float64 conversion of each chunk.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


# ---------------------------------------------------------------------------------------------
# Synthetic data, reproducible chunk by chunk
# ---------------------------------------------------------------------------------------------
class SyntheticData:
    """``F`` has independent columns with a decaying spectrum (scales 1 → 0.01) and offset 0.5;
    ``Z = F A + b + N(0, 1)`` with ``A ~ N(0, 1/m)``, so the MSE-optimal alpha is about m (interior to
    the default grid 1e-2 … 1e5)."""

    def __init__(self, n: int, m: int, d: int, chunk: int, seed: int) -> None:
        self.n, self.m, self.d, self.chunk, self.seed = n, m, d, chunk, seed
        rng = np.random.default_rng([seed, 10**9])
        self.scales = np.geomspace(1.0, 0.01, m).astype(np.float32)
        self.A = (rng.standard_normal((m, d), dtype=np.float32) / np.sqrt(m)).astype(np.float32)
        self.b = rng.standard_normal(d, dtype=np.float32)

    def chunks(self):
        for i, start in enumerate(range(0, self.n, self.chunk)):
            rows = min(self.chunk, self.n - start)
            rng = np.random.default_rng([self.seed, i])
            F = rng.standard_normal((rows, self.m), dtype=np.float32) * self.scales + np.float32(0.5)
            Z = F @ self.A + self.b + rng.standard_normal((rows, self.d), dtype=np.float32)
            yield start, F, Z


def kfold_ids(n: int, folds: int) -> np.ndarray:
    """Fold of each row as sklearn ``KFold(folds)`` (no shuffle) assigns it: contiguous blocks."""
    sizes = np.full(folds, n // folds)
    sizes[: n % folds] += 1
    return np.repeat(np.arange(folds), sizes)


def peak_rss_mb() -> float:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# ---------------------------------------------------------------------------------------------
# Roles (each run in its own subprocess)
# ---------------------------------------------------------------------------------------------
def run_streaming(args: argparse.Namespace, out: Path) -> None:
    from sing.core.translator import RidgeStats

    rss_start = peak_rss_mb()
    data = SyntheticData(args.n, args.m, args.d, args.chunk, args.seed)
    alphas = np.logspace(-2, 5, args.alphas)
    fold_ids = kfold_ids(args.n, args.folds)
    stats = RidgeStats(args.m, args.d, folds=args.folds)
    t_gen = t_update = 0.0
    t0 = time.perf_counter()
    for start, F, Z in data.chunks():
        t1 = time.perf_counter()
        t_gen += t1 - t0
        stats.update(F, Z, fold_ids[start:start + len(F)])
        t0 = time.perf_counter()
        t_update += t0 - t1
    t1 = time.perf_counter()
    scores = stats.cv_scores(alphas)
    alpha = float(alphas[int(np.argmin(scores))])
    translator = stats.solve(alpha)
    t_select = time.perf_counter() - t1
    np.savez(out / "streaming.npz", weight=translator.weight, bias=translator.bias, scores=scores)
    (out / "streaming.json").write_text(json.dumps({
        "alpha": alpha, "t_generate": t_gen, "t_update": t_update, "t_select_solve": t_select,
        "peak_rss_mb": peak_rss_mb(), "rss_after_imports_mb": rss_start, "n": stats.n,
    }))


def run_sklearn(args: argparse.Namespace, out: Path) -> None:
    from sklearn.linear_model import RidgeCV

    data = SyntheticData(args.n, args.m, args.d, args.chunk, args.seed)
    alphas = np.logspace(-2, 5, args.alphas)
    t0 = time.perf_counter()
    F = np.empty((args.n, args.m), dtype=np.float64)
    Z = np.empty((args.n, args.d), dtype=np.float64)
    for start, Fc, Zc in data.chunks():
        F[start:start + len(Fc)] = Fc
        Z[start:start + len(Zc)] = Zc
    t_gen = time.perf_counter() - t0
    t0 = time.perf_counter()
    model = RidgeCV(alphas=alphas, cv=args.folds, scoring="neg_mean_squared_error").fit(F, Z)
    t_fit = time.perf_counter() - t0
    np.savez(out / "sklearn.npz", weight=model.coef_, bias=model.intercept_)
    (out / "sklearn.json").write_text(json.dumps({
        "alpha": float(model.alpha_), "best_score": float(model.best_score_), "t_generate": t_gen,
        "t_fit": t_fit, "peak_rss_mb": peak_rss_mb(),
    }))


def spawn(role: str, args: argparse.Namespace, out: Path, n: int | None = None) -> dict:
    cmd = [sys.executable, __file__, "--role", role, "--out", str(out), "--n", str(n or args.n),
           "--m", str(args.m), "--d", str(args.d), "--alphas", str(args.alphas), "--folds", str(args.folds),
           "--chunk", str(args.chunk), "--seed", str(args.seed)]
    subprocess.run(cmd, check=True)
    return json.loads((out / f"{role}.json").read_text())


# ---------------------------------------------------------------------------------------------
# Scoring throughput
# ---------------------------------------------------------------------------------------------
def scoring_throughput(args: argparse.Namespace, weight: np.ndarray, bias: np.ndarray) -> dict:
    from sing.core.geometry import head_geometry
    from sing.core.metrics import attribute_score, image_score
    from sing.core.translator import LinearTranslator

    rng = np.random.default_rng(args.seed + 1)
    W = rng.standard_normal((min(1000, args.m), args.m)).astype(np.float32)
    geom = head_geometry(W)
    translator = LinearTranslator(weight, bias)
    data = SyntheticData(args.score_n, args.m, args.d, args.score_n, args.seed + 2)
    _, F, _ = next(data.chunks())
    texts = rng.standard_normal((args.prompts, args.d))
    best_e2e = best_scores = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        z, z_eq = translator(F), translator(geom.remove_null(F))
        t1 = time.perf_counter()
        IS = image_score(z, z_eq)
        AS = attribute_score(z, z_eq, texts)
        t2 = time.perf_counter()
        best_e2e, best_scores = min(best_e2e, t2 - t0), min(best_scores, t2 - t1)
    assert AS.shape == (args.score_n, args.prompts) and IS.shape == (args.score_n,)
    return {"n": args.score_n, "rank": geom.rank, "nullity": geom.nullity,
            "scores_per_s": args.score_n / best_scores, "end_to_end_per_s": args.score_n / best_e2e}


# ---------------------------------------------------------------------------------------------
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=200_000, help="samples (default 200000)")
    p.add_argument("--m", type=int, default=2048, help="feature dimension (default 2048)")
    p.add_argument("--d", type=int, default=768, help="CLIP dimension (default 768)")
    p.add_argument("--alphas", type=int, default=8, help="number of alphas, logspace(-2, 5) (default 8)")
    p.add_argument("--folds", type=int, default=5, help="CV folds (default 5)")
    p.add_argument("--chunk", type=int, default=10_000, help="rows per streamed chunk (default 10000)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--prompts", type=int, default=30, help="prompts for AS throughput (default 30)")
    p.add_argument("--score-n", type=int, default=20_000, help="features for the throughput run")
    p.add_argument("--quick", action="store_true", help="small run: N=20000, m=512, n=256, chunk 2000")
    p.add_argument("--skip-sklearn", action="store_true", help="streaming path and throughput only")
    p.add_argument("--role", choices=["streaming", "sklearn"], help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.role:
        (run_streaming if args.role == "streaming" else run_sklearn)(args, Path(args.out))
        return
    if args.quick:
        args.n, args.m, args.d, args.chunk, args.score_n = 20_000, 512, 256, 2_000, 5_000

    import numpy
    import scipy
    import sklearn

    print(f"bench_ridge: N={args.n:,} m={args.m} n={args.d} alphas={args.alphas} (logspace(-2,5)) "
          f"folds={args.folds} chunk={args.chunk}")
    print(f"  numpy {numpy.__version__}, scipy {scipy.__version__}, scikit-learn {sklearn.__version__}, "
          f"{os.cpu_count()} CPUs, load average at start {os.getloadavg()[0]:.1f} (shared machine)")
    size_f = args.n * args.m * 8 / 2**20
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        small_n = max(args.folds * args.chunk // 10, args.n // 10)
        small = spawn("streaming", args, out, n=small_n)
        s = spawn("streaming", args, out)
        t_stream = s["t_update"] + s["t_select_solve"]
        print(f"streaming RidgeStats: update {s['t_update']:.1f} s + {args.folds}-fold CV over "
              f"{args.alphas} alphas and solve {s['t_select_solve']:.1f} s = {t_stream:.1f} s "
              f"(data generation {s['t_generate']:.1f} s excluded); alpha = {s['alpha']:g}")
        print(f"  peak RSS streaming: {s['peak_rss_mb']:.0f} MB at N={args.n:,}; {small['peak_rss_mb']:.0f} MB "
              f"at N={small_n:,}; (after imports {s['rss_after_imports_mb']:.0f} MB; F as float64 would be "
              f"{size_f:.0f} MB)")
        stream = np.load(out / "streaming.npz")
        if not args.skip_sklearn:
            r = spawn("sklearn", args, out)
            ref = np.load(out / "sklearn.npz")
            coef_diff = float(np.abs(stream["weight"] - ref["weight"]).max())
            coef_scale = float(np.abs(ref["weight"]).max())
            bias_diff = float(np.abs(stream["bias"] - ref["bias"]).max())
            best = float(stream["scores"].min())
            print(f"sklearn RidgeCV(alphas, cv={args.folds}, scoring='neg_mean_squared_error'): fit "
                  f"{r['t_fit']:.1f} s; alpha = {r['alpha']:g}; peak RSS {r['peak_rss_mb']:.0f} MB")
            print(f"  time ratio sklearn / streaming: {r['t_fit'] / t_stream:.1f}x")
            print(f"  same alpha chosen: {r['alpha'] == s['alpha']}")
            print(f"  max |coef diff| = {coef_diff:.3g} (max |coef| = {coef_scale:.3g}, relative "
                  f"{coef_diff / coef_scale:.2g}); max |intercept diff| = {bias_diff:.3g}")
            print(f"  best CV MSE: streaming {best:.12g}, sklearn {-r['best_score']:.12g} "
                  f"(relative diff {abs(best + r['best_score']) / best:.2g})")
        thr = scoring_throughput(args, stream["weight"], stream["bias"])
        print(f"AS/IS scoring, {args.prompts} prompts, {thr['n']:,} features (head {min(1000, args.m)}x{args.m}, "
              f"nullity {thr['nullity']}): {thr['scores_per_s']:,.0f} features/s from (T f, T f~); "
              f"{thr['end_to_end_per_s']:,.0f} features/s end-to-end from f (remove_null + translate + AS/IS)")
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
