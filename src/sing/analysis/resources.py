"""What a job needs, derived from what it will read: memory (``mem_mb``) from the sizes of its inputs, the time and
CPUs of a bundle of jobs as the SLURM executor really runs it, and the memory a local run may plan with.

Snakemake-free (the rules call these at planning time; issue 19). Sizes are counts the workflow knows before any
job runs: images per sample, feature width m, CLIP width n, classes K, the head's rank.

Memory model (bytes; :func:`job_mem_mb` turns a peak into ``mem_mb``): a job's peak resident memory is a fixed
base (Python with numpy, polars, pyarrow and torch imported: :data:`BASE_MB`, measured with
``benchmarks/bench_scale.py``) plus what its algorithm holds at once, as documented by the functions it calls:

* ``train_probes``: the principal coordinates (N × rank float32) and one space's translated inputs (N × n float32)
  plus :func:`sing.analysis.probe.probe_peak_bytes` of the wider of the two: linear in N, with no N × K term;
* ``validation``: the selected images only (``max_images`` rows, read after selecting:
  ``sing.io.pairs.read_chunk_rows``), in float64 with the perturbation, its translation and one frame per kind and
  seed;
* ``evaluate_translator``: one class at a time (``translator_eval_tables``), so the largest class, not the sample.
"""

from __future__ import annotations

import math
import os
from typing import Iterable, Mapping

from .probe import probe_peak_bytes

__all__ = ["BASE_MB", "bundle_resources", "job_mem_mb", "local_memory_mb", "local_memory_pool_mb",
           "probe_job_bytes", "translator_eval_job_bytes", "validation_job_bytes"]

#: resident memory of a job process before its data (Python, numpy, polars, pyarrow, torch imported), in MB:
#: measured 650 - 760 MB on this machine kind (benchmarks/bench_scale.py, "import" row), rounded up
BASE_MB = 1000


def job_mem_mb(peak_bytes: float, *, base_mb: int = BASE_MB, margin: float = 1.25, step_mb: int = 500) -> int:
    """``mem_mb`` for a job whose data peaks at ``peak_bytes``: ``base_mb`` plus ``margin`` × the peak, rounded
    up to a multiple of ``step_mb`` (a job asks for whole steps, so a small size change does not reschedule it).
    ValueError for a negative peak or a margin below 1."""
    if peak_bytes < 0 or margin < 1 or step_mb < 1:
        raise ValueError(f"job_mem_mb: need peak_bytes >= 0, margin >= 1, step_mb >= 1; got {peak_bytes}, "
                         f"{margin}, {step_mb}")
    mb = base_mb + margin * peak_bytes / 2**20
    return int(math.ceil(mb / step_mb) * step_mb)


def probe_job_bytes(n_images: int, rank: int, n_classes: int, space_dims: Iterable[int], *, holdout: float = 0.1,
                    per_class: int = 500, feature_dim: int | None = None) -> int:
    """Peak data bytes of one ``train_probes`` job (``workflow_scripts/train_probe.py``): the principal coordinates
    (N × rank float32), one translated input at a time (N × n float32), the fit of the wider input
    (:func:`sing.analysis.probe.probe_peak_bytes`, with its held-out split), one class table being read
    (``per_class`` × ``feature_dim`` float32 and its float64 product) and, given ``feature_dim`` m, the head
    geometry's bases (m × m float64)."""
    widest = max([int(rank), *map(int, space_dims)])
    dims = list(map(int, space_dims))
    inputs = n_images * rank * 4 + (n_images * max(dims) * 4 if dims else 0)
    reading = per_class * (feature_dim or rank) * 12
    geometry = int(feature_dim or 0) ** 2 * 8
    return int(inputs + probe_peak_bytes(n_images, widest, n_classes, holdout=holdout) + reading + geometry)


def validation_job_bytes(max_images: int, feature_dim: int, clip_dim: int, n_seeds: int, *, per_class: int = 50,
                         n_kinds: int = 3, n_classes: int = 0) -> int:
    """Peak data bytes of one ``validation`` job (``workflow_scripts/validation.py`` with selection first): the
    ``max_images`` selected rows (float32 as read, then float64), the perturbation δ and f + δ (float64), the
    translations (float64, n wide), one result frame per kind and seed (~100 bytes a row), one class table
    being read and, given ``n_classes`` K, the model: head (K × m float64), geometry bases (m × m float64) and
    the logits before and after (``max_images`` × K float64, twice)."""
    rows = int(max_images)
    arrays = rows * feature_dim * (4 + 8 * 4) + rows * clip_dim * 8 * 3
    frames = rows * n_kinds * max(1, n_seeds) * 100
    model = (n_classes * feature_dim * 8 + feature_dim**2 * 8 + rows * n_classes * 16) if n_classes else 0
    return int(arrays + frames + per_class * feature_dim * 4 + model)


