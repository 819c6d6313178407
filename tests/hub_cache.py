"""Weight caches laid out exactly like a real download (FACTS §8), with random tensors: what the loaders read
offline and what the weights lock hashes."""

from __future__ import annotations

import hashlib
import io
import json
import os
from pathlib import Path

HF_CACHE = ("huggingface", "hub")


def hub_repo(weights_dir: Path, repo: str, files: dict[str, bytes], commit: str | None = None) -> str:
    """Cache ``files`` (name -> bytes) of hub repository ``repo`` as huggingface_hub does: ``blobs/<hash>``, the
    snapshot ``snapshots/<commit>/<name>`` a relative symlink to its blob, ``refs/main`` the commit (no trailing
    newline). Returns the commit (40 hex digits; derived from the contents when not given)."""
    folder = Path(weights_dir, *HF_CACHE, f"models--{repo.replace('/', '--')}")
    commit = commit or hashlib.sha1(b"".join(sorted(files.values()))).hexdigest()
    for name, data in files.items():
        blob = folder / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = folder / "snapshots" / commit / name
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink():
            link.unlink()
        link.symlink_to(os.path.relpath(blob, link.parent))
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(commit)
    return commit


def safetensors_bytes(state_dict) -> bytes:
    """A torch state dict serialised as a ``model.safetensors`` file."""
    from safetensors.torch import save

    return save({k: v.contiguous() for k, v in state_dict.items()})


def json_bytes(obj) -> bytes:
    return json.dumps(obj, indent=2).encode()


def torch_bytes(obj) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()
