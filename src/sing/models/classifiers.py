"""Classifier zoo: one adapter per weight source, each exposing f (the input of the final linear layer),
the head (W, b), the model's own preprocessing and a logit self-check.

Sources (``entry["source"]``):

``timm``
    ``name`` = timm name with pretrained tag. f = ``forward_head(forward_features(x), pre_logits=True)``;
    (W, b) = ``get_classifier()`` (a 1×1 Conv2d head, e.g. BiT's ``head.fc``, is flattened). Preprocessing:
    ``timm.data.resolve_data_config(model=...)`` + ``create_transform``.
``dino``
    DINO v1 backbone (timm ``vit_*.dino`` architecture, hub names ``dino_vits16``/``dino_vitb16``/... accepted)
    and its separate linear head file (``module.linear.weight/bias`` in ``state_dict``). f is built exactly
    as DINO's ``eval_linear.py``: cls tokens of the last ``n_last_blocks`` blocks after the final norm,
    concatenated; with ``avgpool_patchtokens`` the cls token and the mean patch token are INTERLEAVED
    (``cat((cls[..., None], mean[..., None]), -1).reshape(B, -1)``). Preprocessing: DINO's eval transform.
``dinov2_hub``
    DINOv2 backbone (timm ``vit_*_patch14_dinov2`` architecture, hub names ``dinov2_vitl14``... accepted) and
    the hub's ``*_linear{,4}_head.pth``: f = cat(cls tokens of the last ``layers`` blocks, mean patch token of
    the last block) after the final norm (plain concatenation, as in dinov2 ``hub/classifiers.py``).
    Position embeddings are interpolated by timm, which is not bit-identical to the hub model.
``transformers``
    Any Hugging Face ``AutoModelForImageClassification`` whose logits come from a final linear layer
    (:mod:`sing.models.hf`; the paper's ``facebook/dinov2-large-imagenet1k-1-layer`` among them): f = the input
    of that layer; preprocessing from its image processor; its label map is the class order of the head.
``python``
    The user's own factory ``module:function`` returning the model split into a feature function and a linear
    head (:mod:`sing.models.python_source`).

Common optional entry keys: ``pretrained`` (default true), ``checkpoint`` (local weights file; for dino /
dinov2_hub the backbone file, with ``head`` a local path or URL; for timm a checkpoint of any class count, whose
head is loaded as is), ``model_kwargs``, ``seed`` (random init).
An entry here is the compute spec of a :class:`sing.registry.ModelEntry` (``entry.spec()``: no display name).
:func:`load_classifier` optionally checks the head against a dataset's classes (:mod:`sing.models.head_order`)
and reorders its outputs to the dataset's class order.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .head_order import HeadClasses, head_permutation
from .hf import build_transformers
from .python_source import build_python
from .sources import SOURCES
from .weights import WeightsCache, checkpoint_file, file_sha256

log = logging.getLogger(__name__)

# ---------------------------------------------------------------- sources
# The catalogue of classifiers is sing.registry (plus a config's `models:`); this module builds the spec of an
# entry (ModelEntry.spec()) of each `source`: the builders below, registered in sing.models.sources.SOURCES.

DINO_BACKBONES = {"dino_vits16": "vit_small_patch16_224.dino", "dino_vits8": "vit_small_patch8_224.dino",
                  "dino_vitb16": "vit_base_patch16_224.dino", "dino_vitb8": "vit_base_patch8_224.dino"}
DINOV2_BACKBONES = {"dinov2_vits14": "vit_small_patch14_dinov2.lvd142m",
                    "dinov2_vitb14": "vit_base_patch14_dinov2.lvd142m",
                    "dinov2_vitl14": "vit_large_patch14_dinov2.lvd142m",
                    "dinov2_vitg14": "vit_giant_patch14_dinov2.lvd142m"}
DINO_BASE_URL = "https://dl.fbaipublicfiles.com/dino"
DINOV2_BASE_URL = "https://dl.fbaipublicfiles.com/dinov2"

#: DINO eval_linear.py / DINOv2 linear eval transform: Resize(256, bicubic), CenterCrop(224), ImageNet mean/std.
LINEAR_EVAL_DATA_CONFIG = {"input_size": (3, 224, 224), "interpolation": "bicubic", "crop_pct": 224 / 256,
                           "crop_mode": "center", "mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}


# ---------------------------------------------------------------- adapter
class ClassifierAdapter:
    """A classifier split into feature extractor f(x) and final linear head (W, b)."""

    def __init__(self, key: str, entry: dict, *, features_fn: Callable, forward_fn: Callable,
                 head_module: torch.nn.Module, modules: list[torch.nn.Module], data_config: dict,
                 weights_id: str, device="cpu", transform: Callable | None = None,
                 class_labels: list[str] | None = None, weight_sources: list[tuple[str, str]] | None = None):
        self.key, self.entry = key, dict(entry)
        #: what the weights were read from: ("hub", repository id) / ("file", local path); [] for random weights
        self.weight_sources = list(weight_sources or [])
        self._features_fn, self._forward_fn = features_fn, forward_fn
        self._head_module = head_module
        self._modules = modules
        self._order: torch.Tensor | None = None  # head output of each dataset class (None: the head's own order)
        #: the class each head output stands for, as the model declares it (label map), in output order; or None
        self.class_labels = class_labels
        self.data_config = {k: (list(v) if isinstance(v, tuple) else v) for k, v in data_config.items()}
        self.weights_id = weights_id
        self.device = torch.device(device)
        for m in modules:
            m.eval().to(self.device)
        if transform is None:
            from timm.data import create_transform

            transform = create_transform(**_transform_kwargs(self.data_config), is_training=False)
        self.transform = transform
        W, _ = self._head_tensors()
        self.num_classes, self.in_dim = int(W.shape[0]), int(W.shape[1])

    # -- head
    def _head_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        h = self._head_module
        if not hasattr(h, "weight"):
            raise ValueError(f"model {self.key!r}: classifier {type(h).__name__} has no weight (not a linear head)")
        W = h.weight.detach()
        if W.ndim == 4:
            if W.shape[2:] != (1, 1):
                raise ValueError(f"model {self.key!r}: conv head with kernel {tuple(W.shape[2:])} is not 1×1")
            W = W.reshape(W.shape[0], -1)
        if W.ndim != 2:
            raise ValueError(f"model {self.key!r}: head weight has shape {tuple(h.weight.shape)}")
        b = h.bias.detach() if getattr(h, "bias", None) is not None else torch.zeros(W.shape[0], device=W.device)
        if self._order is not None:
            W, b = W[self._order.to(W.device)], b[self._order.to(W.device)]
        return W.float(), b.float()

    def reorder_classes(self, order: list[int] | None) -> "ClassifierAdapter":
        """Present the head's outputs in the order ``order`` (``order[j]`` = head output of class j): rows of
        (W, b) and the model's logits are permuted alike, so the self-check and the null space are unchanged."""
        if order is not None:
            if sorted(order) != list(range(self.num_classes)):
                raise ValueError(f"model {self.key!r}: class order must be a permutation of 0..{self.num_classes - 1}")
            self._order = torch.as_tensor(order, dtype=torch.long)
        return self

    def head(self) -> tuple[np.ndarray, np.ndarray]:
        W, b = self._head_tensors()
        return (np.ascontiguousarray(W.cpu().numpy(), dtype=np.float32),
                np.ascontiguousarray(b.cpu().numpy(), dtype=np.float32))

    # -- compute
    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self._features_fn(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self._forward_fn(x)
        return logits if self._order is None else logits[:, self._order.to(logits.device)]

    def logits_from_features(self, f: torch.Tensor) -> torch.Tensor:
        W, b = self._head_tensors()
        return f.float().to(W.device) @ W.T + b

    @property
    def preprocess(self) -> dict:
        return {"data_config": self.data_config, "transform": repr(self.transform)}

    def to(self, device) -> "ClassifierAdapter":
        self.device = torch.device(device)
        for m in self._modules:
            m.to(self.device)
        return self

    def channels_last(self) -> "ClassifierAdapter":
        for m in self._modules:
            m.to(memory_format=torch.channels_last)
        return self

    def example_batch(self, n: int = 2, seed: int = 0) -> torch.Tensor:
        g = torch.Generator().manual_seed(seed)
        return torch.randn(n, *self.data_config["input_size"], generator=g).to(self.device)

    @torch.inference_mode()
    def self_check(self, x: torch.Tensor | None = None, atol: float = 1e-4, rtol: float = 1e-5) -> float:
        """W f(x) + b must equal the model's own logits (fp32). Returns the max abs error; raises ValueError."""
        x = self.example_batch() if x is None else x.to(self.device)
        tf32 = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
        torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
        try:
            logits = self.forward(x.float()).float()
            f = self.features(x.float()).float()
        finally:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = tf32
        if f.ndim != 2 or f.shape != (x.shape[0], self.in_dim):
            raise ValueError(f"model {self.key!r}: features have shape {tuple(f.shape)}, expected "
                             f"({x.shape[0]}, {self.in_dim}) = (batch, head input dim)")
        if logits.shape != (x.shape[0], self.num_classes):
            raise ValueError(f"model {self.key!r}: logits have shape {tuple(logits.shape)}, expected "
                             f"({x.shape[0]}, {self.num_classes})")
        rec = self.logits_from_features(f)
        err = float((rec - logits).abs().max())
        tol = atol + rtol * float(logits.abs().max())
        if not err <= tol:
            raise ValueError(f"model {self.key!r}: self-check failed: W f + b differs from the model's logits by "
                             f"{err:.3g} (> {tol:.3g}); the feature hook or the head is wrong for this model")
        return err


def _transform_kwargs(dc: dict) -> dict:
    keep = ("input_size", "interpolation", "mean", "std", "crop_pct", "crop_mode")
    out = {k: (tuple(v) if isinstance(v, list) else v) for k, v in dc.items() if k in keep}
    return out


# ---------------------------------------------------------------- builders
def _seed_everything(seed: int) -> None:
    torch.manual_seed(int(seed))


def _timm_create(key: str, name: str, entry: dict, weights: WeightsCache, **extra):
    """(model, weights_id, weight sources) of a timm build: a local checkpoint, the hub weights, or random."""
    import timm

    kwargs = dict(entry.get("model_kwargs") or {})
    kwargs.update(extra)
    ckpt = entry.get("checkpoint")
    if ckpt:
        path = checkpoint_file(f"model {key!r}", ckpt)
        # timm replaces the classifier of a checkpoint by a random one whenever num_classes differs from the
        # architecture's pretrained config: the overlay states the checkpoint's own class count so it loads as is
        overlay = dict(file=str(path), source="", num_classes=_checkpoint_classes(key, name, path, kwargs))
        try:
            model = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=overlay, **kwargs)
        except RuntimeError as e:  # strict load_state_dict: missing / unexpected keys, shape mismatches
            raise ValueError(f"model {key!r}: checkpoint {path} does not fit timm {name} with {kwargs}: "
                             f"{str(e)[:1500]}") from None
        return model, f"file:{path.name}:sha256:{file_sha256(path)}", [("file", str(path))]
    if entry.get("pretrained", True):
        with weights.loading(key, f"timm {name}"):
            model = timm.create_model(name, pretrained=True, cache_dir=weights.hf_cache, **kwargs)
        tag = model.pretrained_cfg.get("tag") or ""
        arch = model.pretrained_cfg.get("architecture") or name.split(".")[0]
        repo = model.pretrained_cfg.get("hf_hub_id")
        return model, f"timm:{arch}.{tag}" if tag else f"timm:{arch}", [("hub", repo)] if repo else []
    seed = int(entry.get("seed", 0))
    _seed_everything(seed)
    model = timm.create_model(name, pretrained=False, **kwargs)
    return model, f"random:timm:{name}:seed={seed}", []


