"""The robustness probe's solver (sing.analysis.probe.fit_probe: torch full-batch L-BFGS) against scikit-learn's
multinomial LogisticRegression (lbfgs) and SGDClassifier (log loss, one-vs-rest), on the same standardised data
and the same objective, at a reduced size on this machine; then an extrapolation to the paper's size.

    .venv/bin/python benchmarks/bench_probe.py [--n 20000 --k 1000 --classes 100 --max-iter 100]

Data: Gaussian classes in k dimensions (class means of norm ~3, unit noise), like principal coordinates of
features. All solvers get the same max_iter; times are one run each (run it under the shared CPU lock).
Extrapolation: one full-batch evaluation costs ~4·N·k·K flops (logits + weight gradient), so time per evaluation
is scaled by (500k · 1000 · 1000) / (N · k · K) and multiplied by the evaluations measured here. This assumes
the same number of iterations at full size (an assumption, not a measurement); the GPU line divides the flop count
by an assumed sustained rate, since no GPU was available: it is not a measurement either.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np

PAPER = (500_000, 1000, 1000)  # N (500 per class), k (principal coordinates of a rank-1000 head), K classes


def data(n: int, k: int, classes: int, seed: int):
    rng = np.random.default_rng(seed)
    means = 3.0 * rng.standard_normal((classes, k)) / np.sqrt(k)
    y = np.repeat(np.arange(classes), -(-n // classes))[:n]
    X = (means[y] + rng.standard_normal((n, k))).astype(np.float32)
    yt = np.repeat(np.arange(classes), 20)
    Xt = (means[yt] + rng.standard_normal((len(yt), k))).astype(np.float32)
    return X, y, Xt, yt


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--k", type=int, default=1000)
    ap.add_argument("--classes", type=int, default=100)
    ap.add_argument("--max-iter", type=int, default=100)
    ap.add_argument("--l2", type=float, default=1e-4)
    ap.add_argument("--gpu-tflops", type=float, default=20.0,
                    help="assumed sustained fp32 rate of a datacentre GPU for the GPU extrapolation line")
    args = ap.parse_args()

    import torch
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression, SGDClassifier

    from sing.analysis.probe import fit_probe, standardisation

    X, y, Xt, yt = data(args.n, args.k, args.classes, 0)
    mu, s = standardisation(X)
    Xs = ((X - mu) / s).astype(np.float32)
    Xts = ((Xt - mu) / s).astype(np.float32)
    n, k, K = args.n, args.k, args.classes
    print(f"data: N = {n}, k = {k}, K = {K} classes, l2 = {args.l2}, max_iter = {args.max_iter}; "
          f"torch threads {torch.get_num_threads()}")

    rows = []
    t = time.perf_counter()
    probe = fit_probe(X, y, l2=args.l2, max_iter=args.max_iter, tol=1e-6, device="cpu", mean=mu, scale=s)
    dt = time.perf_counter() - t
    evals = probe.metrics["function_evals"]
    rows.append(("ours: torch L-BFGS fp32 (full batch)", dt, evals, probe.metrics["iterations"],
                 probe.accuracy(Xt, yt), probe.weight))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t = time.perf_counter()
        sk = LogisticRegression(C=1.0 / (args.l2 * n), max_iter=args.max_iter, tol=1e-6).fit(Xs, y)
        dt = time.perf_counter() - t
    it = int(np.max(sk.n_iter_))
    rows.append(("sklearn LogisticRegression lbfgs", dt, None, it, float(np.mean(sk.predict(Xts) == yt)), sk.coef_))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        t = time.perf_counter()
        sgd = SGDClassifier(loss="log_loss", alpha=args.l2, max_iter=max(5, args.max_iter // 10), tol=1e-4,
                            random_state=0).fit(Xs, y)
        dt = time.perf_counter() - t
    rows.append((f"sklearn SGDClassifier log_loss OvR ({int(np.max(sgd.n_iter_))} epochs)", dt, None,
                 int(np.max(sgd.n_iter_)), float(np.mean(sgd.predict(Xts) == yt)), None))

    ours = rows[0][1]
    print(f"\n{'solver':52s} {'time s':>8s} {'x ours':>7s} {'iters':>6s} {'test acc':>9s} {'max |dW| vs ours':>17s}")
    for name, dt, _, it, acc, coef in rows:
        dw = "" if coef is None or coef is rows[0][5] else f"{np.abs(coef - rows[0][5]).max():.2e}"
        print(f"{name:52s} {dt:8.2f} {dt / ours:7.2f} {it:6d} {acc:9.4f} {dw:>17s}")

    per_eval = ours / max(evals, 1)
    flops = 4.0 * n * k * K
    factor = np.prod(PAPER, dtype=np.float64) / (n * k * K)
    full_evals = evals
    print(f"\nours: {evals} function evaluations, {per_eval:.3f} s each = {flops / per_eval / 1e9:.1f} GFLOP/s here")
    print(f"extrapolation to N = {PAPER[0]:,}, k = {PAPER[1]}, K = {PAPER[2]} (x{factor:.0f} the work per evaluation), "
          f"assuming the same {full_evals} evaluations:")
    for name, dt, _, _, _, _ in rows:
        print(f"  {name:52s} ~{dt * factor / 3600:8.1f} h on this machine's {torch.get_num_threads()} threads")
    gpu = 4.0 * np.prod(PAPER, dtype=np.float64) / (args.gpu_tflops * 1e12) * full_evals
    print(f"  ours on a GPU at an assumed {args.gpu_tflops:g} TFLOP/s sustained: ~{gpu / 60:.1f} min per probe "
          f"(not measured)")
    mem = PAPER[0] * PAPER[1] * 4 / 1e9
    print(f"memory at full size: inputs {mem:.1f} GB float32 (ours, sklearn keeps float32 too), "
          f"one 65,536-row logit block {65536 * PAPER[2] * 4 / 1e9:.2f} GB")


if __name__ == "__main__":
    main()
