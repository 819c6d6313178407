"""Job manifests: JSON files rewritten only when their content changes, so that a file's mtime is the job's
rerun trigger under every ``--rerun-triggers`` choice.

A dry run (or any DAG-only command, e.g. ``--summary``) must leave no trace: with ``planning_only()`` true, a
manifest it rewrites is restored, bytes and mtime, when the process exits (a new one is removed with the folders
made for it), so a preview never makes a later run rerun anything.
"""

from __future__ import annotations

import atexit
import json
import os
from pathlib import Path
from typing import Any, Callable

__all__ = ["ManifestWriter", "manifest_text"]


def manifest_text(obj: Any) -> str:
    """The bytes of a manifest: indented, keys sorted, newline-terminated JSON."""
    return f"{json.dumps(obj, indent=1, sort_keys=True)}\n"


class ManifestWriter:
    """``write(path, obj)`` writes ``obj`` to ``path`` when its text differs from the file's, atomically.

    ``planning_only``: called at each write; true when this process only plans (a dry run): every file it
    changes is then put back at exit.
    """

    def __init__(self, planning_only: Callable[[], bool]):
        self.planning_only = planning_only
        self._restore: dict[Path, tuple[bytes, os.stat_result] | None] = {}
        self._new_dirs: list[Path] = []

    def write(self, path: str | os.PathLike, obj: Any) -> str:
        path = Path(path)
        text = manifest_text(obj)
        if path.exists() and path.read_text() == text:
            return str(path)
        if self.planning_only() and path not in self._restore:
            if not self._restore:
                atexit.register(self.restore)
            self._restore[path] = (path.read_bytes(), path.stat()) if path.exists() else None
            # only the folders on this manifest's path: a run beside this dry run may be making others
            self._new_dirs.extend(d for d in path.parents if not d.exists())
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
        tmp.write_text(text)
        tmp.replace(path)
        return str(path)

    def restore(self) -> None:
        """Put back every file a planning-only process changed (bytes and mtime); remove the new ones and the
        folders made for them, when empty (never a folder it did not make: a real run may be filling the results
        folder beside a dry run)."""
        for path, before in self._restore.items():
            if before is None:
                path.unlink(missing_ok=True)
            else:
                data, stat = before
                path.write_bytes(data)
                os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        for folder in sorted(set(self._new_dirs), key=lambda d: len(d.parts), reverse=True):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        self._restore.clear()
        self._new_dirs.clear()
