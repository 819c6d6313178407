"""Where the SING authors' published artifacts are (``shared/official-artifacts``: two real translators and the
concept dictionary, copied unchanged from their repository, MIT): ``$SING_OFFICIAL_ARTIFACTS``, else the first
``shared/official-artifacts`` found beside the checkout or a folder above it (a worktree sits deeper than main,
CI's clone has ``shared/`` beside it). Absent: the tests that need them skip, except under CI, where they fail."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def official_artifacts() -> Path | None:
    env = os.environ.get("SING_OFFICIAL_ARTIFACTS")
    if env:
        return Path(env)
    for parent in ROOT.parents:
        candidate = parent / "shared" / "official-artifacts"
        if candidate.is_dir():
            return candidate
    return None


ARTIFACTS = official_artifacts()


def need_artifacts():
    """A module-level mark: skip without the artifacts (fail under CI, where they must be)."""
    if ARTIFACTS is not None and ARTIFACTS.is_dir():
        return pytest.mark.skipif(False, reason="")
    if os.environ.get("CI"):
        raise RuntimeError("the authors' artifacts (shared/official-artifacts) are missing under CI; set "
                           "SING_OFFICIAL_ARTIFACTS")
    return pytest.mark.skip(reason="the authors' artifacts (shared/official-artifacts) are not on this machine")
