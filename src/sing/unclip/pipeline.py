"""Loading the UnCLIP image-variation pipeline (Karlo-v1.0.alpha by default, diffusers
:class:`~diffusers.UnCLIPImageVariationPipeline`) from the weight cache, a tiny random pipeline for tests and CPU
demo runs, and the prefetch of the real one."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from ..models.weights import WeightsCache

log = logging.getLogger(__name__)

__all__ = ["KARLO_MODEL_ID", "TINY_MODEL_ID", "load_unclip", "prefetch_unclip", "tiny_pipeline"]

KARLO_MODEL_ID = "kakaobrain/karlo-v1-alpha-image-variations"
#: ``model_id`` of a tiny randomly initialised pipeline (tests / CPU demo runs; renders noise-like pictures)
TINY_MODEL_ID = "sing:tiny-random"


#: (component, library, class) of an UnCLIPImageVariationPipeline, loaded one by one from its sub-folders
_COMPONENTS = (
    ("decoder", "diffusers", "UNet2DConditionModel"),
    ("super_res_first", "diffusers", "UNet2DModel"),
    ("super_res_last", "diffusers", "UNet2DModel"),
    ("text_proj", "unclip", "UnCLIPTextProjModel"),
    ("decoder_scheduler", "diffusers", "UnCLIPScheduler"),
    ("super_res_scheduler", "diffusers", "UnCLIPScheduler"),
    ("text_encoder", "transformers", "CLIPTextModelWithProjection"),
    ("image_encoder", "transformers", "CLIPVisionModelWithProjection"),
    ("tokenizer", "transformers", "CLIPTokenizer"),
    ("feature_extractor", "transformers", "CLIPImageProcessor"),
)


_WEIGHT_SUFFIXES = (".safetensors", ".bin")


def _allow_patterns(model_id: str) -> list[str]:
    """Files to download: ``model_index.json``, every config/tokenizer file, and per component folder the
    full-precision weights (``*.safetensors`` if the folder has any, else ``*.bin``; variant files such as
    ``*.fp16.safetensors`` are skipped because the loader reads the plain ones)."""
    from huggingface_hub import HfApi

    files = HfApi().list_repo_files(model_id)
    keep = ["model_index.json"]
    for comp, _, _ in _COMPONENTS:
        in_comp = [f for f in files if f.startswith(comp + "/") and f.count("/") == 1]
        keep += [f for f in in_comp if f.endswith((".json", ".txt"))]
        weights = [f for f in in_comp if f.endswith(_WEIGHT_SUFFIXES) and f.rsplit("/", 1)[1].count(".") == 1]
        safe = [f for f in weights if f.endswith(".safetensors")]
        keep += safe or weights
    return keep


def _component_class(library: str, name: str):
    if library == "unclip":
        from diffusers.pipelines.deprecated.unclip.text_proj import UnCLIPTextProjModel

        return UnCLIPTextProjModel
    import importlib

    return getattr(importlib.import_module(library), name)


def _load_components(folder: Path, dtype: Any) -> dict:
    """Every component from its sub-folder of a saved pipeline (hub snapshot or ``save_pretrained`` output).

    Why not ``UnCLIPImageVariationPipeline.from_pretrained``: diffusers 0.42 cannot resolve the ``text_proj``
    library recorded in older ``model_index.json`` files (``["unclip", ...]``, from before the UnCLIP pipelines
    moved to ``pipelines/deprecated``; newer saves record ``["diffusers", ...]``, which does not export it either)
    and refuses even an explicitly passed ``text_proj``. The classes are fixed by the pipeline's signature, so we
    load each one directly.
    """
    import json

    index_file = folder / "model_index.json"
    if not index_file.is_file():
        raise FileNotFoundError(f"{folder}: not a saved diffusers pipeline (no model_index.json)")
    index = json.loads(index_file.read_text())
    if index.get("_class_name") not in ("UnCLIPImageVariationPipeline", None):
        raise ValueError(f"{folder}: model_index.json describes a {index.get('_class_name')}, "
                         "expected an UnCLIPImageVariationPipeline")
    out = {}
    for name, library, cls_name in _COMPONENTS:
        sub = folder / name
        if not sub.is_dir():
            raise FileNotFoundError(f"{folder}: component folder {name!r} is missing")
        cls = _component_class(library, cls_name)
        if name.endswith("scheduler"):
            out[name] = cls.from_pretrained(str(sub))
        elif name in ("tokenizer", "feature_extractor"):
            out[name] = cls.from_pretrained(str(sub), local_files_only=True)
        elif library == "transformers":
            out[name] = cls.from_pretrained(str(sub), dtype=dtype, local_files_only=True)
        else:
            out[name] = cls.from_pretrained(str(sub), torch_dtype=dtype, local_files_only=True)
    return out


def _snapshot(model_id: str, weights: WeightsCache) -> Path:
    from huggingface_hub import snapshot_download

    with weights.loading(model_id, "(UnCLIP image-variation pipeline)"):
        patterns = None if weights.offline else _allow_patterns(model_id)
        return Path(snapshot_download(model_id, cache_dir=weights.hf_cache, local_files_only=weights.offline,
                                      allow_patterns=patterns))


def load_unclip(model_id: str = KARLO_MODEL_ID, weights: WeightsCache | None = None, device: Any = "cpu",
                dtype: Any = None, checkpoint: str | os.PathLike | None = None, *, embedding_dim: int | None = None):
    """Load the UnCLIP image-variation pipeline (Karlo by default), ready for
    :func:`sing.unclip.render.render_embeddings`.

    Parameters
    ----------
    model_id : Hugging Face repository id of a diffusers ``UnCLIPImageVariationPipeline``; ``TINY_MODEL_ID``
        builds :func:`tiny_pipeline` (random weights, no download; tests and CPU demo runs).
    weights : the job's weight cache (:class:`sing.models.weights.WeightsCache`: ``<weights_dir>/huggingface/hub``;
        ``offline=True`` reads only the cache, ``local_files_only``). None: the default HF cache, online.
    device, dtype : where to put the pipeline (``dtype`` default ``torch.float32``; ``torch.float16`` halves GPU
        memory). Half-precision dtypes apply on CUDA only (:func:`sing.models.devices.effective_dtype`): on a CPU
        the pipeline runs float32 and says so in the log; ``pipe.sing_dtype`` is the dtype it runs in.
    checkpoint : a local directory written by ``pipeline.save_pretrained`` (overrides ``model_id``).
    embedding_dim : only for ``TINY_MODEL_ID``.

    Raises :class:`sing.models.weights.MissingWeightsError` naming the model and the prefetch command
    (``snakemake prefetch_weights --cores 1``) when the weights are not cached and the hub cannot be reached.
    """
    import torch
    from diffusers import UnCLIPImageVariationPipeline

    from ..models.devices import effective_dtype

    requested = torch.float32 if dtype is None else dtype
    dtype = effective_dtype(requested, device)
    if dtype != requested:
        log.warning("UnCLIP dtype %s requested, but half-precision weights are used only on CUDA: running %s on %s",
                    str(requested).removeprefix("torch."), str(dtype).removeprefix("torch."), device)
    if checkpoint is None and model_id == TINY_MODEL_ID:
        pipe = tiny_pipeline(embedding_dim=embedding_dim or 32)
        pipe = pipe.to(device=device) if dtype == torch.float32 else pipe.to(device=device, dtype=dtype)
        pipe.sing_dtype = str(dtype).removeprefix("torch.")
        return pipe
    if checkpoint is not None:
        folder = Path(checkpoint).expanduser()
        if not (folder / "model_index.json").is_file():
            raise FileNotFoundError(f"checkpoint: {folder} is not a saved diffusers pipeline (no model_index.json)")
        source = str(folder)
    else:
        weights = weights or WeightsCache()
        log.info("loading UnCLIP %s (weights %s, local_files_only=%s)", model_id, weights.root, weights.offline)
        folder = _snapshot(model_id, weights)
        source = model_id
    pipe = UnCLIPImageVariationPipeline(**_load_components(folder, dtype))
    pipe = pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    pipe.sing_source = source
    pipe.sing_dtype = str(dtype).removeprefix("torch.")
    return pipe


def tiny_pipeline(embedding_dim: int = 32, seed: int = 0, decoder_size: int = 8, super_res_size: int = 32):
    """A tiny randomly initialised ``UnCLIPImageVariationPipeline`` with Karlo's architecture classes (decoder
    ``UNet2DConditionModel`` with learned variance and simple cross-attention, two ``UNet2DModel`` super-res
    nets, ``UnCLIPTextProjModel``, CLIP text/vision encoders, ``UnCLIPScheduler``s with Karlo's variance types).
    Built offline in well under a second; a 4+2-step generation takes ~0.1 s on a CPU. For tests and demo runs.
    """
    import json
    import tempfile

    import torch
    from diffusers import UnCLIPImageVariationPipeline, UnCLIPScheduler, UNet2DConditionModel, UNet2DModel
    from diffusers.pipelines.deprecated.unclip.text_proj import UnCLIPTextProjModel
    from transformers import (
        CLIPImageProcessor,
        CLIPTextConfig,
        CLIPTextModelWithProjection,
        CLIPTokenizer,
        CLIPVisionConfig,
        CLIPVisionModelWithProjection,
    )

    E, ctx, max_len = int(embedding_dim), 16, 8
    if E < 4 or E % 4:
        raise ValueError(f"embedding_dim: expected a positive multiple of 4, got {embedding_dim!r}")
    if super_res_size % decoder_size:
        raise ValueError("super_res_size must be a multiple of decoder_size")
    with tempfile.TemporaryDirectory() as d:
        vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, "a</w>": 2, "a": 3}
        Path(d, "vocab.json").write_text(json.dumps(vocab))
        Path(d, "merges.txt").write_text("#version: 0.2\n")
        tokenizer = CLIPTokenizer(vocab_file=str(Path(d, "vocab.json")), merges_file=str(Path(d, "merges.txt")),
                                  model_max_length=max_len)
    state = torch.random.get_rng_state()
    torch.manual_seed(int(seed))
    try:
        text_encoder = CLIPTextModelWithProjection(CLIPTextConfig(
            bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=E, projection_dim=E, intermediate_size=E,
            num_attention_heads=4, num_hidden_layers=1, vocab_size=8, max_position_embeddings=max_len))
        image_encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
            hidden_size=E, projection_dim=E, intermediate_size=E, num_hidden_layers=1, num_attention_heads=4,
            image_size=16, patch_size=8))
        text_proj = UnCLIPTextProjModel(clip_embeddings_dim=E, time_embed_dim=32, cross_attention_dim=ctx,
                                        clip_extra_context_tokens=2)
        decoder = UNet2DConditionModel(
            sample_size=decoder_size, in_channels=3, out_channels=6,
            down_block_types=("ResnetDownsampleBlock2D", "SimpleCrossAttnDownBlock2D"),
            up_block_types=("SimpleCrossAttnUpBlock2D", "ResnetUpsampleBlock2D"),
            mid_block_type="UNetMidBlock2DSimpleCrossAttn", block_out_channels=(8, 16), layers_per_block=1,
            cross_attention_dim=ctx, attention_head_dim=4, resnet_time_scale_shift="scale_shift",
            class_embed_type="identity", norm_num_groups=4)

        def super_res():
            return UNet2DModel(sample_size=super_res_size, layers_per_block=1, in_channels=6, out_channels=3,
                               down_block_types=("ResnetDownsampleBlock2D", "ResnetDownsampleBlock2D"),
                               up_block_types=("ResnetUpsampleBlock2D", "ResnetUpsampleBlock2D"),
                               block_out_channels=(8, 16), norm_num_groups=4)

        super_res_first, super_res_last = super_res(), super_res()
    finally:
        torch.random.set_rng_state(state)
    pipe = UnCLIPImageVariationPipeline(
        decoder=decoder, text_encoder=text_encoder, tokenizer=tokenizer, text_proj=text_proj,
        feature_extractor=CLIPImageProcessor(crop_size=16, size=16), image_encoder=image_encoder,
        super_res_first=super_res_first, super_res_last=super_res_last,
        decoder_scheduler=UnCLIPScheduler(variance_type="learned_range", prediction_type="epsilon",
                                          num_train_timesteps=1000),
        super_res_scheduler=UnCLIPScheduler(variance_type="fixed_small_log", prediction_type="epsilon",
                                            num_train_timesteps=1000))
    pipe.set_progress_bar_config(disable=True)
    pipe.sing_source = TINY_MODEL_ID
    return pipe


def prefetch_unclip(model_id: str = KARLO_MODEL_ID, weights_dir: str | os.PathLike | None = None) -> str:
    """Download the pipeline into ``<weights_dir>/huggingface/hub`` (needs internet) and check that it loads;
    returns the local snapshot folder. For the workflow's prefetch step."""
    folder = _snapshot(model_id, WeightsCache(weights_dir, offline=False))
    _load_components(folder, None)
    return str(folder)
