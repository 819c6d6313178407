"""Hugging Face image classifiers (``source: transformers``): any ``AutoModelForImageClassification`` whose
logits are the output of one final ``torch.nn.Linear``.

The head is the last ``nn.Linear`` inside the model's ``classifier`` module (``ViTForImageClassification``,
``ConvNextForImageClassification``, ``Dinov2ForImageClassification``, ``ResNetForImageClassification``'s
``Sequential(Flatten, Linear)``, ...); f is that layer's input, captured by a forward hook, so no
architecture-specific feature code is needed (for DINOv2 it is ``cat(cls token, mean patch token)`` of
``last_hidden_state``). Models whose logits are not one linear layer's output (e.g. DeiT's averaged
distillation heads) fail the adapter's logit self-check with a message naming the model.

Preprocessing: for processors of the "resize the shorter side, centre-crop" family (BiT, DINOv2, CLIP) the
equivalent timm transform (fast, as for timm models); for every other processor the processor itself
(:class:`ProcessorTransform`), so the model sees exactly what its own pipeline would feed it.

The label map (``config.id2label``) is the class order the head expects; generic ``LABEL_<i>`` names mean
"no label map" (see :mod:`sing.models.head_order`).
"""

from __future__ import annotations

import re
from pathlib import Path

import torch

from .lock import cached_revision
from .weights import WeightsCache, file_sha256

__all__ = ["DINOV2_LARGE_CONFIG", "DINOV2_PROCESSOR", "KNOWN_HF_CONFIGS", "ProcessorTransform", "build_transformers",
           "linear_head", "label_map"]

#: preprocessor_config.json of facebook/dinov2-*-imagenet1k-1-layer (used for random builds with no cache)
DINOV2_PROCESSOR = {"do_resize": True, "size": {"shortest_edge": 256}, "resample": 3, "do_center_crop": True,
                    "crop_size": {"height": 224, "width": 224}, "do_rescale": True, "rescale_factor": 1 / 255,
                    "do_normalize": True, "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225],
                    "do_convert_rgb": True}
#: config.json of facebook/dinov2-large-imagenet1k-1-layer (architecture only; for random builds)
DINOV2_LARGE_CONFIG = {"hidden_size": 1024, "num_hidden_layers": 24, "num_attention_heads": 16, "mlp_ratio": 4,
                       "image_size": 518, "patch_size": 14, "layerscale_value": 1.0, "num_labels": 1000,
                       "layer_norm_eps": 1e-6, "hidden_act": "gelu", "qkv_bias": True}
KNOWN_HF_CONFIGS = {"facebook/dinov2-large-imagenet1k-1-layer": DINOV2_LARGE_CONFIG}
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)

_PIL_RESAMPLE = {0: "nearest", 1: "lanczos", 2: "bilinear", 3: "bicubic", 4: "box", 5: "hamming"}
_GENERIC_LABEL = re.compile(r"LABEL_\d+")


class ProcessorTransform:
    """PIL image -> (3, H, W) float tensor through a Hugging Face image processor (picklable for DataLoader
    workers). ``repr`` names the processor and its settings (recorded as the features' preprocessing)."""

    def __init__(self, processor):
        self.processor = processor

    def __call__(self, image) -> torch.Tensor:
        return self.processor(images=image, return_tensors="pt")["pixel_values"][0]

    def __repr__(self) -> str:
        settings = {k: v for k, v in sorted(self.processor.to_dict().items()) if not k.startswith("_")}
        return f"ProcessorTransform({type(self.processor).__name__}, {settings})"


def _size(d, *keys):
    for k in keys:
        v = d.get(k) if isinstance(d, dict) else getattr(d, k, None)
        if v:
            return int(v)
    return None


def processor_data_config(proc) -> tuple[dict, bool]:
    """(timm-style data config, exact): ``exact`` is True when a timm transform built from the config reproduces
    the processor (shorter side resized, centre crop); otherwise only ``input_size``, mean and std are meaningful
    and the processor itself must be the transform."""
    size = getattr(proc, "size", None) or {}
    crop = getattr(proc, "crop_size", None) or {}
    short = _size(size, "shortest_edge")
    ch, cw = _size(crop, "height"), _size(crop, "width")
    mean = tuple(getattr(proc, "image_mean", None) or IMAGENET_MEAN)
    std = tuple(getattr(proc, "image_std", None) or IMAGENET_STD)
    interp = _PIL_RESAMPLE.get(int(getattr(proc, "resample", 3) or 3), "bicubic")
    if short and ch and cw and getattr(proc, "do_center_crop", False) and not hasattr(proc, "crop_pct"):
        return {"input_size": (3, ch, cw), "interpolation": interp, "crop_pct": ch / float(short),
                "crop_mode": "center", "mean": mean, "std": std}, True
    h = ch or _size(size, "height", "shortest_edge") or 224
    w = cw or _size(size, "width", "shortest_edge") or h
    return {"input_size": (3, h, w), "interpolation": interp, "crop_pct": 1.0, "crop_mode": "center", "mean": mean,
            "std": std}, False


