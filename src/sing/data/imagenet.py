"""ImageNet data layer: class metadata and file listing of the two ImageNet layouts (class folders and flat val),
on the dataset-independent functions of :mod:`sing.data.images` (which files are images, sample order,
decoding).

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
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from .classes import class_index, imagenet_names, imagenet_wnids
from .images import list_image_folder, sample_class

log = logging.getLogger(__name__)

LOC_VAL_SOLUTION = "LOC_val_solution.csv"
ON_MISSING = ("fail", "skip")

# ---------------------------------------------------------------- class metadata
@functools.lru_cache(maxsize=1)
def class_rows() -> tuple[tuple[int, str, str, str], ...]:
    """(index, wnid, name, description) of the 1000 classes in canonical order (see :func:`imagenet_classes`)."""
    return tuple((i, w, name, desc) for i, (w, (name, desc)) in enumerate(zip(imagenet_wnids(), imagenet_names())))


def imagenet_classes():
    """polars DataFrame (index int32, wnid, name, description): timm's order and wnids, names from
    ``open_clip.IMAGENET_CLASSNAMES`` (the names used in prompts), WordNet lemmas as description
    (:func:`sing.data.classes.imagenet_names`)."""
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
class MissingImagesError(FileNotFoundError):
    """Images listed by ``LOC_val_solution.csv`` are not on disk (flat val layout)."""


@dataclass(frozen=True)
class ClassListing:
    """The files of one class in one split.

    ``files``: image ids (paths relative to the root, sorted) of the files that exist and are images by
    extension (:func:`sing.data.images.is_image_file`); ``ignored``: ids of the other files beside them
    (``Thumbs.db``, ``desktop.ini``, ...; never sampled); ``missing``: ``val/<ImageId>`` of the images
    ``LOC_val_solution.csv`` lists for the class but that have no image file (flat val only); ``folder``: the
    folder listed; ``csv``: the solution file (flat val) or None.
    """

    wnid: str
    files: tuple[str, ...]
    folder: str
    ignored: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    csv: str | None = None

    @property
    def where(self) -> str:
        """The folder, and the CSV for the flat val layout (for messages)."""
        return f"{self.folder} (listed by {self.csv})" if self.csv else self.folder


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


@functools.lru_cache(maxsize=8)
def _image_stems(folder: str, mtime_ns: int) -> dict[str, tuple[str, ...]]:
    """{file stem: image file names} of ``folder`` (``ILSVRC2012_val_00000293`` -> ``(...293.JPEG,)``)."""
    stems: dict[str, list[str]] = {}
    for name in list_image_folder(folder).images:
        stems.setdefault(os.path.splitext(name)[0], []).append(name)
    return {k: tuple(sorted(v)) for k, v in stems.items()}


def find_loc_val_solution(root) -> Path | None:
    root = Path(root)
    for p in (root / LOC_VAL_SOLUTION, root / "val" / LOC_VAL_SOLUTION):
        if p.is_file():
            return p
    return None


def list_class(root, split: str, wnid: str) -> ClassListing:
    """The files of class ``wnid`` in ``split`` (see :class:`ClassListing`).

    Uses ``<root>/<split>/<wnid>/`` when it exists, else (for val) the flat layout: each ImageId of
    LOC_val_solution.csv resolves to the image file ``<root>/val/<ImageId>.<ext>`` with any image extension in
    any case (``.JPEG``, ``.jpeg``, ``.png``, ...). Raises FileNotFoundError naming the class and the folder
    when neither layout exists or the CSV lists no image of the class, ValueError when one ImageId matches
    two files.
    """
    root = Path(root)
    folder = root / split / wnid
    if folder.is_dir():
        listing = list_image_folder(folder)
        return ClassListing(wnid, tuple(f"{split}/{wnid}/{n}" for n in listing.images), str(folder),
                            ignored=tuple(f"{split}/{wnid}/{n}" for n in listing.ignored))
    if split == "val":
        sol = find_loc_val_solution(root)
        if sol is not None:
            st = sol.stat()
            ids = _flat_val_index(str(sol), st.st_mtime_ns, st.st_size).get(wnid, ())
            val = root / "val"
            if not ids:
                raise FileNotFoundError(f"class {wnid}: no images listed in {sol} (flat val layout under {val})")
            stems = _image_stems(str(val), val.stat().st_mtime_ns) if val.is_dir() else {}
            files, missing = [], []
            for i in ids:
                names = stems.get(i, ())
                if len(names) > 1:
                    raise ValueError(f"class {wnid}: image {i} of {sol} matches several files in {val}: "
                                     f"{list(names)}")
                (files.append(f"val/{names[0]}") if names else missing.append(f"val/{i}"))
            return ClassListing(wnid, tuple(sorted(files)), str(val), missing=tuple(missing), csv=str(sol))
    raise FileNotFoundError(f"class {wnid}: image folder {folder} does not exist"
                            + (" (and no LOC_val_solution.csv for a flat val layout)" if split == "val" else ""))


def class_files(root, split: str, wnid: str) -> list[str]:
    """Sorted image ids (paths relative to ``root``) of class ``wnid`` in ``split``: the image files of
    :func:`list_class` (non-image files and CSV entries without a file left out)."""
    return list(list_class(root, split, wnid).files)


def _examples(items: Sequence[str], k: int = 5) -> str:
    shown = ", ".join(items[:k])
    return shown + (f", ... ({len(items) - k} more)" if len(items) > k else "")


def list_classes(root, split: str, wnids: Sequence[str], *, on_missing: str = "fail") -> dict[str, ClassListing]:
    """:func:`list_class` of several classes, checked before any image is read.

    Non-image files are logged (WARNING, per class, naming the folder and the files) and never sampled.
    Images listed by LOC_val_solution.csv but not on disk: ``on_missing="fail"`` raises
    :class:`MissingImagesError` naming the CSV, the folder, how many of these classes' images are missing and
    a few of them; ``"skip"`` logs them and lists only the files that exist.
    """
    if on_missing not in ON_MISSING:
        raise ValueError(f"on_missing_image must be one of {ON_MISSING}, got {on_missing!r}")
    out = {}
    for w in wnids:
        class_index(w)  # validates the wnid
        out[w] = listing = list_class(root, split, w)
        if listing.ignored:
            log.warning("class %s: ignored %d non-image file(s) in %s: %s", w, len(listing.ignored),
                        listing.folder, _examples([i.rsplit("/", 1)[-1] for i in listing.ignored], 10))
    missing = [m for listing in out.values() for m in listing.missing]
    if missing:
        first = next(listing for listing in out.values() if listing.missing)
        listed = sum(len(listing.files) + len(listing.missing) for listing in out.values() if listing.csv)
        msg = (f"{first.csv} lists {listed} images of these {len(out)} classes; {len(missing)} of them have no "
               f"image file in {first.folder} (any image extension, any case), e.g. {_examples(missing)}")
        if on_missing == "fail":
            raise MissingImagesError(f"{msg}. Restore the files, or set extraction.on_missing_image: skip to "
                                     "sample only the images that exist")
        log.warning("%s: skipped (on_missing_image: skip)", msg)
    return out


def sample_images(root, split: str, wnids: Sequence[str], per_class, seed: int, take_all_if_fewer=False,
                  on_missing: str = "fail") -> dict[str, list[str]]:
    """{wnid: [image ids]} for several classes: :func:`list_classes`, then each class sampled independently
    with :func:`sing.data.images.sample_class`."""
    listings = list_classes(root, split, wnids, on_missing=on_missing)
    return {w: sample_class(listing.files, per_class, seed, w, take_all_if_fewer=take_all_if_fewer,
                            folder=listing.where) for w, listing in listings.items()}
