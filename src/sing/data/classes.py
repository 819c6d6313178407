"""The classes of a dataset, read at DAG-planning time: ids in the dataset's order, names, selections, chunks and
the file key of each class. Standard library only (the Snakefile imports this module; ImageNet's ids, WordNet
lemmas and prompt names come from timm's and open_clip's package data, located with ``importlib.util.find_spec``
without importing either package).

Two kinds of dataset (:class:`ClassCatalog`):

``imagenet``
    The 1000 ImageNet-1k WordNet ids in timm's order (the index every ImageNet head uses). A class's chunk is
    ``index // chunk_size``. Names: open_clip's ``IMAGENET_CLASSNAMES`` (display and prompt: the paper's prompts),
    the WordNet lemmas as description.
``folder``
    An image folder, ``<root>/<split>/<class>/<images>`` (torchvision's ``ImageFolder`` layout): a class id is
    a folder name, any string (spaces, non-ASCII, digits). The dataset's order is its ``class_index`` file (one
    class id per line: line i = output i of the head), else the sorted folder names (``ImageFolder``'s
    ``class_to_idx``). A class's chunk is ``sha256(class id) mod chunks``: it depends on nothing but the id, so
    adding a class (to the analysed list or to the dataset) reruns only the jobs of the chunk it lands in.
    Names: the optional ``class_names`` file (:func:`read_class_names`), else the folder name with ``_`` read as
    a space.

Per-class files are named by :func:`file_key`: the class id itself when it is a short lower-case name of
``[a-z0-9_.-]`` (every WordNet id), else an ASCII slug of it plus 10 hex digits of its sha256 (``British
Shorthair`` -> ``british-shorthair-3c8f6f0a2e``): valid on every file system, case-insensitive ones included,
and stable. ``classes.parquet`` (results) maps each key back to its class id.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import importlib.util
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

NUM_CLASSES = 1000
KINDS = ("imagenet", "folder")
SPLITS = ("train", "val")
#: file names a class's key must not take (other files in the same directories)
RESERVED_KEYS = frozenset({"skipped", "translator"})
#: Latin letters Unicode decomposition leaves as they are, spelled in ASCII for the slug of a file key
_ASCII = str.maketrans({"Æ": "AE", "æ": "ae", "Œ": "OE", "œ": "oe", "Ø": "O", "ø": "o", "ß": "ss", "Ð": "D",
                        "ð": "d", "Þ": "Th", "þ": "th", "Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "ı": "i"})
_SAFE_KEY = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")

__all__ = ["ClassCatalog", "KINDS", "catalog_from_manifest", "catalog_from_settings", "default_name", "file_key",
           "folder_class_ids", "hash_chunk", "imagenet_names", "imagenet_wnids", "read_class_index",
           "read_class_names"]
NAME_COLUMNS = ("class", "name", "prompt")


# ---------------------------------------------------------------- ImageNet-1k
def _package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"{package} is required for the ImageNet class list (pip install {package})")
    return Path(spec.submodule_search_locations[0]).joinpath(*parts)


@functools.cache
def imagenet_wnids() -> tuple[str, ...]:
    """WordNet ids of the 1000 ImageNet-1k classes; position = canonical class index."""
    path = _package_file("timm", "data", "_info", "imagenet_synsets.txt")
    wnids = tuple(line.strip() for line in path.read_text().splitlines() if line.strip())
    if len(wnids) != NUM_CLASSES:
        raise RuntimeError(f"{path}: expected {NUM_CLASSES} ImageNet synsets, found {len(wnids)}")
    return wnids


@functools.cache
def imagenet_names() -> tuple[tuple[str, str], ...]:
    """(name, WordNet lemmas) of the 1000 classes in canonical order: open_clip's ``IMAGENET_CLASSNAMES`` (the
    names in the paper's prompts, e.g. ``tench``) and timm's ``imagenet_synset_to_lemma.txt`` (``tench, Tinca
    tinca``, the labels of ImageNet label maps). open_clip's metadata module holds only literals: it is executed
    on its own, without open_clip's package (which imports torch)."""
    meta = _package_file("open_clip", "zero_shot_metadata.py")
    spec = importlib.util.spec_from_file_location("_sing_open_clip_zero_shot_metadata", meta)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    names = tuple(module.IMAGENET_CLASSNAMES)
    lemmas = {}
    for line in _package_file("timm", "data", "_info", "imagenet_synset_to_lemma.txt").read_text().splitlines():
        wnid, _, lemma = line.partition("\t")
        lemmas[wnid] = lemma.strip()
    wnids = imagenet_wnids()
    if len(names) != NUM_CLASSES:
        raise RuntimeError(f"{meta}: expected {NUM_CLASSES} ImageNet class names, found {len(names)}")
    return tuple((n, lemmas.get(w, "")) for n, w in zip(names, wnids))


