"""A small deterministic dataset for the demos and the tests: ImageNet's layout (real wnids) or an image folder
(any class names, :mod:`sing.data.classes`).

Class-dependent content (each class has its own colour palette and stripe texture, so features
differ by class), and the file kinds met in the real ImageNet: mostly RGB JPEG, plus PNG, grayscale JPEG,
CMYK JPEG, palette PNG (with transparency), 16-bit grayscale PNG, RGBA PNG, tiny and large/odd sizes — all
named ``*.JPEG`` as in ImageNet (``*.jpg`` in an image folder; the decoder sniffs the content). Optionally a few
unreadable files (truncated JPEG, zero bytes, text) for ``on_bad_image`` tests, and junk files that are not
images (``Thumbs.db``, ``desktop.ini``, ``notes.txt``) that listing must ignore. The same settings give
byte-identical files.
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Sequence

import numpy as np

from .classes import class_index

#: well-known, visually distinct classes spread over the index range (only wnids; names come from open_clip)
DEFAULT_WNIDS = ("n01440764", "n01530575", "n02085620", "n02123045", "n02504458", "n03028079", "n03417042",
                 "n03888257", "n04037443", "n07753592", "n09472597", "n12267677")

#: cycle of file kinds; index i of a class uses KINDS[i % len(KINDS)] except that most are plain JPEG
SPECIAL_KINDS = ("png", "gray_jpeg", "cmyk_jpeg", "palette_png", "png16", "rgba_png", "tiny", "large")
BAD_KINDS = ("truncated_jpeg", "zero_bytes", "not_an_image")
JUNK_FILES = ("Thumbs.db", "desktop.ini", "notes.txt")

DEFAULTS = dict(n_classes=4, classes=None, train_per_class=6, val_per_class=5, seed=0, image_size=None,
                size_range=(96, 192), special_every=3, flat_val=False, bad_per_split=0, junk_per_class=0)


def _class_number(class_id: str) -> int:
    """The rng key of a class: a wnid's digits (the ImageNet demo's images stay as they were), else 32 bits of
    the sha256 of the id."""
    if len(class_id) == 9 and class_id[0] == "n" and class_id[1:].isdigit():
        return int(class_id[1:])
    return int.from_bytes(hashlib.sha256(class_id.encode("utf-8")).digest()[:4], "big")


def _class_params(wnid: str, seed: int):
    g = np.random.default_rng([seed, _class_number(wnid)])
    base = g.uniform(0, 255, size=3)
    accent = 255 - base
    freq = g.uniform(0.03, 0.2)
    angle = g.uniform(0, np.pi)
    return base, accent, freq, angle


def _render(wnid: str, i: int, seed: int, w: int, h: int) -> np.ndarray:
    base, accent, freq, angle = _class_params(wnid, seed)
    g = np.random.default_rng([seed, _class_number(wnid), i, 7])
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    phase = g.uniform(0, 2 * np.pi)
    t = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * freq + phase) * 0.5 + 0.5
    img = base[None, None, :] * (1 - t[..., None]) + accent[None, None, :] * t[..., None]
    # a class-coloured blob at a random place, plus noise
    cx, cy, r = g.uniform(0, w), g.uniform(0, h), g.uniform(0.15, 0.4) * min(w, h)
    blob = np.exp(-(((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * r * r)))[..., None]
    img = img * (1 - blob) + (255 - base[::-1])[None, None, :] * blob
    img = img + g.normal(0, 12, size=img.shape)
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)


def _encode(arr: np.ndarray, kind: str, seed: int) -> bytes:
    from PIL import Image

    im = Image.fromarray(arr)
    buf = io.BytesIO()
    if kind in ("jpeg", "tiny", "large"):
        im.save(buf, format="JPEG", quality=90)
    elif kind == "png":
        im.save(buf, format="PNG")
    elif kind == "gray_jpeg":
        im.convert("L").save(buf, format="JPEG", quality=90)
    elif kind == "cmyk_jpeg":
        im.convert("CMYK").save(buf, format="JPEG", quality=90)
    elif kind == "palette_png":
        p = im.quantize(colors=32, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        p.info["transparency"] = 0
        p.save(buf, format="PNG", transparency=0)
    elif kind == "png16":
        g16 = (np.asarray(im.convert("L"), dtype=np.uint16) * 257).astype(np.uint16)
        Image.fromarray(g16).save(buf, format="PNG")
    elif kind == "rgba_png":
        a = np.full(arr.shape[:2] + (1,), 200, np.uint8)
        Image.fromarray(np.concatenate([arr, a], axis=2)).save(buf, format="PNG")
    elif kind == "truncated_jpeg":
        im.save(buf, format="JPEG", quality=90)
        return buf.getvalue()[: len(buf.getvalue()) // 2]
    elif kind == "zero_bytes":
        return b""
    elif kind == "not_an_image":
        return b"this is not an image\n" * 4
    else:  # pragma: no cover
        raise ValueError(f"unknown synthetic image kind {kind!r}")
    return buf.getvalue()


def _kind_for(i: int, special_every: int) -> str:
    if special_every and i % special_every == special_every - 1:
        return SPECIAL_KINDS[(i // special_every) % len(SPECIAL_KINDS)]
    return "jpeg"


def _size_for(kind: str, g, size_range) -> tuple[int, int]:
    if kind == "tiny":
        return int(g.integers(3, 20)), int(g.integers(3, 20))
    if kind == "large":
        return int(g.integers(900, 1300)), int(g.integers(700, 1000))
    lo, hi = size_range
    return int(g.integers(lo, hi + 1)), int(g.integers(lo, hi + 1))


def make_synthetic_dataset(root, settings: dict | None = None, kind: str = "imagenet") -> dict:
    """Write the dataset under ``root`` and return a manifest dict (also written to ``root/synthetic.json``).

    kind ``imagenet``: ``train/<wnid>/<wnid>_<i>.JPEG`` and ``val/<wnid>/ILSVRC2012_val_<n>.JPEG`` (or a flat val
    with ``LOC_val_solution.csv``); kind ``folder``: ``<split>/<class>/<i>.jpg`` for any class names.
    settings (all optional): ``n_classes`` (classes from DEFAULT_WNIDS) or ``classes`` (explicit list: wnids for
    imagenet, any folder names for folder), ``train_per_class``, ``val_per_class``, ``seed``, ``size_range``
    [lo, hi] pixels of ordinary images or ``image_size`` s (= size_range [s, 1.5 s]), ``special_every``
    (every k-th image of a class is a special kind; 0 = all plain JPEG), ``flat_val`` (imagenet: val as
    ``val/ILSVRC2012_val_XXXXXXXX.JPEG`` + ``LOC_val_solution.csv`` instead of class folders),
    ``bad_per_split`` (extra unreadable files per class and split, cycling truncated/zero-byte/text),
    ``junk_per_class`` (non-image files per class folder and split, cycling Thumbs.db/desktop.ini/notes.txt).
    """
    from .classes import ClassCatalog

    if kind not in ("imagenet", "folder"):
        raise ValueError(f"synthetic dataset kind must be 'imagenet' or 'folder', got {kind!r}")
    s = dict(DEFAULTS)
    unknown = set(settings or {}) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown synthetic dataset settings {sorted(unknown)} (known: {sorted(DEFAULTS)})")
    s.update(settings or {})
    if s["image_size"] is not None:
        s["size_range"] = (int(s["image_size"]), int(round(1.5 * int(s["image_size"]))))
    wnids: Sequence[str] = list(s["classes"]) if s["classes"] else list(DEFAULT_WNIDS[: int(s["n_classes"])])
    if len(set(wnids)) != len(wnids):
        raise ValueError(f"synthetic classes contain duplicates: {wnids}")
    if not s["classes"] and int(s["n_classes"]) > len(DEFAULT_WNIDS):
        raise ValueError(f"n_classes={s['n_classes']} > {len(DEFAULT_WNIDS)}: give an explicit wnids list")
    if kind == "imagenet":
        for w in wnids:
            class_index(w)
        order = sorted(wnids, key=class_index)
    else:
        if s["flat_val"]:
            raise ValueError("synthetic flat_val is ImageNet's layout; a folder dataset has val/<class>/ folders")
        order = list(ClassCatalog("folder", tuple(sorted(wnids)), str(root)).ids)  # validates the folder names
    if int(s["val_per_class"]) + int(s["bad_per_split"]) > 999:
        raise ValueError("synthetic val_per_class + bad_per_split must be < 1000 (class-local val ids)")
    seed = int(s["seed"])
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    files: dict[str, list[dict]] = {"train": [], "val": []}
    solution = []
    for w in order:
        for split, n in (("train", int(s["train_per_class"])), ("val", int(s["val_per_class"]))):
            kinds = [_kind_for(i, int(s["special_every"])) for i in range(n)]
            kinds += [BAD_KINDS[j % len(BAD_KINDS)] for j in range(int(s["bad_per_split"]))]
            for i, kind_i in enumerate(kinds):
                g = np.random.default_rng([seed, _class_number(w), i, 1 if split == "train" else 2])
                wd, ht = _size_for(kind_i, g, s["size_range"])
                data = _encode(_render(w, i + (0 if split == "train" else 10_000), seed, wd, ht), kind_i, seed)
                if kind == "folder":
                    rel = f"{split}/{w}/{i:04d}.jpg"
                elif split == "train":
                    rel = f"train/{w}/{w}_{i}.JPEG"
                else:
                    # class-local ids: a class's file names never depend on the other classes
                    name = f"ILSVRC2012_val_{class_index(w) * 1000 + i + 1:08d}"
                    rel = f"val/{name}.JPEG" if s["flat_val"] else f"val/{w}/{name}.JPEG"
                    solution.append((name, f"{w} 0 0 {wd - 1} {ht - 1}"))
                p = root / rel
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(data)
                files[split].append({"image_id": rel, "wnid": w, "kind": kind_i, "size": [wd, ht]})
            folder = root / split / w
            for j in range(int(s["junk_per_class"]) if folder.is_dir() else 0):
                name = JUNK_FILES[j % len(JUNK_FILES)]
                stem, ext = name.rsplit(".", 1)
                (folder / (name if j < len(JUNK_FILES) else f"{stem}{j}.{ext}")).write_text(f"not an image {j}\n")
    if s["flat_val"]:
        lines = ["ImageId,PredictionString"] + [f"{a},{b}" for a, b in sorted(solution)]
        (root / "LOC_val_solution.csv").write_text("\n".join(lines) + "\n")
    manifest = {"kind": kind, "settings": {k: (list(v) if isinstance(v, tuple) else v) for k, v in s.items()},
                "wnids": list(wnids), "files": files}
    (root / "synthetic.json").write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


def make_synthetic_imagenet(root, settings: dict | None = None) -> dict:
    """:func:`make_synthetic_dataset` of kind ``imagenet``."""
    return make_synthetic_dataset(root, settings, "imagenet")
