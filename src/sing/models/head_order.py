"""The class order a head expects, checked against the dataset's classes.

A dataset hands the loaders a :class:`HeadClasses`: its class ids in its own order (the ``class_index`` of every
table), the names each class may appear under in a model's label map, and whether its order is a universal
convention (ImageNet-1k: every 1000-way ImageNet head uses the synset order). :func:`head_permutation` then
returns, for a head with ``K`` outputs and optional labels (Hugging Face ``config.id2label``, a python factory's
``class_names``), the head output of each dataset class:

* ``K`` must equal the number of dataset classes; otherwise ValueError naming the model and the dataset;
* no labels: the head is taken in the dataset's order (a folder dataset's order is its ``class_index`` file, or
  its sorted folder names as in torchvision's ``ImageFolder``);
* labels: each label is matched to a class by id, else by one of the class's names (case, ``_`` and spacing
  ignored; equal names are paired in order); a label that matches no class, or a class no label names, is a
  ValueError listing both sides, unless the dataset's order is a fixed convention (then it is logged and the
  head is used in that order, since label strings differ between ImageNet label files).

Permuting the rows of W does not change its null space, so a reordered head has the same geometry; it only
makes ``pred_class`` a dataset class index.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Sequence

log = logging.getLogger(__name__)

__all__ = ["HeadClasses", "head_permutation", "normalise_label"]


@dataclass(frozen=True)
class HeadClasses:
    """The dataset side of the check: ``ids`` in dataset order, ``names[i]`` the other names of class i (display
    name, prompt name, description), ``dataset`` a phrase naming the dataset in messages, ``fixed_order`` True
    when the order is a convention every head of this dataset follows (ImageNet-1k)."""

    ids: tuple[str, ...]
    dataset: str
    names: tuple[tuple[str, ...], ...] = field(default=())
    fixed_order: bool = False

    def describe(self, limit: int = 8) -> str:
        shown = ", ".join(repr(c) for c in self.ids[:limit]) + (", ..." if len(self.ids) > limit else "")
        return f"{self.dataset} ({len(self.ids)} classes: {shown})"


def normalise_label(text: str) -> str:
    """Case-folded, ``_`` as space, runs of whitespace collapsed: how labels and class names are compared."""
    return re.sub(r"\s+", " ", str(text).replace("_", " ")).strip().casefold()


def _match(labels: Sequence[str], keys: Sequence[Sequence[str]]) -> tuple[list[int | None], list[int]]:
    """Assign each label to a class whose key set holds it; equal keys are paired in order. Returns (class of
    each label or None, classes left unassigned)."""
    by_key: dict[str, list[int]] = {}
    for j, ks in enumerate(keys):
        for k in dict.fromkeys(ks):
            by_key.setdefault(k, []).append(j)
    taken: set[int] = set()
    out: list[int | None] = []
    for label in labels:
        free = [j for j in by_key.get(label, []) if j not in taken]
        out.append(free[0] if free else None)
        if free:
            taken.add(free[0])
    return out, [j for j in range(len(keys)) if j not in taken]


def head_permutation(key: str, num_outputs: int, labels: Sequence[str] | None, classes: HeadClasses
                     ) -> list[int] | None:
    """``perm`` with ``perm[j]`` = the head output of dataset class j, or None when the head is already in dataset
    order. Raises ValueError naming model ``key`` and the dataset on a class-count or label mismatch (module
    docstring)."""
    n = len(classes.ids)
    if num_outputs != n:
        raise ValueError(f"model {key!r}: its head has {num_outputs} outputs but the dataset has {n} classes: "
                         f"{classes.describe()}. The head must have one output per dataset class "
                         "(set model_kwargs.num_classes, or point the dataset at the classes the model was trained on)")
    if labels is None:
        return None
    labels = [str(x) for x in labels]
    if len(labels) != num_outputs:
        raise ValueError(f"model {key!r}: its label map has {len(labels)} labels for {num_outputs} head outputs")
    by_id, left = _match(labels, [(c,) for c in classes.ids])
    if left:  # not all by id: every known name of a class counts
        keys = [(normalise_label(c), *(normalise_label(x) for x in (classes.names[j] if classes.names else ())))
                for j, c in enumerate(classes.ids)]
        by_id, left = _match([normalise_label(x) for x in labels], keys)
    if left:
        unknown = [labels[i] for i, j in enumerate(by_id) if j is None]
        message = (f"model {key!r}: its label map does not name the dataset's classes: labels {unknown[:10]} match "
                   f"no class and classes {[classes.ids[j] for j in left][:10]} have no label (head labels: "
                   f"{labels[:8]}{', ...' if len(labels) > 8 else ''}; dataset: {classes.describe()})")
        if classes.fixed_order:
            log.warning("%s; using the head in the dataset's fixed order", message)
            return None
        raise ValueError(message + ". Name the class folders (or the dataset's class names file) as the labels")
    perm = [0] * n
    for output, j in enumerate(by_id):
        perm[j] = output
    if perm == list(range(n)):
        return None
    log.info("model %s: head outputs reordered to the dataset's class order by its label map", key)
    return perm
