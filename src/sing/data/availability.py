"""Can the dataset supply what the config asks of it? Checked when the workflow plans, before any job: the
dataset root and its split folders, and for every sample (``samples.translator`` / ``analysis`` / ``openvocab`` /
``robustness``) every class's image files in that sample's split against its ``per_class``. Each problem is
reported naming the config key, the value, the class folder and the fix; all problems of a run in one error.

The counts are what the extraction jobs will list (:func:`sing.data.images.is_image_file`: file names Pillow
opens, any case; hidden files and ``Thumbs.db`` & co. are not images): the job-time check of
:func:`sing.data.extraction.run_extraction` can then no longer fail on a count, only on unreadable files.

Cheap at full ImageNet scale: a class folder is read with ``os.scandir`` (file names only, no ``stat``, no
decoding) and only until ``per_class`` image files are seen; counts are cached by the folder's mtime (``cache``:
a JSON file), so an unchanged dataset costs one ``stat`` per class folder. ``benchmarks/bench_availability.py``
measures both on a synthetic 1000-class tree.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

from .classes import ClassCatalog, dataset_root_problem

__all__ = ["ClassCount", "DataAvailabilityError", "SampleRequest", "check_dataset_root", "check_samples",
           "count_images", "sample_requests"]

#: each sample of the config: (its config key, the config key that chooses its classes)
SAMPLES = {
    "translator": "samples.translator.classes",
    "analysis": "classes",
    "openvocab": "analyses.open_vocabulary.classes",
    "robustness": "samples.robustness.classes",
}


class DataAvailabilityError(ValueError):
    """The dataset cannot supply what the config asks for. ``problems``: one message per problem (config key,
    value, class folder, fix); ``str()`` joins them, one per line."""

    def __init__(self, problems: Sequence[str]):
        self.problems = list(problems)
        head = "the dataset cannot supply what the config asks for" if len(self.problems) > 1 else ""
        super().__init__("\n".join(([head + ":"] if head else []) + [f"- {p}" if head else p
                                                                      for p in self.problems]))


@dataclass(frozen=True)
class SampleRequest:
    """What one sample asks of the dataset: ``per_class`` images (an int, or None / "all" / -1 for every
    image) of each of ``classes`` from ``split``. ``key``: the sample's config key (``samples.robustness``);
    ``classes_key``: the config key that chose its classes (``samples.robustness.classes``)."""

    key: str
    split: str
    per_class: int | str | None
    classes: tuple[str, ...]
    take_all_if_fewer: bool = False
    classes_key: str = ""

    @property
    def wanted(self) -> int | None:
        """Images needed per class (None: every image, so at least one)."""
        n = self.per_class
        if n is None or n == "all" or (isinstance(n, int) and n < 0):
            return None
        return int(n)


def sample_requests(samples: Mapping[str, Mapping[str, Any]], classes: Mapping[str, Sequence[str]]
                    ) -> list[SampleRequest]:
    """The :class:`SampleRequest` of each sample of the config's ``samples`` section ({name: {split,
    per_class, take_all_if_fewer, ...}}, defaults filled) with its resolved classes ``classes`` ({sample name:
    class ids}; a sample missing there is not checked: e.g. ``openvocab`` without open-vocabulary classes)."""
    out = []
    for name, classes_key in SAMPLES.items():
        if name not in samples or name not in classes:
            continue
        s = samples[name]
        out.append(SampleRequest(f"samples.{name}", str(s.get("split", "val")), s.get("per_class"),
                                 tuple(classes[name]), bool(s.get("take_all_if_fewer", False)), classes_key))
    return out


@dataclass(frozen=True)
class ClassCount:
    """Image files of one class in one split: ``count`` (at least ``min(count, stop_after)`` exact: counting
    stops once enough are seen; ``complete`` says whether every file was counted), ``folder`` (what was listed),
    ``exists`` (the class has a folder / CSV entries), ``ignored`` (other files seen: ``Thumbs.db``, ...),
    ``missing`` (flat val: CSV entries without an image file)."""

    count: int
    folder: str
    exists: bool = True
    complete: bool = True
    ignored: int = 0
    missing: int = 0


def _scan(folder: str, stop_after: int | None) -> tuple[int, bool, int]:
    """(image files, complete, ignored files) of one folder, stopping after ``stop_after`` images."""
    from .images import is_image_file

    n = ignored = 0
    with os.scandir(folder) as it:
        for e in it:
            if e.name.startswith("."):
                continue
            if is_image_file(e.name):
                if not e.is_file():
                    continue
                n += 1
                if stop_after is not None and n >= stop_after:
                    return n, False, ignored
            elif e.is_file():
                ignored += 1
    return n, True, ignored


class _Cache:
    """{folder: [mtime_ns, count, complete, ignored]} in a JSON file; an entry is valid while the folder's
    mtime (which changes when an entry is added, removed or renamed) is unchanged."""

    def __init__(self, path):
        self.path = Path(path) if path else None
        self.data: dict[str, list] = {}
        self.dirty = False
        if self.path is not None and self.path.is_file():
            try:
                self.data = json.loads(self.path.read_text())
            except (OSError, ValueError):
                self.data = {}

    def count(self, folder: str, stop_after: int | None) -> tuple[int, bool, int] | None:
        """(count, complete, ignored) of ``folder`` (None: it does not exist)."""
        try:
            mtime = os.stat(folder).st_mtime_ns
        except FileNotFoundError:
            return None
        hit = self.data.get(folder)
        if hit and hit[0] == mtime and (hit[2] or (stop_after is not None and hit[1] >= stop_after)):
            return hit[1], hit[2], hit[3]
        n, complete, ignored = _scan(folder, stop_after)
        self.data[folder] = [mtime, n, complete, ignored]
        self.dirty = True
        return n, complete, ignored

    def save(self):
        if self.path is None or not self.dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps(self.data, sort_keys=True))
        tmp.replace(self.path)


def _flat_val_counts(root: Path, class_ids: Sequence[str]) -> dict[str, ClassCount] | None:
    """ImageNet's flat val layout: per class, the LOC_val_solution.csv entries that have an image file."""
    from .imagenet import _flat_val_index, _image_stems, find_loc_val_solution

    sol = find_loc_val_solution(root)
    val = root / "val"
    if sol is None:
        return None
    st = sol.stat()
    index = _flat_val_index(str(sol), st.st_mtime_ns, st.st_size)
    stems = _image_stems(str(val), val.stat().st_mtime_ns) if val.is_dir() else {}
    out = {}
    for c in class_ids:
        ids = index.get(c, ())
        have = sum(1 for i in ids if i in stems)
        out[c] = ClassCount(have, f"{val} (listed by {sol})", exists=bool(ids), missing=len(ids) - have)
    return out


