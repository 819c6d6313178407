"""The weights lock: which weight files (hub repository, revision, file, sha256) each model, CLIP space and UnCLIP
pipeline was prefetched with, so that a rerun can prove it loads the same bytes.

``prefetch_weights`` writes ``<weights_dir>/weights.lock.json`` (:func:`write_lock`)::

    {"format": 1,
     "models": {"<key>": {"spec": {...}, "weights_id": "...", "files": [<record>, ...]}},
     "spaces": {...}, "unclip": {"<model id>": {...}},
     "translators": {"<model>/<space>": {"spec": {"published": "<path>"}, "files": [<record>, ...]}}}

A record is ``{"repo", "revision", "file", "sha256", "size"}`` for a file of a Hugging Face hub repository (every
file of the repository's snapshot at the cached ``refs/main`` commit), or ``{"file", "sha256", "size"}`` for a
local file (a path under ``weights_dir`` such as ``torch/hub/checkpoints/<name>``, or an absolute checkpoint path).
An entry is valid only for the spec it was made for; entries with random weights lock no file. The
``translators`` collection locks the published translators a config imports (``translator.published``: the
weight file and its ``metadata.yaml``, :func:`sing.io.published.translator_files`), like any local weight file.

The workflow reads the lock at parse time (:func:`read_lock`, :func:`locked_entry`: standard library only) and
puts each model's entry into its jobs' settings, so a changed entry reruns exactly that model's jobs; compute jobs
call :func:`verify` before loading, which fails naming the model and the file when the cache differs.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable, Mapping

from .weights import file_sha256

__all__ = ["LOCK_FILE", "WeightsLockError", "hub_records", "local_records", "locked_entry", "lock_path",
           "needs_files", "random_weight_keys", "read_lock", "verify", "write_lock"]

LOCK_FILE = "weights.lock.json"
FORMAT = 1
COLLECTIONS = ("models", "spaces", "unclip", "translators")
#: locks every weight of a config again (run it with the same --configfile options as the run)
PREFETCH = ".venv/bin/snakemake prefetch_weights --cores 1"


class WeightsLockError(RuntimeError):
    """The weight cache does not hold what the lock says (or there is no lock entry)."""


def lock_path(weights_dir: str | os.PathLike) -> Path:
    return Path(weights_dir) / LOCK_FILE


def read_lock(weights_dir: str | os.PathLike) -> dict[str, Any]:
    """The lock of ``weights_dir`` ({"models": {}, "spaces": {}, "unclip": {}} when there is none yet).
    ValueError naming the file when it is not a lock written by :func:`write_lock`."""
    path = lock_path(weights_dir)
    if not path.is_file():
        return {c: {} for c in COLLECTIONS}
    try:
        lock = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: not valid JSON ({e}); rerun `{PREFETCH}`") from None
    if not isinstance(lock, dict) or lock.get("format") != FORMAT:
        raise ValueError(f"{path}: not a weights lock of format {FORMAT}; rerun `{PREFETCH}`")
    return {c: dict(lock.get(c) or {}) for c in COLLECTIONS}


def write_lock(weights_dir: str | os.PathLike, entries: Mapping[str, Mapping[str, dict]]) -> Path:
    """Merge ``entries`` ({collection: {key: entry}}) into the lock of ``weights_dir`` (entries of other keys
    are kept, so switching ``run_models`` back and forth loses nothing) and write it atomically."""
    lock = read_lock(weights_dir)
    for collection, by_key in entries.items():
        if collection not in COLLECTIONS:
            raise ValueError(f"unknown lock collection {collection!r} (one of {COLLECTIONS})")
        lock[collection].update(by_key)
    path = lock_path(weights_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps({"format": FORMAT, **lock}, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


def needs_files(collection: str, spec: Mapping[str, Any]) -> bool:
    """Whether an entry loads weight files (hub weights, a checkpoint, a head file) or builds random weights only
    (which its spec, with its seed, decides). Mirrors the loaders of :mod:`sing.models.classifiers` and
    :mod:`sing.models.clip_spaces`."""
    if spec.get("checkpoint"):
        return True
    if collection == "spaces":
        return bool(spec.get("pretrained"))
    if collection == "models":
        if spec.get("pretrained", True):
            return True
        head = str(spec.get("head") or "")  # a random backbone loads a head given as an existing local path
        return (spec.get("source") in ("dino", "dinov2_hub") and bool(head)
                and not head.startswith(("http://", "https://")) and Path(head).expanduser().exists())
    return True


def locked_entry(lock: Mapping[str, Any], collection: str, key: str, spec: Mapping[str, Any]) -> dict | None:
    """{"files": [...]} of entry ``key`` for ``spec``: [] when it needs no file (:func:`needs_files`), the lock's
    records when the lock holds an entry made for this very spec, else None (not locked yet)."""
    if collection != "unclip" and not needs_files(collection, spec):
        return {"files": []}
    entry = (lock.get(collection) or {}).get(key)
    if not entry or entry.get("spec") != dict(spec):
        return None
    return {"files": list(entry["files"])}


def random_weight_keys(weights: Mapping[str, Any] | None) -> dict[str, list[str]]:
    """{"models": [...], "spaces": [...]}: the keys whose entry in a job's ``weights`` settings (the ``weights``
    block of its settings manifest and provenance, :func:`locked_entry` per key) locks no file, i.e. whose
    weights are random (``pretrained: false`` / ``null`` without a checkpoint, or a checkpoint the workflow
    writes itself, ``synthetic_checkpoints``). Anything computed from them is a code-path check, never a
    finding. Keys not locked yet (entry None) count as pretrained."""
    out: dict[str, list[str]] = {"models": [], "spaces": []}
    for collection in out:
        for key, entry in sorted(((weights or {}).get(collection) or {}).items()):
            if isinstance(entry, Mapping) and not entry.get("files"):
                out[collection].append(key)
    return out


# ------------------------------------------------------------------------------------- building and checking
def _repo_dir(hf_cache: str | os.PathLike, repo: str) -> Path:
    from huggingface_hub.file_download import repo_folder_name

    return Path(hf_cache) / repo_folder_name(repo_id=repo, repo_type="model")


def cached_revision(hf_cache: str | os.PathLike, repo: str) -> str | None:
    """The commit the cache's ``refs/main`` of ``repo`` points to (what offline loads read), or None."""
    ref = _repo_dir(hf_cache, repo) / "refs" / "main"
    return ref.read_text().strip() if ref.is_file() else None


