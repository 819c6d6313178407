"""Where a classifier's weights and architecture come from: one :class:`ModelSource` per value of a model
entry's ``source``, declared here once with its builder.

Everything that lists the sources is derived from :data:`SOURCES` or checked against it by a test: the
validation of a model entry (:class:`sing.registry.ModelEntry`: known source, required fields, fields of one
source only), the dispatch of :func:`sing.models.classifiers.load_classifier`, the config schema's
``models.<key>.source`` enum and its description (tests/test_outputs.py).

Read at parse time (through :mod:`sing.registry`), so it imports only the standard library: a builder is named
by ``"module:function"`` and imported when a model is built. A builder is called as
``builder(key, entry, device, weights)`` (``entry``: the compute spec, ``weights``: a
:class:`sing.models.weights.WeightsCache`) and returns a :class:`sing.models.classifiers.ClassifierAdapter`.

Adding a source: write its builder (in :mod:`sing.models.classifiers`, or a module of its own), add a
:class:`ModelSource` to :data:`SOURCES`, add it to the schema's enum and describe it there.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable

__all__ = ["ModelSource", "SOURCES", "source"]


@dataclass(frozen=True)
class ModelSource:
    """One value of ``models.<key>.source``.

    ``requires``: entry fields the source cannot build without. ``own_fields``: entry fields that belong to
    this source alone (an entry of another source that sets one is refused).
    """

    name: str
    builder: str
    summary: str
    requires: tuple[str, ...] = ()
    own_fields: tuple[str, ...] = ()

    def load(self) -> Callable[..., Any]:
        """The builder function (imports its module: torch and the model libraries)."""
        module, _, function = self.builder.partition(":")
        return getattr(importlib.import_module(module), function)


SOURCES: MappingProxyType[str, ModelSource] = MappingProxyType({s.name: s for s in (
    ModelSource("timm", "sing.models.classifiers:build_timm",
                "any timm architecture: the hub's ImageNet-1k weights or a local checkpoint", requires=("name",)),
    ModelSource("dino", "sing.models.classifiers:build_dino",
                "DINO v1 hub backbone + its published linear-head file (eval_linear.py features)"),
    ModelSource("dinov2_hub", "sing.models.classifiers:build_dinov2_hub",
                "DINOv2 hub backbone + its `*_lc` linear head"),
    ModelSource("transformers", "sing.models.classifiers:build_hf_model",
                "any Hugging Face AutoModelForImageClassification with a final linear layer"),
    ModelSource("python", "sing.models.classifiers:build_python_model",
                "your own factory returning the model split into a feature function and a linear head",
                requires=("factory",), own_fields=("factory",)),
)})


def source(name: str) -> ModelSource:
    """The source called ``name``; ValueError naming the known sources."""
    if name not in SOURCES:
        raise ValueError(f"source: {name!r} is not one of {list(SOURCES)}")
    return SOURCES[name]
