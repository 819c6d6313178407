"""Random-weight checkpoints of a model entry, for the demos and tests (``synthetic_checkpoints``): the file a user's
fine-tuned checkpoint would be, with the same layout, so the workflow loads it through the real checkpoint path."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from ..core.files import atomic_path

__all__ = ["write_random_checkpoint"]


def write_random_checkpoint(key: str, entry: dict, num_classes: int, path: str | os.PathLike) -> tuple[int, int]:
    """Write the state dict of ``entry``'s architecture with random weights (``torch.manual_seed(entry seed)``) and
    ``num_classes`` outputs to ``path`` (``.safetensors``, else ``torch.save``); returns the head's (K, m).

    ``timm``: ``timm.create_model(name, num_classes=num_classes, **model_kwargs)``; ``python``: the factory's
    ``model`` built with ``model_kwargs`` (whose head must then have ``num_classes`` outputs). ValueError naming
    ``key`` for another source or a head of another size.
    """
    seed = int(entry.get("seed", 0))
    kwargs = dict(entry.get("model_kwargs") or {})
    torch.manual_seed(seed)
    if entry["source"] == "timm":
        import timm

        kwargs["num_classes"] = int(num_classes)
        model = timm.create_model(entry["name"], pretrained=False, **kwargs)
        head = model.get_classifier()
    elif entry["source"] == "python":
        from .python_source import _as_split, import_factory

        factory, _ = import_factory(key, entry["factory"])
        split = _as_split(key, entry["factory"], factory(**kwargs))
        model, head = split.model, split.head
    else:
        raise ValueError(f"model {key!r}: random checkpoints are written for timm and python models, not "
                         f"{entry['source']!r}")
    shape = tuple(int(n) for n in head.weight.shape[:2])
    if shape[0] != int(num_classes):
        raise ValueError(f"model {key!r}: its head has {shape[0]} outputs, the dataset {num_classes} classes "
                         "(set model_kwargs)")
    state = {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}
    path = Path(path)
    with atomic_path(path) as tmp:
        if path.suffix == ".safetensors":
            from safetensors.torch import save_file

            save_file(state, str(tmp))
        else:
            torch.save(state, tmp)
    return shape
