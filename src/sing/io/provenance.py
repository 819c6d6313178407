"""Provenance recorded in every output: what produced it, from which settings, with which code.

Everything here is deterministic for a given checkout and environment (no timestamps, no host names),
so two clean runs write byte-identical files.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import subprocess
from pathlib import Path
from typing import Any

PACKAGES = ("sing", "torch", "torchvision", "timm", "open_clip_torch", "transformers", "numpy", "scipy",
            "scikit-learn", "pyarrow", "polars", "safetensors", "pillow", "diffusers")


def canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)


def settings_hash(settings: Any) -> str:
    """sha256 of the canonical JSON of the settings that determine an output."""
    return hashlib.sha256(canonical_json(settings).encode()).hexdigest()


@functools.cache
def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return versions


@functools.cache
def git_commit(directory: str | None = None) -> str:
    """The commit of the checkout holding this package ('unknown' outside git); '+dirty' if modified."""
    cwd = directory or str(Path(__file__).resolve().parent)
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True,
                                check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def provenance(settings: Any, **extra: Any) -> dict[str, Any]:
    """The provenance block stored as ``sing.provenance`` metadata: the sha256 of ``settings``, the code's git
    commit, the package versions, and ``settings["weights"]`` (the weights lock entries a workflow job's
    settings carry, :mod:`sing.models.lock`) when present, so every output names the weight files behind it."""
    out = {"settings_sha256": settings_hash(settings), "git_commit": git_commit(), "versions": package_versions()}
    if isinstance(settings, dict) and "weights" in settings:
        out["weights"] = settings["weights"]
    return {**out, **extra}
