"""Files written by the core: atomic replacement, and safetensors with JSON metadata (head geometry,
translators, ridge statistics, heads, probes), each carrying a content hash.

:func:`atomic_path` is the one way sing writes a file or directory: a crash or a killed job never leaves a
half-written output under the final name (Snakemake would otherwise take it for complete).

Content hash. :func:`write_safetensors` stores ``content_sha256`` in the file's metadata: the sha256 of every
tensor (name, dtype, shape, bytes; names sorted) and of the rest of the metadata (canonical JSON). It identifies
what a file *holds*, independent of how safetensors lays the bytes out. Two uses:

* :func:`read_safetensors` recomputes it (:func:`verify_content`): a file edited in place by another tool is
  refused naming the file (:class:`ModifiedFileError`);
* a file *replaced* by hand with another valid sing file (e.g. a translator saved from a notebook, a head from
  another run) has a valid hash of its own, but not the one the job that made it recorded. The job writes a
  record of what it wrote (:func:`write_content_record`); :func:`recorded_contents` reads the records back and
  :func:`find_replaced` compares them with the files' stored hashes (cheap: headers only). The workflow does so
  when it starts and stops naming the file (:class:`ReplacedFileError`).

Files written before the hash existed have none: they read as before and :func:`stored_content_sha256` returns
None (no record can be made for them, so they count as unrecorded, never as replaced).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping

if TYPE_CHECKING:  # numpy is imported where arrays are handled: reading headers and records needs the stdlib only
    import numpy as np

__all__ = ["ModifiedFileError", "RECORD_SUFFIX", "Replaced", "ReplacedFileError", "atomic_path", "content_record",
           "content_sha256", "file_sha256", "find_replaced", "read_safetensors", "read_safetensors_metadata",
           "recorded_contents", "safetensors_header", "sing_metadata", "stored_content_sha256", "verify_content",
           "write_content_record", "write_safetensors"]

#: metadata key (inside the JSON under "sing") of the content hash
CONTENT_KEY = "content_sha256"


class ModifiedFileError(ValueError):
    """A sing file's tensors or metadata no longer match the content hash it was written with."""


class ReplacedFileError(RuntimeError):
    """Files hold other content than the jobs that wrote them recorded (replaced by hand)."""

    def __init__(self, replaced: "list[Replaced]", hint: str = ""):
        self.replaced = list(replaced)
        lines = [f"  {r.path}: {r.reason}" for r in self.replaced]
        super().__init__(f"{len(self.replaced)} intermediate file(s) changed since the job that wrote them:\n"
                         + "\n".join(lines) + (f"\n{hint}" if hint else ""))


def file_sha256(path, chunk: int = 1 << 20) -> str:
    """sha256 hex digest of a file's bytes (read in ``chunk``-byte blocks): weights, published translators,
    dictionaries, packaged weights; the lock and provenance records hold it."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling path ``<path>.tmp-<pid>``; on success it replaces ``path`` atomically.

    Works for files and for directories (write a whole directory into the yielded path).
    On error the temporary path is removed and ``path`` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    _remove(tmp)
    try:
        yield tmp
        if not tmp.exists():
            raise FileNotFoundError(f"atomic_path: nothing was written to {tmp} (for {path})")
        if tmp.is_dir() and path.exists():
            _remove(path)  # os.replace cannot replace a non-empty directory
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise


def _remove(p: Path) -> None:
    if p.is_dir() and not p.is_symlink():
        shutil.rmtree(p)
    elif p.exists() or p.is_symlink():
        p.unlink()


def content_sha256(tensors: Mapping[str, np.ndarray], metadata: Mapping[str, Any]) -> str:
    """sha256 hex digest of what a sing safetensors file holds: for each tensor (names sorted) its name, numpy
    dtype string (``<f8``), shape and C-order bytes, then ``json.dumps(metadata, sort_keys=True)`` without the
    ``content_sha256`` key itself. Independent of the file's byte layout; equal for equal content."""
    import numpy as np

    h = hashlib.sha256()
    for name in sorted(tensors):
        arr = np.ascontiguousarray(tensors[name])
        h.update(json.dumps([name, arr.dtype.str, list(arr.shape)]).encode())
        h.update(arr.tobytes())
    rest = {k: v for k, v in metadata.items() if k != CONTENT_KEY}
    h.update(json.dumps(rest, sort_keys=True).encode())
    return h.hexdigest()


