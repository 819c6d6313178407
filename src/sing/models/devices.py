"""Torch devices and inference precision, shared by feature extraction, text embedding and UnCLIP rendering.

Reduced precision (bf16 / fp16 autocast, half-precision weights) is used only on CUDA, where it is fast. On a
CPU, PyTorch's bf16 autocast is an emulation that is many times slower than fp32 (a CLIP ViT-L: about 38 s per
image instead of about 2 s), and fp16 on a CPU is slower still or unsupported: there the effective precision
is fp32 (:func:`effective_precision`, :func:`effective_dtype`), and callers log it and record it in provenance.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from typing import Mapping, Sequence

import torch

__all__ = ["PRECISIONS", "DeviceError", "autocast_context", "effective_dtype", "effective_precision", "gpu_evidence",
           "resolve_device"]

log = logging.getLogger(__name__)

PRECISIONS = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class DeviceError(RuntimeError):
    """The requested device is not usable in this process; the message names the cause and the knobs."""


def gpu_evidence(environ: Mapping[str, str] | None = None, dev: str = "/dev") -> list[str]:
    """Signs that this job was given, or runs beside, an NVIDIA GPU: the scheduler's GPU variables
    (``SLURM_JOB_GPUS``, ``SLURM_STEP_GPUS``, ``SLURM_GPUS_ON_NODE`` > 0, ``GPU_DEVICE_ORDINAL``), a non-empty
    ``CUDA_VISIBLE_DEVICES`` / ``NVIDIA_VISIBLE_DEVICES``, and NVIDIA device files (``/dev/nvidia0`` ...). Empty when
    ``CUDA_VISIBLE_DEVICES`` hides every GPU (``""``, ``-1``, ``NoDevFiles``): the user chose no GPU."""
    env = os.environ if environ is None else environ
    hidden = env.get("CUDA_VISIBLE_DEVICES")
    if hidden is not None and hidden.strip() in ("", "-1", "NoDevFiles"):
        return []
    out = [f"{k}={env[k]}" for k in ("SLURM_JOB_GPUS", "SLURM_STEP_GPUS", "GPU_DEVICE_ORDINAL", "CUDA_VISIBLE_DEVICES")
           if env.get(k, "").strip()]
    if env.get("SLURM_GPUS_ON_NODE", "0").strip() not in ("", "0"):
        out.append(f"SLURM_GPUS_ON_NODE={env['SLURM_GPUS_ON_NODE']}")
    if env.get("NVIDIA_VISIBLE_DEVICES", "").strip() not in ("", "void", "none"):
        out.append(f"NVIDIA_VISIBLE_DEVICES={env['NVIDIA_VISIBLE_DEVICES']}")
    try:
        files = sorted(n for n in os.listdir(dev) if re.fullmatch(r"nvidia\d+", n))
    except OSError:
        files = []
    if files:
        out.append("device files " + ", ".join(f"{dev}/{n}" for n in files[:4]))
    return out


def _why_no_cuda(evidence: Sequence[str]) -> str:
    """The likely cause of ``torch.cuda.is_available()`` being False, for an error message."""
    if torch.version.cuda is None:
        return f"this PyTorch is a CPU-only build (torch {torch.__version__}); install a CUDA build"
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) is not None and not gpu_evidence():
        return f"CUDA_VISIBLE_DEVICES={os.environ['CUDA_VISIBLE_DEVICES']!r} hides every GPU"
    if not any(e.startswith("device files") for e in evidence):
        return ("no NVIDIA device file (/dev/nvidia0 ...) is visible: this node or allocation has no GPU (a GPU job "
                "needs its GPU requested: the rule's `gpu` resource, --gpus / --gres=gpu:N on SLURM)")
    return ("NVIDIA device files exist but the CUDA driver is not usable in this process: a container started "
            "without GPU support (Apptainer/Singularity --nv, which the workflow sets as APPTAINER_NV=1 under "
            "--sdm apptainer unless APPTAINER_NV is already set; Docker --gpus all), or a driver / CUDA mismatch "
            f"(torch {torch.__version__} built for CUDA {torch.version.cuda})")


def resolve_device(device: str | torch.device | None, knob: str = "extraction.device") -> torch.device:
    """The device a job runs on, never silently a CPU in place of a GPU.

    ``"cuda"`` (or ``"cuda:N"``): CUDA must be usable, else :class:`DeviceError` naming the cause (CPU-only
    PyTorch, no GPU in the allocation, a container without ``--nv``, hidden by ``CUDA_VISIBLE_DEVICES``) and the
    knob ``extraction.device``. ``"auto"`` / None: CUDA when usable; the CPU only when this job shows no sign of a
    GPU (:func:`gpu_evidence`: a GPU the scheduler allocated, visible NVIDIA device files); with such a sign and
    CUDA unusable, :class:`DeviceError` as for ``"cuda"`` (set ``extraction.device: cpu`` to run on the CPU on
    purpose). ``"cpu"`` and other device strings are returned as they are. ``knob``: the setting the messages
    name (the workflow's ``extraction.device``; the CLI's ``--device``). The workflow checks the device when it
    plans, before any job (:func:`sing.io.host.check_device`); this is the job's own check.
    """
    if device in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        evidence = gpu_evidence()
        if evidence:
            raise DeviceError(f"{knob} auto: this job has a GPU ({'; '.join(evidence)}) but CUDA is not "
                              f"usable: {_why_no_cuda(evidence)}. To run on the CPU on purpose set "
                              f"{knob}: cpu")
        log.info("%s auto: no GPU visible to this job, running on the CPU", knob)
        return torch.device("cpu")
    d = torch.device(device)
    if d.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"{knob} {str(device)!r} requested but CUDA is not usable in this job: "
                              f"{_why_no_cuda(gpu_evidence())}. Set {knob}: cpu (or auto) to run on the "
                              "CPU")
        if d.index is not None and d.index >= torch.cuda.device_count():
            raise DeviceError(f"{knob} {str(device)!r}: this job sees {torch.cuda.device_count()} GPU(s)")
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
