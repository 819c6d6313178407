"""The one logging setup of the workflow's job scripts: every record, every Python warning and the traceback of
an exception that ends the job go to its log file (``snakemake.log[0]``)."""

from __future__ import annotations

import logging
import os
import sys
import threading
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

    An exception that ends the job (uncaught in the main thread, or in any other thread) is logged with its
    traceback as a CRITICAL record of the ``sing.job`` logger, then handed to the previous hook, so Snakemake's
    console shows it as before and the job's own log holds it too (:func:`_log_uncaught`).

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
    if not getattr(sys.excepthook, "_sing", False):
        sys.excepthook = _chain(sys.excepthook, _log_uncaught)
    if not getattr(threading.excepthook, "_sing", False):
        threading.excepthook = _chain_thread(threading.excepthook)
    return stream


def _log_uncaught(exc_type, exc, tb, where: str = "") -> None:
    """Log an exception that ends the job (or a thread) with its traceback; KeyboardInterrupt as one line."""
    log = logging.getLogger("sing.job")
    if issubclass(exc_type, KeyboardInterrupt):
        log.critical("interrupted (KeyboardInterrupt)%s", where)
        return
    log.critical("the job failed%s: %s: %s", where, exc_type.__name__, exc, exc_info=(exc_type, exc, tb))
    for h in logging.getLogger().handlers:
        try:
            h.flush()
        except Exception:  # a closed stream must not hide the original exception
            pass


def _chain(previous, log_it):
    def hook(exc_type, exc, tb):
        try:
            log_it(exc_type, exc, tb)
        finally:
            previous(exc_type, exc, tb)

    hook._sing = True
    return hook


def _chain_thread(previous):
    def hook(args):
        if args.exc_type is not SystemExit:
            name = args.thread.name if args.thread is not None else "?"
            try:
                _log_uncaught(args.exc_type, args.exc_value, args.exc_traceback, f" in thread {name}")
            finally:
                previous(args)

    hook._sing = True
    return hook


def _log_warning(message, category, filename, lineno, file=None, line=None):
    """``warnings.showwarning`` of a job: the warning as a WARNING record of the ``py.warnings`` logger (what
    ``logging.captureWarnings`` does, but installed unconditionally: captureWarnings does nothing when it was
    already on, even if something replaced ``showwarning`` since)."""
    text = warnings.formatwarning(message, category, filename, lineno, line)
    logging.getLogger("py.warnings").warning("%s", text.rstrip())
