"""Offline weights: one cache directory for every hub, offline mode for compute jobs, a prefetch step.

Layout under ``weights_dir``: ``huggingface/`` (HF_HOME; the hub cache is ``huggingface/hub``, used by timm,
open_clip and transformers) and ``torch/`` (TORCH_HOME; ``torch/hub/checkpoints`` holds URL downloads such as
the DINO linear heads). Compute jobs call :func:`configure` with ``offline=True``; a weight that is not in the
cache then fails with :class:`MissingWeightsError`, which names the model and the prefetch command.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import urllib.error
from pathlib import Path
from typing import Iterator, Mapping

log = logging.getLogger(__name__)

PREFETCH_COMMAND = "snakemake prefetch_weights --cores 1"
_STATE = {"weights_dir": None, "offline": None}


class MissingWeightsError(RuntimeError):
    """Pretrained weights are not in the local cache (and the hubs are offline)."""

    def __init__(self, key: str, what: str, weights_dir=None, cause: BaseException | None = None):
        self.key, self.what = key, what
        where = f" in {weights_dir}" if weights_dir else ""
        msg = (f"model {key!r}: weights {what} are not available offline{where}. Download them on a machine "
               f"with internet access first: `{PREFETCH_COMMAND}` (same weights_dir), or give a local "
               f"checkpoint path in the model entry.")
        if cause is not None:
            msg += f" [{type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''}]"
        super().__init__(msg)


def hf_cache_dir(weights_dir=None) -> str | None:
    weights_dir = weights_dir or _STATE["weights_dir"]
    return None if weights_dir is None else str(Path(weights_dir) / "huggingface" / "hub")


def torch_hub_dir(weights_dir=None) -> str | None:
    weights_dir = weights_dir or _STATE["weights_dir"]
    return None if weights_dir is None else str(Path(weights_dir) / "torch" / "hub")


def configure(weights_dir=None, offline: bool | None = None) -> None:
    """Point HF_HOME / TORCH_HOME at ``weights_dir`` and switch the hubs on/off-line (process-wide).

    ``offline=None`` keeps the current hub mode. Must be called before models are built; it also patches
    the already-imported huggingface_hub constants so that the setting takes effect at once.
    """
    if weights_dir is not None:
        wd = Path(weights_dir).resolve()
        (wd / "huggingface" / "hub").mkdir(parents=True, exist_ok=True)
        (wd / "torch" / "hub" / "checkpoints").mkdir(parents=True, exist_ok=True)
        os.environ["HF_HOME"] = str(wd / "huggingface")
        os.environ["HF_HUB_CACHE"] = str(wd / "huggingface" / "hub")
        os.environ["TORCH_HOME"] = str(wd / "torch")
        _STATE["weights_dir"] = str(wd)
        try:
            import torch.hub

            torch.hub.set_dir(str(wd / "torch" / "hub"))
        except ImportError:  # pragma: no cover
            pass
    if offline is not None:
        flag = "1" if offline else "0"
        os.environ["HF_HUB_OFFLINE"] = flag
        os.environ["TRANSFORMERS_OFFLINE"] = flag
        _STATE["offline"] = bool(offline)
        try:
            import huggingface_hub.constants as c

            c.HF_HUB_OFFLINE = bool(offline)
            if weights_dir is not None:
                c.HF_HUB_CACHE = os.environ["HF_HUB_CACHE"]
        except ImportError:  # pragma: no cover
            pass


def is_offline() -> bool:
    if _STATE["offline"] is not None:
        return _STATE["offline"]
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on")


_NETWORK_ERRORS: tuple = (urllib.error.URLError, ConnectionError, TimeoutError)


def _is_missing_weights(e: BaseException) -> bool:
    try:
        from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled
    except ImportError:  # pragma: no cover
        LocalEntryNotFoundError = OfflineModeIsEnabled = ()
    if isinstance(e, (LocalEntryNotFoundError, OfflineModeIsEnabled) + _NETWORK_ERRORS):
        return True
    text = str(e).lower()
    return isinstance(e, (OSError, ValueError, RuntimeError)) and any(
        s in text for s in ("offline", "local_files_only", "cannot find the requested files",
                            "connection error", "couldn't connect", "we couldn't connect"))


@contextlib.contextmanager
def translate_missing(key: str, what: str, weights_dir=None) -> Iterator[None]:
    """Turn a hub's 'not cached / no network' error into :class:`MissingWeightsError` naming ``key``."""
    try:
        yield
    except MissingWeightsError:
        raise
    except Exception as e:  # noqa: BLE001 - classified below
        if _is_missing_weights(e):
            raise MissingWeightsError(key, what, weights_dir or _STATE["weights_dir"], e) from e
        raise


def file_sha256(path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def cached_url_path(url: str, weights_dir=None) -> Path:
    """Where torch.hub caches ``url`` (``<weights_dir>/torch/hub/checkpoints/<basename>``)."""
    import torch.hub

    base = torch_hub_dir(weights_dir) or torch.hub.get_dir()
    return Path(base) / "checkpoints" / os.path.basename(url.split("?")[0])


def resolve_file(key: str, ref: str, weights_dir=None) -> Path:
    """A local file for ``ref`` (a path, or an http(s) URL cached by torch.hub). Downloads only when online."""
    if not ref.startswith(("http://", "https://")):
        p = Path(ref).expanduser()
        if not p.is_file():
            raise FileNotFoundError(f"model {key!r}: weight file {p} does not exist")
        return p
    p = cached_url_path(ref, weights_dir)
    if p.is_file():
        return p
    if is_offline():
        raise MissingWeightsError(key, ref, weights_dir or _STATE["weights_dir"])
    import torch.hub

    p.parent.mkdir(parents=True, exist_ok=True)
    with translate_missing(key, ref, weights_dir):
        torch.hub.download_url_to_file(ref, str(p), progress=False)
    return p


# ---------------------------------------------------------------- prefetch (login node)
def prefetch(models: Mapping[str, dict] | None, spaces: Mapping[str, dict] | None, weights_dir) -> dict:
    """Download every pretrained weight of ``models`` and ``spaces`` into ``weights_dir`` (needs internet).

    Builds each model once with its pretrained weights (this fills the hub caches exactly as the compute
    jobs will read them) and returns {"models": {key: weights_id}, "spaces": {key: weights_id}}.
    """
    from .clip_spaces import load_space
    from .zoo import load_classifier

    configure(weights_dir, offline=False)
    out = {"models": {}, "spaces": {}}
    for key, entry in (models or {}).items():
        if not _wants_download(entry):
            out["models"][key] = "random-init (nothing to fetch)"
            continue
        log.info("prefetch model %s", key)
        out["models"][key] = load_classifier(key, entry, device="cpu", weights_dir=weights_dir,
                                             self_check=False).weights_id
    for key, entry in (spaces or {}).items():
        if entry.get("pretrained") in (None, False, "") and not entry.get("checkpoint"):
            out["spaces"][key] = "random-init (nothing to fetch)"
            continue
        log.info("prefetch space %s", key)
        out["spaces"][key] = load_space(key, entry, device="cpu", weights_dir=weights_dir).weights_id
    return out


def _wants_download(entry: dict) -> bool:
    if entry.get("checkpoint"):
        return False
    if entry.get("source") == "dino":
        return bool(entry.get("pretrained", True)) or str(entry.get("head", "")).startswith("http")
    return bool(entry.get("pretrained", True))