def count_images(catalog: ClassCatalog, split: str, class_ids: Sequence[str], *, stop_after: int | None = None,
                 cache: str | os.PathLike | None = None) -> dict[str, ClassCount]:
    """{class id: :class:`ClassCount`} of ``class_ids`` in ``split`` of the dataset: ``<root>/<split>/<class>``
    (ImageNet: ``<wnid>``; its val split may be the flat layout, counted from ``LOC_val_solution.csv`` and the
    files of ``val/``). Counting a folder stops after ``stop_after`` image files (None: count all). ``cache``:
    JSON file of counts keyed by folder mtime (module docstring). Reads file names only."""
    root = Path(catalog.root)
    store = _Cache(cache)
    out: dict[str, ClassCount] = {}
    flat = None
    for c in class_ids:
        folder = root / split / c
        got = store.count(str(folder), stop_after)
        if got is None and catalog.kind == "imagenet" and split == "val":
            if flat is None:
                flat = _flat_val_counts(root, class_ids) or {}
            if c in flat:
                out[c] = flat[c]
                continue
        if got is None:
            out[c] = ClassCount(0, str(folder), exists=False)
        else:
            out[c] = ClassCount(got[0], str(folder), complete=got[1], ignored=got[2])
    store.save()
    return out


def check_dataset_root(dataset: Mapping[str, Any], splits: Sequence[str] = ("train", "val")) -> None:
    """Raise :class:`DataAvailabilityError` naming ``dataset.root`` when the dataset root of the config's
    ``dataset`` section cannot be read: it does not exist, is a file, or lacks a split folder the samples read
    (``splits``) — with the nearest existing parent, or the sub-folder that holds the splits when the root is
    one level too high (:func:`sing.data.classes.dataset_root_problem`). A synthetic dataset (generated by the
    workflow) passes: its root is an output."""
    if dataset.get("synthetic"):
        return
    problem = dataset_root_problem(dataset["root"], dataset.get("kind", "imagenet"), tuple(dict.fromkeys(splits)))
    if problem:
        raise DataAvailabilityError([f"config dataset.root: {problem}. Set dataset.root to the dataset folder"])


def _names(items: Sequence[str], k: int = 6) -> str:
    return ", ".join(items[:k]) + (f", ... ({len(items) - k} more)" if len(items) > k else "")


def _synthetic_counts(catalog: ClassCatalog, synthetic: Mapping[str, Any], split: str,
                      class_ids: Sequence[str]) -> dict[str, ClassCount]:
    """The image files the synthetic dataset will hold (its generator's settings; unreadable files count:
    they are image files by name, as on disk)."""
    per = int(synthetic.get(f"{split}_per_class", 0)) + int(synthetic.get("bad_per_split", 0))
    made = set(synthetic.get("classes") or ())
    root = Path(catalog.root)
    return {c: ClassCount(per if c in made else 0, str(root / split / c), exists=c in made) for c in class_ids}


