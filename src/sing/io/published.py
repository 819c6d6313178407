"""Published translators: reading a trained translator that sing did not fit (the SING authors' ``best.pt`` files,
or any linear map saved with torch or safetensors), checking it fits a (model, space) pair, and converting it
into sing's :class:`~sing.core.translator.LinearTranslator`.

Formats accepted by :func:`read_published_translator` (told apart by the file's first bytes, not its name):

* a torch state dict saved with ``torch.save`` (``best.pt``): read with ``torch.load(weights_only=True)`` (no
  code runs on load); the tensors may sit at the top level or under ``state_dict`` / ``model_state_dict`` /
  ``translator_state_dict`` / ``model`` (where the authors' loader looks), and a ``torch.compile`` prefix
  ``_orig_mod.`` is dropped;
* the folder holding it with the authors' ``metadata.yaml`` (``model_name``, ``translator_name``,
  ``architecture``, ``embedding_backend``, ``in_dim``, ``out_dim``, ``hidden_dim``, ``checkpoint_file``: their
  ``configs/translator_metadata_template.yaml``); a ``best.pt`` given directly also reads the ``metadata.yaml``
  beside it when that names it as its ``checkpoint_file``;
* a safetensors file with ``weight`` (out × in) and ``bias`` (out), e.g. one written by sing.

A linear translator is exactly one weight matrix W (out_dim × in_dim) and a bias (out_dim), ``T(f) = f Wᵀ + b``
(the authors' ``LinearTranslator`` is ``F.linear(x, weight, bias)``). Anything else — their ``3layer``,
``4layer`` and ``residual`` MLPs — is refused: AS/IS, null-space steering and sing's UnCLIP renderings need a
linear T (supp. §1.1).

:func:`import_translator` checks, before anything is scored, that ``in_dim`` is the classifier head's width m,
that ``out_dim`` is the CLIP space's dimension, and (when the metadata names an embedding backend) that the
backend is the space's CLIP model (:data:`BACKENDS`). Every refusal is a :class:`TranslatorImportError` naming
the file, the model, the space and both numbers. The translator it returns carries the source file's sha256 and
metadata in :attr:`LinearTranslator.source` (saved in the file's metadata: provenance and the weights lock).

Planning-time checks (the workflow, before any job): :func:`read_translator_header` reads what a file declares
without loading a tensor and with the standard library only (the metadata, the safetensors header, or the tensor
shapes recorded in a torch zip archive's pickle, read by an unpickler that builds nothing but shapes), and
:func:`check_fit` applies the same checks as :func:`import_translator` to whatever numbers are known then.
This module imports numpy and torch only inside the functions that read tensors.
"""

from __future__ import annotations

import collections
import os
import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..core.files import file_sha256

if TYPE_CHECKING:
    import numpy as np

    from ..core.translator import LinearTranslator

__all__ = ["BACKENDS", "PublishedTranslator", "TranslatorHeader", "TranslatorImportError", "backend_space",
           "check_fit", "import_translator", "read_published_translator", "read_translator_header",
           "translator_files"]

#: an embedding backend named in a published translator's metadata -> the open_clip (model, pretrained) of its
#: CLIP image space. Karlo's UnCLIP image-variation pipeline embeds with OpenAI's CLIP ViT-L/14 (FACTS §4), in
#: open_clip ("ViT-L-14-quickgelu", "openai"). A backend may also be written "open_clip:<model>/<pretrained>".
BACKENDS: Mapping[str, tuple[str, str]] = {
    "kakao_karlo_v1_alpha_image_variations": ("ViT-L-14-quickgelu", "openai"),
    "kakaobrain/karlo-v1-alpha-image-variations": ("ViT-L-14-quickgelu", "openai"),
}
#: where a state dict may be nested in a checkpoint (the authors' loader looks at the same keys)
STATE_DICT_KEYS = ("state_dict", "model_state_dict", "translator_state_dict", "model")
METADATA_FILE = "metadata.yaml"
COMPILE_PREFIX = "_orig_mod."


class TranslatorImportError(ValueError):
    """A published translator cannot be used for the requested (model, space)."""


