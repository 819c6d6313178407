"""The one logging setup of the workflow's job scripts: every record, every Python warning and the error that
stops the job go to its log file (``snakemake.log[0]``)."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path
from typing import TextIO

__all__ = ["setup_logging"]

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(log_path: str | os.PathLike | None = None, level: int = logging.INFO) -> TextIO:
    """Send the root logger's records to ``log_path`` (appended; stderr when None) and route Python ``warnings``
    into logging (as ``logging.captureWarnings`` does: library warnings land in the job log as ``py.warnings``).
    Deprecation warnings, which Python hides outside ``__main__``, are shown once per place too (unless the
    interpreter got ``-W`` options or ``PYTHONWARNINGS``). Decoder warnings of DataLoader workers reach the log
    through :class:`sing.data.extraction.ImageFileDataset`.

    An exception that stops the job (uncaught) is logged too, with its traceback, before Python prints it to
    stderr: the log Snakemake points at ("check log file(s) for error details") holds the cause, also where
    stderr goes elsewhere (a cluster job's own output file).

    Calling it again replaces the handler it installed before. Returns the line-buffered text stream, usable
    as a tqdm ``file`` so progress bars go to the same log.
    """
    if log_path is None:
        stream = sys.stderr
    else:
        Path(log_path).parent.mkdir(parents=True, exist_ok=True)
        stream = open(log_path, "a", buffering=1)
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_sing", False):
            root.removeHandler(h)
    handler = logging.StreamHandler(stream)
    handler._sing = True
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    root.setLevel(level)
    if not sys.warnoptions:  # -W / PYTHONWARNINGS win; else libraries' deprecations are logged too (once each)
        warnings.filterwarnings("default", category=DeprecationWarning)
        warnings.filterwarnings("default", category=PendingDeprecationWarning)
    warnings.showwarning = _log_warning
    previous = getattr(sys.excepthook, "_previous", sys.excepthook)

    def log_exception(kind, value, tb):
        if not issubclass(kind, KeyboardInterrupt):
            logging.getLogger("sing").critical("the job stopped: %s: %s", kind.__name__, value,
                                               exc_info=(kind, value, tb))
        previous(kind, value, tb)

    log_exception._previous = previous
    sys.excepthook = log_exception
    return stream


def _log_warning(message, category, filename, lineno, file=None, line=None):
    """``warnings.showwarning`` of a job: the warning as a WARNING record of the ``py.warnings`` logger (what
    ``logging.captureWarnings`` does, but installed unconditionally: captureWarnings does nothing when it was
    already on, even if something replaced ``showwarning`` since)."""
    text = warnings.formatwarning(message, category, filename, lineno, line)
    logging.getLogger("py.warnings").warning("%s", text.rstrip())
