"""Image files of any class-folder dataset: which files are images, listing a folder, the class-local sample
order, and robust decoding to RGB. Nothing here knows ImageNet (:mod:`sing.data.imagenet` builds its layouts
on these functions); a class is any string key and a folder any directory.

* :func:`image_extensions` / :func:`is_image_file`: the file name extensions Pillow can open, derived from
  Pillow's plugin registry (``PIL.Image.registered_extensions()``), compared case-insensitively.
* :func:`list_image_folder`: the image files of a folder, and the other (ignored) files.
* :func:`sample_order` / :func:`sample_class`: the deterministic class-local order of a sample.
* :func:`load_rgb`: decode to 8-bit RGB, or :class:`BadImageError` naming the file; decoder warnings are
  returned (:func:`load_rgb_noting`) so the caller can log them in the job's log.
"""

from __future__ import annotations

import functools
import hashlib
import os
import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["BadImageError", "DEFAULT_MAX_PIXELS", "FolderListing", "OTHER_IMAGE_FORMATS", "describe_unopened",
           "image_extensions", "is_image_file", "list_image_folder", "load_rgb", "load_rgb_noting", "sample_class",
           "sample_order", "sniff_image"]

DEFAULT_MAX_PIXELS = 300_000_000  # ~900 MB decoded; larger images are treated as unreadable


class BadImageError(ValueError):
    """An image file that cannot be decoded to RGB. ``.path`` is the file, ``.reason`` the cause."""

    def __init__(self, path, reason: str = ""):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"cannot read image {self.path}: {reason}" if reason else str(path))

    def __reduce__(self):
        return (BadImageError, (self.path, self.reason))


# ---------------------------------------------------------------- which files are images
_CONVERT = "or convert them to JPEG / PNG (e.g. ImageMagick: magick mogrify -format png *{ext})"
#: image formats Pillow does not open without a plugin or an external program: extension -> (format, what reads
#: it). Only those missing from :func:`image_extensions` apply (a Pillow built with AVIF opens .avif).
OTHER_IMAGE_FORMATS = {
    **dict.fromkeys((".heic", ".heif", ".hif", ".heics"), (
        "HEIF/HEIC (iPhone photos)", "Pillow opens them with the pillow-heif plugin (pip install pillow-heif; "
        "pillow_heif.register_heif_opener()), which sing does not load: " + _CONVERT)),
    ".avif": ("AVIF", "this Pillow was built without AVIF (Pillow >= 11.3 wheels have it; or pillow-avif-plugin): "
              "upgrade Pillow, " + _CONVERT),
    ".jxl": ("JPEG XL", "Pillow opens them with the pillow-jxl-plugin package, which sing does not load: "
             + _CONVERT),
    **dict.fromkeys((".cr2", ".cr3", ".crw", ".nef", ".nrw", ".arw", ".srf", ".sr2", ".dng", ".raf", ".orf", ".rw2",
                     ".pef", ".srw", ".x3f", ".3fr", ".erf", ".kdc", ".mrw", ".iiq", ".rwl", ".raw"), (
        "camera RAW", "sensor data that needs demosaicing (rawpy / LibRaw, darktable, dcraw), not an image Pillow "
        "opens: develop them to JPEG / PNG (e.g. rawpy.imread(f).postprocess())")),
    ".pdf": ("PDF", "a document, not an image: render its pages (pdf2image / poppler's pdftoppm) to PNG"),
    **dict.fromkeys((".svg", ".svgz"), ("SVG", "vector graphics: rasterise them (cairosvg, rsvg-convert, Inkscape) "
                                               "to PNG")),
    ".exr": ("OpenEXR (HDR)", "high dynamic range: tone-map them to 8-bit PNG (OpenEXR / imageio with the freeimage "
             "plugin)"),
    ".hdr": ("Radiance HDR", "high dynamic range: tone-map them to 8-bit PNG (imageio, OpenCV)"),
    **dict.fromkeys((".jxr", ".wdp", ".hdp"), ("JPEG XR", _CONVERT.removeprefix("or "))),
    ".bpg": ("BPG", _CONVERT.removeprefix("or ")),
}


