"""``sing check-config FILE...``: a config checked as the workflow reads it, without Snakemake.

Snakemake reads ``--configfile`` files before it reads the workflow, and for one that does not parse it says only
"Config file is not valid JSON or YAML", with no file or line. This command names both (with the line and a likely
cause), then merges the files as the workflow does (``config.yaml`` of the workflow folder first, then each file
in order) and runs every check of the config (:class:`sing.workflow.plan.Plan`): the same one-line errors, naming
the key, the value and the fix, that ``snakemake`` prints when it plans.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from ..io.config_files import ConfigFileError, load_config_file
from .config import is_config_mistake, load_schema, merge_configs, resolve_config

__all__ = ["check_config"]


def check_config(files: Sequence[str], workflow: str | Path = ".") -> tuple[int, str]:
    """(exit code, message) of checking config ``files`` against the workflow folder ``workflow`` (its
    ``config.yaml`` is merged first, its ``schemas/config.schema.yaml`` validates). 0: the merged config plans;
    1: a file does not parse or the config has a mistake (the message names it); 2: ``workflow`` is not a
    workflow folder (no schema: only the files' syntax was checked)."""
    from .plan import Plan

    root = Path(workflow)
    base = root / "config.yaml"
    paths = [*([base] if base.is_file() else []), *map(Path, files)]
    try:
        configs = [load_config_file(p) for p in paths]
    except ConfigFileError as e:
        return 1, f"error: {e}"
    schema_path = root / "schemas" / "config.schema.yaml"
    if not schema_path.is_file():
        return 2, (f"{', '.join(map(str, files))}: valid YAML; {root.resolve()} is not the workflow folder (no "
                   "schemas/config.schema.yaml), so the keys were not checked: run this from the workflow folder")
    schema = load_schema(schema_path)
    try:
        config = resolve_config(merge_configs(*configs), schema)
        plan = Plan(config, schema)
    except (ValueError, FileNotFoundError) as e:
        if not is_config_mistake(e):
            raise
        return 1, f"error: {e}"
    lines = [f"warning: {w}" for w in plan.warnings]
    lines.append(f"ok: {' + '.join(map(str, paths))} plan {len(plan.models)} model(s) x {len(plan.spaces)} "
                 f"space(s), {len(plan.analysed)} analysed class(es) of the {plan.catalog.describe()} (the dataset "
                 "and this machine are checked when snakemake plans a run)")
    return 0, "\n".join(lines)
