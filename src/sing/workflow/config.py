"""A config as the workflow sees it: validated against ``schemas/config.schema.yaml`` with every default filled,
nested ones included, and its keys in the schema's order.

Validation is JSON Schema draft 2020-12 (``jsonschema``) with defaults filled while validating, exactly as
``snakemake.utils.validate(config, schema, set_default=True)`` does (tests/test_workflow_config.py compares the
two), but each default is a fresh copy and a violation is reported in one line naming the key.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Mapping

__all__ = ["ConfigError", "config_error", "in_schema_order", "load_schema", "merge_configs", "resolve_config",
           "schema_default"]

#: where a config error sends the reader
REFERENCE = "schemas/config.schema.yaml; docs/config.md"


class ConfigError(ValueError):
    """A config value the workflow refuses; the message starts with ``config <dotted key>:``."""


def config_error(key: str, value: Any, problem: str) -> ConfigError:
    """``config <key>: <value!r> <problem>``."""
    return ConfigError(f"config {key}: {value!r} {problem}")


def load_schema(path: str | Path) -> dict:
    """The schema file as a dict (YAML)."""
    import yaml

    return yaml.safe_load(Path(path).read_text())


def merge_configs(*configs: Mapping[str, Any]) -> dict:
    """Config files merged in order as Snakemake merges ``--configfile`` files and ``--config``: a later mapping
    updates an earlier one key by key, recursively; any other value replaces. The inputs are not modified."""

    def update(into: dict, new: Mapping) -> dict:
        for key, value in new.items():
            if isinstance(value, Mapping):
                into[key] = update(into[key] if isinstance(into.get(key), dict) else {}, value)
            else:
                into[key] = copy.deepcopy(value)
        return into

    out: dict = {}
    for config in configs:
        update(out, config)
    return out


def _default_filling_validator(schema: Mapping):
    import jsonschema
    from jsonschema import validators

    base = jsonschema.Draft202012Validator
    validate_properties = base.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, subschema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub:
                    instance.setdefault(name, copy.deepcopy(sub["default"]))
        yield from validate_properties(validator, properties, instance, subschema)

    return validators.extend(base, {"properties": set_defaults})(schema)


def resolve_config(config: dict, schema: Mapping) -> dict:
    """Validate ``config`` in place, filling every default of ``schema`` (nested objects given in part too),
    and return it with each object's keys in the schema's order.

    Raises :class:`ConfigError` ``config <key>: <what is wrong> (...)`` for the first violation
    (jsonschema's best match).
    """
    import jsonschema

    try:
        _default_filling_validator(schema).validate(config)
    except jsonschema.ValidationError as e:
        key = ".".join(str(p) for p in e.absolute_path) or "(top level)"
        raise ConfigError(f"config {key}: {e.message} ({REFERENCE})") from None
    return in_schema_order(config, schema)


def in_schema_order(value: Any, node: Mapping) -> Any:
    """``value`` with each schema object's keys in the schema's order (registry entries untouched): job
    settings are compared by their repr, so they must not depend on the order a config writes its keys in."""
    node = node.get("then", node)
    if not isinstance(value, dict) or "properties" not in node:
        return value
    props = node["properties"]
    ordered = {k: in_schema_order(value[k], props[k]) for k in props if k in value}
    return {**ordered, **{k: v for k, v in value.items() if k not in props}}


def schema_default(schema: Mapping, key: str) -> Any:
    """The schema's default of a dotted key (None if it has none)."""
    node = schema
    for part in key.split("."):
        node = node["properties"][part]
    return node.get("default")