def linear_head(key: str, model: torch.nn.Module) -> torch.nn.Linear:
    """The final ``nn.Linear`` of ``model.classifier`` (the last one in module order); ValueError naming ``key``
    when the model has no ``classifier`` or it holds no linear layer."""
    head = getattr(model, "classifier", None)
    if head is None:
        raise ValueError(f"model {key!r}: {type(model).__name__} has no 'classifier' module; sing needs an image "
                         "classification model whose logits come from a final linear layer")
    linears = [m for m in head.modules() if isinstance(m, torch.nn.Linear)]
    if not linears:
        raise ValueError(f"model {key!r}: the classifier of {type(model).__name__} ({type(head).__name__}) has no "
                         "linear layer (num_labels=0?)")
    return linears[-1]


def label_map(model) -> list[str] | None:
    """``config.id2label`` as a list in output order, or None when it is absent or only generic ``LABEL_<i>``."""
    id2label = getattr(model.config, "id2label", None) or {}
    n = int(getattr(model.config, "num_labels", len(id2label)))
    labels = [str(id2label.get(i, id2label.get(str(i), ""))) for i in range(n)]
    if not labels or all(_GENERIC_LABEL.fullmatch(x) or not x for x in labels):
        return None
    return labels


def build_transformers(key: str, entry: dict, device, weights: WeightsCache, *, seed_everything, adapter_cls):
    """Adapter of an ``AutoModelForImageClassification`` (module docstring). ``entry``: ``name`` (hub id) or
    ``checkpoint`` (a local ``save_pretrained`` directory), ``pretrained``, ``seed`` and ``config`` (a dict with
    an optional ``model_type``, default ``dinov2``) for random builds. Raises FileNotFoundError for a missing
    checkpoint, ValueError naming ``key`` for an unusable model."""
    from transformers import AutoConfig, AutoImageProcessor, AutoModelForImageClassification, BitImageProcessor

    name = entry.get("name")
    ckpt = entry.get("checkpoint")
    if entry.get("model_kwargs"):
        raise ValueError(f"model {key!r}: source transformers takes no model_kwargs (the architecture comes from the "
                         "checkpoint's config.json, or from 'config' for a random build)")
    if ckpt or entry.get("pretrained", True):
        src = str(Path(ckpt).expanduser()) if ckpt else name
        if ckpt and not Path(src).exists():
            raise FileNotFoundError(f"model {key!r}: checkpoint {src} does not exist")
        if not src:
            raise ValueError(f"model {key!r}: source transformers needs a 'name' (hub id) or a 'checkpoint' folder")
        with weights.loading(key, f"transformers {src}"):
            model = AutoModelForImageClassification.from_pretrained(src, cache_dir=weights.hf_cache,
                                                                    local_files_only=weights.offline)
            proc = AutoImageProcessor.from_pretrained(src, cache_dir=weights.hf_cache,
                                                      local_files_only=weights.offline)
        if ckpt:
            files = sorted(p for p in Path(src).glob("*.safetensors")) or sorted(Path(src).glob("*.bin"))
            digest = ",".join(f"{p.name}:sha256:{file_sha256(p)}" for p in files)
            wid = f"file:{Path(src).name}" + (f"[{digest}]" if digest else "")
            sources = [("file", src)]
        else:
            # transformers 5 no longer keeps config._commit_hash: the revision loaded is the cache's refs/main
            rev = cached_revision(weights.hf_cache or _default_hf_cache(), name)
            wid = f"hf:{name}" + (f"@{rev}" if rev else "")
            sources = [("hub", name)]
    else:
        cfg = dict(entry.get("config") or KNOWN_HF_CONFIGS.get(name) or {})
        if not cfg:
            raise ValueError(f"model {key!r}: random transformers build needs a 'config' dict (unknown name {name!r})")
        model_type = cfg.pop("model_type", "dinov2")
        seed = int(entry.get("seed", 0))
        seed_everything(seed)
        try:
            config = AutoConfig.for_model(model_type, **cfg)
        except ValueError as e:
            raise ValueError(f"model {key!r}: config: {e}") from None
        model = AutoModelForImageClassification.from_config(config)
        proc = BitImageProcessor(**DINOV2_PROCESSOR) if model_type == "dinov2" else None
        wid = f"random:transformers:{name or model_type}:seed={seed}"
        sources = []
    model.eval()
    head = linear_head(key, model)
    if proc is None:  # random non-DINOv2 build: the architecture's input size, ImageNet statistics
        side = int(getattr(model.config, "image_size", 224) or 224)
        data_config, transform = {"input_size": (3, side, side), "interpolation": "bicubic", "crop_pct": 1.0,
                                  "crop_mode": "center", "mean": IMAGENET_MEAN, "std": IMAGENET_STD}, None
    else:
        data_config, exact = processor_data_config(proc)
        transform = None if exact else ProcessorTransform(proc)

    def features(x):
        captured = []
        hook = head.register_forward_hook(lambda _m, inputs, _out: captured.append(inputs[0]))
        try:
            model(pixel_values=x)
        finally:
            hook.remove()
        return captured[-1].reshape(x.shape[0], -1)

    def forward(x):
        return model(pixel_values=x).logits

    return adapter_cls(key, entry, features_fn=features, forward_fn=forward, head_module=head, modules=[model],
                       data_config=data_config, weights_id=wid, device=device, transform=transform,
                       class_labels=label_map(model), weight_sources=sources)


def _default_hf_cache() -> str:
    from huggingface_hub.constants import HF_HUB_CACHE

    return HF_HUB_CACHE