@dataclass(frozen=True)
class PublishedTranslator:
    """A translator file as read, before any check against a model or space.

    ``weight``: (out_dim, in_dim) and ``bias``: (out_dim,) numpy arrays in the file's dtype (bit-exact);
    ``file``: the weight file; ``sha256``: of its bytes; ``format``: "torch" or "safetensors"; ``metadata``: the
    parsed ``metadata.yaml`` (or {}), ``metadata_file`` / ``metadata_sha256`` (or None); ``details``: how the
    tensors were found (nesting key, compile prefix dropped, original key names).
    """

    weight: np.ndarray
    bias: np.ndarray
    file: Path
    sha256: str
    format: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    metadata_file: Path | None = None
    metadata_sha256: str | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def in_dim(self) -> int:
        return int(self.weight.shape[1])

    @property
    def out_dim(self) -> int:
        return int(self.weight.shape[0])

    def source(self) -> dict[str, Any]:
        """JSON-serialisable provenance: file, sha256, format, dtype, metadata file/sha256/contents, details."""
        return {"kind": "published", "file": str(self.file), "sha256": self.sha256, "format": self.format,
                "dtype": str(self.weight.dtype), "in_dim": self.in_dim, "out_dim": self.out_dim,
                "metadata_file": None if self.metadata_file is None else str(self.metadata_file),
                "metadata_sha256": self.metadata_sha256, "metadata": dict(self.metadata), "details": dict(self.details)}


def _read_metadata(path: Path) -> dict[str, Any]:
    import yaml

    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise TranslatorImportError(f"{path}: not valid YAML ({e})") from None
    if not isinstance(data, dict):
        raise TranslatorImportError(f"{path}: expected a mapping of translator metadata, got {type(data).__name__}")
    return data


def _checkpoint_name(meta: Mapping[str, Any], meta_path: Path) -> str:
    name = str(meta.get("checkpoint_file") or "best.pt")
    rel = Path(name)
    if rel.is_absolute() or ".." in rel.parts:
        raise TranslatorImportError(f"{meta_path}: checkpoint_file {name!r} must be a path inside its folder")
    return name


def _locate(path: str | os.PathLike) -> tuple[Path, Path | None, dict[str, Any]]:
    """(weight file, metadata file or None, metadata) for a file or a folder path."""
    p = Path(path).expanduser()
    if p.is_dir():
        meta_path = p / METADATA_FILE
        if not meta_path.is_file():
            raise TranslatorImportError(f"{p}: a translator folder needs a {METADATA_FILE} (the authors' layout: "
                                        "translators/<model>/linear/{metadata.yaml,best.pt}); or give the weight "
                                        "file itself")
        meta = _read_metadata(meta_path)
        weight_file = p / _checkpoint_name(meta, meta_path)
        if not weight_file.is_file():
            raise TranslatorImportError(f"{meta_path}: checkpoint_file {weight_file.name!r} does not exist in {p}")
        return weight_file, meta_path, meta
    if not p.is_file():
        raise FileNotFoundError(f"published translator {p}: no such file or folder")
    sibling = p.parent / METADATA_FILE
    if sibling.is_file():
        meta = _read_metadata(sibling)
        if (p.parent / _checkpoint_name(meta, sibling)).resolve() == p.resolve():
            return p, sibling, meta
    return p, None, {}


def _file_format(path: Path) -> str:
    with open(path, "rb") as fh:
        head = fh.read(9)
    if head[:4] == b"PK\x03\x04" or head[:1] == b"\x80":  # torch.save zip archive / legacy pickle
        return "torch"
    if len(head) == 9 and head[8:9] == b"{":  # safetensors: u64 header length, then the JSON header
        return "safetensors"
    raise TranslatorImportError(f"{path}: neither a torch.save file nor a safetensors file (first bytes "
                                f"{head!r})")