def hub_records(hf_cache: str | os.PathLike, repo: str) -> list[dict]:
    """Records of every file in the cached snapshot of ``repo`` at ``refs/main`` (FileNotFoundError when the
    repository is not cached)."""
    revision = cached_revision(hf_cache, repo)
    snapshot = _repo_dir(hf_cache, repo) / "snapshots" / str(revision)
    if revision is None or not snapshot.is_dir():
        raise FileNotFoundError(f"hub repository {repo} is not in the cache {hf_cache}")
    files = sorted(p for p in snapshot.rglob("*") if p.is_file())
    return [{"repo": repo, "revision": revision, "file": p.relative_to(snapshot).as_posix(),
             "sha256": file_sha256(p), "size": p.stat().st_size} for p in files]


def local_records(paths: Iterable[str | os.PathLike], weights_dir: str | os.PathLike) -> list[dict]:
    """Records of local files (a directory stands for every file below it); paths under ``weights_dir`` are
    stored relative to it, so the cache can move."""
    root = Path(weights_dir).resolve()
    out = []
    for path in paths:
        path = Path(path).expanduser().resolve()
        for p in sorted(q for q in path.rglob("*") if q.is_file()) if path.is_dir() else [path]:
            name = p.relative_to(root).as_posix() if p.is_relative_to(root) else str(p)
            out.append({"file": name, "sha256": file_sha256(p), "size": p.stat().st_size})
    return out


def verify(entry: Mapping[str, Any] | None, weights_dir: str | os.PathLike, what: str) -> None:
    """Check the cache against a lock entry ({"files": [...]}, as :func:`locked_entry` returns) before loading.

    ``what`` names the entry in errors (e.g. "model 'resnet'"). Raises :class:`WeightsLockError` naming it and
    the file: no entry, a repository at another revision, a missing file, a file whose sha256 differs.
    """
    lock = lock_path(weights_dir)
    if entry is None:
        raise WeightsLockError(f"{what}: {lock} has no entry for its current settings; run `{PREFETCH}` "
                               f"(same weights_dir) to download and lock its weights")
    hf_cache = Path(weights_dir) / "huggingface" / "hub"
    for record in entry["files"]:
        if "repo" in record:
            revision = cached_revision(hf_cache, record["repo"])
            if revision != record["revision"]:
                raise WeightsLockError(
                    f"{what}: hub repository {record['repo']} is cached at revision {revision} but {lock} locks "
                    f"{record['revision']}; restore that revision, or rerun `{PREFETCH}` to lock the new one "
                    f"(this reruns the jobs of {what})")
            path = _repo_dir(hf_cache, record["repo"]) / "snapshots" / revision / record["file"]
            name = f"{record['repo']}/{record['file']}"
        else:
            path = Path(record["file"]) if os.path.isabs(record["file"]) else Path(weights_dir) / record["file"]
            name = record["file"]
        if not path.is_file():
            raise WeightsLockError(f"{what}: weight file {name} is missing ({path}); rerun `{PREFETCH}`")
        digest = file_sha256(path)
        if digest != record["sha256"]:
            raise WeightsLockError(
                f"{what}: weight file {name} ({path}) has sha256 {digest}, but {lock} locks {record['sha256']}: "
                f"the file changed since prefetch; rerun `{PREFETCH}` to lock it (this reruns the jobs of {what})")
