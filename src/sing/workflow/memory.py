"""``mem_mb`` of the jobs whose memory grows with the data, from the sizes they will read (issue 19, kind 5).

Three jobs hold data whose size depends on the run's scale: ``train_probes`` (the robustness sample, N = classes ×
per-class images, against K classes), ``validation`` (up to ``analyses.validation.max_images`` images and the
model's head and geometry) and ``evaluate_translator`` (one class at a time, plus the translator). Their memory
models are :mod:`sing.analysis.resources`; this module feeds them the sizes of one job:

* counts from the plan (images per sample: ``per_class`` × its classes, an upper bound since
  ``take_all_if_fewer`` only lowers it; K: the dataset's classes);
* widths from the headers of the job's inputs once they exist (the head geometry's ``in_dim`` m, ``out_dim`` K,
  ``rank``; each translator's ``out_dim`` n). Before they exist (a dry run, a fresh results folder) the widest
  feature and CLIP embedding sing knows stand in (:data:`MAX_FEATURE_DIM`, :data:`MAX_CLIP_DIM`): Snakemake
  re-evaluates a job's resources when its inputs are ready and before it submits it, so a job asks for what its
  own files need.

Every function returns whole MB (:func:`sing.analysis.resources.job_mem_mb`), never less than ``floor_mb``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from ..analysis.resources import job_mem_mb, probe_job_bytes, translator_eval_job_bytes, validation_job_bytes
from ..core.files import read_safetensors_metadata

if TYPE_CHECKING:
    from .plan import Plan

__all__ = ["MAX_CLIP_DIM", "MAX_FEATURE_DIM", "JobMemory"]

#: the widest classifier feature of the catalogue (VGG-16's 4096) and CLIP image embedding open_clip ships
#: (ViT-bigG-14's 1280): the widths assumed for a job whose head geometry / translator is not written yet
MAX_FEATURE_DIM = 4096
MAX_CLIP_DIM = 1280


def _header(path: str | None, kind: str) -> dict | None:
    if path is None or not Path(path).is_file():
        return None
    try:
        return read_safetensors_metadata(path, kind)
    except (OSError, ValueError):  # being written, or not sing's: the job itself will say
        return None


class JobMemory:
    """``mem_mb`` per job of one :class:`~sing.workflow.plan.Plan`. Each method takes the job's input paths as
    Snakemake hands them to a resource function (missing files allowed) and returns MB."""

    def __init__(self, plan: "Plan", floor_mb: int = 1000):
        self.plan, self.floor_mb = plan, int(floor_mb)

    # ---------------------------------------------------------------------------------------- sizes
    def images(self, sample: str) -> int:
        """Upper bound of a sample's images: ``samples.<sample>.per_class`` × its classes."""
        classes = {"analysis": self.plan.analysed, "robustness": self.plan.robustness_classes,
                   "translator": self.plan.translator_classes, "openvocab": self.plan.openvocab}[sample]
        return int(self.plan.config["samples"][sample]["per_class"]) * len(classes)

    def head_sizes(self, geometry: str | None) -> tuple[int, int, int]:
        """(m, K, rank) from the geometry file's header, or (:data:`MAX_FEATURE_DIM`, classes, min of the two)."""
        meta = _header(geometry, "head_geometry")
        if meta is not None:
            return int(meta["in_dim"]), int(meta["out_dim"]), int(meta["rank"])
        k = len(self.plan.catalog.ids)
        return MAX_FEATURE_DIM, k, min(MAX_FEATURE_DIM, k)

    def clip_dims(self, translators: Sequence[str | None]) -> list[int]:
        """n of each translator (its header's ``out_dim``), :data:`MAX_CLIP_DIM` where not written yet."""
        out = []
        for path in translators:
            meta = _header(path, "linear_translator")
            out.append(int(meta["out_dim"]) if meta is not None else MAX_CLIP_DIM)
        return out

    def _mb(self, peak_bytes: int) -> int:
        return max(self.floor_mb, job_mem_mb(peak_bytes))

    # ---------------------------------------------------------------------------------------- jobs
    def train_probes(self, geometry: str | None, translators: Sequence[str | None]) -> int:
        """The robustness probes of one model: N × rank principal coordinates, one space's translation at a time,
        the L-BFGS fit (no N × K term)."""
        m, k, rank = self.head_sizes(geometry)
        robustness = self.plan.config["samples"]["robustness"]
        return self._mb(probe_job_bytes(self.images("robustness"), rank, k, self.clip_dims(translators),
                                        holdout=self.plan.config["analyses"]["robustness"]["holdout"],
                                        per_class=robustness["per_class"], feature_dim=m))

    def validation(self, geometry: str | None, translator: str | None) -> int:
        """Perturbation validation of one (model, space): ``max_images`` selected images, the head, the geometry."""
        m, k, _ = self.head_sizes(geometry)
        (n,) = self.clip_dims([translator])
        validation = self.plan.config["analyses"]["validation"]
        rows = min(int(validation["max_images"]), self.images("analysis"))
        return self._mb(validation_job_bytes(rows, m, n, validation["seeds"],
                                             per_class=self.plan.config["samples"]["analysis"]["per_class"],
                                             n_classes=k))

    def evaluate_translator(self, translator: str | None) -> int:
        """Held-out translator check of one (model, space): one class at a time, the translator (its header gives
        m and n) and the result rows."""
        meta = _header(translator, "linear_translator")
        m, n = (int(meta["in_dim"]), int(meta["out_dim"])) if meta is not None else (MAX_FEATURE_DIM, MAX_CLIP_DIM)
        return self._mb(translator_eval_job_bytes(self.plan.config["samples"]["analysis"]["per_class"], m, n,
                                                  self.images("analysis")))
