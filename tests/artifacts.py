"""Where the SING authors' published artifacts are: two real translators and the concept dictionary, copied
unchanged from their repository (MIT). They are vendored in ``tests/data/official`` (README and licence there), so
every test that reads them runs on a fresh clone; ``$SING_OFFICIAL_ARTIFACTS`` points elsewhere (e.g. a fuller
copy). Should the folder be missing, the tests that need them skip, except under CI, where they fail."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
VENDORED = ROOT / "tests" / "data" / "official"


def official_artifacts() -> Path | None:
    env = os.environ.get("SING_OFFICIAL_ARTIFACTS")
    if env:
        return Path(env)
    return VENDORED if (VENDORED / "translators").is_dir() else None


ARTIFACTS = official_artifacts()


def need_artifacts():
    """A module-level mark: skip without the artifacts (fail under CI, where they must be)."""
    if ARTIFACTS is not None and ARTIFACTS.is_dir():
        return pytest.mark.skipif(False, reason="")
    if os.environ.get("CI"):
        raise RuntimeError("the authors' artifacts (tests/data/official) are missing under CI; set "
                           "SING_OFFICIAL_ARTIFACTS")
    return pytest.mark.skip(reason="the authors' artifacts (tests/data/official) are not in this checkout")