@functools.cache
def _wnid_to_index() -> dict[str, int]:
    return {wnid: index for index, wnid in enumerate(imagenet_wnids())}


def class_index(wnid: str, *, what: str = "class") -> int:
    """Canonical ImageNet index of ``wnid``; ValueError naming ``what`` if it is not an ImageNet-1k class."""
    try:
        return _wnid_to_index()[wnid]
    except KeyError:
        raise ValueError(f"{what}: {wnid!r} is not an ImageNet-1k WordNet id") from None


# ---------------------------------------------------------------- keys and chunks of any class id
def file_key(class_id: str) -> str:
    """The file name stem of a class's per-class files (module docstring): the id itself when it matches
    ``[a-z0-9][a-z0-9_.-]{0,63}`` (and is not reserved), else ``<ascii slug>-<sha256[:10]>``."""
    if not isinstance(class_id, str) or not class_id:
        raise ValueError(f"class id must be a non-empty string, got {class_id!r}")
    if _SAFE_KEY.fullmatch(class_id) and not class_id.endswith(".") and class_id not in RESERVED_KEYS:
        return class_id
    ascii_text = unicodedata.normalize("NFKD", class_id.translate(_ASCII)).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text).strip("-")[:40].rstrip("-") or "class"
    return f"{slug}-{hashlib.sha256(class_id.encode('utf-8')).hexdigest()[:10]}"


