"""Checks of the machine a run plans on: can this dataset supply the samples, does this machine have the device,
can this executor submit? Unlike the checks of :mod:`sing.workflow.checks` (functions of the config alone, run when
the :class:`~sing.workflow.plan.Plan` is built, in every invocation), these read the file system and the host, and
their answer depends on the command: the dataset is read only by some rules, a CUDA device is needed only where
the jobs run on this machine, and SLURM's commands only when the SLURM executor submits.

:class:`MachineChecks` runs each kind once, when the workflow first plans a job of a rule that needs it (the
workflow calls :meth:`MachineChecks.problems` from each job's manifest input function, while Snakemake builds the
DAG: after the executor is known, before any job). Kinds:

* ``dataset``: the rules that read the dataset (``x-decides`` of ``dataset.root`` in the schema): the root and
  the split folders the samples read exist (:func:`sing.data.availability.check_dataset_root`), and every
  sample's classes can supply ``samples.<name>.per_class`` images each (:func:`~sing.data.availability.
  check_samples`; counts cached by folder mtime in ``cache``). A synthetic dataset is checked by
  :func:`sing.workflow.checks.synthetic_samples` instead (config only, every invocation).
* ``device``: the rules ``extraction.device`` decides, when the executor runs jobs on this machine
  (:func:`sing.io.host.check_device`).
* ``slurm``: any rule, when the executor is ``slurm`` (:func:`sing.io.host.check_slurm`).

Each problem is one sentence naming the config key (or the executor), the value and the fix. The workflow stops
on them before any job; a planning-only command (a dry run, ``--report``) prints them as warnings, so the paper
config can be planned on a laptop without ImageNet.
"""

from __future__ import annotations

import os
import shutil
from typing import TYPE_CHECKING, Any, Callable, Mapping

from ..data.availability import DataAvailabilityError, check_dataset_root, check_samples, sample_requests
from ..io.host import CudaProbe, HostError, check_device, check_slurm, cuda_devices, executor_is_local
from ..io.schema import parse_selector, rows

if TYPE_CHECKING:
    from .plan import Plan

__all__ = ["MachineChecks", "rules_decided_by"]

#: which config key's ``x-decides`` lists the rules that need each kind of check
KIND_KEYS = {"dataset": "dataset.root", "device": "extraction.device"}


def rules_decided_by(schema: Mapping[str, Any], key: str) -> frozenset[str]:
    """The rules (wildcard conditions dropped) whose jobs a config ``key`` decides (its ``x-decides``)."""
    for dotted, node, _ in rows(dict(schema)):
        if dotted == key:
            return frozenset(parse_selector(s)[0] for s in node.get("x-decides", ()))
    raise KeyError(f"{key} is not a key of the config schema")


class MachineChecks:
    """The machine checks of one planned run (module docstring). ``plan``: the run's
    :class:`~sing.workflow.plan.Plan`; ``cache``: JSON file of image counts (None: no cache); ``which`` /
    ``probe``: :func:`shutil.which` / :func:`sing.io.host.cuda_devices`, replaceable in tests."""

    def __init__(self, plan: "Plan", *, cache: str | os.PathLike | None = None,
                 which: Callable[[str], str | None] = shutil.which, probe: Callable[[], CudaProbe] = cuda_devices):
        self.plan, self.cache, self.which, self.probe = plan, cache, which, probe
        self.rules = {kind: rules_decided_by(plan.schema, key) for kind, key in KIND_KEYS.items()}
        self.done: set[str] = set()

    def kinds(self, rule: str, executor: str | None) -> list[str]:
        """The kinds of check a job of ``rule`` needs under ``executor`` (a Snakemake executor name; None or
        ``dryrun`` when only planning)."""
        out = []
        if (executor or "").lower() == "slurm":
            out.append("slurm")
        if rule in self.rules["device"] and executor_is_local(executor):
            out.append("device")
        if rule in self.rules["dataset"]:
            out.append("dataset")
        return out

    def problems(self, rule: str, executor: str | None) -> list[str]:
        """The problems of every kind ``rule`` needs that has not been checked yet (each kind runs once)."""
        out: list[str] = []
        for kind in self.kinds(rule, executor):
            if kind not in self.done:
                self.done.add(kind)
                out += getattr(self, f"check_{kind}")()
        return out

    def check_slurm(self) -> list[str]:
        try:
            check_slurm("slurm", which=self.which)
        except HostError as e:
            return [str(e)]
        return []

    def check_device(self) -> list[str]:
        try:
            check_device(self.plan.config["extraction"]["device"], probe=self.probe)
        except HostError as e:
            return [str(e)]
        return []

    def sample_requests(self):
        """What each sample of the run asks of the dataset (:class:`sing.data.availability.SampleRequest`)."""
        plan = self.plan
        return sample_requests(plan.config["samples"], {
            "translator": plan.translator_classes, "analysis": plan.analysed, "openvocab": plan.openvocab,
            "robustness": plan.robustness_classes})

    def check_dataset(self) -> list[str]:
        plan = self.plan
        if plan.dataset["synthetic"]:
            return []  # the workflow makes it: checks.synthetic_samples compares its generator settings
        requests = self.sample_requests()
        try:
            check_dataset_root(plan.dataset, splits=[r.split for r in requests])
            check_samples(plan.catalog, requests, on_missing_image=plan.config["extraction"]["on_missing_image"],
                          cache=self.cache)
        except DataAvailabilityError as e:
            return list(e.problems)
        return []
