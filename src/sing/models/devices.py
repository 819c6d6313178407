"""Torch devices and inference precision, shared by feature extraction, text embedding and UnCLIP rendering.

Reduced precision (bf16 / fp16 autocast, half-precision weights) is used only on CUDA, where it is fast. On a
CPU, PyTorch's bf16 autocast is an emulation that is many times slower than fp32 (a CLIP ViT-L: about 38 s per
image instead of about 2 s), and fp16 on a CPU is slower still or unsupported: there the effective precision
is fp32 (:func:`effective_precision`, :func:`effective_dtype`), and callers log it and record it in provenance.
"""

from __future__ import annotations

import contextlib

import torch

__all__ = ["PRECISIONS", "autocast_context", "effective_dtype", "effective_precision", "resolve_device"]

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"auto"`` / None -> CUDA when available, else CPU; ValueError naming the device and the config key
    that chooses it (``extraction.device``, also the device of text embeddings, probes and UnCLIP) when CUDA is
    asked for but not available (the workflow checks this when it plans: :func:`sing.io.host.check_device`)."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    d = torch.device(device)
    if d.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested (config extraction.device) but CUDA is not available on "
                         "this machine; set extraction.device: auto or cpu, or run this job where a GPU is")
    return d


def effective_precision(precision: str, device: str | torch.device) -> str:
    """The precision a computation on ``device`` really uses: ``precision`` on CUDA, ``"fp32"`` elsewhere.
    ValueError naming the precision when it is not one of :data:`PRECISIONS`."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
    return precision if torch.device(device).type == "cuda" else "fp32"


def effective_dtype(dtype: torch.dtype, device: str | torch.device) -> torch.dtype:
    """The weight dtype a model on ``device`` really uses: ``dtype`` on CUDA, ``torch.float32`` elsewhere
    (float16 / bfloat16 weights only where they are fast)."""
    return dtype if torch.device(device).type == "cuda" or not dtype.is_floating_point else torch.float32


def autocast_context(precision: str, device: torch.device):
    """``torch.autocast`` to bf16 / fp16 on a CUDA ``device``; a no-op for fp32 and on any other device (see
    :func:`effective_precision`). ValueError for an unknown precision."""
    precision = effective_precision(precision, device)
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=PRECISIONS[precision])
