"""What the machine that plans the workflow offers, asked cheaply (no torch: importing it costs every
``snakemake`` invocation seconds): CUDA devices, through the NVIDIA driver API, and SLURM's commands on PATH.
The checks raise :class:`HostError` with one message naming the config key or the executor, the value, and the
fix, before any job is planned.

* :func:`cuda_devices` / :func:`check_device`: ``extraction.device: cuda`` on a machine whose jobs cannot see a
  CUDA device (no NVIDIA driver, or ``CUDA_VISIBLE_DEVICES`` hiding every GPU). Only meaningful where the jobs run
  on this machine: a SLURM login node plans GPU jobs it does not run (``local=False`` skips the check).
* :func:`check_slurm`: the SLURM executor chosen (``--profile slurm``, ``--executor slurm``) on a machine without
  ``sbatch`` / ``squeue`` / ``sinfo`` / ``scancel`` on PATH: one message instead of one failed call per job.
"""

from __future__ import annotations

import ctypes
import os
import shutil
from dataclasses import dataclass
from typing import Callable, Sequence

__all__ = ["CudaProbe", "HostError", "SLURM_COMMANDS", "check_device", "check_slurm", "cuda_devices",
           "executor_is_local"]

#: the commands snakemake-executor-plugin-slurm runs on the submitting host (submission, status, partition
#: limits, cancellation); the workflow profile reads job status through squeue
SLURM_COMMANDS = ("sbatch", "squeue", "sinfo", "scancel")
DEVICES = ("auto", "cpu", "cuda")


class HostError(RuntimeError):
    """The configuration asks for something this machine does not have (message: key, value, fix)."""


@dataclass(frozen=True)
class CudaProbe:
    """What the NVIDIA driver reports: ``count`` CUDA devices visible to this process; ``reason`` says why
    there are none (no driver library, ``cuInit`` error, ``CUDA_VISIBLE_DEVICES``)."""

    count: int
    reason: str = ""


def cuda_devices(library: str = "libcuda.so.1") -> CudaProbe:
    """The CUDA devices a job started from this environment would see, from the driver API (``cuInit``,
    ``cuDeviceGetCount`` of ``libcuda``), which honours ``CUDA_VISIBLE_DEVICES`` exactly as torch does. Takes
    milliseconds and imports nothing. A missing driver library is 0 devices (``reason`` says so)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    try:
        lib = ctypes.CDLL(library)
    except OSError:
        return CudaProbe(0, f"no NVIDIA driver on this machine ({library} cannot be loaded)")
    status = lib.cuInit(0)
    if status != 0:
        why = {100: "no CUDA-capable device", 999: "unknown driver error", 35: "driver older than the runtime"}
        text = why.get(status, f"driver error {status}")
        if visible is not None and status == 100:
            text += f"; CUDA_VISIBLE_DEVICES={visible!r} hides every GPU"
        return CudaProbe(0, f"the NVIDIA driver reports {text} (cuInit returned {status})")
    count = ctypes.c_int(0)
    status = lib.cuDeviceGetCount(ctypes.byref(count))
    if status != 0:
        return CudaProbe(0, f"the NVIDIA driver cannot count devices (cuDeviceGetCount returned {status})")
    if count.value == 0 and visible is not None:
        return CudaProbe(0, f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU")
    return CudaProbe(int(count.value))


def check_device(device: str, *, key: str = "extraction.device", local: bool = True,
                 probe: Callable[[], CudaProbe] = cuda_devices) -> CudaProbe | None:
    """Raise :class:`HostError` when ``device`` (the value of config ``key``) names a device the jobs run on
    this machine will not have: ``cuda`` (or ``cuda:N``) with no visible CUDA device, or ``cuda:N`` beyond
    the visible count. ``auto`` and ``cpu`` always pass (``auto`` falls back to the CPU, and says so in each
    job's log). ``local``: whether the jobs run on this machine (False for a cluster executor: the check is
    skipped and None returned). ``probe``: :func:`cuda_devices` (replaceable in tests). ValueError for a
    device string that is none of ``auto``, ``cpu``, ``cuda``, ``cuda:N``. Returns the probe's answer."""
    kind, _, index = str(device).partition(":")
    if kind not in DEVICES or (index and (kind != "cuda" or not index.isdigit())):
        raise ValueError(f"config {key}: {device!r} is not a device (auto, cpu, cuda or cuda:N)")
    if kind != "cuda" or not local:
        return None
    found = probe()
    if found.count == 0:
        raise HostError(
            f"config {key}: {device!r}, but this machine has no CUDA device the jobs could use: {found.reason}. "
            f"Set {key}: auto (CUDA where available, else CPU) or cpu, or run the jobs on machines that have a GPU "
            "(e.g. through the SLURM executor: --profile slurm)")
    if index and int(index) >= found.count:
        raise HostError(f"config {key}: {device!r}, but this machine shows {found.count} CUDA device(s) "
                        f"(cuda:0 .. cuda:{found.count - 1}); set {key}: cuda")
    return found


def check_slurm(executor: str | None, *, which: Callable[[str], str | None] = shutil.which,
                commands: Sequence[str] = SLURM_COMMANDS, source: str = "--profile slurm / --executor slurm"
                ) -> None:
    """Raise :class:`HostError` when ``executor`` is ``slurm`` and SLURM's commands are not on PATH (each
    submission would otherwise fail on its own: "No such file or directory: 'sinfo'" once per job). The message
    names the missing commands, the PATH searched and the ways out (a login node, a module, a local run).
    Any other executor passes. ``which``: :func:`shutil.which` (replaceable in tests)."""
    if (executor or "").lower() != "slurm":
        return
    missing = [c for c in commands if which(c) is None]
    if not missing:
        return
    have = [c for c in commands if c not in missing]
    raise HostError(
        f"executor slurm ({source}): {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not on PATH "
        f"({'found: ' + ', '.join(have) if have else 'no SLURM command at all'}; PATH={os.environ.get('PATH', '')}). "
        "Run snakemake on a SLURM login/submit node (or load the site's slurm module), or run on this machine "
        "without the SLURM executor: .venv/bin/snakemake --cores N (no --profile slurm)")


def executor_is_local(name: str | None) -> bool:
    """Whether the jobs of Snakemake executor ``name`` run on this machine: ``local``, ``dryrun``, ``touch`` or
    None (no executor: a planning-only command) are; a cluster executor (``slurm``, ...) is not."""
    return (name or "local") in ("local", "dryrun", "touch")