def _checkpoint_classes(key: str, name: str, path: Path, kwargs: dict) -> int:
    """The class count to build ``name`` with for the checkpoint at ``path``, set in ``kwargs``: that of the
    checkpoint's classifier (found by the architecture's pretrained config), which ``model_kwargs.num_classes``
    must agree with when given. A backbone build (``num_classes`` 0) drops a classifier the file may hold."""
    from timm.models import get_pretrained_cfg, load_state_dict

    cfg = get_pretrained_cfg(name)
    names = cfg.classifier if cfg is not None else None
    names = (names,) if isinstance(names, str) else tuple(names or ())
    try:
        state = load_state_dict(str(path))
    except Exception as e:  # noqa: BLE001 - any unreadable file: name it
        raise ValueError(f"model {key!r}: cannot read checkpoint {path}: {type(e).__name__}: {e}") from e
    found = [int(state[f"{c}.weight"].shape[0]) for c in names if f"{c}.weight" in state]
    declared = kwargs.get("num_classes")
    if declared == 0 or not found:
        return int(declared if declared is not None else (cfg.num_classes if cfg is not None else 1000))
    if declared is not None and int(declared) != found[0]:
        raise ValueError(f"model {key!r}: model_kwargs.num_classes is {declared} but the classifier "
                         f"({names[0]}) in checkpoint {path} has {found[0]} outputs")
    kwargs["num_classes"] = found[0]
    return found[0]