def check_samples(catalog: ClassCatalog, requests: Sequence[SampleRequest], *, synthetic: Mapping | None = None,
                  on_missing_image: str = "fail", cache: str | os.PathLike | None = None) -> dict[str, dict]:
    """Check that every sample can be drawn: for each request, each of its classes must have an image file in
    the request's split, and ``per_class`` of them unless ``take_all_if_fewer``. Raises
    :class:`DataAvailabilityError` with one problem per (sample, kind of problem), each naming the config keys
    and values, the classes and folders (with their counts) and the fix:

    * a split folder the sample reads does not exist (``samples.<name>.split``);
    * a class without a folder in that split, or whose folder holds no image file (empty class: it cannot be
      sampled, even with ``take_all_if_fewer``);
    * classes with fewer image files than ``samples.<name>.per_class`` (the fix names the largest value every
      class can supply, and ``take_all_if_fewer: true``);
    * ImageNet flat val: images ``LOC_val_solution.csv`` lists without a file (``extraction.on_missing_image``).

    ``synthetic``: the ``dataset.synthetic`` settings when the workflow generates the dataset (counts come from
    them, nothing is read). Returns {sample key: {class id: count}} of what was counted.
    """
    problems: list[str] = []
    counted: dict[str, dict] = {}
    root = Path(catalog.root)
    for req in requests:
        if not req.classes:
            continue
        wanted = req.wanted
        if synthetic:
            counts = _synthetic_counts(catalog, synthetic, req.split, req.classes)
        else:
            split_dir = root / req.split
            flat = catalog.kind == "imagenet" and req.split == "val" and (
                (root / "LOC_val_solution.csv").is_file() or (split_dir / "LOC_val_solution.csv").is_file())
            if not split_dir.is_dir() and not flat:
                other = [s for s in ("train", "val") if s != req.split and (root / s).is_dir()]
                problems.append(
                    f"config {req.key}.split: {req.split!r}, but {root} has no {req.split}/ folder"
                    + (f" (it has {', '.join(o + '/' for o in other)}); set {req.key}.split: {other[0]}, or add "
                       f"{split_dir}/<class>/ folders" if other else ""))
                continue
            counts = count_images(catalog, req.split, req.classes, stop_after=wanted or 1, cache=cache)
        counted[req.key] = {c: n.count for c, n in counts.items()}
        classes_note = f"{req.classes_key}" if req.classes_key else "the sample's classes"
        absent = [c for c, n in counts.items() if not n.exists]
        empty = [c for c, n in counts.items() if n.exists and n.count == 0]
        if absent:
            problems.append(
                f"config {req.key}: {len(absent)} of its {len(req.classes)} classes ({classes_note}) have no "
                f"folder in split {req.split!r}: {_names([f'{c!r} ({counts[c].folder})' for c in absent])}. "
                f"Add the folders, or leave these classes out of {classes_note}")
        if empty:
            ignored = sum(counts[c].ignored for c in empty)
            problems.append(
                f"config {req.key}: {len(empty)} class folder(s) of split {req.split!r} hold no image file"
                + (f" ({ignored} non-image file(s) ignored)" if ignored else "")
                + f": {_names([f'{c!r} ({counts[c].folder})' for c in empty])}. An empty class cannot be "
                f"sampled, even with take_all_if_fewer: add images, or leave the class out of {classes_note} "
                "(or remove its folder)")
        missing = [c for c, n in counts.items() if n.missing]
        if missing and on_missing_image == "fail":
            total = sum(counts[c].missing for c in missing)
            problems.append(
                f"config {req.key}: {total} image(s) of {len(missing)} class(es) listed in LOC_val_solution.csv "
                f"have no file in {root / 'val'} (e.g. classes {_names(missing)}); restore them, or set "
                "extraction.on_missing_image: skip to sample what exists")
        if wanted is None or req.take_all_if_fewer:
            continue
        short = sorted((c for c, n in counts.items() if n.exists and 0 < n.count < wanted),
                       key=lambda c: (counts[c].count, c))
        if short:
            fewest = counts[short[0]].count
            listed = [f"{c!r}: {counts[c].count} ({counts[c].folder})" for c in short]
            problems.append(
                f"config {req.key}.per_class: {wanted} images per class from split {req.split!r}, but "
                f"{len(short)} of the {len(req.classes)} classes ({classes_note}) have fewer image files: "
                f"{_names(listed, 4)}. Set {req.key}.per_class: {fewest} (what every class has), or "
                f"{req.key}.take_all_if_fewer: true (each class gives what it has)")
    if problems:
        raise DataAvailabilityError(problems)
    return counted
