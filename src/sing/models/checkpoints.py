"""Checkpoint files: reading a user's checkpoint with every choice explicit (:func:`read_state_dict`), naming the
formats sing cannot read (:func:`sniff_checkpoint`, :class:`UnsupportedCheckpointError`), and random-weight
checkpoints of a model entry for the demos and tests (:func:`write_random_checkpoint`: the file a user's fine-tuned
checkpoint would be, with the same layout, so the workflow loads it through the real checkpoint path)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

from ..core.files import atomic_path

log = logging.getLogger(__name__)

__all__ = ["FORMATS", "READABLE", "UnsupportedCheckpointError", "WEIGHT_SET_CONVENTIONS", "read_state_dict",
           "sniff_checkpoint", "write_random_checkpoint"]


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


# ---------------------------------------------------------------- reading a user's checkpoint
#: file formats sing reads as a state dict (safetensors; torch.save's zip and legacy pickle formats)
READABLE = ("safetensors", "torch-zip", "torch-legacy")

#: weight-set conventions of training checkpoints that hold two sets: (default, others, whose convention)
WEIGHT_SET_CONVENTIONS = (
    ("state_dict", ("state_dict_ema", "model_ema"),
     "timm's validate.py does without --use-ema (timm train.py checkpoints)"),
    ("model", ("model_ema",), "DeiT's main.py --eval does"),
    ("teacher", ("student",), "DINO's eval_linear.py does (--checkpoint_key teacher)"),
)

_TO_STATE_DICT = "torch.save(model.state_dict(), 'weights.pth')"

#: what each format sing cannot read is, and what reads it (messages of UnsupportedCheckpointError)
FORMATS = {
    "empty": "an empty file (0 bytes): an interrupted copy or download; fetch the file again",
    "folder": ("a folder, not a file: a Hugging Face `save_pretrained` folder is read by `source: transformers`; "
               "a timm checkpoint is one file (.pth, .bin, .safetensors)"),
    "savedmodel": ("a TensorFlow SavedModel folder (saved_model.pb): a TensorFlow/Keras model, which sing (PyTorch) "
                   "cannot run; use the model's PyTorch release, or convert it (tf2onnx, then onnx2torch) and wrap "
                   "it in a `source: python` factory"),
    "torchscript": ("a TorchScript archive (torch.jit.save): compiled code plus weights, not a state dict. Read it "
                    "with torch.jit.load(path) and save its weights, torch.save(torch.jit.load(path).state_dict(), "
                    "'weights.pth') (the keys must match the timm architecture), or load it in a "
                    "`source: python` factory"),
    "pickled-module": ("a whole pickled model object (torch.save(model)): sing reads weights only "
                       "(torch.load(weights_only=True); unpickling a model object runs code from the file). On a "
                       "machine you trust, save its weights: "
                       "torch.save(torch.load(path, weights_only=False).state_dict(), 'weights.pth'), i.e. "
                       + _TO_STATE_DICT),
    "lightning": ("a PyTorch Lightning checkpoint (.ckpt): its state_dict keys carry the LightningModule's "
                  "attribute prefix {prefix!r}, so they match no architecture. Save the network's own weights: "
                  "torch.save(YourLitModule.load_from_checkpoint(path).{attr}.state_dict(), 'weights.pth'), or "
                  "strip the prefix: {{k.removeprefix({prefix!r}): v for k, v in ckpt['state_dict'].items()}}"),
    "lightning-objects": ("a PyTorch Lightning checkpoint whose hyper-parameters are pickled objects ({globals}): "
                          "torch.load(weights_only=True) refuses them. Save the network's own weights: "
                          "torch.save(YourLitModule.load_from_checkpoint(path).model.state_dict(), 'weights.pth')"),
    "hdf5": ("an HDF5 file (Keras .h5 / TensorFlow weights): a Keras model, which sing (PyTorch) cannot run; use "
             "the model's PyTorch release, or convert it (tf2onnx, then onnx2torch) and wrap it in a `source: "
             "python` factory"),
    "keras-v3": ("a Keras 3 archive (.keras: config.json + model.weights.h5): a Keras / TensorFlow / JAX model, "
                 "which sing (PyTorch) cannot run; use the model's PyTorch release or convert it"),
    "onnx": ("an ONNX model: onnxruntime runs it, but sing needs the PyTorch network (its feature f and linear head "
             "W, b); convert it with onnx2torch and wrap it in a `source: python` factory"),
    "npz": ("a NumPy .npz archive (JAX/Flax weights, e.g. big_vision / AugReg ViTs): timm converts some of them for "
            "its ViTs, timm.models.load_checkpoint(model, path); then " + _TO_STATE_DICT),
    "npy": "a single NumPy array (.npy), not a set of named weights",
    "msgpack": ("Flax msgpack weights (flax.serialization): a JAX model; the Hugging Face transformers "
                "from_pretrained(..., from_flax=True) converts some to PyTorch"),
    "gguf": "a GGUF file (llama.cpp / ggml, often quantized weights): not a PyTorch checkpoint",
    "html": ("an HTML / XML page, not weights: most likely a failed or login-protected download saved under the "
             "checkpoint's name; download the file itself"),
    "git-lfs": "a Git LFS pointer (a small text file), not the weights: run `git lfs pull` in its repository",
    "gzip": "a gzip-compressed file (.gz / .tar.gz): unpack it first",
    "unknown": ("not a format sing recognises: sing reads safetensors files and torch.save files (zip or legacy "
                "pickle) holding a state dict; first bytes {head!r}"),
}


class UnsupportedCheckpointError(ValueError):
    """A checkpoint in a format sing cannot read: the message names the owner, the file, the format and what reads
    it (:data:`FORMATS`). ``.format``: the format id (:func:`sniff_checkpoint`)."""

    def __init__(self, owner: str, path, fmt: str, **details):
        self.owner, self.path, self.format = owner, str(path), fmt
        super().__init__(f"{owner}: checkpoint {path} is {FORMATS[fmt].format(**details)}")


def sniff_checkpoint(path: str | os.PathLike) -> str:
    """The format of a checkpoint file from its first bytes (and, for zip archives, their member names), not its
    extension: ``safetensors``, ``torch-zip`` (torch.save since 1.6), ``torch-legacy`` (older torch.save pickle),
    ``torchscript``, ``keras-v3``, ``npz``, ``hdf5``, ``onnx``, ``npy``, ``gguf``, ``msgpack``, ``html``,
    ``git-lfs``, ``gzip``, ``empty``, ``folder``, ``savedmodel`` or ``unknown`` (keys of :data:`FORMATS`)."""
    import zipfile

    path = Path(path)
    if path.is_dir():
        return "savedmodel" if (path / "saved_model.pb").is_file() else "folder"
    size = path.stat().st_size
    if size == 0:
        return "empty"
    with open(path, "rb") as fh:
        head = fh.read(64)
    if head.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(path) as z:
                names = z.namelist()
        except zipfile.BadZipFile:
            return "unknown"
        if any(n.endswith("/constants.pkl") for n in names) and any("/code/" in n for n in names):
            return "torchscript"
        if "config.json" in names and any(n.endswith(".weights.h5") for n in names):
            return "keras-v3"
        if any(n.endswith("data.pkl") for n in names):
            return "torch-zip"
        if names and all(n.endswith(".npy") for n in names):
            return "npz"
        return "unknown"
    if len(head) >= 9 and head[8:9] == b"{" and 0 < int.from_bytes(head[:8], "little") <= size - 8:
        return "safetensors"
    if head.startswith(b"\x80") and len(head) > 1 and head[1] in range(2, 6):
        return "torch-legacy"
    if head.startswith(b"\x89HDF\r\n\x1a\n"):
        return "hdf5"
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith(b"GGUF"):
        return "gguf"
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"version https://git-lfs"):
        return "git-lfs"
    if head.lstrip().startswith(b"<"):
        return "html"
    if path.suffix.lower() == ".msgpack":
        return "msgpack"
    if path.suffix.lower() == ".onnx" or (head[0] == 0x08 and len(head) > 2 and head[2] in (0x12, 0x1a, 0x22, 0x3a)):
        return "onnx"
    return "unknown"


_BENIGN_GLOBALS = ("numpy.", "argparse.Namespace", "pathlib.", "collections.OrderedDict", "_codecs.encode")


def _resolve_global(name: str):
    import importlib

    module, _, attr = name.rpartition(".")
    return getattr(importlib.import_module(module), attr)


def _torch_load(owner: str, path: Path):
    """torch.load(weights_only=True) with the harmless globals training checkpoints carry (argparse arguments,
    NumPy scalars and arrays, paths) allowed; a file that needs any other global is a pickled object:
    UnsupportedCheckpointError ``pickled-module`` (or ``lightning-objects``) naming a few of them."""
    import argparse
    import pickle

    allowed = [argparse.Namespace]
    for _ in range(2):
        try:
            with torch.serialization.safe_globals(allowed):
                return torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            names = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
            if not names or not all(n.startswith(_BENIGN_GLOBALS) for n in names):
                if any(n.startswith(("lightning", "pytorch_lightning")) for n in names):
                    raise UnsupportedCheckpointError(owner, path, "lightning-objects",
                                                     globals=", ".join(names[:4])) from None
                err = UnsupportedCheckpointError(owner, path, "pickled-module")
                err.args = (f"{err.args[0]} (objects in the file: {', '.join(names[:6]) or 'unknown'})",)
                raise err from None
            try:
                allowed = [argparse.Namespace, *(_resolve_global(n) for n in names)]
            except (ImportError, AttributeError):  # pragma: no cover - a NumPy name this NumPy lacks
                raise UnsupportedCheckpointError(owner, path, "pickled-module") from None
    raise UnsupportedCheckpointError(owner, path, "pickled-module")  # pragma: no cover


def _is_weight_set(value) -> bool:
    return isinstance(value, dict) and bool(value) and all(isinstance(v, torch.Tensor) for v in value.values())


def _clean(state: dict) -> dict:
    """Strip the wrappers' prefixes (``module.`` of DistributedDataParallel, ``_orig_mod.`` of torch.compile), as
    timm's ``clean_state_dict``."""
    out = {}
    for k, v in state.items():
        while k.startswith(("module.", "_orig_mod.")):
            k = k.split(".", 1)[1]
        out[k] = v
    return out


