"""One dataset abstraction for listing, sampling, class names / prompts and the head check: :func:`open_dataset`
returns an :class:`ImageNetDataset` or a :class:`FolderDataset` around a :class:`sing.data.classes.ClassCatalog`
(class ids, order, chunks, names; built when the workflow plans).

A job gets either the workflow's ``dataset`` settings (:func:`open_dataset`) or the dataset manifest
(:meth:`sing.data.classes.ClassCatalog.manifest`: kind, root, class ids), which is all that listing images and
checking heads need; names travel separately, so a display-name edit reruns only the jobs that print names.

:meth:`Dataset.class_table` is the workflow's ``classes.parquet``: one row per class with its index, id, file key,
chunk, names and description, the map from every per-class file back to its class.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping, Sequence

from ..models.head_order import HeadClasses
from .classes import ClassCatalog, catalog_from_manifest, catalog_from_settings, imagenet_names
from .imagenet import ClassListing

log = logging.getLogger(__name__)

__all__ = ["CLASS_TABLE_COLUMNS", "Dataset", "FolderDataset", "ImageNetDataset", "dataset_of", "open_dataset"]

#: ``classes.parquet``: one row per dataset class, in the dataset's order
CLASS_TABLE_COLUMNS = ("class_index", "class_id", "file_key", "chunk", "name", "prompt_name", "description")


class Dataset:
    """The images and classes of a run (``catalog``: ids, order, chunks, names)."""

    def __init__(self, catalog: ClassCatalog):
        self.catalog = catalog

    @property
    def root(self) -> Path:
        return Path(self.catalog.root)

    def list_classes(self, split: str, class_ids: Sequence[str], *, on_missing: str = "fail"
                     ) -> dict[str, ClassListing]:
        """The image files of each class in ``split`` (non-image files logged and never sampled)."""
        raise NotImplementedError

    def head_classes(self) -> HeadClasses:
        """What a head is checked against (:func:`sing.models.head_order.head_permutation`): the ids in order and,
        on ImageNet, the names ImageNet label maps use (WordNet lemmas, open_clip names) and its fixed order."""
        return HeadClasses(ids=self.catalog.ids, dataset=self.catalog.describe())

    def class_table(self):
        """``classes.parquet`` as a polars DataFrame (:data:`CLASS_TABLE_COLUMNS`), in the dataset's order."""
        import polars as pl

        ids = list(self.catalog.ids)
        names = [self.catalog.name(c) for c in ids]
        return pl.DataFrame({
            "class_index": list(range(len(ids))), "class_id": ids,
            "file_key": [self.catalog.file_key(c) for c in ids],
            "chunk": [self.catalog.chunk_of(c) for c in ids],
            "name": [n[0] for n in names], "prompt_name": [n[1] for n in names], "description": [n[2] for n in names],
        }, schema={"class_index": pl.Int32, "class_id": pl.String, "file_key": pl.String, "chunk": pl.Int32,
                   "name": pl.String, "prompt_name": pl.String, "description": pl.String})


class ImageNetDataset(Dataset):
    """ImageNet-1k (:mod:`sing.data.imagenet`: class folders or the flat val layout)."""

    def list_classes(self, split, class_ids, *, on_missing="fail"):
        from .imagenet import list_classes

        return list_classes(self.root, split, class_ids, on_missing=on_missing)

    def head_classes(self) -> HeadClasses:
        aliases = tuple((name, lemmas) for name, lemmas in imagenet_names())
        return HeadClasses(ids=self.catalog.ids, dataset=self.catalog.describe(), names=aliases, fixed_order=True)


class FolderDataset(Dataset):
    """An image folder ``<root>/<split>/<class>/<images>``: every file Pillow can open is an image, anything else
    beside them is logged and ignored (:func:`sing.data.images.list_image_folder`). Bad images are handled by
    the extraction exactly as on ImageNet."""

    def list_classes(self, split, class_ids, *, on_missing="fail"):
        from .images import describe_unopened, list_image_folder

        out = {}
        for c in class_ids:
            self.catalog.index(c)
            folder = self.root / split / c
            if not folder.is_dir():
                raise FileNotFoundError(f"class {c!r}: image folder {folder} does not exist")
            listing = list_image_folder(folder)
            out[c] = ClassListing(c, tuple(f"{split}/{c}/{n}" for n in listing.images), str(folder),
                                  ignored=tuple(f"{split}/{c}/{n}" for n in listing.ignored))
            if listing.ignored:
                other = describe_unopened(listing.ignored)
                log.warning("class %r: ignored %d non-image file(s) in %s: %s%s", c, len(listing.ignored), folder,
                            ", ".join(listing.ignored[:10]), f"; among them {other}" if other else "")
        return out


def dataset_of(catalog: ClassCatalog) -> Dataset:
    """The dataset of a catalog (its ``kind`` picks the implementation)."""
    return (ImageNetDataset if catalog.kind == "imagenet" else FolderDataset)(catalog)


def open_dataset(settings: Mapping, chunk_size: int = 100) -> Dataset:
    """The dataset of the workflow's ``dataset`` settings (``kind``, ``root``, ``class_index``, ``class_names``,
    ``chunks``, ``synthetic``; ``chunk_size``: ImageNet's chunks), or of a dataset manifest (``kind``, ``root``,
    ``classes``: :meth:`sing.data.classes.ClassCatalog.manifest`)."""
    catalog = catalog_from_manifest(settings) if "classes" in settings else catalog_from_settings(settings, chunk_size)
    return dataset_of(catalog)
