"""User paths handed on to other tools: which characters each hand-over cannot carry, checked up front.

A path is any string the file system accepts, but sing passes paths on in forms that give some characters a
meaning (issue 19, kind 3):

``pattern``
    Snakemake input / output paths (``results_dir``, ``dataset.root``, ``weights_dir``, checkpoints): ``{`` and
    ``}`` delimit wildcards, so a folder ``run{1}`` would be read as a wildcard named ``1``.
``bind``
    Apptainer bind specifications (``APPTAINER_BIND`` / ``--bind`` / ``--home``): a comma separates binds, a colon
    separates ``src:dest[:options]``. Apptainer >= 1.0 (singularity 3.8, PR 6008) reads ``\\,`` and ``\\:`` in a
    *source* only, with a parser that cannot carry several escapes or an escaped destination: sing refuses them.
``command``
    ``--sdm apptainer``: the image path of a local ``container`` file is put *unquoted* on the ``apptainer exec``
    command line (``snakemake.deployment.singularity.shellcmd``), so it must be one plain shell word.
``container``
    ``--sdm apptainer``: Snakemake 9 builds ``apptainer exec --home <cwd> --bind <path> ... sh -c '<cmd>'``
    quoting the working directory and bind paths with Python's ``repr()``. That is valid ``sh`` quoting only
    for printable text without a backslash, and, when the path holds a single quote (``repr`` then switches to
    double quotes), without ``"``, ``$`` or a backquote (which ``sh`` expands inside double quotes).

Everything else (spaces, ``[``, ``*``, ``?``, ``;``, ``#``, ``'`` alone, non-ASCII letters) is carried as is:
sing reads tables with globbing off (:func:`sing.io.storage.read_frame`) and never builds a shell command line
itself.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable, Mapping

__all__ = ["PATH_USES", "apptainer_binds", "apptainer_environment", "check_key", "check_path"]

#: the hand-overs :func:`check_path` knows, with what each does to a path
PATH_USES = {
    "pattern": "Snakemake reads '{' and '}' in an input or output path as a wildcard",
    "bind": "an Apptainer bind list is comma-separated and each bind is src:dest[:options]",
    "command": "Snakemake puts a local image path unquoted on the `apptainer exec` command line, where the shell "
               "reads this character",
    "container": "Snakemake quotes the working directory and bind paths of `apptainer exec ... sh -c` with "
                 "Python's repr(), which sh reads differently for this character",
}


#: characters a shell word may hold unquoted besides ASCII letters and digits
_PLAIN_WORD = "_./+-@%=,:"


def _bad_char(path: str, use: str) -> tuple[str, str] | None:
    """(character, why) of the first character of ``path`` that ``use`` cannot carry; None when it can."""
    if use == "pattern":
        for c in path:
            if c in "{}":
                return c, PATH_USES["pattern"]
    elif use == "bind":
        for c in path:
            if c == ",":
                return c, "an Apptainer bind list (APPTAINER_BIND, --bind) is comma-separated"
            if c == ":":
                return c, "an Apptainer bind is src:dest[:options] (and --home takes src:dest)"
    elif use == "command":
        for c in path:
            if not (c.isascii() and (c.isalnum() or c in _PLAIN_WORD)):
                return c, PATH_USES["command"]
    elif use == "container":
        for c in path:
            if c == "\\" or not c.isprintable():
                return c, PATH_USES["container"] + " (repr() escapes it the Python way)"
        if "'" in path:
            for c in path:
                if c in '"$`':
                    return c, (PATH_USES["container"] + " (with a single quote in the path repr() uses double "
                               "quotes, inside which sh expands $ and ` and ends at \")")
    return None


def check_path(path: str | os.PathLike, key: str, *, uses: Iterable[str]) -> None:
    """Refuse ``path`` (configured as ``key``) when one of ``uses`` (keys of :data:`PATH_USES`) cannot carry one of
    its characters: ValueError naming the key, the character (``repr``), the path and why. The path is checked
    as given and, for ``bind`` / ``container`` / ``command``, also resolved (a symlink's target, the absolute
    path, is what gets bound); a ``pattern`` holds the path as written, so a parent folder of a relative path is
    not its concern."""
    uses = tuple(uses)
    unknown = sorted(set(uses) - set(PATH_USES))
    if unknown:
        raise ValueError(f"check_path uses: unknown {unknown} (known: {sorted(PATH_USES)})")
    forms = [os.fspath(path)]
    try:
        resolved = str(Path(path).resolve())
    except (OSError, RuntimeError):  # pragma: no cover - a symlink loop: the path as given is all there is
        resolved = forms[0]
    if resolved != forms[0]:
        forms.append(resolved)
    for use in uses:
        for text in forms[:1] if use == "pattern" else forms:  # a pattern holds the path as written
            bad = _bad_char(text, use)
            if bad:
                char, why = bad
                raise ValueError(f"{key}: the path {text!r} holds {char!r}, which sing cannot pass on: {why}. "
                                 f"Rename the folder, or point {key} at a path without {char!r}")


def apptainer_binds(paths: Mapping[str, str | os.PathLike], *, cwd: str | os.PathLike,
                    existing: str = "") -> str:
    """The ``APPTAINER_BIND`` value that makes ``paths`` ({config key: path}) visible inside the image.

    ``existing``: the user's own value (kept first, as it is). Each path is resolved; a folder a job has yet to
    create is bound through its nearest existing parent (Apptainer refuses a missing source); paths inside
    ``cwd`` (Snakemake mounts the working directory as the container's home) and ``/`` are not bound; duplicates
    once. ValueError (:func:`check_path`, naming the key) when a bound path or the working directory holds a
    character a bind spec or the container command line cannot carry.
    """
    cwd = Path(cwd).resolve()
    check_path(cwd, "working directory", uses=("bind", "container"))
    binds = [b for b in existing.split(",") if b]
    for key, path in paths.items():
        path = Path(path).resolve()
        while not path.exists():
            path = path.parent
        if path.is_relative_to(cwd) or path == Path("/") or str(path) in binds:
            continue
        check_path(path, key, uses=("bind",))
        binds.append(str(path))
    return ",".join(binds)


def apptainer_environment(paths: Mapping[str, str | os.PathLike], *, cwd: str | os.PathLike,
                          environ: Mapping[str, str] | None = None, gpu: bool = True,
                          image: str | None = None) -> dict[str, str]:
    """The environment variables that give every ``apptainer exec`` of a run what its jobs need, whatever profile
    (or none: a Snakemake ``module``) started it: ``APPTAINER_BIND`` / ``SINGULARITY_BIND``
    (:func:`apptainer_binds`, each extending the user's own value from ``environ``) and, with ``gpu``,
    ``APPTAINER_NV`` / ``SINGULARITY_NV`` = ``1`` (Apptainer reads them as ``--nv``: the host's NVIDIA driver in the
    container; on a node without one Apptainer only warns). A value the user set for ``*_NV`` is kept.

    ``image``: the configured image; a local file (not a ``scheme://`` URI) must be one plain shell word
    (:func:`check_path` use ``command``). ValueError naming the key (the keys of ``paths``, ``container``) and the
    character a bind list or the container command line cannot carry."""
    if image is not None and "://" not in str(image):
        check_path(image, "config container", uses=("command",))
    env = os.environ if environ is None else environ
    out = {var: apptainer_binds(paths, cwd=cwd, existing=env.get(var, ""))
           for var in ("APPTAINER_BIND", "SINGULARITY_BIND")}
    if gpu:
        out.update({var: env.get(var, "1") for var in ("APPTAINER_NV", "SINGULARITY_NV")})
    return {k: v for k, v in out.items() if v}


_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def check_key(key: str, what: str) -> str:
    """A model / space / figure key as the workflow uses it: a path component of every result file and a Snakemake
    wildcard value matched by a regular expression. ValueError naming ``what`` (e.g. ``config models``), the key
    and the first character outside ``[A-Za-z0-9_.-]`` (a ``/`` would nest folders, ``+`` ``|`` ``(`` act in the
    wildcard's regular expression, a space or ``{`` break the patterns), or a key not starting with a letter or
    digit. Returns the key. (Wildcard constraints built from keys must still escape them: ``.`` is allowed.)"""
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        text = key if isinstance(key, str) else repr(key)
        bad = next((c for c in text if not (c.isascii() and (c.isalnum() or c in "_.-"))), None)
        why = (f"the character {bad!r} is not allowed" if bad is not None
               else "it must start with a letter or digit and be 1-100 characters long")
        raise ValueError(f"{what}: key {key!r} cannot name result files and wildcards: {why} (use letters, digits, "
                         "'_', '.', '-')")
    return key
