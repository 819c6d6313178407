"""Extraction throughput: compute-only vs end-to-end (JPEG files -> DataLoader -> decode -> transform -> model).

    python benchmarks/bench_extract.py                       # CPU, demo models (random weights)
    python benchmarks/bench_extract.py --device cuda --models resnet50,vit_large_patch16_224 \
        --precision bf16 --batch-size 256 --num-workers 16 --n-images 4096

--models: "demo" (the demo's entries, config.demo.yaml `models:`), or comma-separated keys of the catalogue
(sing.registry.MODELS) or timm names; all built with random weights. JPEGs are generated once
(ImageNet-like 500x375, quality 90) unless --data-dir points at a folder of images. Prints one table row per
model: compute img/s on synthetic tensors, end-to-end img/s through sing.data.extraction, and their ratio.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import torch

from sing.data.extraction import extract_classifier
from sing.models.classifiers import load_classifier
from sing.models.devices import autocast_context, resolve_device
from sing.registry import MODELS, ModelEntry


def registry() -> dict[str, dict]:
    """key -> compute spec of every classifier: the catalogue (sing.registry) and the demo's entries."""
    import yaml

    demo = yaml.safe_load((Path(__file__).resolve().parents[1] / "config.demo.yaml").read_text())["models"]
    return {**{key: entry.spec() for key, entry in MODELS.items()},
            **{key: ModelEntry.from_config(key, entry).spec() for key, entry in demo.items()}}


def make_jpegs(d: Path, n: int, size=(500, 375)) -> list[str]:
    from sing.data.synthetic import DEFAULT_WNIDS, _encode, _render

    d.mkdir(parents=True, exist_ok=True)
    ids = []
    for i in range(n):
        p = d / f"img_{i:05d}.JPEG"
        if not p.exists():
            p.write_bytes(_encode(_render(DEFAULT_WNIDS[i % len(DEFAULT_WNIDS)], i, 0, *size), "jpeg", 0))
        ids.append(p.name)
    return ids


def entry_for(name: str) -> tuple[str, dict]:
    reg = registry()
    if name in reg:
        return name, {**reg[name], "pretrained": False, "seed": 0}
    return name, {"source": "timm", "name": name, "pretrained": False, "seed": 0}


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def bench_compute(adapter, device, batch_size, precision, channels_last, seconds, min_batches=3):
    x = torch.randn(batch_size, *adapter.data_config["input_size"], device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), autocast_context(precision, device):
        adapter.features(x)  # warm-up
        adapter.features(x)
        sync(device)
        n, t0 = 0, time.perf_counter()
        while n < min_batches or time.perf_counter() - t0 < seconds:
            adapter.features(x)
            n += 1
        sync(device)
    return n * batch_size / (time.perf_counter() - t0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--models", default="demo")
    ap.add_argument("--precision", default=None, help="fp32 | bf16 | fp16 (default: fp32 on cpu, bf16 on cuda)")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--num-workers", type=int, default=None)
    ap.add_argument("--n-images", type=int, default=None)
    ap.add_argument("--seconds", type=float, default=None, help="compute-only timing duration per model")
    ap.add_argument("--channels-last", action="store_true")
    ap.add_argument("--data-dir", default=None)
    a = ap.parse_args(argv)
    device = resolve_device(a.device)
    cuda = device.type == "cuda"
    precision = a.precision or ("bf16" if cuda else "fp32")
    bs = a.batch_size or (256 if cuda else 16)
    workers = a.num_workers if a.num_workers is not None else (min(16, os.cpu_count() or 1) if cuda else 0)
    n_img = a.n_images or (50 * bs if cuda else 48)
    seconds = a.seconds or (5.0 if cuda else 3.0)
    if cuda:
        torch.backends.cudnn.benchmark = True
    if a.models == "demo":
        names = [k for k in registry() if k.startswith("demo_")]
    else:
        names = [m.strip() for m in a.models.split(",") if m.strip()]
    data_dir = Path(a.data_dir) if a.data_dir else Path(tempfile.gettempdir()) / "sing_bench_jpegs"
    ids = sorted(os.listdir(data_dir))[:n_img] if a.data_dir else make_jpegs(data_dir, n_img)
    print(f"device={device} ({torch.cuda.get_device_name(device) if cuda else f'{torch.get_num_threads()} threads'}) "
          f"precision={precision} batch={bs} workers={workers} images={len(ids)} channels_last={a.channels_last} "
          f"torch={torch.__version__}", flush=True)
    hdr = f"{'model':<34} {'input':>7} {'m':>5} {'compute img/s':>14} {'end-to-end img/s':>17} {'ratio':>6}"
    print(hdr)
    print("-" * len(hdr), flush=True)
    for name in names:
        key, entry = entry_for(name)
        adapter = load_classifier(key, entry, device=device, self_check=False)
        if a.channels_last:
            adapter.channels_last()
        comp = bench_compute(adapter, device, bs, precision, a.channels_last, seconds)
        # warm the data path (worker start-up, cudnn autotune for the last partial batch) on a few images
        extract_classifier(adapter, ids[: bs + 1], data_dir, batch_size=bs, precision=precision, device=device,
                           num_workers=workers, channels_last=a.channels_last, progress=False)
        sync(device)
        t0 = time.perf_counter()
        res = extract_classifier(adapter, ids, data_dir, batch_size=bs, precision=precision, device=device,
                                 num_workers=workers, channels_last=a.channels_last, progress=False)
        sync(device)
        e2e = len(res["image_ids"]) / (time.perf_counter() - t0)
        size = adapter.data_config["input_size"][-1]
        print(f"{key:<34} {size:>7} {adapter.in_dim:>5} {comp:>14.1f} {e2e:>17.1f} {e2e / comp:>6.2f}", flush=True)
        del adapter
        if cuda:
            torch.cuda.empty_cache()
    return 0


if __name__ == "__main__":
    sys.exit(main())
