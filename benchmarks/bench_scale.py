"""Peak memory and time of the jobs whose inputs grow with the class count (issue 19, kind 5): train_probes,
validation and evaluate_translator, at 100, 1,000 and 5,000 classes, before (a base commit) and after (this tree),
in one run.

    nice .venv/bin/python benchmarks/bench_scale.py                     # 100, 1000, 5000 classes vs c4bbab7
    .venv/bin/python benchmarks/bench_scale.py --classes 100 --base ""  # this tree only

Each (version, job, class count) runs the real workflow script (``workflow_scripts/<job>.py`` of that version,
with that version's ``src/sing`` first on PYTHONPATH; the base is unpacked with ``git archive``) in a fresh
process, with a stand-in ``snakemake`` object, on synthetic inputs of the real shapes written once per class
count: the analysis sample (features m = ``--m`` wide, 4096 by default, and 768-d CLIP embeddings), the
robustness sample, a random head (K × m), its geometry, a random translator. Reported: the job's wall time and
the process's peak RSS (``os.wait4`` ru_maxrss; the inputs are written by a child too, as a forked child starts at
its parent's size), and an "import" row (the same process importing the job's
modules and doing nothing: the base every job pays). The last column is the ``mem_mb`` the workflow now declares
for that job at those sizes (:mod:`sing.workflow.memory`, from the byte models of :mod:`sing.analysis.resources`;
before: a fixed 32000 / 8000 / 8000); a peak above it is flagged ``OVER``.

Scaled down to run on 2 shared cores (say so with the numbers): ``--analysis-per-class`` 10 images (the paper: 50;
at 5,000 classes that is 50k × 4096, the issue's measurement point), ``--probe-per-class`` 2 (the paper: 500), the
robustness head ``--probe-m`` 1024 wide (its rank, the probe's input width, is min(K, 1024)), a 2-value λ grid
with the 10 % holdout and ``--probe-max-iter`` 2 L-BFGS iterations per fit: the probe row measures the memory of
the whole job and the time of a fixed number of steps, not a converged fit.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
JOBS = ("train_probe", "validation", "evaluate_translator")
CHUNK = 100  # classes per chunk directory (ImageNet's chunk size)


# ---------------------------------------------------------------- synthetic inputs (written once per class count)
def _write_sample(root: Path, K: int, per_class: int, dim: int, kind: str, seed: int) -> list[str]:
    import numpy as np

    from sing.io.storage import write_embeddings

    rng = np.random.default_rng(seed)
    dirs = []
    for chunk in range(-(-K // CHUNK)):
        d = root / f"chunk-{chunk:03d}"
        d.mkdir(parents=True, exist_ok=True)
        dirs.append(str(d))
        for c in range(chunk * CHUNK, min(K, (chunk + 1) * CHUNK)):
            ids = [f"val/c{c:05d}/{i}.JPEG" for i in range(per_class)]
            extra = ({"pred_class": rng.integers(0, K, per_class).astype(np.int32),
                      "pred_logit": np.zeros(per_class, np.float32), "correct": np.zeros(per_class, bool)}
                     if kind == "classifier" else None)
            write_embeddings(d / f"c{c:05d}.parquet", image_ids=ids, split="val", class_index=[c] * per_class,
                             class_id=[f"c{c:05d}"] * per_class,
                             features=rng.standard_normal((per_class, dim), dtype=np.float32), extra_columns=extra,
                             metadata={"kind": kind, "model": "m", "weights_id": "synthetic", "preprocess": {},
                                       "precision": "fp32"})
    return dirs


def make_data(root: Path, K: int, a: argparse.Namespace) -> dict:
    """Write (or reuse) the inputs of one class count; returns the paths."""
    import numpy as np
    from safetensors.numpy import save_file

    from sing.core.geometry import head_geometry
    from sing.core.translator import LinearTranslator
    from sing.io.storage import write_embeddings

    done = root / "inputs.json"
    if done.is_file():
        return json.loads(done.read_text())
    rng = np.random.default_rng(K)
    out: dict = {}
    for name, m in (("", a.m), ("probe_", a.probe_m)):
        W = rng.standard_normal((K, m)) / np.sqrt(m)
        save_file({"weight": W.astype(np.float32), "bias": np.zeros(K, np.float32)}, str(root / f"{name}head.st"))
        head_geometry(W).save(root / f"{name}geometry.safetensors")
        LinearTranslator(rng.standard_normal((a.n, m)) / np.sqrt(m), np.zeros(a.n)).save(
            root / f"{name}translator.safetensors")
        out[f"{name}head"] = str(root / f"{name}head.st")
        out[f"{name}geometry"] = str(root / f"{name}geometry.safetensors")
        out[f"{name}translator"] = str(root / f"{name}translator.safetensors")
    out["features"] = _write_sample(root / "features", K, a.analysis_per_class, a.m, "classifier", 1)
    out["clip"] = _write_sample(root / "clip", K, a.analysis_per_class, a.n, "clip", 2)
    out["robustness"] = _write_sample(root / "robustness", K, a.probe_per_class, a.probe_m, "classifier", 3)
    write_embeddings(root / "translator_sample.parquet", image_ids=["train/none/0.JPEG"], split="train",
                     class_index=[0], class_id=["c00000"], features=np.zeros((1, a.m), np.float32),
                     metadata={"kind": "classifier", "model": "m", "weights_id": "synthetic", "preprocess": {},
                               "precision": "fp32"})
    out["translator_sample"] = str(root / "translator_sample.parquet")
    done.write_text(json.dumps(out))
    return out


def declared_mem_mb(job: str, K: int, a: argparse.Namespace) -> int:
    """The mem_mb the workflow declares for ``job`` at these sizes (what sing.workflow.memory.JobMemory computes from
    the plan's counts and the input headers' widths)."""
    from sing.analysis.resources import job_mem_mb, probe_job_bytes, translator_eval_job_bytes, validation_job_bytes

    per_class = a.analysis_per_class
    if job == "train_probe":
        return job_mem_mb(probe_job_bytes(K * a.probe_per_class, min(K, a.probe_m), K, [a.n], holdout=0.1,
                                          per_class=a.probe_per_class, feature_dim=a.probe_m))
    if job == "validation":
        return job_mem_mb(validation_job_bytes(min(2000, K * per_class), a.m, a.n, a.validation_seeds,
                                               per_class=per_class, n_classes=K))
    return job_mem_mb(translator_eval_job_bytes(per_class, a.m, a.n, K * per_class))


# ---------------------------------------------------------------- one job in this process (the child)
def child(job: str, scripts: Path, data: dict, out: Path, a: argparse.Namespace) -> dict:
    from types import SimpleNamespace

    class nl(dict):  # Snakemake's Namedlist, as the scripts use it: attribute and key access (no Snakemake import)
        __getattr__ = dict.__getitem__

    settings = {"analyses": {"seed": 0, "validation": {"seeds": a.validation_seeds, "max_images": 2000},
                             "robustness": {"l2": [1e-4, 1e-3], "holdout": 0.1, "max_iter": a.probe_max_iter,
                                            "tol": 1e-12}},
                "extraction": {"device": "cpu"}, "run_spaces": ["s"]}
    if job == "train_probe":
        inputs = {"features": data["robustness"], "geometry": data["probe_geometry"],
                  "translators": [data["probe_translator"]]}
        outputs = {"principal": str(out / "principal.st"), "translated": [str(out / "translated.st")]}
    elif job == "validation":
        inputs = {"features": data["features"], "translator_sample": data["translator_sample"], "head": data["head"],
                  "geometry": data["geometry"], "translator": data["translator"]}
        outputs = {"validation": str(out / "validation.parquet")}
    else:
        inputs = {"features": data["features"], "clip": data["clip"], "translator": data["translator"]}
        outputs = {"evaluation": str(out / "evaluation.parquet")}
    smk = SimpleNamespace(input=nl(inputs), output=nl(outputs), params=nl({"settings": settings}),
                          wildcards=nl({"model": "m", "space": "s"}), log=[str(out / f"{job}.log")], threads=1,
                          config={})
    import runpy

    t = time.perf_counter()
    runpy.run_path(str(scripts / f"{job}.py"), init_globals={"snakemake": smk}, run_name="__main__")
    return {"seconds": time.perf_counter() - t}


def run_child(version_root: Path | None, args: list[str]) -> dict:
    """Run this file as a child (``version_root``'s src first on PYTHONPATH); its result and peak RSS (MB)."""
    env = dict(os.environ)
    if version_root is not None:
        env["PYTHONPATH"] = str(version_root / "src") + os.pathsep + env.get("PYTHONPATH", "")
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen([sys.executable, __file__, *args], stdout=out, stderr=err, env=env, text=True)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage (its peak RSS)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        return {"error": stderr.strip().splitlines()[-1] if stderr.strip() else f"exit {proc.returncode}"}
    result = json.loads(stdout.strip().splitlines()[-1])
    result["peak_mb"] = usage.ru_maxrss / 1024
    return result


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--classes", default="100,1000,5000")
    ap.add_argument("--base", default="c4bbab7", help="git commit to compare with ('' for this tree only)")
    ap.add_argument("--m", type=int, default=4096)
    ap.add_argument("--n", type=int, default=768)
    ap.add_argument("--probe-m", type=int, default=1024)
    ap.add_argument("--analysis-per-class", type=int, default=10)
    ap.add_argument("--probe-per-class", type=int, default=2)
    ap.add_argument("--probe-max-iter", type=int, default=2)
    ap.add_argument("--validation-seeds", type=int, default=1)
    ap.add_argument("--jobs", default=",".join(JOBS))
    ap.add_argument("--work", default=None, help="folder for inputs and the base checkout (default: a temp dir)")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--make-data", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--scripts", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--data", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.make_data is not None:  # in a child, so that the parent stays small (a forked child starts at its size)
        make_data(Path(a.work), a.make_data, a)
        print(json.dumps({"seconds": 0.0}))
        return 0
    if a.child:
        if a.child == "import":
            import numpy  # noqa: F401
            import polars  # noqa: F401
            import torch  # noqa: F401

            import sing.analysis.probe  # noqa: F401
            import sing.io.storage  # noqa: F401
            print(json.dumps({"seconds": 0.0}))
            return 0
        print(json.dumps(child(a.child, Path(a.scripts), json.loads(Path(a.data).read_text()), Path(a.out), a)))
        return 0

    work = Path(a.work or tempfile.mkdtemp(prefix="sing_bench_scale_"))
    work.mkdir(parents=True, exist_ok=True)
    versions: dict[str, Path | None] = {"after": None}
    if a.base:
        base = work / f"base-{a.base}"
        if not base.is_dir():
            base.mkdir()
            archive = subprocess.run(["git", "-C", str(REPO), "archive", a.base, "src", "workflow_scripts"],
                                     capture_output=True, check=True).stdout
            subprocess.run(["tar", "-x", "-C", str(base)], input=archive, check=True)
        versions = {"before": base, "after": None}
    shared = ["--m", str(a.m), "--n", str(a.n), "--probe-m", str(a.probe_m),
              "--probe-max-iter", str(a.probe_max_iter), "--validation-seeds", str(a.validation_seeds)]
    jobs = [j for j in a.jobs.split(",") if j]
    print(f"bench_scale: m={a.m}, CLIP n={a.n}, analysis {a.analysis_per_class}/class, robustness "
          f"{a.probe_per_class}/class at m={a.probe_m}, probe max_iter {a.probe_max_iter}, validation max_images "
          f"2000 x {a.validation_seeds} seed(s); versions {', '.join(versions)} ({a.base or 'this tree'}); "
          f"work {work}", flush=True)
    rows = []
    for name, root in versions.items():
        r = run_child(root, ["--child", "import"])
        rows.append(("import", "-", "-", name, r))
        print(f"import ({name}): peak {r.get('peak_mb', float('nan')):.0f} MB", flush=True)
    for K in [int(k) for k in a.classes.split(",") if k]:
        t = time.perf_counter()
        (work / f"K{K}").mkdir(exist_ok=True)
        made = run_child(None, ["--make-data", str(K), "--work", str((work / f"K{K}").resolve()), *shared,
                                "--analysis-per-class", str(a.analysis_per_class),
                                "--probe-per-class", str(a.probe_per_class)])
        if "error" in made:
            raise RuntimeError(f"inputs of K={K}: {made['error']}")
        print(f"K={K}: inputs ready ({time.perf_counter() - t:.0f} s)", flush=True)
        for job in jobs:
            n = K * (a.probe_per_class if job == "train_probe" else a.analysis_per_class)
            for name, root in versions.items():
                out = work / f"K{K}" / f"out-{name}-{job}"
                out.mkdir(exist_ok=True)
                scripts = (root or REPO) / "workflow_scripts"
                r = run_child(root, ["--child", job, "--scripts", str(scripts), "--data",
                                     str(work / f"K{K}" / "inputs.json"), "--out", str(out), *shared])
                rows.append((job, K, n, name, r))
                shown = (f"{r['seconds']:.1f} s, peak {r['peak_mb']:.0f} MB" if "error" not in r
                         else f"ERROR {r['error']}")
                print(f"{job:<20} K={K:<6} N={n:<7} {name:<6} {shown}", flush=True)
    print("\n| job | classes | images | " + " | ".join(f"{v} time (s) | {v} peak RSS (MB)" for v in versions)
          + " | declared mem_mb (after) |")
    print("|---|---|---|" + "---|---|" * len(versions) + "---|")
    keys = sorted({(j, K, n) for j, K, n, _, _ in rows}, key=lambda x: (x[0] != "import", x[0], str(x[1])))
    for j, K, n in keys:
        cells = []
        for v in versions:
            r = next((r for jj, KK, nn, vv, r in rows if (jj, KK, nn, vv) == (j, K, n, v)), {})
            cells += ([f"{r['seconds']:.1f}", f"{r['peak_mb']:.0f}"] if "peak_mb" in r else ["error", "error"])
        if j == "import":
            cells.append("-")
        else:
            declared = declared_mem_mb(j, K, a)
            after = next((r for jj, KK, nn, vv, r in rows if (jj, KK, nn, vv) == (j, K, n, "after")), {})
            cells.append(f"{declared}" + (" OVER" if after.get("peak_mb", 0) > declared else ""))
        print(f"| {j} | {K} | {n} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
