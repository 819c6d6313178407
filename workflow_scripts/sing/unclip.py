"""UnCLIP visualisations (supp. §3.2; main Fig. 6, supp. Figs. 11 and 13).

Translated classifier features ``T(f)`` are CLIP ViT-L/14 image embeddings (768-d, *unnormalised*), which
the Karlo-v1.0.alpha image-variation decoder (``kakaobrain/karlo-v1-alpha-image-variations``, diffusers
:class:`~diffusers.UnCLIPImageVariationPipeline`) turns into pictures.

* Equivalent features are rescaled to the norm of the original translation before rendering (eq. 19,
  :func:`rescale_to_reference`): only the angle, i.e. the semantics, changes.
* Sampling noise is removed as a source of visual differences (:func:`shared_noise`, :func:`render_embeddings`):
  one Gaussian draw per seed, identical for every image of a batch and reused by both stages, and a per-image
  copy of the same seeded generator for the schedulers' per-step noise, and a fixed batch shape. An image is
  therefore a pure function of ``(embedding, seed, steps, guidance, batch_size)``: the same embedding gives the
  same pixels whatever else is in the batch and wherever it sits.

What "reuse the tensor for both stages" means here
--------------------------------------------------
The two stages have latents of different sizes (Karlo: decoder ``3×64×64``, super-resolution ``3×256×256``), so
one tensor cannot be passed to both as is. We draw ONE standard-normal tensor ``ξ`` (``1×C×256×256``) with
``randn_tensor`` from a CPU generator seeded with ``seed``. The super-resolution latents are ``ξ``; the decoder
latents are ``ξ`` summed over non-overlapping ``k×k`` blocks (``k = 256/64 = 4``) and divided by ``k``
(= √(k²)), i.e. the block-average of ``ξ`` rescaled to unit variance. A sum of ``k²`` i.i.d. N(0, 1) values
divided by ``k`` is exactly N(0, 1) and disjoint blocks are independent, so the decoder latents are an exact
i.i.d. standard-normal tensor too, and they are the coarse-scale content of the very noise the super-resolution
stage starts from. (When the two sizes are equal this is the identity: literally the same tensor.) Each stage's
latents are then multiplied by its scheduler's ``init_noise_sigma`` (1.0 for ``UnCLIPScheduler``) — the
pipeline skips this scaling for latents passed in, so we do it ourselves — and repeated for every image of the
batch. The draw is made on the CPU in float32, so a seed gives the same noise on any device.

Per-step noise: ``UnCLIPScheduler.step`` adds fresh noise at every step but the last, drawn from the
``generator`` argument with the shape of the whole batch, so a single generator would make an image depend on
its batch position and batch size. :func:`render_embeddings` passes a *list* of ``B`` CPU generators, all seeded
with the same value derived from ``seed`` (a stream independent of the latent draw); diffusers' ``randn_tensor``
then draws one ``1×…`` slice per generator, so every image of every batch sees the same per-step noise as when it
is rendered alone.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any, NamedTuple, Sequence

import numpy as np

from ._validate import as_float64, kind_of, restore

log = logging.getLogger(__name__)

__all__ = [
    "KARLO_MODEL_ID",
    "TINY_MODEL_ID",
    "Steering",
    "contact_sheet",
    "equivalent_pair_embeddings",
    "load_unclip",
    "lookup_prompts",
    "noise_shapes",
    "null_space_sheet",
    "perturbed_embeddings",
    "prefetch_unclip",
    "render_embeddings",
    "rescale_to_reference",
    "shared_noise",
    "steering_embeddings",
    "step_generators",
    "tiny_pipeline",
]

KARLO_MODEL_ID = "kakaobrain/karlo-v1-alpha-image-variations"
#: ``model_id`` of a tiny randomly initialised pipeline (tests / CPU demo runs; renders noise-like pictures)
TINY_MODEL_ID = "sing:tiny-random"
#: salt of the per-step noise stream (kept apart from the latent draw, which uses ``seed`` itself)
_STEP_NOISE_STREAM = 1


# ---------------------------------------------------------------- loading
def _offline_flag(offline: bool | None) -> bool:
    from .weights import is_offline

    return is_offline() if offline is None else bool(offline)


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


def _snapshot(model_id: str, weights_dir: Any, local_only: bool) -> Path:
    from huggingface_hub import snapshot_download

    from .weights import hf_cache_dir, translate_missing

    with translate_missing(model_id, "(UnCLIP image-variation pipeline)", weights_dir):
        patterns = None if local_only else _allow_patterns(model_id)
        return Path(snapshot_download(model_id, cache_dir=hf_cache_dir(weights_dir), local_files_only=local_only,
                                      allow_patterns=patterns))


def load_unclip(model_id: str = KARLO_MODEL_ID, weights_dir: str | os.PathLike | None = None, device: Any = "cpu",
                dtype: Any = None, checkpoint: str | os.PathLike | None = None, *, offline: bool | None = None,
                embedding_dim: int | None = None):
    """Load the UnCLIP image-variation pipeline (Karlo by default), ready for :func:`render_embeddings`.

    Parameters
    ----------
    model_id : Hugging Face repository id of a diffusers ``UnCLIPImageVariationPipeline``; ``TINY_MODEL_ID``
        builds :func:`tiny_pipeline` (random weights, no download; tests and CPU demo runs).
    weights_dir : the workflow's weights directory; the hub cache is ``<weights_dir>/huggingface/hub`` (same layout
        as :mod:`sing.weights`). ``None``: the directory set by ``sing.weights.configure`` or the default HF cache.
    device, dtype : where to put the pipeline (``dtype`` default ``torch.float32``; ``torch.float16`` halves GPU
        memory).
    checkpoint : a local directory written by ``pipeline.save_pretrained`` (overrides ``model_id``).
    offline : ``True`` reads only the cache (``local_files_only``); ``None`` follows ``HF_HUB_OFFLINE`` /
        ``sing.weights.configure``.
    embedding_dim : only for ``TINY_MODEL_ID``.

    Raises :class:`sing.weights.MissingWeightsError` naming the model and the prefetch command
    (``snakemake prefetch_weights --cores 1``) when the weights are not cached and the hub cannot be reached.
    """
    import torch
    from diffusers import UnCLIPImageVariationPipeline

    dtype = torch.float32 if dtype is None else dtype
    if checkpoint is None and model_id == TINY_MODEL_ID:
        pipe = tiny_pipeline(embedding_dim=embedding_dim or 32)
        return pipe.to(device=device) if dtype == torch.float32 else pipe.to(device=device, dtype=dtype)
    if checkpoint is not None:
        folder = Path(checkpoint).expanduser()
        if not (folder / "model_index.json").is_file():
            raise FileNotFoundError(f"checkpoint: {folder} is not a saved diffusers pipeline (no model_index.json)")
        source = str(folder)
    else:
        local_only = _offline_flag(offline)
        log.info("loading UnCLIP %s (weights_dir %s, local_files_only=%s)", model_id, weights_dir, local_only)
        folder = _snapshot(model_id, weights_dir, local_only)
        source = model_id
    pipe = UnCLIPImageVariationPipeline(**_load_components(folder, dtype))
    pipe = pipe.to(device)
    pipe.set_progress_bar_config(disable=True)
    pipe.sing_source = source
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
    from transformers import (CLIPImageProcessor, CLIPTextConfig, CLIPTextModelWithProjection, CLIPTokenizer,
                              CLIPVisionConfig, CLIPVisionModelWithProjection)

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
    folder = _snapshot(model_id, weights_dir, local_only=False)
    _load_components(folder, None)
    return str(folder)


# ---------------------------------------------------------------- eq. 19
def rescale_to_reference(z_eq: Any, z_ref: Any) -> Any:
    """``T̂(f̃) = T(f̃) · ‖T(f)‖₂ / ‖T(f̃)‖₂`` row-wise (supp. eq. 19).

    ``z_eq``: (N, n) or (n,); ``z_ref``: same shape, or (n,) shared by all rows. Numpy or torch (the kind, dtype
    and device of ``z_eq`` come back); computed in float64. NaN rows of ``z_eq`` (e.g. unreachable steering
    targets) stay NaN. Raises ValueError for a zero-norm row.
    """
    Z = as_float64(z_eq, "z_eq", ndim=(1, 2), allow_nan=True)
    R = as_float64(z_ref, "z_ref", ndim=(1, 2))
    if Z.shape[-1] != R.shape[-1]:
        raise ValueError(f"z_ref: last dimension {R.shape[-1]} does not match z_eq's {Z.shape[-1]}")
    if R.ndim == 2 and R.shape != Z.shape:
        raise ValueError(f"z_ref: shape {R.shape} does not match z_eq's {Z.shape} (or give one shared row)")
    n_eq = np.linalg.norm(Z, axis=-1, keepdims=True)
    n_ref = np.linalg.norm(R, axis=-1, keepdims=True)
    if np.any(n_eq == 0):
        raise ValueError("z_eq: a row has zero norm; its direction (and eq. 19) is undefined")
    if np.any(n_ref == 0):
        raise ValueError("z_ref: a row has zero norm")
    return restore(Z * (n_ref / n_eq), kind_of(z_eq))


# ---------------------------------------------------------------- embeddings to render
def equivalent_pair_embeddings(F: Any, geometry: Any, translator: Any) -> tuple[Any, Any]:
    """``(T(f), T̂(f̃))`` for the original and the null-removed feature ``f̃ = f − Π_n f`` (eq. 9, eq. 19).

    Both have the kind of ``F``; the second row-wise has the norm of the first.
    """
    Z = translator(F)
    Z_eq = translator(geometry.remove_null(F))
    return Z, rescale_to_reference(Z_eq, Z)


class Steering(NamedTuple):
    """Result of :func:`steering_embeddings` (NaN rows where ``reason != "ok"``)."""

    embeddings: Any  # (N, n) T̂(f_ε): rescaled to ‖T f‖ (eq. 19)
    features: Any  # (N, m) f_ε = f + ε d̂_null
    eps: Any  # (N,) step sizes
    reason: np.ndarray  # (N,) "ok" | "unreachable" | "no_direction"


def steering_embeddings(F: Any, geometry: Any, translator: Any, z_text: Any, target_is_deg: Any) -> Steering:
    """Null-space steering toward a prompt (main §4.3, Fig. 6).

    ``d̂ = Π_n ∇_f cos(T f, z_text) / ‖·‖`` (:func:`sing.perturb.null_text_direction`) and ``f_ε = f + ε d̂``
    with ``ε`` such that ``∠(T f, T f_ε) = target_is_deg`` (:func:`sing.perturb.steer`); ``W f_ε = W f`` by
    construction. The translated ``T(f_ε)`` is rescaled to ``‖T f‖`` (eq. 19).
    """
    from .perturb import null_text_direction, steer

    D, _mask = null_text_direction(F, geometry, translator, z_text)
    F_eps, eps, reason = steer(F, D, translator, target_is_deg)
    Z = translator(F)
    W, b = _translator_np(translator)
    Fe = as_float64(F_eps, "F_eps", ndim=(1, 2), allow_nan=True)
    Z_eps = rescale_to_reference(Fe @ W.T + b, as_float64(Z, "T(F)", ndim=(1, 2)))
    return Steering(restore(Z_eps, kind_of(F)), F_eps, eps, np.asarray(reason))


def perturbed_embeddings(F: Any, geometry: Any, translator: Any, kind: str, norm: Any, seed: int,
                         W: Any = None, *, bias: Any = None, pred: Any = None) -> tuple[Any, Any]:
    """Supp. Fig. 13: ``(T̂(f + δ), δ)`` for an equal-norm ``null`` / ``random`` / ``principal`` perturbation δ
    (:func:`sing.perturb.equal_norm_perturbation`), rescaled to ``‖T f‖`` (eq. 19)."""
    from .perturb import equal_norm_perturbation

    delta = equal_norm_perturbation(F, geometry, kind, norm, seed, W=W, pred=pred, bias=bias)
    F64 = as_float64(F, "F", ndim=(1, 2))
    d64 = as_float64(delta, "delta", ndim=(1, 2))
    W_t, b_t = _translator_np(translator)
    Z = F64 @ W_t.T + b_t
    Z_p = rescale_to_reference((F64 + d64) @ W_t.T + b_t, Z)
    return restore(Z_p, kind_of(F)), delta


def _translator_np(translator: Any) -> tuple[np.ndarray, np.ndarray]:
    from .translator import translator_params

    return translator_params(translator)


# ---------------------------------------------------------------- noise
def _sample_hw(config: Any, what: str) -> tuple[int, int]:
    size = config.sample_size
    if isinstance(size, int):
        return size, size
    if isinstance(size, (list, tuple)) and len(size) == 2:
        return int(size[0]), int(size[1])
    raise ValueError(f"{what}: unsupported sample_size {size!r}")


def noise_shapes(pipeline: Any) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """``((C, H, W) of the decoder latents, (C, H, W) of the super-resolution latents)`` as the pipeline builds
    them: decoder ``in_channels`` × ``sample_size``²; super-res ``super_res_first.in_channels // 2`` (the other half
    is the upsampled decoder image) × ``sample_size``²."""
    dec = pipeline.decoder.config
    sr = pipeline.super_res_first.config
    return (int(dec.in_channels), *_sample_hw(dec, "decoder")), (int(sr.in_channels) // 2, *_sample_hw(sr, "super_res"))


def _derived_seed(seed: int, stream: int) -> int:
    return int(np.random.SeedSequence([int(seed), int(stream)]).generate_state(1, dtype=np.uint64)[0] >> 1)


def _check_seed(seed: Any) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed: expected a non-negative integer, got {seed!r}")
    return int(seed)


def shared_noise(pipeline: Any, batch_size: int, seed: int = 0, device: Any = None, dtype: Any = None):
    """``(decoder_latents, super_res_latents)`` from ONE Gaussian draw (supp. §3.2), identical for all images.

    ``ξ = randn_tensor((1, C_sr, H_sr, W_sr), generator=torch.Generator("cpu").manual_seed(seed))``;
    ``super_res_latents = ξ · σ_sr``; ``decoder_latents = blocksum_k(ξ[:, :C_dec]) / k · σ_dec`` with
    ``k = H_sr / H_dec`` (exactly i.i.d. N(0, 1) before the scaling; identity when k = 1) and ``σ`` each scheduler's
    ``init_noise_sigma``. Both are repeated ``batch_size`` times along dim 0. See the module docstring.

    ``device``/``dtype`` default to the pipeline's execution device and the decoder's dtype.
    Raises ValueError when the super-resolution latents are not an integer multiple of the decoder latents
    (same factor in both directions) or have fewer channels.
    """
    import torch
    from diffusers.utils.torch_utils import randn_tensor

    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive integer, got {batch_size!r}")
    seed = _check_seed(seed)
    device = pipeline._execution_device if device is None else torch.device(device)
    dtype = pipeline.text_proj.dtype if dtype is None else dtype
    (cd, hd, wd), (cs, hs, ws) = noise_shapes(pipeline)
    if cd > cs:
        raise ValueError(f"pipeline: decoder latents have {cd} channels but super-resolution latents only {cs}")
    if hs % hd or ws % wd or hs // hd != ws // wd:
        raise ValueError(f"pipeline: super-resolution latents {hs}x{ws} are not an integer multiple k x k of the "
                         f"decoder latents {hd}x{wd}")
    k = hs // hd
    gen = torch.Generator(device="cpu").manual_seed(seed)
    xi = randn_tensor((1, cs, hs, ws), generator=gen, device=torch.device("cpu"), dtype=torch.float32)
    xi64 = xi.to(torch.float64)
    dec = xi64[:, :cd].reshape(1, cd, hd, k, wd, k).sum(dim=(3, 5)) / k
    dec = dec * float(pipeline.decoder_scheduler.init_noise_sigma)
    sr = xi64 * float(pipeline.super_res_scheduler.init_noise_sigma)
    rep = (int(batch_size), 1, 1, 1)
    return (dec.to(torch.float32).repeat(rep).to(device=device, dtype=dtype),
            sr.to(torch.float32).repeat(rep).to(device=device, dtype=dtype))


def step_generators(batch_size: int, seed: int = 0) -> list:
    """``batch_size`` CPU generators with the same state (the per-step noise stream of ``seed``)."""
    import torch

    s = _derived_seed(_check_seed(seed), _STEP_NOISE_STREAM)
    return [torch.Generator(device="cpu").manual_seed(s) for _ in range(int(batch_size))]


# ---------------------------------------------------------------- rendering
def _embedding_dim(pipeline: Any) -> int:
    return int(pipeline.text_proj.config.clip_embeddings_dim)


@contextlib.contextmanager
def _deterministic_cudnn():
    import torch

    old = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = old


def render_embeddings(pipeline: Any, embeddings: Any, seed: int = 0, decoder_steps: int = 25,
                      super_res_steps: int = 7, *, decoder_guidance_scale: float = 8.0, batch_size: int = 8,
                      output_type: str = "pil") -> list:
    """Render CLIP image embeddings (N × d, unnormalised; d = 768 for Karlo) with shared, seeded noise.

    Every pipeline call gets exactly ``batch_size`` rows (the last chunk is padded by repeating its last row; the
    padding images are dropped) with the latents of :func:`shared_noise` and the per-step generators of
    :func:`step_generators`. So an image is a function of (embedding, seed, steps, guidance, batch_size) only:
    re-running, reordering the rows or rendering a row alone gives the same pixels. The fixed batch shape matters
    in practice: the noise is already identical, but convolution/GEMM kernels may round differently for
    different batch sizes and the first DDPM steps (x₀ = (x_t − √(1−ᾱ)ε)/√ᾱ with ᾱ ≈ 0) amplify ~1e-7 float32
    differences to visible ones (~1e-2 with a random tiny model on CPU). Returns a list of N PIL images
    (``output_type="np"``: float32 arrays H×W×3 in [0, 1]).
    """
    import torch

    seed = _check_seed(seed)
    d = _embedding_dim(pipeline)
    if is_tensor_like(embeddings):
        E = embeddings.detach().to("cpu", torch.float64).numpy()
    else:
        E = np.asarray(embeddings, dtype=np.float64)
    if E.ndim == 1:
        E = E[None]
    if E.ndim != 2 or E.shape[1] != d:
        raise ValueError(f"embeddings: expected shape (N, {d}) for this pipeline, got {E.shape}")
    if E.shape[0] == 0:
        raise ValueError("embeddings: is empty")
    if not np.isfinite(E).all():
        raise ValueError("embeddings: contains NaN or Inf rows (drop unreachable steering targets first)")
    for name, v, lo in (("decoder_steps", decoder_steps, 2), ("super_res_steps", super_res_steps, 2),
                        ("batch_size", batch_size, 1)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < lo:
            # UnCLIPScheduler.set_timesteps divides by (steps - 1)
            raise ValueError(f"{name}: expected an integer >= {lo}, got {v!r}")
    if output_type not in ("pil", "np"):
        raise ValueError(f"output_type: expected 'pil' or 'np', got {output_type!r}")
    batch_size = int(batch_size)
    device = pipeline._execution_device
    dtype = pipeline.text_proj.dtype
    dec, sr = shared_noise(pipeline, batch_size, seed, device=device, dtype=dtype)
    images: list = []
    with _deterministic_cudnn():
        for start in range(0, E.shape[0], batch_size):
            rows = E[start:start + batch_size]
            n = rows.shape[0]
            if n < batch_size:
                rows = np.concatenate([rows, np.repeat(rows[-1:], batch_size - n, axis=0)])
            chunk = torch.from_numpy(rows).to(device=device, dtype=dtype)
            out = pipeline(image_embeddings=chunk, decoder_latents=dec.clone(), super_res_latents=sr.clone(),
                           generator=step_generators(batch_size, seed), decoder_num_inference_steps=int(decoder_steps),
                           super_res_num_inference_steps=int(super_res_steps),
                           decoder_guidance_scale=float(decoder_guidance_scale), output_type=output_type)
            images.extend(list(out.images)[:n])
    return images


def is_tensor_like(x: Any) -> bool:
    return hasattr(x, "detach") and hasattr(x, "cpu")


# ---------------------------------------------------------------- contact sheet
def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _text_wh(draw: Any, text: str, font: Any) -> tuple[int, int]:
    if not text:
        return 0, 0
    x0, y0, x1, y1 = draw.textbbox((0, 0), text, font=font)
    return int(x1 - x0), int(y1 - y0)


def _wrap(draw: Any, text: str, font: Any, width: int) -> list[str]:
    lines: list[str] = []
    for para in str(text).split("\n"):
        cur = ""
        for word in para.split(" "):
            cand = word if not cur else f"{cur} {word}"
            if cur and _text_wh(draw, cand, font)[0] > width:
                lines.append(cur)
                cur = word
            else:
                cur = cand
        lines.append(cur)
    return lines


def contact_sheet(rows: Sequence[Sequence[Any]], row_labels: Sequence[str] | None = None,
                  col_labels: Sequence[str] | None = None, *, cell_size: int | None = None, pad: int = 4,
                  font_size: int = 14, label_width: int | None = None, background=(255, 255, 255)):
    """One PIL image: a grid of ``rows`` (lists of equal length; ``None`` = an empty "n/a" cell) with column
    headers and row labels.

    Every image is resized to ``cell_size``² (default: the largest image side). Layout, with
    ``L`` = label column width (0 without row labels) and ``T`` = header height (0 without column labels)::

        width  = L + ncols·cell + (ncols + 1)·pad
        height = T + nrows·cell + (nrows + 1)·pad

    Cell (i, j) has its top-left corner at ``(L + pad + j·(cell + pad), T + pad + i·(cell + pad))``.
    """
    from PIL import Image, ImageDraw

    rows = [list(r) for r in rows]
    if not rows or not rows[0]:
        raise ValueError("rows: need at least one row with at least one image")
    ncols = len(rows[0])
    if any(len(r) != ncols for r in rows):
        raise ValueError(f"rows: all rows must have the same length ({[len(r) for r in rows]})")
    nrows = len(rows)
    if row_labels is not None and len(row_labels) != nrows:
        raise ValueError(f"row_labels: expected {nrows} labels, got {len(row_labels)}")
    if col_labels is not None and len(col_labels) != ncols:
        raise ValueError(f"col_labels: expected {ncols} labels, got {len(col_labels)}")
    imgs = [im for r in rows for im in r if im is not None]
    if cell_size is None:
        cell_size = max([max(im.size) for im in imgs], default=64)
    cell = int(cell_size)
    if cell < 1 or pad < 0:
        raise ValueError("cell_size must be >= 1 and pad >= 0")
    font = _font(font_size)
    scratch = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    line_h = max(_text_wh(scratch, "Ag", font)[1], 1) + 2
    if row_labels is not None:
        L = label_width if label_width is not None else min(
            max(_text_wh(scratch, str(s), font)[0] for s in row_labels) + 2 * pad, max(cell, 8 * font_size))
        L = int(L)
        row_lines = [_wrap(scratch, str(s), font, max(L - 2 * pad, 1)) for s in row_labels]
    else:
        L, row_lines = 0, []
    if col_labels is not None:
        col_lines = [_wrap(scratch, str(s), font, cell) for s in col_labels]
        T = max(len(c) for c in col_lines) * line_h + pad
    else:
        T, col_lines = 0, []
    W = L + ncols * cell + (ncols + 1) * pad
    H = T + nrows * cell + (nrows + 1) * pad
    sheet = Image.new("RGB", (W, H), background)
    draw = ImageDraw.Draw(sheet)
    for j, lines in enumerate(col_lines):
        x0 = L + pad + j * (cell + pad)
        for k, line in enumerate(lines):
            tw = _text_wh(draw, line, font)[0]
            draw.text((x0 + max((cell - tw) // 2, 0), pad + k * line_h), line, fill=(0, 0, 0), font=font)
    for i, r in enumerate(rows):
        y0 = T + pad + i * (cell + pad)
        if row_lines:
            lines = row_lines[i]
            ty = y0 + max((cell - len(lines) * line_h) // 2, 0)
            for k, line in enumerate(lines):
                draw.text((pad, ty + k * line_h), line, fill=(0, 0, 0), font=font)
        for j, im in enumerate(r):
            x0 = L + pad + j * (cell + pad)
            if im is None:
                draw.rectangle([x0, y0, x0 + cell - 1, y0 + cell - 1], fill=(220, 220, 220))
                tw, th = _text_wh(draw, "n/a", font)
                draw.text((x0 + (cell - tw) // 2, y0 + (cell - th) // 2), "n/a", fill=(90, 90, 90), font=font)
                continue
            tile = im.convert("RGB")
            if tile.size != (cell, cell):
                tile = tile.resize((cell, cell), Image.Resampling.LANCZOS)
            sheet.paste(tile, (x0, y0))
    return sheet


# ---------------------------------------------------------------- Fig. 6 sheet
def lookup_prompts(table: Any, embeddings: np.ndarray, prompts: Sequence[str]) -> np.ndarray:
    """Rows of a text-embedding table (``sing.storage.read_text_embeddings``) for ``prompts`` (P × d).

    A prompt matches the ``prompt`` column, else the ``key`` column; rows of kind ``"target"`` win over
    ``"concept"`` over ``"class"``. Raises ValueError naming the missing prompts.
    """
    cols = {c: list(table[c]) for c in ("kind", "key", "prompt")}
    rank = {"target": 0, "concept": 1, "class": 2}
    out, missing = [], []
    for p in prompts:
        hits = [i for i, v in enumerate(cols["prompt"]) if v == p] or [i for i, v in enumerate(cols["key"]) if v == p]
        if not hits:
            missing.append(p)
            continue
        out.append(min(hits, key=lambda i: (rank.get(cols["kind"][i], 3), i)))
    if missing:
        sample = sorted(set(cols["prompt"]))[:10]
        raise ValueError(f"prompts: {missing} not in the text table (prompt or key column; e.g. {sample})")
    return np.asarray(embeddings, dtype=np.float64)[out]


def null_space_sheet(pipeline: Any, F: Any, geometry: Any, translator: Any, prompts: Sequence[str],
                     z_text: Any, target_is_deg: float, *, row_labels: Sequence[str] | None = None, seed: int = 0,
                     decoder_steps: int = 25, super_res_steps: int = 7, batch_size: int = 8,
                     decoder_guidance_scale: float = 8.0, cell_size: int | None = None):
    """Fig. 6 contact sheet: one row per feature; columns original ``T f``, null-removed ``T̂ f̃`` and one
    null-space steering toward each prompt (``T̂ f_ε``, ``∠(T f, T f_ε) = target_is_deg``).

    Returns ``(sheet, records)``: ``records`` has one dict per cell: row, column, kind ("original" |
    "null_removed" | "steered"), prompt, image_score_deg ``∠(T f, T̂ ·)``, eps, reason ("ok" | "unreachable" |
    "no_direction") and principal_change ``max |Π_p(f' − f)|`` (≈ 0: the head cannot see the change).
    Unreachable targets give an "n/a" cell. All images are rendered in one :func:`render_embeddings` call.
    """
    from .metrics import angle_deg

    F64 = as_float64(F, "F", ndim=2)
    Zt = as_float64(z_text, "z_text", ndim=2)
    if Zt.shape[0] != len(prompts):
        raise ValueError(f"z_text: {Zt.shape[0]} rows for {len(prompts)} prompts")
    N = F64.shape[0]
    Z, Z_eq = equivalent_pair_embeddings(F64, geometry, translator)
    columns: list[tuple[str, str | None, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = [
        ("original", None, Z, np.zeros(N), np.full(N, "ok"), np.zeros(N)),
        ("null_removed", None, Z_eq, np.full(N, np.nan), np.full(N, "ok"),
         np.abs(geometry.project_principal(geometry.remove_null(F64) - F64)).max(axis=1)),
    ]
    for p, t in zip(prompts, Zt):
        st = steering_embeddings(F64, geometry, translator, t, float(target_is_deg))
        dp = np.abs(geometry.project_principal(np.nan_to_num(st.features - F64))).max(axis=1)
        columns.append(("steered", p, st.embeddings, np.asarray(st.eps, float), st.reason, dp))
    flat, where = [], []
    for j, (_, _, E, _, reason, _) in enumerate(columns):
        for i in range(N):
            if reason[i] == "ok" and np.isfinite(E[i]).all():
                flat.append(E[i])
                where.append((i, j))
    images = render_embeddings(pipeline, np.stack(flat), seed=seed, decoder_steps=decoder_steps,
                               super_res_steps=super_res_steps, batch_size=batch_size,
                               decoder_guidance_scale=decoder_guidance_scale) if flat else []
    grid: list[list[Any]] = [[None] * len(columns) for _ in range(N)]
    for (i, j), im in zip(where, images):
        grid[i][j] = im
    records = []
    for j, (kind, prompt, E, eps, reason, dp) in enumerate(columns):
        for i in range(N):
            ok = reason[i] == "ok"
            records.append({
                "row": i, "column": j, "kind": kind, "prompt": prompt,
                "image_score_deg": float(angle_deg(Z[i], E[i])) if ok else float("nan"),
                "eps": float(eps[i]), "reason": str(reason[i]), "principal_change": float(dp[i]),
            })
    col_labels = ["original", "null removed"] + [f"to: {p}" for p in prompts]
    labels = list(row_labels) if row_labels is not None else [str(i) for i in range(N)]
    return contact_sheet(grid, labels, col_labels, cell_size=cell_size), records
