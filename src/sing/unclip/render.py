"""Rendering CLIP image embeddings with shared, seeded noise (supp. §3.2), so that pictures differ only where the
embeddings differ.

Translated classifier features ``T(f)`` are CLIP ViT-L/14 image embeddings (768-d, *unnormalised*), which
the Karlo-v1.0.alpha image-variation decoder (``kakaobrain/karlo-v1-alpha-image-variations``, diffusers
:class:`~diffusers.UnCLIPImageVariationPipeline`) turns into pictures.

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
latents are then multiplied by its scheduler's ``init_noise_sigma`` (1.0 for ``UnCLIPScheduler``) and repeated for
every image of the batch. We scale them ourselves because the pipeline does not scale latents passed in: in
diffusers 0.42.1 ``UnCLIPImageVariationPipeline.__call__`` calls ``prepare_latents`` (the method that multiplies
by ``init_noise_sigma``) only ``if decoder_latents is None`` / ``if super_res_latents is None``
(``pipelines/deprecated/unclip/pipeline_unclip_image_variation.py``); the paper scales its shared draw the same
way (supp. §3.2). The draw is made on the CPU in float32, so a seed gives the same noise on any device.

Per-step noise: ``UnCLIPScheduler.step`` adds fresh noise at every step but the last, drawn from the
``generator`` argument with the shape of the whole batch, so a single generator would make an image depend on
its batch position and batch size. :func:`render_embeddings` passes a *list* of ``B`` CPU generators, all seeded
with the same value derived from ``seed`` (a stream independent of the latent draw); diffusers' ``randn_tensor``
then draws one ``1×…`` slice per generator, so every image of every batch sees the same per-step noise as when it
is rendered alone.
"""

from __future__ import annotations

import contextlib
from typing import Any

import numpy as np

__all__ = ["noise_shapes", "render_embeddings", "shared_noise", "step_generators"]

#: salt of the per-step noise stream (kept apart from the latent draw, which uses ``seed`` itself)
_STEP_NOISE_STREAM = 1


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