def hash_chunk(class_id: str, chunks: int) -> int:
    """``int(sha256(class id, UTF-8)[:8 bytes], big-endian) mod chunks``: a folder dataset's chunk of a class."""
    digest = hashlib.sha256(class_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % int(chunks)


# ---------------------------------------------------------------- folder datasets on disk
def folder_class_ids(root: str | os.PathLike, splits: Sequence[str] = SPLITS) -> dict[str, tuple[str, ...]]:
    """{split: class folder names} of an image-folder dataset (non-hidden sub-folders of ``<root>/<split>``);
    splits without a folder are left out. FileNotFoundError naming ``root`` when it holds none of them."""
    root = Path(root)
    out = {}
    for split in splits:
        folder = root / split
        if folder.is_dir():
            with os.scandir(folder) as it:
                out[split] = tuple(sorted(e.name for e in it if e.is_dir() and not e.name.startswith(".")))
    if not out:
        raise FileNotFoundError(f"folder dataset {root}: no split folder ({', '.join(splits)}) with class folders "
                                f"<root>/<split>/<class>/<images>")
    return out


def default_name(class_id: str) -> str:
    """A folder name as a name: ``_`` read as a space, runs of whitespace collapsed (``golden_retriever`` ->
    ``golden retriever``)."""
    return re.sub(r"\s+", " ", class_id.replace("_", " ")).strip() or class_id


def read_class_names(path: str | os.PathLike, class_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """{class id: (display name, prompt name)} from a class-names file: a CSV (``.csv``) or TSV (``.tsv``) with a
    header and the columns ``class`` (the folder name, required), ``name`` (display name in tables and figures)
    and ``prompt`` (the name put into the class prompt); an empty ``name`` is the folder name with ``_`` read as
    a space, an empty ``prompt`` the name. Classes without a row are left out (the caller's default applies).

    Raises ValueError naming the file for an unknown extension, a missing ``class`` column, unknown columns, a
    class that is not in ``class_ids`` (a typo would otherwise be silently ignored) or a duplicated class;
    FileNotFoundError for a missing file.
    """
    p = Path(path)
    delimiter = {".csv": ",", ".tsv": "\t", ".tab": "\t"}.get(p.suffix.lower())
    if delimiter is None:
        raise ValueError(f"class names file {p}: expected a .csv or .tsv file")
    if not p.is_file():
        raise FileNotFoundError(f"class names file {p} does not exist")
    with open(p, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh, delimiter=delimiter)
        columns = [c.strip() for c in (reader.fieldnames or [])]
        if "class" not in columns or set(columns) - set(NAME_COLUMNS):
            raise ValueError(f"class names file {p}: columns must be 'class' and optionally 'name', 'prompt'; "
                             f"got {columns}")
        rows = [{k.strip(): (v or "").strip() for k, v in row.items() if k is not None} for row in reader]
    known = set(class_ids)
    out: dict[str, tuple[str, str]] = {}
    for n, row in enumerate(rows, start=2):
        c = row["class"]
        if c not in known:
            raise ValueError(f"class names file {p}, line {n}: {c!r} is not a class of the dataset")
        if c in out:
            raise ValueError(f"class names file {p}, line {n}: class {c!r} appears twice")
        name = row.get("name") or default_name(c)
        out[c] = (name, row.get("prompt") or name)
    return out


def read_class_index(path: str | os.PathLike) -> tuple[str, ...]:
    """Class ids of a class-index file, one per line in head-output order (blank lines skipped, surrounding
    whitespace not part of an id). ValueError naming the file for duplicates or an empty file."""
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"class index file {p} does not exist")
    ids = tuple(line.strip() for line in p.read_text(encoding="utf-8").splitlines() if line.strip())
    if not ids:
        raise ValueError(f"class index file {p}: no class ids")
    dup = sorted({c for c in ids if ids.count(c) > 1})
    if dup:
        raise ValueError(f"class index file {p}: duplicate class ids {dup}")
    return ids


# ---------------------------------------------------------------- the catalog
@dataclass(frozen=True)
class ClassCatalog:
    """The classes of one dataset (module docstring). ``ids``: every class in the dataset's order (position =
    ``class_index``); ``kind``: ``imagenet`` | ``folder``; ``root``: the dataset folder; ``chunk_size``
    (imagenet) / ``chunks`` (folder): the chunk rule; ``names``: per class (display name, prompt name,
    description), or empty (each class shown and prompted as :func:`default_name`)."""

    kind: str
    ids: tuple[str, ...]
    root: str
    chunk_size: int = 100
    chunks: int = 10
    names: tuple[tuple[str, str, str], ...] = ()

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"dataset kind must be one of {KINDS}, got {self.kind!r}")
        bad = [c for c in self.ids if not isinstance(c, str) or not c or c in (".", "..") or "/" in c
               or "\\" in c or "\0" in c or c != c.strip()]
        if bad:
            raise ValueError(f"class ids must be folder names (no '/', '\\', NUL, surrounding spaces, '.' or "
                             f"'..'): {bad[:10]}")
        if self.names and len(self.names) != len(self.ids):
            raise ValueError(f"names: {len(self.names)} entries for {len(self.ids)} classes")
        keys: dict[str, str] = {}
        for c in self.ids:
            k = file_key(c).casefold()
            if k in keys:
                raise ValueError(f"classes {keys[k]!r} and {c!r} map to the same file name {k!r}")
            keys[k] = c

    @functools.cached_property
    def _index(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.ids)}

    def describe(self) -> str:
        """``ImageNet-1k at <root>`` / ``folder dataset <root>``, for messages."""
        return f"ImageNet-1k at {self.root}" if self.kind == "imagenet" else f"folder dataset {self.root}"

    def index(self, class_id: str, *, what: str = "class") -> int:
        """The class's position in the dataset's order; ValueError naming ``what`` and the dataset otherwise."""
        try:
            return self._index[class_id]
        except (KeyError, TypeError):
            pass
        if self.kind == "imagenet":
            raise ValueError(f"{what}: {class_id!r} is not an ImageNet-1k WordNet id")
        shown = ", ".join(repr(c) for c in self.ids[:12]) + (", ..." if len(self.ids) > 12 else "")
        raise ValueError(f"{what}: {class_id!r} is not a class of the {self.describe()} (its classes: {shown})")

    def select(self, selection: str | Sequence[str], *, what: str = "classes") -> list[str]:
        """Resolve ``"all"`` or a list of class ids to ids in the dataset's order; ValueError naming ``what`` for
        an unknown or duplicated id."""
        if selection == "all":
            return list(self.ids)
        if isinstance(selection, str) or not isinstance(selection, (list, tuple)):
            raise ValueError(f"{what}: expected 'all' or a list of class ids, got {selection!r}")
        dup = sorted({c for c in selection if list(selection).count(c) > 1})
        if dup:
            raise ValueError(f"{what}: duplicate class ids {dup}")
        return sorted(selection, key=lambda c: self.index(c, what=what))

    def chunk_of(self, class_id: str) -> int:
        """The chunk of a class: ``index // chunk_size`` (imagenet), ``sha256(id) mod chunks`` (folder)."""
        if self.kind == "imagenet":
            return self.index(class_id) // self.chunk_size
        self.index(class_id)
        return hash_chunk(class_id, self.chunks)

    def group_by_chunk(self, class_ids: Sequence[str]) -> dict[int, list[str]]:
        """{chunk: its classes of ``class_ids`` in the dataset's order}, chunks ascending."""
        out: dict[int, list[str]] = {}
        for c in sorted(class_ids, key=self.index):
            out.setdefault(self.chunk_of(c), []).append(c)
        return dict(sorted(out.items()))

    def file_key(self, class_id: str) -> str:
        self.index(class_id)
        return file_key(class_id)

    def name(self, class_id: str) -> tuple[str, str, str]:
        """(display name, prompt name, description) of a class."""
        i = self.index(class_id)
        return self.names[i] if self.names else (default_name(class_id), default_name(class_id), "")

    def manifest(self) -> dict:
        """What the jobs that list images or check heads need: kind, root and the ids in order (no names, so a
        display-name edit reruns none of them)."""
        return {"kind": self.kind, "root": self.root, "classes": list(self.ids)}


