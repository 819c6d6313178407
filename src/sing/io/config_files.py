"""Reading a workflow config file (YAML or JSON) so that every mistake in it is reported with the file, the line
and the column, before anything else happens.

Snakemake's own loader (``snakemake.common.configfile``) reports any YAML syntax or indentation error as
"Config file is not valid JSON or YAML" (no file, no line), and silently keeps the *last* value of a key that
appears twice in one mapping (PyYAML's behaviour), so a second ``samples:`` block replaces the first without a
word. :func:`load_config_file` parses the same documents (JSON first, then YAML with PyYAML's ``SafeLoader``, as
Snakemake does) but raises :class:`ConfigFileError` naming the file, the line and column, the offending line with
a caret under the column, and what usually causes that error; a duplicated key is an error naming both lines.

Standard library plus PyYAML only: cheap enough for the Snakefile to call at parse time.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

import yaml

__all__ = ["ConfigFileError", "check_config_files", "load_config_file"]

#: what usually causes a PyYAML problem (substring of its ``problem`` text -> hint)
HINTS = (
    ("mapping values are not allowed here",
     "a key indented deeper than the key above it, or a value containing ': ' that needs quotes"),
    ("did not find expected key", "this line's indentation does not match the keys beside it"),
    ("found character '\\t' that cannot start any token", "YAML indentation must be spaces, not tabs"),
    ("found a tab character", "YAML indentation must be spaces, not tabs"),
    ("expected <block end>, but found", "this line's indentation does not match the keys beside it"),
    ("could not find expected ':'", "a key without ':' (or a line that continues an unquoted value)"),
    ("found unexpected end of stream", "an unclosed quote or bracket"),
    ("found undefined alias", "'*' starts a YAML alias: quote a value that begins with '*'"),
    ("found character '@' that cannot start any token", "quote a value that begins with '@'"),
    ("found character '`' that cannot start any token", "quote a value that begins with '`'"),
)


class ConfigFileError(ValueError):
    """A config file that cannot be read as the workflow reads it. ``path``: the file; ``line`` / ``column``:
    1-based position of the problem (None when the problem has no position, e.g. a missing file);
    ``problem``: what is wrong. ``str()`` is the whole message (file:line:column, problem, the line, a hint)."""

    def __init__(self, path, problem: str, line: int | None = None, column: int | None = None,
                 detail: str = ""):
        self.path, self.problem, self.line, self.column = str(path), problem, line, column
        where = self.path + (f", line {line}" if line else "") + (f", column {column}" if line and column else "")
        super().__init__(f"config file {where}: {problem}" + (f"\n{detail}" if detail else ""))


def _excerpt(lines: list[str], line: int | None, column: int | None) -> str:
    """The 1-based ``line`` of the file with a caret under ``column`` (and the line before it for context)."""
    if not line or line > len(lines):
        return ""
    out = []
    for n in range(max(1, line - 1), line + 1):
        out.append(f"  {n:>4} | {lines[n - 1].rstrip()}".replace("\t", "→"))
    if column:
        out.append("       | " + " " * (column - 1) + "^")
    return "\n".join(out)


def _hint(problem: str) -> str:
    for needle, hint in HINTS:
        if needle in problem:
            return hint
    return ""


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader, except that a key appearing twice in one mapping is an error (``<<`` merges keep
    their YAML meaning: an explicit key overrides a merged one)."""

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:  # unhashable key: SafeLoader reports it below
                    continue
                if first is not None:
                    raise yaml.constructor.ConstructorError(
                        None, None,
                        f"key {key!r} appears twice in this mapping (first at line {first.line + 1}); YAML would "
                        "keep only the last one, silently dropping the first: merge the two",
                        key_node.start_mark)
                seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def _yaml_error(path: Path, lines: list[str], e: yaml.YAMLError) -> ConfigFileError:
    mark = getattr(e, "problem_mark", None)
    problem = getattr(e, "problem", None) or str(e)
    line = mark.line + 1 if mark is not None else None
    column = mark.column + 1 if mark is not None else None
    context = getattr(e, "context", None)
    context_mark = getattr(e, "context_mark", None)
    text = problem
    if context and context_mark is not None and context_mark.line != getattr(mark, "line", None):
        text += f" ({context} at line {context_mark.line + 1})"
    detail = _excerpt(lines, line, column)
    hint = _hint(problem)
    if "\t" in (lines[line - 1] if line and line <= len(lines) else ""):
        hint = hint or "YAML indentation must be spaces, not tabs"
    if hint:
        detail += ("\n" if detail else "") + f"  likely cause: {hint}"
    return ConfigFileError(path, text, line, column, detail)


def load_config_file(path: str | os.PathLike) -> dict:
    """The config file ``path`` as a dict, read as Snakemake reads ``--configfile`` (JSON first, then YAML,
    PyYAML safe types), with its mistakes reported precisely.

    Raises :class:`ConfigFileError` naming the file and, for syntax errors, the 1-based line and column with
    the line itself and a likely cause (indentation, tabs, an unquoted ``: ``): a missing or unreadable file,
    invalid YAML / JSON, a key that appears twice in one mapping (Snakemake would silently keep the last), or
    a document that is not a mapping of keys at its top level. An empty file is an empty config ({}).
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigFileError(p, "does not exist") from None
    except OSError as e:
        raise ConfigFileError(p, f"cannot be read ({e.strerror or e})") from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        before = raw[:e.start]
        line = before.count(b"\n") + 1
        raise ConfigFileError(p, f"is not UTF-8 text (byte 0x{raw[e.start]:02x})", line,
                              e.start - (before.rfind(b"\n") + 1) + 1) from None
    lines = text.splitlines()
    if text.lstrip().startswith(("{", "[")) or p.suffix.lower() == ".json":
        try:
            data = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError as e:
            if p.suffix.lower() == ".json":
                raise ConfigFileError(p, f"invalid JSON: {e.msg}", e.lineno, e.colno,
                                      _excerpt(lines, e.lineno, e.colno)) from None
            data = None  # flow-style YAML: read below
        else:
            return _top_level(p, data)
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as e:
        raise _yaml_error(p, lines, e) from None
    return _top_level(p, data)


def _top_level(path: Path, data: Any) -> dict:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigFileError(path, f"holds a {type(data).__name__}, not keys at its top level "
                                    "(e.g. 'results_dir: results' on the first line)")
    return data


def check_config_files(paths: Iterable[str | os.PathLike]) -> list[dict]:
    """:func:`load_config_file` of each path, in order (the workflow's own ``config.yaml`` and every
    ``--configfile``): the first mistake raises :class:`ConfigFileError`. Returns the parsed dicts."""
    return [load_config_file(p) for p in paths]
