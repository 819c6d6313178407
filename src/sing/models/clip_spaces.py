"""CLIP embedding spaces (open_clip): unnormalised image and text embeddings.

Entries (:class:`sing.registry.SpaceEntry`, or a config's ``spaces:``): ``{model: <open_clip name>,
pretrained: <tag> | null, seed: 0, checkpoint: <path>}``.
``openai_vitl14`` = ("ViT-L-14-quickgelu", "openai") is the space of Karlo's UnCLIP prior/decoder (768-d);
``eva02_l14`` = ("EVA02-L-14", "merged2b_s4b_b131k") a second, different 768-d space.
"""

from __future__ import annotations

import logging
from typing import Sequence

import numpy as np
import torch

from .prompts import check_prompts
from .weights import WeightsCache, checkpoint_file, file_sha256

log = logging.getLogger(__name__)

TEMPLATE_SETS = ("openai", "simple")


def templates(name: str | None):
    """Prompt templates (callables str -> str): None = none, "openai" (80) or "simple" (open_clip's lists)."""
    import open_clip

    if name is None:
        return None
    if name == "openai":
        return list(open_clip.OPENAI_IMAGENET_TEMPLATES)
    if name == "simple":
        return list(open_clip.SIMPLE_IMAGENET_TEMPLATES)
    raise ValueError(f"unknown template ensemble {name!r} (one of {TEMPLATE_SETS} or null)")


class ClipSpace:
    def __init__(self, key, entry, model, transform, tokenizer, weights_id, device, weight_sources=None):
        self.key, self.entry = key, dict(entry)
        #: what the weights were read from: ("hub", repository id) / ("file", local path); [] for random weights
        self.weight_sources = list(weight_sources or [])
        self.model, self.transform, self.tokenizer = model, transform, tokenizer
        self.weights_id = weights_id
        self.device = torch.device(device)
        self.model.eval().to(self.device)
        vis = model.visual
        size = getattr(vis, "image_size", (224, 224))
        size = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
        self.input_size = (3, *size)
        with torch.inference_mode():
            self.dim = int(self.encode_text(["a"]).shape[1])

    @property
    def preprocess(self) -> dict:
        return {"open_clip_model": self.entry.get("model"), "transform": repr(self.transform)}

    def to(self, device) -> "ClipSpace":
        self.device = torch.device(device)
        self.model.to(self.device)
        return self

    def channels_last(self) -> "ClipSpace":
        self.model.visual.to(memory_format=torch.channels_last)
        return self

    def encode_images(self, x: torch.Tensor) -> torch.Tensor:
        """Unnormalised image embeddings [B, d]."""
        return self.model.encode_image(x.to(self.device), normalize=False)

    @torch.inference_mode()
    def encode_text(self, texts: Sequence[str], batch_size: int = 256, *, source: str = "prompt",
                    check: bool = True) -> np.ndarray:
        """Unnormalised text embeddings, float32 [P, d].

        Every text is checked first (:func:`sing.models.prompts.check_prompts`): an empty one, or one longer than
        the tokenizer's context length (which the text tower would cut silently), raises ValueError naming
        ``source``, the text and its token count, before anything is encoded (``check=False``: the caller did).
        """
        texts = list(texts)
        if check:
            check_prompts(self.tokenizer, {source: texts}, where=f"space {self.key}")
        out = []
        for i in range(0, len(texts), batch_size):
            tok = self.tokenizer(texts[i:i + batch_size]).to(self.device)
            out.append(self.model.encode_text(tok, normalize=False).float().cpu().numpy())
        if not out:
            return np.zeros((0, getattr(self, "dim", 0)), np.float32)
        return np.concatenate(out).astype(np.float32)

    def encode_prompts(self, names: Sequence[str], template: str = "an image of a {}",
                       ensemble: str | None = None, batch_size: int = 256, *, source: str = "prompt",
                       check: bool = True) -> tuple[np.ndarray, list[str]]:
        """Embeddings for ``names`` with one template, or a template ensemble (every prompt checked first as in
        :meth:`encode_text`, errors naming ``source``; ``check=False``: the caller did).

        Ensemble (as CLIP zero-shot): mean of the L2-normalised embeddings of every template, rescaled to the
        mean norm of those embeddings (so its scale matches single-prompt embeddings). Returns
        (float32 [len(names), d], prompt strings — for an ensemble a description like "ensemble:openai(<name>)").
        """
        tpls = templates(ensemble)
        if tpls is None:
            prompts = [template.format(n) for n in names]
            return self.encode_text(prompts, batch_size, source=source, check=check), prompts
        if check:
            check_prompts(self.tokenizer, {source: [t(n) for n in names for t in tpls]}, where=f"space {self.key}")
        embs = []
        for n in names:
            e = self.encode_text([t(n) for t in tpls], batch_size, check=False).astype(np.float64)
            norms = np.linalg.norm(e, axis=1, keepdims=True)
            m = (e / np.maximum(norms, 1e-12)).mean(axis=0)
            m = m / max(np.linalg.norm(m), 1e-12) * norms.mean()
            embs.append(m.astype(np.float32))
        d = self.dim
        return (np.stack(embs) if embs else np.zeros((0, d), np.float32)), [f"ensemble:{ensemble}({n})" for n in names]