def _build_timm(key, entry, device, weights):
    from timm.data import resolve_data_config

    model, wid, sources = _timm_create(key, entry["name"], entry, weights)
    model.eval()
    head = model.get_classifier()
    if isinstance(head, (tuple, list)):
        raise ValueError(f"model {key!r}: {entry['name']} has several heads (distilled); not supported")

    def features(x):
        return model.forward_head(model.forward_features(x), pre_logits=True)

    return ClassifierAdapter(key, entry, features_fn=features, forward_fn=model, head_module=head, modules=[model],
                             data_config=resolve_data_config(model=model), weights_id=wid, device=device,
                             weight_sources=sources)


def _head_url(source: str, entry: dict) -> str | None:
    head = entry.get("head")
    if head is None and source == "dinov2_hub":
        bb = entry.get("backbone", "")
        if bb in DINOV2_BACKBONES:
            layers = int(entry.get("layers", 1))
            return f"{DINOV2_BASE_URL}/{bb}/{bb}_linear{'4' if layers == 4 else ''}_head.pth"
        return None
    if head is None:
        return None
    head = str(head)
    if head.startswith(("http://", "https://")) or Path(head).expanduser().exists():
        return head
    m = re.fullmatch(r"dino_(\w+?)_linearweights\.pth", Path(head).name)
    if m and head == Path(head).name:  # bare DINO file name -> the DINO repo's URL
        return f"{DINO_BASE_URL}/dino_{m.group(1)}_pretrain/dino_{m.group(1)}_linearweights.pth"
    return head