def read_state_dict(owner: str, path: str | os.PathLike, *, checkpoint_key: str | None = None
                    ) -> tuple[dict, str | None]:
    """(state dict, the key it was read from or None) of a user's checkpoint file, every choice explicit.

    A file holding one dict of tensors is that state dict. A training checkpoint wraps weight sets (dicts of
    tensors) with other entries (epoch, optimizer, args): with one weight set it is used; with several, the key
    ``checkpoint_key`` (the model entry's config key) names the one to load, and without it a known pair is
    resolved as its own evaluation code does (:data:`WEIGHT_SET_CONVENTIONS`: timm's ``state_dict`` over
    ``state_dict_ema``, DeiT's ``model`` over ``model_ema``, DINO's ``teacher`` over ``student``), logged as a
    WARNING naming the alternatives and the key. ``module.`` / ``_orig_mod.`` prefixes are stripped.

    Raises :class:`UnsupportedCheckpointError` naming the format and what reads it for a file sing cannot read
    (:func:`sniff_checkpoint`, :data:`FORMATS`: TorchScript, a pickled model object, Lightning, Keras, ONNX,
    NumPy, an HTML page...), ValueError naming ``owner`` for several weight sets with no convention, an unknown
    ``checkpoint_key`` (listing the weight sets), or a file with no weight set.
    """
    path = Path(path)
    fmt = sniff_checkpoint(path)
    if fmt not in READABLE:
        raise UnsupportedCheckpointError(owner, path, fmt, head=_head(path))
    if fmt == "safetensors":
        from safetensors.torch import load_file

        if checkpoint_key is not None:
            raise ValueError(f"{owner}: checkpoint_key {checkpoint_key!r} given, but {path} is a safetensors file "
                             "(one weight set, no keys to choose from)")
        return _clean(load_file(str(path))), None
    obj = _torch_load(owner, path)
    if _is_weight_set(obj):
        if checkpoint_key is not None:
            raise ValueError(f"{owner}: checkpoint_key {checkpoint_key!r} given, but {path} is a plain state dict "
                             "(one weight set, no keys to choose from)")
        return _clean(obj), None
    if not isinstance(obj, dict):
        raise ValueError(f"{owner}: checkpoint {path} holds a {type(obj).__name__}, not a state dict (a dict of "
                         f"tensors); save one with {_TO_STATE_DICT}")
    sets = [k for k, v in obj.items() if _is_weight_set(v)]
    if checkpoint_key is not None:
        if checkpoint_key not in sets:
            raise ValueError(f"{owner}: checkpoint_key {checkpoint_key!r} is not a weight set of {path} (weight "
                             f"sets: {sets}; other keys: {sorted(set(map(str, obj)) - set(sets))})")
        key = checkpoint_key
        log.info("%s: loading weight set %r of %s (checkpoint_key)", owner, key, path)
    elif not sets:
        raise ValueError(f"{owner}: checkpoint {path} holds no weight set (a dict of tensors) among its keys "
                         f"{sorted(map(str, obj))[:20]}")
    elif len(sets) == 1:
        key = sets[0]
    else:
        key = next((default for default, others, _ in WEIGHT_SET_CONVENTIONS
                    if default in sets and set(sets) <= {default, *others}), None)
        if key is None:
            raise ValueError(f"{owner}: checkpoint {path} holds several weight sets {sets} and no convention says "
                             "which one is evaluated: set checkpoint_key in the model entry to one of them")
        why = next(w for default, _, w in WEIGHT_SET_CONVENTIONS if default == key)
        log.warning("%s: checkpoint %s holds %d weight sets (%s): loading %r, as %s. Set checkpoint_key in the "
                    "model entry to load another (e.g. checkpoint_key: %s)", owner, path, len(sets),
                    ", ".join(sets), key, why, next(s for s in sets if s != key))
    state = _clean(obj[key])
    lightning = any(str(k).startswith(("pytorch-lightning_version", "lightning")) for k in obj)
    if lightning:
        first = {k.split(".", 1)[0] for k in state}
        if len(first) == 1 and all("." in k for k in state):
            attr = next(iter(first))
            raise UnsupportedCheckpointError(owner, path, "lightning", prefix=f"{attr}.", attr=attr)
    return state, key


def _head(path: Path) -> bytes:
    try:
        with open(path, "rb") as fh:
            return fh.read(16)
    except OSError:  # a folder
        return b""