def check_architecture(key: str, name: str, tag: str | None, model_kwargs: dict | None = None) -> None:
    """Refuse an open_clip architecture whose activation differs from the one its pretrained weights were trained
    with (open_clip only warns, and the embeddings are wrong).

    Source: open_clip's pretrained-tag metadata (``open_clip.get_pretrained_cfg(name, tag)["quick_gelu"]``:
    OpenAI's CLIP weights and a few others were trained with QuickGELU) against the architecture config
    (``open_clip.get_model_config(name)["quick_gelu"]``, or ``model_kwargs.force_quick_gelu``). open_clip lists
    every QuickGELU tag also under ``<name>-quickgelu``. Raises ValueError naming the space, the tag and the
    architecture to use instead (``ViT-B-32`` + ``openai`` -> ``ViT-B-32-quickgelu``); an unknown tag or a
    local checkpoint is left to open_clip.
    """
    import open_clip

    if not tag:
        return
    forced = bool((model_kwargs or {}).get("force_quick_gelu"))
    model_quick = forced or bool((open_clip.get_model_config(name) or {}).get("quick_gelu", False))
    cfg = open_clip.get_pretrained_cfg(name, tag)
    base = name.removesuffix("-quickgelu")
    if not cfg and name != base and open_clip.get_pretrained_cfg(base, tag):
        # e.g. ViT-B-32-quickgelu + laion2b_s34b_b79k: a GELU-trained tag, not listed under the QuickGELU name
        raise ValueError(f"space {key!r}: pretrained tag {tag!r} was trained with GELU, but {name!r} uses QuickGELU "
                         f"(embeddings would be wrong): use model {base!r}")
    if not cfg:
        return
    tag_quick = bool(cfg.get("quick_gelu", False))
    if tag_quick and not model_quick:
        fix = f"{base}-quickgelu"
        use = (f"use model {fix!r} (the same weights with QuickGELU)" if tag in
               open_clip.list_pretrained_tags_by_model(fix) else "set model_kwargs: {force_quick_gelu: true}")
        raise ValueError(f"space {key!r}: pretrained tag {tag!r} of {name!r} was trained with QuickGELU "
                         f"activations (open_clip's pretrained metadata), but {name!r} builds GELU ones, so the "
                         f"embeddings would be wrong: {use}")
    if model_quick and not tag_quick:
        raise ValueError(f"space {key!r}: pretrained tag {tag!r} was trained with GELU, but {name!r}"
                         f"{' with force_quick_gelu' if forced else ''} uses QuickGELU (embeddings would be wrong): "
                         f"use model {base!r} without force_quick_gelu")


def load_space(key: str, entry: dict, device="cpu", weights: WeightsCache | None = None) -> ClipSpace:
    """Build the CLIP space of an entry's spec (:meth:`sing.registry.SpaceEntry.spec`): open_clip model, its
    image transform and tokenizer. ``weights`` as in :func:`sing.models.classifiers.load_classifier`.

    Raises ValueError naming ``key`` for an unknown architecture or one that does not match its pretrained tag
    (:func:`check_architecture`), FileNotFoundError for a missing checkpoint,
    :class:`sing.models.weights.MissingWeightsError` when offline and not cached.
    """
    import open_clip

    weights = weights or WeightsCache()

    if not isinstance(entry, dict) or not entry.get("model"):
        raise ValueError(f"space {key!r}: entry needs a 'model' (open_clip architecture name)")
    name = entry["model"]
    if name not in open_clip.list_models():
        raise ValueError(f"space {key!r}: unknown open_clip model {name!r}")
    kwargs = dict(entry.get("model_kwargs") or {})
    ckpt, tag = entry.get("checkpoint"), entry.get("pretrained")
    if not ckpt:
        check_architecture(key, name, tag, kwargs)
    if ckpt:
        path = checkpoint_file(f"space {key!r}", ckpt)
        model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=str(path), **kwargs)
        wid = f"file:{path.name}:sha256:{file_sha256(path)}"
        sources = [("file", str(path))]
    elif tag:
        with weights.loading(key, f"open_clip {name} / {tag}"):
            model, _, preprocess = open_clip.create_model_and_transforms(
                name, pretrained=tag, cache_dir=weights.hf_cache, **kwargs)
        wid = f"open_clip:{name}:{tag}"
        hub = (open_clip.get_pretrained_cfg(name, tag) or {}).get("hf_hub") or ""
        sources = [("hub", "/".join(hub.strip("/").split("/")[:2]))] if hub else []
    else:
        seed = int(entry.get("seed", 0))
        torch.manual_seed(seed)
        model, _, preprocess = open_clip.create_model_and_transforms(name, pretrained=None, **kwargs)
        wid = f"random:open_clip:{name}:seed={seed}"
        sources = []
    tokenizer_repo = ((open_clip.get_model_config(name) or {}).get("text_cfg") or {}).get("hf_tokenizer_name")
    if tokenizer_repo:  # a Hugging Face tokenizer read from the hub cache
        sources.append(("hub", tokenizer_repo))
    return ClipSpace(key, entry, model, preprocess, load_tokenizer(key, entry, weights), wid, device,
                     weight_sources=sources)


def load_tokenizer(key: str, entry: dict, weights: WeightsCache | None = None):
    """The open_clip tokenizer of a space's architecture (``open_clip.get_tokenizer``; CLIP's BPE needs no
    download, Hugging Face tokenizers come from ``weights``). Cheap: no model is built. Raises ValueError naming
    ``key`` for an unknown architecture, MissingWeightsError when offline and not cached."""
    import open_clip

    weights = weights or WeightsCache()
    name = entry.get("model") if isinstance(entry, dict) else None
    if not name or name not in open_clip.list_models():
        raise ValueError(f"space {key!r}: unknown open_clip model {name!r}")
    with weights.loading(key, f"open_clip tokenizer of {name}"):
        return open_clip.get_tokenizer(name, cache_dir=weights.hf_cache)