def write_safetensors(path: str | os.PathLike, tensors: Mapping[str, np.ndarray], metadata: Mapping[str, Any]) -> None:
    """Write numpy ``tensors`` and JSON-serialisable ``metadata`` atomically.

    The metadata dict, plus its ``content_sha256`` (:func:`content_sha256`), is stored as one JSON string under
    the key ``"sing"`` (safetensors metadata values must be strings; one key keeps the file byte-identical
    between runs, as safetensors orders several keys at random).
    """
    import numpy as np
    from safetensors.numpy import save_file

    arrays = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    meta = {k: v for k, v in metadata.items() if k != CONTENT_KEY}
    meta[CONTENT_KEY] = content_sha256(arrays, meta)
    with atomic_path(path) as tmp:
        save_file(arrays, str(tmp), metadata={"sing": json.dumps(meta, sort_keys=True)})


def safetensors_header(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON header of a safetensors file, read with the standard library only (no tensor is read): tensor
    name -> ``{"dtype", "shape", "data_offsets"}``, plus ``"__metadata__"`` (str -> str) when the file has metadata.

    Layout (safetensors' format): 8 bytes little-endian header length n, then n bytes of JSON. Raises
    FileNotFoundError for a missing file, ValueError naming the file when the bytes are not such a header (a
    torch ``.pt`` file is named as one: a zip archive or a pickle).
    """
    path = Path(path)
    with open(path, "rb") as fh:
        first = fh.read(8)
        size = int.from_bytes(first, "little") if len(first) == 8 else -1
        body = fh.read(size) if 1 < size <= 100_000_000 else b""
    try:
        if len(body) != size or not body.startswith(b"{"):
            raise ValueError("no JSON header")
        header = json.loads(body)
        if not isinstance(header, dict):
            raise ValueError("the header is not a JSON object")
    except ValueError as e:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        kind = ""
        if first.startswith(b"PK") or first[:1] == b"\x80":
            kind = (" (it is a torch.save file, e.g. a published translator's best.pt; import those with "
                    "sing.io.published.import_translator)")
        raise ValueError(f"{path}: not a safetensors file{kind} [{str(e)[:100]}]") from None
    return header


def _sing_header(path: Path) -> dict[str, Any]:
    """The "sing" metadata of a safetensors file, read from the header only. ValueError naming the file when it
    is not a safetensors file (e.g. a torch ``.pt`` pickle) or has no sing metadata."""
    raw = safetensors_header(path).get("__metadata__") or {}
    if "sing" not in raw:
        raise ValueError(f"{path}: no 'sing' metadata; not written by sing")
    try:
        return json.loads(raw["sing"])
    except ValueError:
        raise ValueError(f"{path}: its 'sing' metadata is not JSON") from None


def sing_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON metadata a sing safetensors file was written with (header only: cheap). FileNotFoundError for a
    missing file, ValueError naming the file when it is not a safetensors file or not written by sing."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    return _sing_header(path)


def read_safetensors(path: str | os.PathLike, expect_kind: str, *, verify: bool = True
                     ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Read a file written by :func:`write_safetensors`: ``(tensors, metadata)``.

    Raises FileNotFoundError for a missing file; ValueError naming the file when it is not a safetensors file,
    has no sing metadata or holds another ``kind`` than ``expect_kind``; :class:`ModifiedFileError` when
    ``verify`` and its content no longer matches its ``content_sha256`` (files without one are read as is).
    """
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    metadata = _sing_header(path)
    if metadata.get("kind") != expect_kind:
        raise ValueError(f"{path}: holds a {metadata.get('kind')!r}, expected {expect_kind!r}")
    with safe_open(str(path), framework="numpy") as fh:
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    if verify:
        _check_content(path, tensors, metadata)
    return tensors, metadata


def read_safetensors_metadata(path: str | os.PathLike, expect_kind: str) -> dict[str, Any]:
    """:func:`sing_metadata` of a file that must hold ``expect_kind`` (header only, no tensor read): what the
    workflow reads at planning time (e.g. a head geometry's ``in_dim`` / ``out_dim`` / ``rank``). ValueError for a
    file that is not safetensors, has no sing metadata, or holds another kind; FileNotFoundError for a missing
    file."""
    metadata = sing_metadata(path)
    if metadata.get("kind") != expect_kind:
        raise ValueError(f"{path}: holds a {metadata.get('kind')!r}, expected {expect_kind!r}")
    return metadata


def _check_content(path: Path, tensors: Mapping[str, np.ndarray], metadata: Mapping[str, Any]) -> str | None:
    stored = metadata.get(CONTENT_KEY)
    if stored is None:
        return None
    found = content_sha256(tensors, metadata)
    if found != stored:
        raise ModifiedFileError(f"{path}: its content (sha256 {found}) no longer matches the content_sha256 "
                                f"{stored} it was written with: the file was edited after sing wrote it; "
                                "delete it to have the workflow write it again")
    return stored


def stored_content_sha256(path: str | os.PathLike) -> str | None:
    """The ``content_sha256`` a sing safetensors file was written with (header only: cheap), or None for a sing
    file written before content hashes existed. FileNotFoundError / ValueError as :func:`read_safetensors`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    return _sing_header(path).get(CONTENT_KEY)


def verify_content(path: str | os.PathLike) -> str | None:
    """Recompute a sing file's content hash and compare it with the stored one; returns it (None when the file
    has none). Raises :class:`ModifiedFileError` naming the file on a mismatch, ValueError when it is not a sing
    safetensors file, FileNotFoundError when it is missing."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    metadata = _sing_header(path)
    with safe_open(str(path), framework="numpy") as fh:
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    return _check_content(path, tensors, metadata)


def content_record(path: str | os.PathLike) -> dict[str, str | None]:
    """``{"file": path, "content_sha256": ...}`` of a file a job just wrote (verified: the hash is recomputed, not
    trusted)."""
    return {"file": str(path), CONTENT_KEY: verify_content(path)}


#: suffix of a content record: the record of ``<root>/a/b.safetensors`` is ``<records>/a/b.safetensors.json``
RECORD_SUFFIX = ".json"


def write_content_record(path: str | os.PathLike, record: str | os.PathLike) -> None:
    """Record what a job just wrote: ``record`` (a JSON file) gets :func:`content_record` of ``path``, atomically.

    The workflow keeps one record per intermediate file, at the file's path relative to the results folder under
    its ``written/`` folder, written by the job that made the file (a job output): :func:`recorded_contents`
    maps records back to files, so a moved results folder keeps its records valid.
    """
    rec = content_record(path)
    with atomic_path(record) as tmp:
        tmp.write_text(json.dumps({"file": Path(path).name, CONTENT_KEY: rec[CONTENT_KEY]}, sort_keys=True) + "\n")


def recorded_contents(root: str | os.PathLike, records: str | os.PathLike) -> dict[Path, str | None]:
    """``{file: recorded content_sha256}`` of every record under the folder ``records`` (``*.json``, made by
    :func:`write_content_record`), the file being the record's path relative to ``records`` below ``root`` with
    the suffix dropped. A record that is not such JSON is ignored (the next run of its job rewrites it); no folder:
    {}. Standard library only (cheap enough for every workflow start)."""
    root, records = Path(root), Path(records)
    out: dict[Path, str | None] = {}
    if not records.is_dir():
        return out
    for rec in sorted(records.rglob(f"*{RECORD_SUFFIX}")):
        try:
            data = json.loads(rec.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            out[root / rec.relative_to(records).as_posix().removesuffix(RECORD_SUFFIX)] = data.get(CONTENT_KEY)
    return out


@dataclass(frozen=True)
class Replaced:
    """One file of :func:`find_replaced`: its path, the recorded and the found content hash (None when it could
    not be read as a sing file) and why it counts as replaced."""

    path: str
    recorded: str | None
    found: str | None
    reason: str


def find_replaced(records: Mapping[str | os.PathLike, str | None] | Any, *, deep: bool = False) -> list[Replaced]:
    """The files whose content differs from what their producing job recorded.

    ``records``: ``{path: recorded content_sha256}`` or an iterable of :func:`content_record` dicts. A record of
    None (a file made before content hashes) is skipped; a missing file is not "replaced" (the workflow simply
    makes it again) and is skipped too. For each other file, the stored hash (header only, or recomputed with
    ``deep``) is compared with the record; a file that is not a sing file any more, or holds another hash, or
    (``deep``) was edited in place, is returned with a reason. Returns [] when nothing changed.
    """
    if not isinstance(records, Mapping):
        records = {r["file"]: r.get(CONTENT_KEY) for r in records}
    out = []
    for path, recorded in records.items():
        p = Path(path)
        if recorded is None or not p.exists():
            continue
        try:
            found = verify_content(p) if deep else stored_content_sha256(p)
        except ModifiedFileError as e:
            out.append(Replaced(str(p), recorded, None, f"edited in place ({str(e).split(': ', 1)[1][:80]}...)"))
            continue
        except ValueError as e:
            out.append(Replaced(str(p), recorded, None, f"no longer a sing file ({str(e).split(': ', 1)[-1][:120]})"))
            continue
        if found != recorded:
            out.append(Replaced(str(p), recorded, found, f"holds content {str(found)[:12]}…, the job that wrote it "
                                                           f"recorded {recorded[:12]}…"))
    return out