def _other_format(name: str) -> tuple[str, str] | None:
    ext = os.path.splitext(os.fspath(name))[1].lower()
    if ext in image_extensions():
        return None
    fmt = OTHER_IMAGE_FORMATS.get(ext)
    return None if fmt is None else (fmt[0], fmt[1].replace("{ext}", ext))


def describe_unopened(names: Sequence[str]) -> str:
    """A sentence counting the files of ``names`` that are images in a format Pillow does not open here
    (:data:`OTHER_IMAGE_FORMATS`), per format with what reads it; "" when there are none."""
    groups: dict[str, tuple[str, list[str]]] = {}
    for n in names:
        fmt = _other_format(n)
        if fmt is not None:
            groups.setdefault(fmt[0], (fmt[1], []))[1].append(os.path.basename(os.fspath(n)))
    parts = [f"{len(files)} {fmt} image(s) such as {files[0]} ({how})" for fmt, (how, files) in groups.items()]
    return ("; ".join(parts) + " — sing reads the formats Pillow opens") if parts else ""


@functools.cache
def image_extensions() -> frozenset[str]:
    """Lower-case extensions (with the dot) of the formats Pillow can open.

    Source: ``PIL.Image.registered_extensions()`` (extension -> format, after ``Image.init()`` loads every
    plugin), keeping formats with an open handler (``PIL.Image.OPEN``) that are not stubs
    (``PIL.ImageFile.StubImageFile``: BUFR, GRIB, HDF5, WMF need an external handler). Save-only formats (PDF,
    Palm, MPO's writer) are left out. Includes torchvision's ``IMG_EXTENSIONS`` (jpg, jpeg, png, ppm, bmp, pgm,
    tif, tiff, webp) and e.g. ``.gif``, ``.jp2``, ``.avif`` where Pillow has the codec plugin.
    """
    from PIL import Image, ImageFile

    Image.init()
    out = set()
    for ext, fmt in Image.registered_extensions().items():
        opener = Image.OPEN.get(fmt)
        if opener is None:
            continue
        factory = opener[0]
        if isinstance(factory, type) and issubclass(factory, ImageFile.StubImageFile):
            continue
        out.add(ext.lower())
    return frozenset(out)


def is_image_file(name: str | os.PathLike) -> bool:
    """True for a non-hidden file name whose extension (case-insensitive) Pillow can open
    (:func:`image_extensions`): ``a.JPEG``, ``b.jpeg``, ``c.png``; not ``Thumbs.db``, ``desktop.ini``,
    ``.DS_Store``, ``._a.JPEG`` (macOS resource forks) or ``notes.txt``."""
    name = os.path.basename(os.fspath(name))
    return not name.startswith(".") and os.path.splitext(name)[1].lower() in image_extensions()


@dataclass(frozen=True)
class FolderListing:
    """The regular files of one folder: ``images`` (file names Pillow can open, sorted) and ``ignored``
    (every other non-hidden file name, sorted: ``Thumbs.db``, ``desktop.ini``, text files, ...)."""

    folder: str
    images: tuple[str, ...]
    ignored: tuple[str, ...]


def list_image_folder(folder: str | os.PathLike) -> FolderListing:
    """List ``folder`` (not recursive): image files by extension (:func:`is_image_file`) and the ignored rest.

    Hidden files (``.*``) are neither. Sub-folders are not descended into. Raises FileNotFoundError /
    NotADirectoryError (from ``os.scandir``) naming the folder.
    """
    images, ignored = [], []
    with os.scandir(folder) as it:
        for e in it:
            if e.name.startswith(".") or not e.is_file():
                continue
            (images if is_image_file(e.name) else ignored).append(e.name)
    return FolderListing(os.fspath(folder), tuple(sorted(images)), tuple(sorted(ignored)))


