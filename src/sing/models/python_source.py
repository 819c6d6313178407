"""``source: python``: any classifier, built by the user's own factory and split into a feature function and a
final linear head.

``factory`` names the function: ``package.module:function`` (importable in the job's Python) or
``path/to/file.py:function`` (a file, relative to the working directory). It is called as
``function(**model_kwargs)``, plus ``checkpoint=<path>`` when the entry has a ``checkpoint``, after
``torch.manual_seed(seed)`` (``seed`` of the entry, default 0), and returns a :class:`SplitClassifier` or a
dict with its fields::

    def build(checkpoint=None, num_classes=5):
        net = MyNet(num_classes)
        if checkpoint:
            net.load_state_dict(torch.load(checkpoint, map_location="cpu"))
        return {"model": net, "features": net.embed, "head": net.fc,
                "data_config": {"input_size": (3, 224, 224), "mean": (0.5,) * 3, "std": (0.5,) * 3}}

The adapter contract is the built-in sources' one: ``head(features(x))`` must equal ``model(x)`` (the logit
self-check, fp32, 1e-4), so a wrong split is caught at load time, never silently scored.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch

from .weights import checkpoint_file, file_sha256

__all__ = ["DEFAULT_DATA_CONFIG", "SplitClassifier", "build_python", "import_factory"]

#: timm's default ImageNet evaluation preprocessing, used when a factory gives neither data_config nor transform
DEFAULT_DATA_CONFIG = {"input_size": (3, 224, 224), "interpolation": "bicubic", "crop_pct": 0.875,
                       "crop_mode": "center", "mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}


@dataclass
class SplitClassifier:
    """What a ``source: python`` factory returns.

    model: the whole classifier; ``model(x)`` gives logits (B, K) for images x (B, 3, H, W). It is the
        reference of the self-check and is moved to the job's device (with every submodule).
    features: x -> f (B, m), the input of ``head`` (usually a method or submodule of ``model``).
    head: the final ``torch.nn.Linear`` (weight K×m, bias K) with ``logits = head(f)``.
    data_config: timm-style preprocessing (``input_size`` (3, H, W), ``mean``, ``std``, ``interpolation``,
        ``crop_pct``, ``crop_mode``); missing keys take timm's ImageNet defaults (:data:`DEFAULT_DATA_CONFIG`).
    transform: a PIL image -> tensor callable used instead of a transform built from ``data_config`` (whose
        ``input_size`` still sizes the self-check batch).
    class_names: the class each head output stands for, in output order (the class order the head expects);
        None: the dataset's own order.
    """

    model: torch.nn.Module
    features: Callable[[torch.Tensor], torch.Tensor]
    head: torch.nn.Module
    data_config: Mapping[str, Any] | None = None
    transform: Callable | None = None
    class_names: Sequence[str] | None = None


def import_factory(key: str, spec: str) -> tuple[Callable, Path | None]:
    """The function named by ``spec`` (``module:function`` or ``file.py:function``) and its source file.

    Raises ValueError naming the model ``key`` and ``spec`` for a malformed spec, a module or file that cannot be
    imported (with the import error), or a missing / non-callable function."""
    module_name, sep, func_name = str(spec).rpartition(":")
    if not sep or not module_name or not func_name.isidentifier():
        raise ValueError(f"model {key!r}: factory {spec!r} must be 'package.module:function' or "
                         "'path/to/file.py:function'")
    try:
        if module_name.endswith(".py"):
            path = Path(module_name).expanduser().resolve()
            if not path.is_file():
                raise FileNotFoundError(f"no such file {path}")
            name = f"sing_factory_{path.stem}_{file_sha256(path)[:12]}"
            module = sys.modules.get(name)
            if module is None:
                module_spec = importlib.util.spec_from_file_location(name, path)
                module = importlib.util.module_from_spec(module_spec)
                sys.modules[name] = module
                try:
                    module_spec.loader.exec_module(module)
                except BaseException:
                    del sys.modules[name]
                    raise
        else:
            module = importlib.import_module(module_name)
    except Exception as e:  # noqa: BLE001 - any import failure is the user's factory: name it
        raise ValueError(f"model {key!r}: cannot import factory {spec!r}: {type(e).__name__}: {e}") from e
    func = getattr(module, func_name, None)
    if not callable(func):
        raise ValueError(f"model {key!r}: factory {spec!r}: {module_name} has no function {func_name!r}")
    source = getattr(module, "__file__", None)
    return func, (Path(source) if source else None)


def _as_split(key: str, spec: str, result: Any) -> SplitClassifier:
    if isinstance(result, Mapping):
        known = {f.name for f in fields(SplitClassifier)}
        unknown = sorted(set(result) - known)
        missing = sorted({"model", "features", "head"} - set(result))
        if unknown or missing:
            raise ValueError(f"model {key!r}: factory {spec!r} returned a dict with unknown keys {unknown} / "
                             f"missing keys {missing} (fields: {sorted(known)})")
        result = SplitClassifier(**result)
    if not isinstance(result, SplitClassifier):
        raise ValueError(f"model {key!r}: factory {spec!r} must return a SplitClassifier or a dict with 'model', "
                         f"'features' and 'head', got {type(result).__name__}")
    if not isinstance(result.model, torch.nn.Module) or not isinstance(result.head, torch.nn.Module):
        raise ValueError(f"model {key!r}: factory {spec!r}: 'model' and 'head' must be torch.nn.Module instances")
    if not callable(result.features):
        raise ValueError(f"model {key!r}: factory {spec!r}: 'features' must be callable")
    return result


def build_python(key: str, entry: dict, device, *, seed_everything, adapter_cls):
    """Adapter of a ``source: python`` entry (module docstring): ``factory`` (required), ``model_kwargs``,
    ``checkpoint``, ``seed``. The weights id names the factory, the sha256 of its source file and of the
    checkpoint, so an edited factory or a new checkpoint shows in every output's provenance."""
    spec = entry.get("factory")
    if not spec:
        raise ValueError(f"model {key!r}: source python needs a 'factory' ('module:function' or 'file.py:function')")
    func, source = import_factory(key, spec)
    kwargs = dict(entry.get("model_kwargs") or {})
    ckpt = entry.get("checkpoint")
    wid = f"python:{spec}" + (f":src-sha256:{file_sha256(source)}" if source and source.is_file() else "")
    # what the weights lock records (sing.models.lock): the factory's file when it is named by path, the checkpoint
    sources = [("file", str(source))] if spec.rpartition(":")[0].endswith(".py") and source else []
    if ckpt:
        path = checkpoint_file(f"model {key!r}", ckpt)
        kwargs["checkpoint"] = str(path)
        wid += f"+file:{path.name}:sha256:{file_sha256(path)}"
        sources.append(("file", str(path)))
    seed = int(entry.get("seed", 0))
    seed_everything(seed)
    try:
        split = _as_split(key, spec, func(**kwargs))
    except ValueError:
        raise
    except Exception as e:  # noqa: BLE001 - the user's code failed: name it and keep the cause
        raise ValueError(f"model {key!r}: factory {spec!r}({', '.join(sorted(kwargs))}) raised "
                         f"{type(e).__name__}: {e}") from e
    if not ckpt:
        wid += f":seed={seed}"
    modules = [split.model] + ([split.head] if not any(m is split.head for m in split.model.modules()) else [])
    data_config = {**DEFAULT_DATA_CONFIG, **dict(split.data_config or {})}
    return adapter_cls(key, entry, features_fn=split.features, forward_fn=split.model, head_module=split.head,
                       modules=modules, data_config=data_config, weights_id=wid, device=device,
                       transform=split.transform,
                       class_labels=[str(c) for c in split.class_names] if split.class_names is not None else None,
                       weight_sources=sources)
