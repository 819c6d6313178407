"""Submitting through snakemake-executor-plugin-slurm 2.8.0 without ``sacct`` / ``sacctmgr`` / ``sshare`` or
accounting: the one workaround sing applies to a dependency, kept here.

With no ``slurm_account`` resource the plugin guesses an account by running ``sacct``, and it validates a given
account with ``sacctmgr``, then ``sshare`` (``get_account`` / ``validate_account``, module-level functions of
``snakemake_executor_plugin_slurm``). A missing binary raises FileNotFoundError, which aborts every submission
(checked with SLURM 22.05: "No such file or directory: 'sacct'"); when both tools fail, validation raises
WorkflowError; and ``--slurm-no-account`` is declared but never read in 2.8.0. :func:`patch_account_lookup`
wraps the two functions: ``--slurm-no-account`` or a missing ``sacct`` means no ``-A`` (sbatch uses the user's
default account); an account the tools cannot check is passed to sbatch unchecked (sbatch itself rejects an
invalid one). An account the tools report invalid still fails as before.

The plugin is pinned exactly (``==2.8.0`` in ``envs/requirements.txt`` and pyproject's ``slurm`` extra);
tests/test_slurm.py fails when the installed plugin lacks either function, and at run time a plugin without
them is reported in the log instead of silently left unpatched. This module imports nothing from Snakemake:
the workflow passes the plugin module and its WorkflowError class in.
"""

from __future__ import annotations

import logging
from types import ModuleType
from typing import Callable

__all__ = ["PATCHED_FUNCTIONS", "PLUGIN", "PLUGIN_VERSION", "patch_account_lookup"]

PLUGIN = "snakemake_executor_plugin_slurm"
PLUGIN_VERSION = "2.8.0"
PATCHED_FUNCTIONS = ("get_account", "validate_account")


def patch_account_lookup(plugin: ModuleType, *, no_account: Callable[[], bool], workflow_error: type[Exception],
                         log: logging.Logger | None = None) -> bool:
    """Wrap ``plugin.get_account`` / ``plugin.validate_account`` as described above (once per plugin module).

    ``no_account``: whether ``--slurm-no-account`` was given. ``workflow_error``: the exception class the plugin
    raises (``snakemake_interface_common.exceptions.WorkflowError``). Returns True when the functions are
    (now) wrapped; False, with a warning naming the version sing was tested with, when the plugin lacks them.
    """
    log = log or logging.getLogger(__name__)
    if getattr(plugin, "_sing_patched", False):
        return True
    missing = [f for f in PATCHED_FUNCTIONS if not callable(getattr(plugin, f, None))]
    if missing:
        log.warning(f"{PLUGIN} has no {missing}: sing's account workaround (for clusters without sacct or "
                    f"accounting) is not applied; sing is tested with version {PLUGIN_VERSION}")
        return False
    guess_account, check_account = plugin.get_account, plugin.validate_account

    def get_account(logger):
        if no_account():
            logger.info("--slurm-no-account: submitting without -A (default account)")
            return None
        try:
            return guess_account(logger)
        except OSError as e:
            logger.warning(f"No SLURM account given and sacct cannot run ({e}): submitting without -A")
            return None

    def validate_account(account, logger):
        try:
            return check_account(account, logger)
        except OSError as e:
            logger.warning(f"SLURM account {account!r} not checked ({e})")
        except workflow_error as e:
            if "appears to be invalid" in str(e):
                raise
            logger.warning(f"SLURM account {account!r} not checked: {e}")
        return account

    plugin.get_account, plugin.validate_account = get_account, validate_account
    plugin._sing_patched = True
    return True
