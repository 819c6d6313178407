"""Benchmark: the planning-time sample-size check (:func:`sing.data.availability.check_samples`) on an
ImageNet-sized tree of empty files: 1000 class folders, ``--train`` files each in ``train/`` (ImageNet: ~1300) and
50 in ``val/``; only names are read, so empty files measure exactly the listing cost.

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_availability.py                 # 1000 x 1300 train + 1000 x 50 val
    .venv/bin/python benchmarks/bench_availability.py --train 300     # a smaller tree

The paper's four samples are checked as the workflow asks for them (translator 10 train images per class,
analysis 50 val, open-vocabulary all train images of 2 classes, robustness 500 train), three ways:

* ``cold``: the kernel's dentry cache dropped where possible (root only: ``/proc/sys/vm/drop_caches``), no count
  cache: the first plan on a machine;
* ``warm``: file system cache warm, no count cache: each plan without ``cache``;
* ``cached``: with the JSON count cache (one ``stat`` per class folder): every later plan.

Also times a full listing of every folder (what the check would cost without stopping at ``per_class``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from sing.data.availability import SampleRequest, check_samples, count_images  # noqa: E402
from sing.data.classes import catalog_from_settings, imagenet_wnids  # noqa: E402


def make_tree(root: Path, train: int, val: int) -> float:
    t = time.perf_counter()
    for w in imagenet_wnids():
        for split, n in (("train", train), ("val", val)):
            folder = root / split / w
            folder.mkdir(parents=True)
            for i in range(n):
                open(folder / f"{w}_{i}.JPEG", "wb").close()
    return time.perf_counter() - t


def drop_caches() -> bool:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("2\n")
        return True
    except OSError:
        return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", type=int, default=1300)
    ap.add_argument("--val", type=int, default=50)
    ap.add_argument("--dir", default=None, help="where to build the tree (default: a temporary folder)")
    args = ap.parse_args()
    base = Path(args.dir or tempfile.mkdtemp(prefix="sing-avail-"))
    root = base / "imagenet"
    try:
        made = make_tree(root, args.train, args.val)
        files = 1000 * (args.train + args.val)
        print(f"tree: 1000 classes x ({args.train} train + {args.val} val) = {files:,} files, built in {made:.1f} s")
        cat = catalog_from_settings({"kind": "imagenet", "root": str(root)})
        ids = cat.ids
        reqs = [SampleRequest("samples.translator", "train", 10, ids),
                SampleRequest("samples.analysis", "val", 50, ids),
                SampleRequest("samples.openvocab", "train", 1300, ("n02437312", "n01910747"), True),
                SampleRequest("samples.robustness", "train", 500, ids)]
        cache = base / "counts.json"
        dropped = drop_caches()
        for label, kwargs in (("cold" if dropped else "first", {}), ("warm", {}), ("cached (1st, writes)",
                              {"cache": cache}), ("cached", {"cache": cache})):
            t = time.perf_counter()
            check_samples(cat, reqs, **kwargs)
            print(f"check_samples {label:>22}: {time.perf_counter() - t:6.2f} s")
        t = time.perf_counter()
        total = sum(c.count for c in count_images(cat, "train", ids).values())
        print(f"full listing of train/ (no early stop): {time.perf_counter() - t:6.2f} s, {total:,} image files")
        print(f"count cache: {cache.stat().st_size / 1e3:.0f} kB")
    finally:
        if args.dir is None:
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
