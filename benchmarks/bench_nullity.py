"""Benchmark: time and peak memory of the null-space work of one score job as the head's class count K falls and
the null space grows to m − K (m = 2048, K = 1000 / 37 / 2, nullity up to 2046), sing vs a dense reference.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_nullity.py            # N = 500 images, 5 baseline seeds, d = 768
    .venv/bin/python benchmarks/bench_nullity.py --quick    # N = 100, 2 seeds

One job's work, each (K, implementation) in its own subprocess so that its peak RSS is its own:

* ``sing``: :func:`sing.core.geometry.head_geometry` (SVD), :class:`sing.analysis.scores.RandomSubspaces` (the
  leakage baseline keeps the thinner of a subspace and its complement: an m × K basis when the nullity is m − K),
  :func:`sing.analysis.scores.score_images`, the 'null' validation perturbation and the steering of 50 images;
* ``dense`` (the textbook reference): the same quantities with m × m projectors, Π_n = I − V_p V_pᵀ and one
  dense projector Q Qᵀ per random subspace of dimension m − K (Q from the QR of an m × (m − K) Gaussian).

Prints per K: seconds and peak RSS of both, their ratios, and the largest difference of the null-removal scores
(AS, IS) between the two (the baseline differs by construction: other random subspaces).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

M, D = 2048, 768


def _inputs(k: int, n: int):
    rng = np.random.default_rng([0, k])
    W = rng.standard_normal((k, M)) / np.sqrt(M)
    F = np.abs(rng.standard_normal((n, M))) + 0.5
    from sing.core.translator import LinearTranslator

    T = LinearTranslator(rng.standard_normal((D, M)) / np.sqrt(M), 0.1 * rng.standard_normal(D))
    Z = rng.standard_normal((n, D))
    return W, F, T, Z


def _angles(a, b):
    cos = np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def run_sing(k: int, n: int, seeds: int) -> dict:
    from sing.analysis.scores import RandomSubspaces, score_images
    from sing.analysis.steering import steer_toward_text
    from sing.core.geometry import head_geometry
    from sing.core.perturb import equal_norm_perturbation

    W, F, T, Z = _inputs(k, n)
    t0 = time.perf_counter()
    g = head_geometry(W)
    out = score_images(F, Z, g, T, W=W, baseline=RandomSubspaces(M, g.nullity, seeds, 0))
    norm = np.linalg.norm(g.project_null(F), axis=1)
    delta = equal_norm_perturbation(F, g, "null", norm, 0)
    steer_toward_text(F[:50], g, T, Z[0], 40.0)
    seconds = time.perf_counter() - t0
    return {"seconds": seconds, "nullity": g.nullity, "as": out["as_deg"].tolist(), "is": out["is_deg"].tolist(),
            "null_logit_change": float(np.abs(delta @ W.T).max())}


def run_dense(k: int, n: int, seeds: int) -> dict:
    W, F, T, Z = _inputs(k, n)
    t0 = time.perf_counter()
    _, s, Vt = np.linalg.svd(W, full_matrices=True)
    rank = int(np.sum(s > 1e-5))
    Pn = np.eye(M) - Vt[:rank].T @ Vt[:rank]
    F_eq = F - F @ Pn
    z, z_eq = T(F), T(F_eq)
    a0 = _angles(z, Z)
    out = {"as": (a0 - _angles(z_eq, Z)).tolist(), "is": _angles(z, z_eq).tolist()}
    rng = np.random.default_rng(0)
    for _ in range(seeds):
        Q, _ = np.linalg.qr(rng.standard_normal((M, M - rank)))
        P = Q @ Q.T
        z_r = T(F - F @ P)
        np.abs(a0 - _angles(z_r, Z))
        _angles(z, z_r)
    norm = np.linalg.norm(F @ Pn, axis=1)
    g = rng.standard_normal((n, M)) @ Pn
    delta = g * (norm / np.linalg.norm(g, axis=1))[:, None]
    Pn @ Pn  # the steering step projects the text gradient with the same m × m projector
    out.update(seconds=time.perf_counter() - t0, nullity=M - rank, null_logit_change=float(np.abs(delta @ W.T).max()))
    return out


def _child(impl: str, k: int, n: int, seeds: int) -> dict:
    res = subprocess.run([sys.executable, __file__, "--child", impl, str(k), str(n), str(seeds)], check=True,
                         capture_output=True, text=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        impl, k, n, seeds = args.child[0], *map(int, args.child[1:])
        out = (run_sing if impl == "sing" else run_dense)(k, n, seeds)
        out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(out))
        return
    n, seeds = (100, 2) if args.quick else (500, 5)
    print(f"m = {M}, d = {D}, N = {n} images, {seeds} baseline subspaces")
    print(f"{'K':>5} {'nullity':>7} | {'sing s':>7} {'dense s':>8} {'x faster':>8} | {'sing MB':>8} {'dense MB':>9} "
          f"{'x less':>6} | {'max |dAS|':>9} {'max |dIS|':>9} {'null dlogit':>11}")
    for k in (1000, 37, 2):
        a, b = _child("sing", k, n, seeds), _child("dense", k, n, seeds)
        das = np.max(np.abs(np.subtract(a["as"], b["as"])))
        dis = np.max(np.abs(np.subtract(a["is"], b["is"])))
        print(f"{k:>5} {a['nullity']:>7} | {a['seconds']:>7.2f} {b['seconds']:>8.2f} "
              f"{b['seconds'] / a['seconds']:>8.1f} | "
              f"{a['peak_rss_mb']:>8.0f} {b['peak_rss_mb']:>9.0f} {b['peak_rss_mb'] / a['peak_rss_mb']:>6.1f} | "
              f"{das:>9.1e} {dis:>9.1e} {a['null_logit_change']:>11.1e}")


if __name__ == "__main__":
    main()
