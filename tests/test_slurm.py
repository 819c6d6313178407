"""The one workaround for a dependency (sing.workflow.slurm): snakemake-executor-plugin-slurm pinned exactly, the
functions it wraps present in the installed plugin, and the wrapped behaviour on a stand-in plugin."""

from __future__ import annotations

import importlib.metadata
import logging
import tomllib
import types
from pathlib import Path

import pytest

from sing.workflow.slurm import PATCHED_FUNCTIONS, PLUGIN, PLUGIN_VERSION, patch_account_lookup

REPO = Path(__file__).resolve().parents[1]
DIST = "snakemake-executor-plugin-slurm"


class WorkflowError(Exception):
    pass


def test_the_plugin_is_pinned_exactly_where_it_is_installed_from():
    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["slurm"]
    assert f"{DIST}=={PLUGIN_VERSION}" in extra
    assert f"{DIST}=={PLUGIN_VERSION}" in (REPO / "envs" / "requirements.txt").read_text().splitlines()
    assert importlib.metadata.version(DIST) == PLUGIN_VERSION


def test_the_installed_plugin_has_the_functions_sing_wraps():
    """Fails loudly on a plugin version without them: the workaround would do nothing (see sing.workflow.slurm)."""
    import inspect

    plugin = importlib.import_module(PLUGIN)
    for name in PATCHED_FUNCTIONS:
        assert callable(getattr(plugin, name, None)), f"{PLUGIN} {importlib.metadata.version(DIST)} has no {name}"
    assert list(inspect.signature(plugin.get_account).parameters) == ["logger"]
    assert list(inspect.signature(plugin.validate_account).parameters) == ["account", "logger"]


def stand_in(get_account, validate_account) -> types.ModuleType:
    plugin = types.ModuleType("plugin")
    plugin.get_account, plugin.validate_account = get_account, validate_account
    return plugin


def fail(error):
    def function(*args):
        raise error
    return function


@pytest.fixture
def log():
    return logging.getLogger("test_slurm")


def test_without_sacct_or_with_no_account_there_is_no_account(log, caplog):
    plugin = stand_in(fail(FileNotFoundError("No such file or directory: 'sacct'")), lambda a, lg: a)
    no_account = []
    assert patch_account_lookup(plugin, no_account=lambda: bool(no_account), workflow_error=WorkflowError)
    with caplog.at_level(logging.INFO):
        assert plugin.get_account(log) is None
        assert "sacct cannot run" in caplog.text
        no_account.append(True)
        assert plugin.get_account(log) is None
        assert "--slurm-no-account" in caplog.text


def test_an_account_the_tools_cannot_check_is_passed_on_and_an_invalid_one_refused(log):
    plugin = stand_in(lambda lg: "guessed", fail(FileNotFoundError("sacctmgr")))
    patch_account_lookup(plugin, no_account=lambda: False, workflow_error=WorkflowError)
    assert plugin.get_account(log) == "guessed"
    assert plugin.validate_account("acct", log) == "acct"
    plugin = stand_in(lambda lg: None, fail(WorkflowError("sacctmgr and sshare failed")))
    patch_account_lookup(plugin, no_account=lambda: False, workflow_error=WorkflowError)
    assert plugin.validate_account("acct", log) == "acct"
    plugin = stand_in(lambda lg: None, fail(WorkflowError("The given account acct appears to be invalid")))
    patch_account_lookup(plugin, no_account=lambda: False, workflow_error=WorkflowError)
    with pytest.raises(WorkflowError, match="appears to be invalid"):
        plugin.validate_account("acct", log)


def test_the_patch_applies_once_and_says_when_it_cannot(log, caplog):
    plugin = stand_in(lambda lg: "a", lambda a, lg: a)
    assert patch_account_lookup(plugin, no_account=lambda: False, workflow_error=WorkflowError)
    wrapped = plugin.get_account
    assert patch_account_lookup(plugin, no_account=lambda: False, workflow_error=WorkflowError)
    assert plugin.get_account is wrapped
    other = types.ModuleType("newer_plugin")
    with caplog.at_level(logging.WARNING):
        assert not patch_account_lookup(other, no_account=lambda: False, workflow_error=WorkflowError, log=log)
    assert "not applied" in caplog.text and PLUGIN_VERSION in caplog.text