# ---------------------------------------------------------------- sampling
def _sample_key(seed: int, key: str, image_id: str) -> str:
    name = image_id.rsplit("/", 1)[-1]
    return hashlib.sha256(f"{int(seed)}|{key}|{name}".encode()).hexdigest()


def sample_order(files: Sequence[str], seed: int, key: str) -> list[str]:
    """Every file of one class in its sample order: by sha256("seed|key|file name") (ties by the id).

    The order depends only on the seed, the class key and this class's file names (not on other classes, the
    layout, the folder path or the listing order); a sample of n is its first n usable files. ValueError
    naming the class for duplicate ids.
    """
    if len(set(files)) != len(files):
        raise ValueError(f"class {key}: duplicate file names in the listing")
    return sorted(files, key=lambda f: (_sample_key(seed, key, f), f))


def sample_class(files: Sequence[str], n: int | str | None, seed: int, key: str, *,
                 take_all_if_fewer: bool = False, folder=None, setting: str | None = None,
                 ignored: Sequence[str] = ()) -> list[str]:
    """Deterministic class-local sample of ``n`` image ids: the first ``n`` of :func:`sample_order`.

    A sample of n is a prefix of the sample of n+1. ``n`` = None / "all" / -1 takes every file (in that
    order). Raises ValueError naming the class (and ``folder``) when it has no file at all (whatever
    ``take_all_if_fewer``: a class without images cannot be analysed), or fewer than ``n`` unless
    ``take_all_if_fewer``; ``setting``: the config key of the sample (e.g. ``samples.robustness``), named in
    the message with its ``per_class`` and ``take_all_if_fewer``. The message counts the ``ignored`` files that are
    images in a format Pillow does not open (:func:`describe_unopened`: HEIC, JPEG XL, RAW, PDF, SVG...), so such
    a class is not called empty.
    """
    order = sample_order(files, seed, key)
    where = f" in {folder}" if folder is not None else ""
    other = describe_unopened(ignored)
    if not order:
        if other:
            raise ValueError(f"class {key}: no image file Pillow can open{where}; it holds {other}")
        raise ValueError(f"class {key}: no image file{where} (an empty class cannot be sampled, even with "
                         "take_all_if_fewer: true; remove the class from the configuration or add images)")
    if n is None or n == "all" or (isinstance(n, int) and n < 0):
        return order
    n = int(n)
    if len(order) < n:
        if take_all_if_fewer:
            return order
        also = f"; it also holds {other}" if other else ""
        raise ValueError(f"class {key}: asked for {n} images{per_class_note(setting)} but only {len(order)} "
                         f"exist{where} ({fewer_images_fix(setting)}){also}")
    return order[:n]


def per_class_note(setting: str | None) -> str:
    return f" ({setting}.per_class)" if setting else ""


def fewer_images_fix(setting: str | None) -> str:
    """How to take fewer images: the keys under ``setting`` (e.g. ``samples.robustness``) when known."""
    if setting:
        return f"set {setting}.take_all_if_fewer: true to use what exists, or lower {setting}.per_class"
    return "set take_all_if_fewer: true to use what exists"


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


#: Pillow warnings about conditions :func:`load_rgb` handles itself (not worth a log line)
_HANDLED_WARNINGS = ("Palette images with Transparency expressed in bytes should be converted to RGBA images",)


def load_rgb_noting(path, max_pixels: int = DEFAULT_MAX_PIXELS):
    """(8-bit RGB PIL image, [warning texts]) of ``path``: :func:`load_rgb`, plus the warnings Pillow raised
    while decoding it (corrupt EXIF, truncated data it could recover, ...), each prefixed with the file, so a
    caller in a DataLoader worker can hand them to the job's log. Raises BadImageError like :func:`load_rgb`."""
    from PIL import Image, UnidentifiedImageError

    path = os.fspath(path)
    try:
        if os.path.getsize(path) == 0:
            raise BadImageError(path, "empty file (0 bytes)")
    except OSError as e:
        raise BadImageError(path, f"{type(e).__name__}: {e}") from None
    old = Image.MAX_IMAGE_PIXELS
    caught: list = []
    try:
        Image.MAX_IMAGE_PIXELS = None  # our own limit below
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with Image.open(path) as im:
                w, h = im.size
                if w < 1 or h < 1 or w * h > max_pixels:
                    raise BadImageError(path, f"image size {w}x{h} outside 1..{max_pixels} pixels")
                im.load()
                img = _convert(im)
    except BadImageError:
        raise
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError) as e:
        raise BadImageError(path, f"{type(e).__name__}: {e}{_what_it_holds(path)}") from None
    finally:
        Image.MAX_IMAGE_PIXELS = old
    notes = [f"{path}: {w.category.__name__}: {w.message}" for w in caught
             if not any(str(w.message).startswith(h) for h in _HANDLED_WARNINGS)]
    return img, notes


