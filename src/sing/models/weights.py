"""Pretrained weights: one cache directory for every hub, offline loading for compute jobs.

Layout under ``weights_dir``: ``huggingface/hub`` (the Hugging Face hub cache: timm, open_clip, transformers and
diffusers weights) and ``torch/hub/checkpoints`` (URL downloads such as the DINO linear heads). A job builds one
:class:`WeightsCache` and passes it to every loader; nothing is configured process-wide:

* timm, open_clip, transformers and huggingface_hub get the cache explicitly (``cache_dir=``; timm also uses it
  as ``model_dir`` for URL weights), transformers and ``snapshot_download`` get ``local_files_only=``;
* URL files are downloaded with ``torch.hub.download_url_to_file`` to an explicit path, so ``torch.hub.set_dir``
  (torch.hub's only knob, a process-wide directory) is never called;
* timm and open_clip have no per-call offline switch: they call ``huggingface_hub.hf_hub_download``, which
  refuses network access while ``huggingface_hub.constants.HF_HUB_OFFLINE`` is true. :meth:`WeightsCache.loading`
  sets that flag for the duration of one model build and restores it afterwards.

In offline mode a weight that is not cached fails with :class:`MissingWeightsError`, which names the model and
the prefetch command.
"""

from __future__ import annotations

import contextlib
import os
import urllib.error
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from ..core.files import file_sha256

__all__ = ["PREFETCH_COMMAND", "MissingWeightsError", "WeightsCache", "checkpoint_file", "file_sha256"]

#: downloads and locks every weight of a config (run it with the same --configfile options as the run)
PREFETCH_COMMAND = ".venv/bin/snakemake prefetch_weights --cores 1"


class MissingWeightsError(RuntimeError):
    """Pretrained weights are not in the local cache (and the hubs are offline)."""

    def __init__(self, key: str, what: str, weights_dir=None, cause: BaseException | None = None):
        self.key, self.what = key, what
        where = f" in {weights_dir}" if weights_dir else ""
        msg = (f"model {key!r}: weights {what} are not available offline{where}. Download them on a machine "
               f"with internet access first: `{PREFETCH_COMMAND}` with the run's --configfile options (same "
               "weights_dir), or give a local checkpoint path in the model entry.")
        if cause is not None:
            msg += f" [{type(cause).__name__}: {str(cause).splitlines()[0] if str(cause) else ''}]"
        super().__init__(msg)


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


@dataclass(frozen=True)
class WeightsCache:
    """Where a job's loaders find pretrained weights, and whether they may download them.

    ``root``: the workflow's ``weights_dir`` (None: each library's default cache). ``offline``: read only the
    cache (compute jobs); False lets the libraries download (prefetch on a login node).
    """

    root: str | os.PathLike | None = None
    offline: bool = False

    @property
    def hf_cache(self) -> str | None:
        """``<root>/huggingface/hub``: ``cache_dir`` of timm, open_clip, transformers and huggingface_hub."""
        return None if self.root is None else str(Path(self.root) / "huggingface" / "hub")

    def url_path(self, url: str) -> Path:
        """Where a URL download is cached: ``<root>/torch/hub/checkpoints/<file name>`` (without a root: under
        ``torch.hub.get_dir()``, torch's default)."""
        if self.root is None:
            import torch.hub

            base = Path(torch.hub.get_dir())
        else:
            base = Path(self.root) / "torch" / "hub"
        return base / "checkpoints" / os.path.basename(url.split("?")[0])

    @contextlib.contextmanager
    def loading(self, key: str, what: str) -> Iterator[None]:
        """Scope of one pretrained load of model ``key``: hub offline while ``offline``, and a hub's 'not cached /
        no network' error turned into :class:`MissingWeightsError` naming ``key`` and ``what``."""
        flag = None
        if self.offline:
            try:
                import huggingface_hub.constants as hub

                flag, hub.HF_HUB_OFFLINE = hub.HF_HUB_OFFLINE, True
            except ImportError:  # pragma: no cover
                pass
        try:
            yield
        except MissingWeightsError:
            raise
        except Exception as e:  # noqa: BLE001 - classified below
            if _is_missing_weights(e):
                raise MissingWeightsError(key, what, self.root, e) from e
            raise
        finally:
            if flag is not None:
                hub.HF_HUB_OFFLINE = flag

    def resolve_file(self, key: str, ref: str) -> Path:
        """A local file for ``ref`` (a path, or an http(s) URL cached under :meth:`url_path`); downloads only
        when not offline. FileNotFoundError for a missing local path, MissingWeightsError for an uncached URL."""
        if not ref.startswith(("http://", "https://")):
            p = Path(ref).expanduser()
            if not p.is_file():
                raise FileNotFoundError(f"model {key!r}: weight file {p} does not exist")
            return p
        p = self.url_path(ref)
        if p.is_file():
            return p
        if self.offline:
            raise MissingWeightsError(key, ref, self.root)
        import torch.hub

        p.parent.mkdir(parents=True, exist_ok=True)
        with self.loading(key, ref):
            torch.hub.download_url_to_file(ref, str(p), progress=False)
        return p


def checkpoint_file(owner: str, ref) -> Path:
    """The local checkpoint ``ref`` (``~`` expanded) of ``owner`` (e.g. ``model 'x'``, ``space 'y'``).
    FileNotFoundError naming the owner and the path when it is not a file."""
    path = Path(ref).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{owner}: checkpoint {path} does not exist")
    return path
