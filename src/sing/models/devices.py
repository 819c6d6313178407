"""Torch devices and inference precision, shared by feature extraction, text embedding and UnCLIP rendering."""

from __future__ import annotations

import contextlib

import torch

__all__ = ["PRECISIONS", "autocast_context", "resolve_device"]

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def resolve_device(device: str | torch.device | None) -> torch.device:
    """``"auto"`` / None -> CUDA when available, else CPU; ValueError naming the device when CUDA is asked for
    but not available."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    d = torch.device(device)
    if d.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} requested but CUDA is not available")
    return d


def autocast_context(precision: str, device: torch.device):
    """``torch.autocast`` to bf16 / fp16 on ``device``, or a no-op for fp32; ValueError for another precision."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}, got {precision!r}")
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=PRECISIONS[precision])
