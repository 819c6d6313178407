"""ImageNet data layer: class metadata, file listing (folder and flat-val layouts), class-local sampling,
robust image decoding.

Layouts under an ImageNet root:

* folders: ``<root>/<split>/<wnid>/<file>`` (``split`` = ``train`` or ``val``);
* flat val: ``<root>/val/<ImageId>.JPEG`` with ``LOC_val_solution.csv`` (columns ``ImageId,PredictionString``,
  the first token of PredictionString is the wnid) in ``<root>`` or ``<root>/val``.

Image ids are paths relative to the root (``val/n01440764/ILSVRC2012_val_00000293.JPEG`` or
``val/ILSVRC2012_val_00000293.JPEG``).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import os
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np

from .classes import class_index, imagenet_wnids

LOC_VAL_SOLUTION = "LOC_val_solution.csv"
DEFAULT_MAX_PIXELS = 300_000_000  # ~900 MB decoded; larger images are treated as unreadable


class BadImageError(ValueError):
    """An image file that cannot be decoded to RGB. ``.path`` is the file, ``.reason`` the cause."""

    def __init__(self, path, reason: str = ""):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot read image {self.path}: {reason}" if reason else str(path))

    def __reduce__(self):
        return (BadImageError, (self.path, self.reason))


# ---------------------------------------------------------------- class metadata
@functools.lru_cache(maxsize=1)
def class_rows() -> tuple[tuple[int, str, str, str], ...]:
    """(index, wnid, name, description) of the 1000 classes in canonical order (see :func:`imagenet_classes`)."""
    import open_clip
    from timm.data import ImageNetInfo

    info = ImageNetInfo("imagenet-1k")
    wnids = info.label_names()
    names = list(open_clip.IMAGENET_CLASSNAMES)
    if len(wnids) != 1000 or len(names) != 1000:
        raise RuntimeError(f"expected 1000 ImageNet classes, timm has {len(wnids)}, open_clip {len(names)}")
    if tuple(wnids) != imagenet_wnids():
        raise RuntimeError("timm's ImageNetInfo order differs from sing.data.classes.imagenet_wnids()")
    descs = info.label_descriptions(detailed=False)
    return tuple((i, w, n, d) for i, (w, n, d) in enumerate(zip(wnids, names, descs)))


def imagenet_classes():
    """polars DataFrame (index int32, wnid, name, description): timm's ImageNetInfo order and wnids,
    names from ``open_clip.IMAGENET_CLASSNAMES`` (the names used in prompts), WordNet lemmas as description."""
    import polars as pl

    rows = class_rows()
    return pl.DataFrame({"index": [r[0] for r in rows], "wnid": [r[1] for r in rows],
                         "name": [r[2] for r in rows], "description": [r[3] for r in rows]},
                        schema={"index": pl.Int32, "wnid": pl.Utf8, "name": pl.Utf8, "description": pl.Utf8})


def class_name(wnid: str) -> str:
    return class_rows()[class_index(wnid)][2]


def index_to_wnid(i: int) -> str:
    if not 0 <= int(i) < 1000:
        raise ValueError(f"class index {i} out of range 0..999")
    return class_rows()[int(i)][1]


# ---------------------------------------------------------------- file listing
def _is_listed(name: str) -> bool:
    return not name.startswith(".") and not name.endswith(".csv")


@functools.lru_cache(maxsize=8)
def _flat_val_index(csv_path: str, mtime_ns: int, size: int) -> dict[str, tuple[str, ...]]:
    by_wnid: dict[str, list[str]] = {}
    with open(csv_path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if not header or header[0] != "ImageId":
            raise ValueError(f"{csv_path}: expected a header 'ImageId,PredictionString', got {header}")
        for row in reader:
            if not row:
                continue
            if len(row) < 2 or not row[1].split():
                raise ValueError(f"{csv_path}: malformed row {row}")
            by_wnid.setdefault(row[1].split()[0], []).append(row[0])
    return {k: tuple(sorted(v)) for k, v in by_wnid.items()}


def find_loc_val_solution(root) -> Path | None:
    root = Path(root)
    for p in (root / LOC_VAL_SOLUTION, root / "val" / LOC_VAL_SOLUTION):
        if p.is_file():
            return p
    return None


def class_files(root, split: str, wnid: str) -> list[str]:
    """Sorted image ids (paths relative to ``root``) of class ``wnid`` in ``split``.

    Uses ``<root>/<split>/<wnid>/`` when it exists, else (for val) the flat layout with LOC_val_solution.csv.
    Every regular, non-hidden file counts (non-image files are bad images, handled at decode time).
    Raises FileNotFoundError naming the class and the folder when neither exists.
    """
    root = Path(root)
    folder = root / split / wnid
    if folder.is_dir():
        return sorted(f"{split}/{wnid}/{e.name}" for e in os.scandir(folder) if e.is_file() and _is_listed(e.name))
    if split == "val":
        sol = find_loc_val_solution(root)
        if sol is not None:
            st = sol.stat()
            ids = _flat_val_index(str(sol), st.st_mtime_ns, st.st_size).get(wnid, ())
            if not ids:
                raise FileNotFoundError(f"class {wnid}: no images listed in {sol} (flat val layout under {root / 'val'})")
            return sorted(f"val/{i}.JPEG" for i in ids)
    raise FileNotFoundError(f"class {wnid}: image folder {folder} does not exist"
                            + (" (and no LOC_val_solution.csv for a flat val layout)" if split == "val" else ""))


# ---------------------------------------------------------------- sampling
def _sample_key(seed: int, wnid: str, image_id: str) -> str:
    name = image_id.rsplit("/", 1)[-1]
    return hashlib.sha256(f"{int(seed)}|{wnid}|{name}".encode()).hexdigest()


def sample_class(files: Sequence[str], n: int | str | None, seed: int, wnid: str, *,
                 take_all_if_fewer: bool = False, folder=None) -> list[str]:
    """Deterministic class-local sample of ``n`` image ids.

    Files are ordered by sha256("seed|wnid|file name"): the choice depends only on the seed, the class and
    this class's file names (not on other classes, the layout, or the listing order); a sample of n is a
    prefix of the sample of n+1. ``n`` = None / "all" / -1 takes every file (in that order).
    With fewer files than ``n``: ValueError naming the class (and ``folder``), or all of them when
    ``take_all_if_fewer``.
    """
    if len(set(files)) != len(files):
        raise ValueError(f"class {wnid}: duplicate file names in the listing")
    order = sorted(files, key=lambda f: (_sample_key(seed, wnid, f), f))
    if n is None or n == "all" or (isinstance(n, int) and n < 0):
        return order
    n = int(n)
    if len(order) < n:
        if take_all_if_fewer:
            return order
        where = f" in {folder}" if folder is not None else ""
        raise ValueError(f"class {wnid}: asked for {n} images but only {len(order)} exist{where} "
                         "(set take_all_if_fewer: true to use what exists)")
    return order[:n]


def sample_images(root, split: str, wnids: Sequence[str], per_class, seed: int, take_all_if_fewer=False):
    """{wnid: [image ids]} for several classes (each sampled independently with :func:`sample_class`)."""
    out = {}
    for w in wnids:
        class_index(w)  # validates the wnid
        files = class_files(root, split, w)
        out[w] = sample_class(files, per_class, seed, w, take_all_if_fewer=take_all_if_fewer,
                              folder=Path(root) / split / w)
    return out


# ---------------------------------------------------------------- decoding
def _to_uint8(arr: np.ndarray, sixteen_bit: bool = False) -> np.ndarray:
    arr = np.asarray(arr)
    if arr.dtype == np.uint8:
        return arr
    if np.issubdtype(arr.dtype, np.floating):
        hi = 1.0 if arr.size and np.nanmax(arr) <= 1.0 else 255.0
        return np.clip(np.nan_to_num(arr) / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)
    hi = 65535.0 if sixteen_bit or arr.dtype == np.uint16 or (arr.size and arr.max() > 255) else 255.0
    return np.clip(arr.astype(np.float64) / hi * 255.0 + 0.5, 0, 255).astype(np.uint8)


def load_rgb(path, max_pixels: int = DEFAULT_MAX_PIXELS):
    """Decode ``path`` to an 8-bit RGB PIL image.

    Grayscale, CMYK, palette (with or without transparency), RGBA/LA and 16-bit / 32-bit / float images are
    converted; anything unreadable (zero bytes, truncated, not an image, too large) raises BadImageError
    naming the file.
    """
    from PIL import Image, UnidentifiedImageError

    path = os.fspath(path)
    try:
        if os.path.getsize(path) == 0:
            raise BadImageError(path, "empty file (0 bytes)")
    except OSError as e:
        raise BadImageError(path, f"{type(e).__name__}: {e}") from None
    old = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = None  # our own limit below
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with Image.open(path) as im:
                w, h = im.size
                if w < 1 or h < 1 or w * h > max_pixels:
                    raise BadImageError(path, f"image size {w}x{h} outside 1..{max_pixels} pixels")
                im.load()
                return _convert(im)
    except BadImageError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as e:
        raise BadImageError(path, f"{type(e).__name__}: {e}") from None
    finally:
        Image.MAX_IMAGE_PIXELS = old


def _convert(im):
    from PIL import Image

    mode = im.mode
    if mode == "RGB":
        return im.copy()
    if mode in ("L", "CMYK", "YCbCr", "LAB", "HSV", "1"):
        return im.convert("RGB")
    if mode in ("P", "PA"):
        return im.convert("RGBA").convert("RGB") if ("transparency" in im.info or mode == "PA") else im.convert("RGB")
    if mode in ("RGBA", "RGBa", "LA", "La", "RGBX"):
        return im.convert("RGB")
    if mode.startswith("I") or mode == "F":  # 16/32-bit integer or float grayscale
        return Image.fromarray(_to_uint8(np.asarray(im), mode.startswith("I;16"))).convert("RGB")
    return im.convert("RGB")