def _torch_state(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    import pickle

    import torch

    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as e:
        raise TranslatorImportError(f"{path}: cannot be read with torch.load(weights_only=True) (only tensors and "
                                    f"plain containers are accepted): {str(e).splitlines()[0][:300]}") from None
    details: dict[str, Any] = {}
    if not isinstance(obj, Mapping):
        raise TranslatorImportError(f"{path}: holds a {type(obj).__name__}, not a state dict of tensors")
    state = dict(obj)
    if not any(torch.is_tensor(v) for v in state.values()):
        for key in STATE_DICT_KEYS:
            if isinstance(obj.get(key), Mapping):
                state, details["nested_under"] = dict(obj[key]), key
                break
    non_tensor = sorted(str(k) for k, v in state.items() if not torch.is_tensor(v))
    if non_tensor or not state:
        raise TranslatorImportError(f"{path}: not a state dict of tensors (entries that are not tensors: "
                                    f"{non_tensor[:8]}; looked at the top level and under {list(STATE_DICT_KEYS)})")
    if any(str(k).startswith(COMPILE_PREFIX) for k in state):
        state = {str(k).removeprefix(COMPILE_PREFIX): v for k, v in state.items()}
        details["dropped_prefix"] = COMPILE_PREFIX
    return state, details


def _safetensors_state(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    from safetensors import safe_open

    with safe_open(str(path), framework="numpy") as fh:
        return {k: fh.get_tensor(k) for k in fh.keys()}, {}


def _to_numpy(value: Any) -> np.ndarray:
    import numpy as np

    if hasattr(value, "detach"):
        import torch

        t = value.detach().cpu()
        if t.dtype == torch.bfloat16:  # numpy has no bfloat16: widen exactly
            t = t.to(torch.float32)
        return t.numpy().copy()
    return np.asarray(value).copy()


def _linear_params(path: Path, state: Mapping[str, Any], meta_path: Path | None) -> tuple[np.ndarray, np.ndarray, str]:
    """(weight, bias, key prefix) of a linear layer state dict; TranslatorImportError for anything else."""
    keys = sorted(state)
    prefixes = {k.rpartition(".")[0] for k in keys}
    leaves = sorted(k.rpartition(".")[2] for k in keys)
    if len(prefixes) == 1 and leaves == ["bias", "weight"]:
        prefix = prefixes.pop()
        w = _to_numpy(state[f"{prefix}.weight" if prefix else "weight"])
        b = _to_numpy(state[f"{prefix}.bias" if prefix else "bias"])
        if w.ndim == 2 and b.ndim == 1 and b.shape[0] == w.shape[0]:
            return w, b, prefix
    shown = ", ".join(f"{k} {tuple(_to_numpy(state[k]).shape)}" for k in keys[:8])
    more = f" and {len(keys) - 8} more" if len(keys) > 8 else ""
    raise TranslatorImportError(
        f"{path}: not a linear translator: it holds {len(keys)} tensors ({shown}{more}), a linear one holds exactly "
        f"a weight (out × in) and a bias (out). sing needs a linear T (AS/IS, null-space steering and the "
        f"renderings translate f and f̃ with one affine map); fit one with the workflow instead"
        + (f" (metadata: {meta_path})" if meta_path else ""))


def read_published_translator(path: str | os.PathLike) -> PublishedTranslator:
    """Read a published translator (file or folder; formats in the module docstring) without checking it against
    a model or space.

    Raises FileNotFoundError for a missing path; :class:`TranslatorImportError` naming the file for a folder
    without ``metadata.yaml``, metadata whose ``architecture`` is not ``linear`` (checked before the weights are
    read), a file that is neither torch nor safetensors or cannot be loaded with ``weights_only=True``, a state
    dict that is not one linear layer, non-finite values, or metadata ``in_dim`` / ``out_dim`` that disagree with
    the weight's shape.
    """
    import numpy as np

    weight_file, meta_path, meta = _locate(path)
    _check_architecture(weight_file, meta_path, meta)
    fmt = _file_format(weight_file)
    state, details = _torch_state(weight_file) if fmt == "torch" else _safetensors_state(weight_file)
    W, b, prefix = _linear_params(weight_file, state, meta_path)
    if prefix:
        details["prefix"] = prefix
    for name, arr in (("weight", W), ("bias", b)):
        if not np.issubdtype(arr.dtype, np.floating):
            raise TranslatorImportError(f"{weight_file}: {name} has dtype {arr.dtype}, expected floating point")
        if not np.isfinite(arr).all():
            raise TranslatorImportError(f"{weight_file}: {name} contains NaN or Inf values")
    _check_declared_dims(weight_file, meta_path, meta, W.shape)
    return PublishedTranslator(weight=W, bias=b, file=weight_file, sha256=file_sha256(weight_file), format=fmt,
                               metadata=meta, metadata_file=meta_path,
                               metadata_sha256=None if meta_path is None else file_sha256(meta_path), details=details)


def _check_architecture(weight_file: Path, meta_path: Path | None, meta: Mapping[str, Any]) -> None:
    arch = meta.get("architecture")
    if arch is not None and str(arch).strip().lower() != "linear":
        raise TranslatorImportError(
            f"{weight_file}: {meta_path} declares architecture {arch!r}; sing imports linear translators only "
            "(architecture: linear) — AS/IS, null-space steering and the renderings need one affine map T")


def _check_declared_dims(weight_file: Path, meta_path: Path | None, meta: Mapping[str, Any],
                         shape: tuple[int, ...]) -> None:
    for key, have in (("in_dim", shape[1]), ("out_dim", shape[0])):
        declared = meta.get(key)
        if declared is not None and int(declared) != int(have):
            raise TranslatorImportError(f"{weight_file}: {meta_path} says {key} {declared} but the weight is "
                                        f"{shape[0]} × {shape[1]} (out × in), i.e. {key} {have}")


class _Shape(tuple):
    """A tensor as the shape reader sees it: its shape only."""


def _rebuild_tensor(storage: Any, offset: Any, size: Any, *rest: Any) -> _Shape:
    return _Shape(int(n) for n in size)


class _ShapeUnpickler(pickle.Unpickler):
    """Reads the pickle of a torch.save state dict and builds only dicts and tensor shapes: any other global than
    an OrderedDict, a tensor rebuild or a storage type stops it (then nothing is known before loading)."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if module == "torch._utils" and name in ("_rebuild_tensor_v2", "_rebuild_tensor", "_rebuild_tensor_v3"):
            return _rebuild_tensor
        if (module, name) == ("torch._utils", "_rebuild_parameter"):
            return lambda data, *rest: data
        if module == "torch" and name.endswith("Storage"):
            return name
        raise pickle.UnpicklingError(f"{module}.{name}")

    def persistent_load(self, pid: Any) -> Any:
        return pid


def _flat_shapes(obj: Any) -> dict[str, tuple[int, ...]] | None:
    """{name: shape} of a (possibly nested, see STATE_DICT_KEYS) state dict of shapes, ``_orig_mod.`` dropped."""
    if not isinstance(obj, Mapping):
        return None
    state = obj
    if not any(isinstance(v, _Shape) for v in obj.values()):
        state = next((obj[k] for k in STATE_DICT_KEYS if isinstance(obj.get(k), Mapping)), None)
    if not isinstance(state, Mapping) or not all(isinstance(v, _Shape) for v in state.values()):
        return None
    return {str(k).removeprefix(COMPILE_PREFIX): tuple(v) for k, v in state.items()}


def _torch_shapes(path: Path) -> dict[str, tuple[int, ...]] | None:
    """Tensor shapes of a torch.save zip archive, from its pickle (no tensor data read; None when unknown)."""
    try:
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if n == "data.pkl" or n.endswith("/data.pkl")]
            if len(names) != 1:
                return None
            import io

            return _flat_shapes(_ShapeUnpickler(io.BytesIO(z.read(names[0]))).load())
    except (zipfile.BadZipFile, pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError):
        return None


def _safetensors_shapes(path: Path) -> dict[str, tuple[int, ...]] | None:
    from ..core.files import safetensors_header

    try:
        header = safetensors_header(path)
    except ValueError:
        return None
    return {k: tuple(int(n) for n in v["shape"]) for k, v in header.items()
            if k != "__metadata__" and isinstance(v, Mapping) and "shape" in v}


@dataclass(frozen=True)
class TranslatorHeader:
    """What a published translator declares, read without loading it (:func:`read_translator_header`).

    ``file``: the weight file; ``format``: "torch" or "safetensors"; ``metadata`` / ``metadata_file``: the
    authors' ``metadata.yaml`` ({} / None without one); ``shape``: (out_dim, in_dim) of the weight, from the tensor
    shapes or else the metadata, or None when neither tells.
    """

    file: Path
    format: str
    metadata: Mapping[str, Any] = field(default_factory=dict)
    metadata_file: Path | None = None
    shape: tuple[int, int] | None = None

    @property
    def in_dim(self) -> int | None:
        return None if self.shape is None else int(self.shape[1])

    @property
    def out_dim(self) -> int | None:
        return None if self.shape is None else int(self.shape[0])


def read_translator_header(path: str | os.PathLike) -> TranslatorHeader:
    """What a published translator (file or folder, formats as :func:`read_published_translator`) declares, read
    with the standard library only and without its tensor data: cheap enough for planning.

    Raises FileNotFoundError for a missing path; :class:`TranslatorImportError` naming the file for a folder
    without ``metadata.yaml``, a non-linear ``architecture``, a file that is neither torch nor safetensors, tensor
    shapes that are not one weight and one bias (when the shapes can be read: a torch archive whose pickle holds
    anything but tensors is left to the loader), or metadata dimensions that contradict them.
    """
    weight_file, meta_path, meta = _locate(path)
    _check_architecture(weight_file, meta_path, meta)
    fmt = _file_format(weight_file)
    shapes = _torch_shapes(weight_file) if fmt == "torch" else _safetensors_shapes(weight_file)
    shape = None
    if shapes is not None:
        keys = sorted(shapes)
        prefixes = {k.rpartition(".")[0] for k in keys}
        leaves = sorted(k.rpartition(".")[2] for k in keys)
        prefix = next(iter(prefixes)) if len(prefixes) == 1 else None
        w = shapes.get(f"{prefix}.weight" if prefix else "weight")
        b = shapes.get(f"{prefix}.bias" if prefix else "bias")
        if leaves != ["bias", "weight"] or w is None or b is None or len(w) != 2 or len(b) != 1 or b[0] != w[0]:
            shown = ", ".join(f"{k} {shapes[k]}" for k in keys[:8])
            raise TranslatorImportError(
                f"{weight_file}: not a linear translator: it holds {len(keys)} tensors ({shown}), a linear one holds "
                "exactly a weight (out × in) and a bias (out); sing needs a linear T")
        shape = (int(w[0]), int(w[1]))
        _check_declared_dims(weight_file, meta_path, meta, shape)
    elif meta.get("in_dim") is not None and meta.get("out_dim") is not None:
        shape = (int(meta["out_dim"]), int(meta["in_dim"]))
    return TranslatorHeader(file=weight_file, format=fmt, metadata=meta, metadata_file=meta_path, shape=shape)


def check_fit(translator: "TranslatorHeader | PublishedTranslator", *, model: str, space: str,
              head_in_dim: int | None = None, space_dim: int | None = None,
              space_entry: Mapping[str, Any] | None = None) -> None:
    """Check a published translator (its header or the loaded file) against classifier ``model`` (head width
    ``head_in_dim`` = m) and CLIP space ``space`` (dimension ``space_dim`` = n; ``space_entry``: its spec,
    ``{"model", "pretrained", ...}``). A number given as None, or unknown from the header, is not checked (the
    import job checks it); the backend is checked whenever the metadata names one and ``space_entry`` is given.

    Raises :class:`TranslatorImportError` naming the file, the model, the space and both numbers: in_dim ≠ m;
    out_dim ≠ n; the metadata's ``embedding_backend`` is unknown (:func:`backend_space`), or is not the space's
    CLIP model (a space without ``pretrained``, e.g. random weights or a local checkpoint, counts as another).
    """
    where = f"published translator {translator.file} for model {model!r} and space {space!r}"
    in_dim, out_dim = translator.in_dim, translator.out_dim
    if head_in_dim is not None and in_dim is not None and in_dim != int(head_in_dim):
        raise TranslatorImportError(
            f"{where}: its in_dim is {in_dim} (weight {out_dim} × {in_dim}) but model {model!r}'s head reads "
            f"features of width m = {int(head_in_dim)}: it was trained on another classifier's features")
    if space_dim is not None and out_dim is not None and out_dim != int(space_dim):
        raise TranslatorImportError(
            f"{where}: its out_dim is {out_dim} but space {space!r} embeds in dimension {int(space_dim)}: it "
            "maps into another CLIP space")
    backend = translator.metadata.get("embedding_backend")
    if backend is None or space_entry is None:
        return
    expected = backend_space(str(backend))
    if expected is None:
        raise TranslatorImportError(
            f"{where}: {translator.metadata_file} names embedding backend {backend!r}, which sing cannot match to "
            f"an open_clip model (known: {sorted(BACKENDS)}, or write 'open_clip:<model>/<pretrained>')")
    have = (str(space_entry.get("model")), space_entry.get("pretrained"))
    if not _same_clip(expected, have) or space_entry.get("checkpoint"):
        shown = f"open_clip {have[0]} / {have[1] if have[1] else 'random weights'}" + (
            f" from checkpoint {space_entry['checkpoint']}" if space_entry.get("checkpoint") else "")
        dim = "" if space_dim is None else f" (dimension {int(space_dim)})"
        raise TranslatorImportError(
            f"{where}: {translator.metadata_file} says it maps into {backend!r} = open_clip {expected[0]} / "
            f"{expected[1]} (dimension {out_dim}), but space {space!r} is {shown}{dim}: another CLIP space — "
            "AS/IS against its text embeddings would be meaningless")


def translator_files(path: str | os.PathLike) -> list[Path]:
    """The files an import of ``path`` reads (the weight file, and ``metadata.yaml`` when used): what the workflow
    tracks as the import job's inputs and records in the weights lock. Raises as :func:`read_published_translator`
    for a missing path or folder metadata."""
    weight_file, meta_path, _ = _locate(path)
    return [weight_file] + ([meta_path] if meta_path is not None else [])


def backend_space(backend: str) -> tuple[str, str] | None:
    """The open_clip (model, pretrained) of an embedding backend name (:data:`BACKENDS`, or the generic
    ``open_clip:<model>/<pretrained>``), None when unknown."""
    b = str(backend).strip()
    if b in BACKENDS:
        return BACKENDS[b]
    if b.startswith("open_clip:") and "/" in b:
        model, _, tag = b.removeprefix("open_clip:").partition("/")
        return model, tag
    return None


def _same_clip(a: tuple[str, str | None], b: tuple[str, str | None]) -> bool:
    """Same open_clip weights: equal tags and architectures equal up to the ``-quickgelu`` suffix (open_clip lists
    QuickGELU tags under both names; sing refuses the wrong activation when it loads a space)."""
    return a[1] == b[1] and str(a[0]).removesuffix("-quickgelu") == str(b[0]).removesuffix("-quickgelu")


def import_translator(path: str | os.PathLike, *, model: str, space: str, head_in_dim: int, space_dim: int,
                      space_entry: Mapping[str, Any] | None = None) -> LinearTranslator:
    """Read a published translator and check it fits classifier ``model`` (head width ``head_in_dim`` = m) and CLIP
    space ``space`` (dimension ``space_dim`` = n; ``space_entry``: its spec, ``{"model", "pretrained", ...}``).

    Returns a :class:`LinearTranslator` with exactly the file's weight and bias (float32 values widened to
    float64 exactly: casting back gives the file's bytes) and ``source`` = the file's provenance
    (:meth:`PublishedTranslator.source`: sha256, format, metadata) plus ``model`` and ``space``.

    Raises :class:`TranslatorImportError` as :func:`check_fit` (every number is known here; a metadata backend
    with ``space_entry`` None is refused: the space cannot be told), plus every error of
    :func:`read_published_translator`.
    """
    from ..core.translator import LinearTranslator

    pub = read_published_translator(path)
    if pub.metadata.get("embedding_backend") is not None and space_entry is None:
        raise TranslatorImportError(
            f"published translator {pub.file} for model {model!r} and space {space!r}: {pub.metadata_file} names "
            f"embedding backend {pub.metadata['embedding_backend']!r} but the space is unknown (no space entry "
            "given)")
    check_fit(pub, model=model, space=space, head_in_dim=head_in_dim, space_dim=space_dim, space_entry=space_entry)
    source = {**pub.source(), "model": model, "space": space}
    return LinearTranslator(pub.weight, pub.bias, None, {}, source=source)