def _load_linear_state(key: str, path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    sd = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(sd, dict) and "state_dict" in sd:
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise ValueError(f"model {key!r}: head file {path} holds {type(sd).__name__}, not a state dict")
    ws = [k for k, v in sd.items() if k.endswith("weight") and getattr(v, "ndim", 0) == 2]
    if len(ws) != 1:
        raise ValueError(f"model {key!r}: head file {path} must hold exactly one linear weight, found {ws}")
    bkey = ws[0][: -len("weight")] + "bias"
    if bkey not in sd:
        raise ValueError(f"model {key!r}: head file {path} has {ws[0]} but no {bkey}")
    return sd[ws[0]].float(), sd[bkey].float()


def _build_vit_token_head(key, entry, device, weights, source):
    table = DINO_BACKBONES if source == "dino" else DINOV2_BACKBONES
    bb = entry.get("backbone")
    if not bb:
        raise ValueError(f"model {key!r}: source {source} needs a 'backbone' (timm name or one of {sorted(table)})")
    name = table.get(bb, bb)
    extra = {"num_classes": 0}
    if source == "dinov2_hub":
        extra["dynamic_img_size"] = True
    model, wid, sources = _timm_create(key, name, entry, weights, **extra)
    model.eval()
    if source == "dino":
        n = int(entry.get("n_last_blocks", 4))
        avgpool = bool(entry.get("avgpool_patchtokens", False))
        if avgpool and n != 1:
            raise ValueError(f"model {key!r}: avgpool_patchtokens needs n_last_blocks: 1 (as DINO's eval_linear)")
        in_dim = model.embed_dim * (n + int(avgpool))
    else:
        n = int(entry.get("layers", 1))
        if n not in (1, 4):
            raise ValueError(f"model {key!r}: dinov2_hub layers must be 1 or 4, got {n}")
        avgpool = True
        in_dim = model.embed_dim * (n + 1)

    def features(x):
        inter = model.forward_intermediates(x, indices=n, norm=True, output_fmt="NLC", return_prefix_tokens=True,
                                            intermediates_only=True)
        cls = [prefix[:, 0] for _, prefix in inter]
        out = torch.cat(cls, dim=-1)
        if not avgpool:
            return out
        mean = inter[-1][0].mean(dim=1)
        if source == "dino":  # eval_linear.py: interleave cls and mean patch token
            out = torch.cat((out.unsqueeze(-1), mean.unsqueeze(-1)), dim=-1)
            return out.reshape(out.shape[0], -1)
        return torch.cat((out, mean), dim=-1)  # dinov2 hub/classifiers.py create_linear_input

    linear = torch.nn.Linear(in_dim, int(entry.get("num_classes", 1000)))
    url = _head_url(source, entry)
    if entry.get("pretrained", True) or entry.get("checkpoint") or (url and not url.startswith("http")):
        if url is None:
            raise ValueError(f"model {key!r}: no 'head' file given for source {source}")
        path = weights.resolve_file(key, url)
        Wt, bt = _load_linear_state(key, path)
        if Wt.shape != linear.weight.shape:
            raise ValueError(f"model {key!r}: head weight {tuple(Wt.shape)} does not fit features of dim {in_dim} "
                             f"(check n_last_blocks/avgpool_patchtokens/layers)")
        with torch.no_grad():
            linear.weight.copy_(Wt)
            linear.bias.copy_(bt)
        wid = f"{wid}+head:{path.name}:sha256:{file_sha256(path)}"
        sources.append(("file", str(path)))
    else:
        g = torch.Generator().manual_seed(int(entry.get("seed", 0)) + 1)
        with torch.no_grad():
            linear.weight.copy_(torch.randn(linear.weight.shape, generator=g) * 0.01)
            linear.bias.copy_(torch.randn(linear.bias.shape, generator=g) * 0.01)
        wid = f"{wid}+head:random:seed={int(entry.get('seed', 0))}"
    linear.eval()

    def forward(x):  # the linear classifier applied exactly as in the authors' eval code
        return linear(features(x).reshape(x.shape[0], -1))

    return ClassifierAdapter(key, entry, features_fn=features, forward_fn=forward, head_module=linear,
                             modules=[model, linear], data_config=dict(LINEAR_EVAL_DATA_CONFIG), weights_id=wid,
                             device=device, weight_sources=sources)


def build_timm(key, entry, device, weights) -> ClassifierAdapter:
    """Source ``timm`` (:data:`sing.models.sources.SOURCES`)."""
    return _build_timm(key, entry, device, weights)


def build_dino(key, entry, device, weights) -> ClassifierAdapter:
    """Source ``dino``: DINO v1 backbone + linear-head file."""
    return _build_vit_token_head(key, entry, device, weights, "dino")


def build_dinov2_hub(key, entry, device, weights) -> ClassifierAdapter:
    """Source ``dinov2_hub``: DINOv2 backbone + the hub's linear head."""
    return _build_vit_token_head(key, entry, device, weights, "dinov2_hub")


def build_hf_model(key, entry, device, weights) -> ClassifierAdapter:
    """Source ``transformers`` (:func:`sing.models.hf.build_transformers`)."""
    return build_transformers(key, entry, device, weights, seed_everything=_seed_everything,
                              adapter_cls=ClassifierAdapter)


def build_python_model(key, entry, device, weights) -> ClassifierAdapter:
    """Source ``python`` (:func:`sing.models.python_source.build_python`)."""
    return build_python(key, entry, device, seed_everything=_seed_everything, adapter_cls=ClassifierAdapter)


def load_classifier(key: str, entry: dict, device="cpu", weights: WeightsCache | None = None, self_check: bool = True,
                    check_batch: int = 2, classes: HeadClasses | None = None) -> ClassifierAdapter:
    """Build the classifier of a registry entry and (by default) prove W f + b = logits on a random batch.

    ``entry``: the spec dict (:meth:`sing.registry.ModelEntry.spec`). ``weights``: where pretrained weights are
    cached and whether the hubs may be used (default: the libraries' caches, online). ``classes``: the dataset's
    classes; when given, the head must have one output per class and its label map (if any) must name them
    (:func:`sing.models.head_order.head_permutation`); its outputs are then presented in the dataset's class
    order. The check runs before any forward pass. Raises ValueError naming ``key`` for a bad entry, a head that
    does not match ``classes`` or a failed self-check (``check_batch`` random images, fp32, 1e-4 abs.),
    FileNotFoundError for a missing local checkpoint, :class:`sing.models.weights.MissingWeightsError` when
    offline and not cached.
    """
    if not isinstance(entry, dict):
        raise ValueError(f"model {key!r}: entry must be a dict, got {type(entry).__name__}")
    src = entry.get("source")
    if src not in SOURCES:
        raise ValueError(f"model {key!r}: unknown source {src!r} (one of {sorted(SOURCES)})")
    for needs in SOURCES[src].requires:
        if not entry.get(needs):
            raise ValueError(f"model {key!r}: source {src} needs a {needs!r}")
    adapter = SOURCES[src].load()(key, entry, device, weights or WeightsCache())
    if classes is not None:
        adapter.reorder_classes(head_permutation(key, adapter.num_classes, adapter.class_labels, classes))
    if self_check:
        err = adapter.self_check(adapter.example_batch(check_batch))
        log.info("model %s (%s): self-check ok, max |W f + b - logits| = %.3g, in_dim %d, classes %d", key,
                 adapter.weights_id, err, adapter.in_dim, adapter.num_classes)
    return adapter

