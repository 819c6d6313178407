"""Fonts for raster output (PNG figures via vl-convert, UnCLIP contact sheets via Pillow): labels in any script
must be drawn, not replaced by empty boxes ("tofu").

sing depends on ``manimgx-fonts-cjk`` (PyPI; Noto Sans CJK, SIL OFL 1.1: Chinese, Japanese, Korean, plus
Latin, Greek, Cyrillic), so a fresh ``pip install`` renders CJK display names. :func:`register_vl_fonts` hands
its folder to vl-convert (``vl_convert.register_font_directory``; resvg then falls back to it for any glyph the
chart's font lacks). :func:`missing_glyphs` reports characters that no available font covers (checked with
fontTools' cmap tables), so the caller can warn naming the label instead of writing boxes silently.
"""

from __future__ import annotations

import functools
import importlib.util
import logging
import os
import unicodedata
from pathlib import Path
from typing import Iterable

__all__ = ["FALLBACK_PACKAGE", "fallback_font_dirs", "fallback_font_file", "missing_glyphs", "register_vl_fonts"]

log = logging.getLogger(__name__)

#: the Python package holding the wide-coverage fallback font
FALLBACK_PACKAGE = "manimgx_fonts_cjk"
FONT_SUFFIXES = (".ttf", ".otf", ".ttc", ".otc")
#: where fontdb (vl-convert's font database) finds system fonts on Linux and macOS
SYSTEM_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "~/.fonts", "~/.local/share/fonts",
                    "/Library/Fonts", "/System/Library/Fonts", "~/Library/Fonts")


def fallback_font_dirs() -> list[Path]:
    """Folders of the fallback fonts sing ships with (found without importing the package); empty when the
    package is not installed."""
    spec = importlib.util.find_spec(FALLBACK_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return []
    return [Path(p) for p in spec.submodule_search_locations]


def fallback_font_file() -> Path | None:
    """The fallback font file (a TrueType/OpenType collection), or None when the package is missing."""
    for d in fallback_font_dirs():
        for p in sorted(d.iterdir()):
            if p.suffix.lower() in FONT_SUFFIXES:
                return p
    return None


_registered: set[str] = set()


def register_vl_fonts() -> list[str]:
    """Register the fallback font folders with vl-convert (once per process); returns the folders registered
    now. Logs a warning when the fallback package is not installed (CJK labels would render as boxes)."""
    import vl_convert

    dirs = fallback_font_dirs()
    if not dirs and "missing" not in _registered:
        _registered.add("missing")
        log.warning("font package %s is not installed: PNG labels outside Latin/Greek/Cyrillic may render as "
                    "empty boxes (pip install manimgx-fonts-cjk)", FALLBACK_PACKAGE)
    new = [str(d) for d in dirs if str(d) not in _registered]
    for d in new:
        vl_convert.register_font_directory(d)
        _registered.add(d)
    return new


def _font_files(dirs: Iterable[str | os.PathLike]) -> list[Path]:
    out = []
    for d in dirs:
        d = Path(d).expanduser()
        if d.is_dir():
            out += sorted(p for p in d.rglob("*") if p.suffix.lower() in FONT_SUFFIXES and p.is_file())
    return out


@functools.cache
def _cmap(path: str) -> frozenset[int]:
    from fontTools.ttLib import TTCollection, TTFont

    try:
        if path.lower().endswith((".ttc", ".otc")):
            fonts = TTCollection(path, lazy=True).fonts
        else:
            fonts = [TTFont(path, lazy=True)]
        return frozenset(c for f in fonts for c in (f.getBestCmap() or {}))
    except Exception as e:  # noqa: BLE001 - an unreadable font file covers nothing; say which
        log.info("font %s: cannot read its character map (%s)", path, e)
        return frozenset()


@functools.cache
def _coverage(extra: tuple[str, ...]) -> frozenset[int]:
    files = _font_files([*SYSTEM_FONT_DIRS, *fallback_font_dirs(), *extra])
    covered: set[int] = set()
    for f in files:
        covered |= _cmap(str(f))
    return frozenset(covered)


def _drawn(ch: str) -> bool:
    """A character beyond printable ASCII that needs a glyph (not whitespace, a control or a format character)."""
    return ord(ch) > 126 and not ch.isspace() and unicodedata.category(ch) not in ("Cc", "Cf")


def missing_glyphs(texts: Iterable[str], font_files: Iterable[str | os.PathLike] | None = None) -> dict[str, str]:
    """{text: its characters no font covers} for the texts that have any.

    ``font_files``: the fonts to check against (default: the system font folders fontdb scans plus the fallback
    font, i.e. what vl-convert draws with). Whitespace, control / format characters and printable ASCII are not checked
    (every usable font covers ASCII; this keeps plain-ASCII figures from loading any font).
    """
    texts = [t for t in dict.fromkeys(texts) if isinstance(t, str)]
    odd = [t for t in texts if any(_drawn(ch) for ch in t)]
    if not odd:
        return {}
    if font_files is None:
        covered = _coverage(())
    else:
        covered = frozenset().union(*(_cmap(str(f)) for f in font_files))
    out = {}
    for t in odd:
        miss = "".join(dict.fromkeys(ch for ch in t if _drawn(ch) and ord(ch) not in covered))
        if miss:
            out[t] = miss
    return out
