"""The code a job runs, as a hash for its manifest: the job script and every ``sing`` module it imports,
transitively, found by static import analysis.

Snakemake's own ``code`` trigger sees only the job script (and only under the default triggers), not the
library it calls: a change to ``sing.core.metrics`` would leave every score stale. So each job's manifest
carries :meth:`CodeHasher.script_code` of its script; a change of what any of those modules *does* rewrites
the manifests of exactly the jobs whose scripts reach the module, and those jobs rerun (with everything
downstream of them) under every ``--rerun-triggers`` choice.

What counts as an import of a module, found in the syntax tree (anywhere in a file: top level, inside
functions, under ``if TYPE_CHECKING``): ``import sing.a.b``, ``from sing.a import b`` (``b`` a module or a
name in ``sing.a``), relative imports inside the package, and a string constant ``"sing.a.b:function"`` (how
:mod:`sing.outputs` and :mod:`sing.models.sources` name builders imported at run time). Importing
``sing.a.b`` runs ``sing/__init__.py`` and ``sing/a/__init__.py`` too, so they count. Third-party libraries do
not: their versions are the software environment's (the ``container``, the pinned requirements).

What counts as a change: the module's syntax tree without its docstrings (``ast.dump``). Comments, blank
lines, formatting and docstrings change nothing, so editing documentation reruns nothing; any change to code,
including a string constant or a default value, reruns. (A Python version with another ``ast`` layout also
changes every hash: a new interpreter is a new environment.)
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import re
from pathlib import Path
from typing import Iterable

__all__ = ["CodeHasher", "source_digest"]

_BUILDER_REF = re.compile(r"^([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*):[A-Za-z_]\w*$")
#: bump when what a digest or an import list means changes (invalidates on-disk caches)
_CACHE_VERSION = 1


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _strip_docstrings(body: list[ast.stmt]) -> list[ast.stmt]:
    """A module, class or function body without its docstring, and the same for every definition inside it."""
    if body and _is_docstring(body[0]):
        body = body[1:] or [ast.Pass()]
    for node in body:
        _strip_inside(node)
    return body


def _strip_inside(node: ast.stmt) -> None:
    if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
        node.body = _strip_docstrings(node.body)
        return
    blocks = [getattr(node, name, None) for name in ("body", "orelse", "finalbody")]
    blocks += [h.body for h in getattr(node, "handlers", None) or []]
    blocks += [c.body for c in getattr(node, "cases", None) or []]
    for block in blocks:
        if isinstance(block, list):
            for child in block:
                if isinstance(child, ast.stmt):
                    _strip_inside(child)


def _parse(text: str, filename: str) -> ast.Module:
    tree = ast.parse(text, filename=filename)
    tree.body = _strip_docstrings(tree.body)
    return tree


def _digest(tree: ast.AST) -> str:
    return hashlib.sha256(ast.dump(tree, annotate_fields=True, include_attributes=False).encode()).hexdigest()


def source_digest(text: str, filename: str = "<source>") -> str:
    """sha256 of the syntax tree of Python source ``text`` without docstrings (comments and layout do not count);
    SyntaxError for invalid source."""
    return _digest(_parse(text, filename))


class CodeHasher:
    """Import analysis and digests of the package ``package`` under the source folder ``src`` (``src/sing``),
    cached per file: in memory for the life of the object (one workflow invocation) and, given ``cache`` (a
    JSON file), across invocations, keyed by each file's path, size and mtime (a changed file is read again)."""

    def __init__(self, src: str | Path, package: str = "sing", cache: str | Path | None = None):
        self.src, self.package = Path(src), package
        self.cache = Path(cache) if cache else None
        self._files: dict[str, tuple[str, frozenset[str]]] = {}  # path -> (digest, direct imports)
        self._module_files: dict[str, Path | None] = {}
        self._stored: dict[str, list] = self._read_cache()
        self._dirty = False

    # ------------------------------------------------------------------------------------------ modules
    def module_file(self, name: str) -> Path | None:
        """The file of module ``name`` (``sing.core.metrics`` -> ``src/sing/core/metrics.py``; a package -> its
        ``__init__.py``), None if it is not a module of the package."""
        if name not in self._module_files:
            parts = name.split(".")
            found = None
            if parts[0] == self.package:
                base = self.src.joinpath(*parts)
                found = next((p for p in (base.with_suffix(".py"), base / "__init__.py") if p.is_file()), None)
            self._module_files[name] = found
        return self._module_files[name]

    def _with_parents(self, name: str) -> set[str]:
        parts = name.split(".")
        return {".".join(parts[:i]) for i in range(1, len(parts) + 1)
                if self.module_file(".".join(parts[:i])) is not None}

    def _read_cache(self) -> dict[str, list]:
        if self.cache is None or not self.cache.is_file():
            return {}
        try:
            stored = json.loads(self.cache.read_text())
        except (OSError, ValueError):
            return {}
        return stored.get("files", {}) if stored.get("version") == _CACHE_VERSION else {}

    def save(self) -> None:
        """Write the on-disk cache (atomically), if one is set and anything was analysed anew."""
        if self.cache is None or not self._dirty:
            return
        self.cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.cache.with_name(f"{self.cache.name}.tmp-{os.getpid()}")
        tmp.write_text(json.dumps({"version": _CACHE_VERSION, "files": self._stored}))
        tmp.replace(self.cache)
        self._dirty = False

    def _analyse(self, path: Path, module: str | None) -> tuple[str, frozenset[str]]:
        """(digest, direct imports) of one file."""
        key = str(path.resolve())
        if key in self._files:
            return self._files[key]
        stat = path.stat()
        stamp = [stat.st_size, stat.st_mtime_ns, module]
        stored = self._stored.get(key)
        if stored is not None and stored[:3] == stamp:
            result = (stored[3], frozenset(stored[4]))
        else:
            tree = _parse(path.read_text(encoding="utf-8"), str(path))
            result = (_digest(tree), frozenset(self._imports_of(tree, path, module)))
            self._stored[key] = [*stamp, result[0], sorted(result[1])]
            self._dirty = True
        self._files[key] = result
        return result

    def _imports_of(self, tree: ast.AST, path: Path, module: str | None) -> set[str]:
        if module is None:
            package: list[str] = []
        elif path.name == "__init__.py":
            package = module.split(".")
        else:
            package = module.split(".")[:-1]
        out: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    out |= self._with_parents(alias.name)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    if not package or node.level - 1 >= len(package):
                        continue
                    base = package[: len(package) - (node.level - 1)]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                out |= self._with_parents(source)
                for alias in node.names:
                    if alias.name != "*" and self.module_file(f"{source}.{alias.name}") is not None:
                        out |= self._with_parents(f"{source}.{alias.name}")
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                match = _BUILDER_REF.match(node.value)
                if match:
                    out |= self._with_parents(match.group(1))
        return out

    def imports(self, path: Path, module: str | None = None) -> frozenset[str]:
        """The package's modules that the file ``path`` (module ``module``; None for a script) imports directly,
        parent packages included."""
        return self._analyse(Path(path), module)[1]

    def closure(self, paths: Iterable[Path]) -> list[str]:
        """Every package module the files ``paths`` (scripts) import, directly or through other modules, sorted."""
        seen: set[str] = set()
        todo = [name for path in paths for name in self.imports(Path(path))]
        while todo:
            name = todo.pop()
            if name in seen:
                continue
            seen.add(name)
            todo.extend(self.imports(self.module_file(name), name))
        return sorted(seen)

    def digest(self, path: Path, module: str | None = None) -> str:
        """:func:`source_digest` of one file (cached)."""
        return self._analyse(Path(path), module)[0]

    # ------------------------------------------------------------------------------------------ manifests
    def script_code(self, script: str | Path) -> dict[str, object]:
        """What a job script runs, for its manifest: ``script`` (its file name), ``modules`` (each package module
        it reaches -> the first 16 hex digits of its digest) and ``sha256`` over the script's and every module's
        full digest. Paths are not part of it: a moved checkout reruns nothing."""
        script = Path(script)
        modules = {name: self.digest(self.module_file(name), name) for name in self.closure([script])}
        whole = hashlib.sha256()
        whole.update(f"{script.name}\0{self.digest(script)}\n".encode())
        for name, digest in modules.items():
            whole.update(f"{name}\0{digest}\n".encode())
        return {"script": script.name, "sha256": whole.hexdigest(),
                "modules": {name: digest[:16] for name, digest in modules.items()}}