#: (format, what reads it) by leading bytes, for files Pillow cannot identify
_SIGNATURES = (
    (lambda h: h[4:8] == b"ftyp" and h[8:12] in (b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1", b"heim",
                                                   b"heis"), ".heic"),
    (lambda h: h[4:8] == b"ftyp" and h[8:12] in (b"avif", b"avis"), ".avif"),
    (lambda h: h.startswith(b"\xff\x0a") or h.startswith(b"\x00\x00\x00\x0cJXL \r\n\x87\n"), ".jxl"),
    (lambda h: h.startswith(b"%PDF"), ".pdf"),
    (lambda h: h.startswith(b"\x76\x2f\x31\x01"), ".exr"),
    (lambda h: h.startswith(b"#?RADIANCE"), ".hdr"),
)


def sniff_image(path) -> str:
    """What a file Pillow cannot identify holds, from its first bytes: "HEIF/HEIC (...)", "AVIF", "JPEG XL",
    "PDF", "SVG", "an HTML page", ... with what reads it, or "no known image signature (first bytes ...)"."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(64)
    except OSError as e:
        return f"unreadable ({e})"
    for test, ext in _SIGNATURES:
        if test(head):
            fmt, how = OTHER_IMAGE_FORMATS[ext]
            return f"{fmt} data ({how.replace('{ext}', ext)})"
    for sig, fmt in ((b"\xff\xd8\xff", "JPEG"), (b"\x89PNG", "PNG"), (b"GIF8", "GIF"), (b"BM", "BMP"),
                     (b"II*\x00", "TIFF"), (b"MM\x00*", "TIFF")):
        if head.startswith(sig):
            return f"{fmt} data that Pillow could not decode (damaged or truncated?)"
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return "WEBP data that Pillow could not decode (damaged or truncated?)"
    text = head.lstrip().lower()
    if text.startswith((b"<!doctype html", b"<html")):
        return "an HTML page, not an image (a failed or login-protected download saved under an image name?)"
    if text.startswith(b"<svg") or (text.startswith(b"<?xml") and b"<svg" in head):
        fmt, how = OTHER_IMAGE_FORMATS[".svg"]
        return f"{fmt} data ({how})"
    if text.startswith(b"<"):
        return "an XML / HTML document, not an image"
    if head.startswith(b"version https://git-lfs"):
        return "a Git LFS pointer, not the image (run `git lfs pull`)"
    return f"no known image signature (first bytes {head[:12]!r})"


def _what_it_holds(path) -> str:
    return f"; the file holds {sniff_image(path)}"


def load_rgb(path, max_pixels: int = DEFAULT_MAX_PIXELS):
    """Decode ``path`` to an 8-bit RGB PIL image.

    Grayscale, CMYK, palette (with or without transparency), RGBA/LA and 16-bit / 32-bit / float images are
    converted; anything unreadable (zero bytes, truncated, not an image, too large: more than ``max_pixels``
    pixels) raises BadImageError naming the file. Pillow's decoder warnings are re-issued as Python warnings
    (:func:`load_rgb_noting` returns them instead).
    """
    img, notes = load_rgb_noting(path, max_pixels)
    for note in notes:
        warnings.warn(note, UserWarning, stacklevel=2)
    return img


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