def catalog_from_manifest(manifest: Mapping) -> ClassCatalog:
    """The catalog of :meth:`ClassCatalog.manifest` (names left out)."""
    return ClassCatalog(manifest["kind"], tuple(manifest["classes"]), str(manifest["root"]))


def catalog_from_settings(dataset: Mapping, chunk_size: int = 100) -> ClassCatalog:
    """The catalog of the workflow's ``dataset`` settings (schema: ``dataset``), cheap enough for planning.

    imagenet: timm's 1000 wnids and open_clip's names (``class_index`` / ``class_names`` must be unset). folder:
    the ``class_index`` file's ids if given, else the generated classes of ``synthetic``, else the class folders
    under ``root`` (sorted); when the folders exist they must be exactly the class-index file's ids; names from
    the ``class_names`` file (read now: it must exist when the workflow plans). Errors name the key
    (``dataset.<key>``), the file or folder, and the classes that differ.
    """
    kind = dataset.get("kind", "imagenet")
    root = str(dataset["root"])
    synthetic = dataset.get("synthetic") or None
    if kind == "imagenet":
        for key in ("class_index", "class_names"):
            if dataset.get(key):
                raise ValueError(f"config dataset.{key}: only folder datasets take a {key.replace('_', ' ')} file "
                                 "(ImageNet's classes, order and names are fixed)")
        names = tuple((n, n, lemma) for n, lemma in imagenet_names())
        return ClassCatalog("imagenet", imagenet_wnids(), root, chunk_size=int(chunk_size), names=names)
    if kind != "folder":
        raise ValueError(f"config dataset.kind: must be one of {KINDS}, got {kind!r}")
    index_file = dataset.get("class_index")
    generated = tuple(synthetic["classes"]) if synthetic else None
    on_disk = None if synthetic else folder_class_ids(root)
    if index_file:
        ids = read_class_index(index_file)
        present = set(generated) if generated else {c for names in on_disk.values() for c in names}
        if present != set(ids):
            where = "dataset.synthetic.classes" if generated else f"the class folders under {root}"
            raise ValueError(f"config dataset.class_index: {index_file} lists {len(ids)} classes but {where} "
                             f"differ: not in the file {sorted(present - set(ids))[:10]}, no folder "
                             f"{sorted(set(ids) - present)[:10]}")
    elif generated:
        ids = tuple(sorted(generated))
    else:
        ids = tuple(sorted({c for names in on_disk.values() for c in names}))
    if not ids:
        raise ValueError(f"config dataset.root: folder dataset {root} has no class folders "
                         "(<root>/<split>/<class>/<images>)")
    chunks = int(dataset.get("chunks", 10))
    try:
        ClassCatalog("folder", ids, root, chunks=chunks)  # validates the ids and the chunk count
    except ValueError as e:
        raise ValueError(f"config dataset: {e}") from None
    given = {}
    if dataset.get("class_names"):
        try:
            given = read_class_names(dataset["class_names"], ids)
        except (OSError, ValueError) as e:
            raise ValueError(f"config dataset.class_names: {e}") from None
    names = tuple((*given.get(c, (default_name(c), default_name(c))), "") for c in ids)
    return ClassCatalog("folder", ids, root, chunks=chunks, names=names)