def translator_eval_job_bytes(largest_class: int, feature_dim: int, clip_dim: int, n_images: int) -> int:
    """Peak data bytes of one ``evaluate_translator`` job (streamed per class): the largest class's features and
    CLIP embeddings (float32 as read, float64 in the computation), the translator (n × m float64) and the result
    rows of the whole sample (~100 bytes each)."""
    per_class = int(largest_class) * (feature_dim + clip_dim) * (4 + 8 * 2)
    return int(per_class + feature_dim * clip_dim * 8 + n_images * 100)


# ---------------------------------------------------------------- bundles (Snakemake group jobs) on SLURM
def bundle_resources(members: Iterable[Mapping[str, float]], *, parallel: int = 1,
                     additive: tuple[str, ...] = ("runtime",)) -> dict[str, float]:
    """What one submission running ``members`` (each a mapping of resources: runtime in minutes, mem_mb,
    cpus_per_task, gpu, ...) ``parallel`` at a time really needs.

    snakemake-executor-plugin-slurm 2.8.0 runs a group job inside its allocation as ``snakemake --executor
    slurm-jobstep --jobs 1`` (``Executor.additional_general_args``): one member at a time, so ``parallel = 1`` is
    the plugin's behaviour, whatever the group asked for. Snakemake 9.27 sizes the group
    (``snakemake.resources.GroupResources.basic_layered``) as if members ran side by side in layers that fit the
    global ``resources`` pools, summing ``runtime`` over layers only: 20 members of 30 min under 8-CPU / 64 GB pools
    get 90 min, while they need 600.

    Here: ``additive`` resources (time) are the makespan of a longest-first list schedule on ``parallel`` slots
    (for ``parallel = 1``: their sum); every other numeric resource is the largest sum over any ``parallel``
    members (for ``parallel = 1``: the largest member). Non-numeric resources must agree and are kept.
    ValueError for no members, ``parallel`` < 1, or disagreeing non-numeric values."""
    members = [dict(m) for m in members]
    if not members:
        raise ValueError("bundle_resources: no members")
    if int(parallel) < 1:
        raise ValueError(f"bundle_resources: parallel must be >= 1, got {parallel}")
    p = min(int(parallel), len(members))
    out: dict[str, float] = {}
    for key in sorted({k for m in members for k in m}):
        values = [m[key] for m in members if key in m]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            if len(set(map(str, values))) > 1:
                raise ValueError(f"bundle_resources: members disagree on {key}: {sorted(set(map(str, values)))}")
            out[key] = values[0]
        elif key in additive:
            slots = [0.0] * p
            for v in sorted(values, reverse=True):
                slots[slots.index(min(slots))] += v
            out[key] = max(slots)
        else:
            out[key] = sum(sorted(values, reverse=True)[:p])
    return {k: (int(v) if isinstance(v, float) and v.is_integer() else v) for k, v in out.items()}


# ---------------------------------------------------------------- local runs
def local_memory_mb() -> int:
    """Memory this process may use, in MB: the machine's physical memory, or the cgroup's limit when lower
    (``/sys/fs/cgroup/memory.max`` of cgroup v2, ``memory.limit_in_bytes`` of v1: a container or a SLURM job)."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = open(path).read().strip()
        except OSError:
            continue
        if text.isdigit():
            total = min(total, int(text))
    return int(total // 2**20)


def local_memory_pool_mb(pool_mb: int | None, *, reserve_mb: int = 1000) -> int:
    """The ``mem_mb`` pool a local run may plan with: the configured pool (profiles/default: 64 GB for cluster
    bundles; None: unlimited) but never more than this machine's memory less ``reserve_mb`` for Snakemake and the
    system (:func:`local_memory_mb`): a 24 GB machine plans at most 23 GB of jobs at once."""
    machine = max(1, local_memory_mb() - int(reserve_mb))
    return machine if pool_mb is None else min(int(pool_mb), machine)
