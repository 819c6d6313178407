"""The workflow's config schema (``schemas/config.schema.yaml``) as data: every key with its resolved subschema,
and what each key's value decides. Standard library only: the workflow's planning (:mod:`sing.workflow.settings`)
reads it at parse time, the documentation generator (``.ci/config_reference.py``) and the tests read it too, so all
three walk the schema the same way.

Every leaf key (a key with no keys below it) carries exactly one of two custom keywords, which JSON-schema
validation ignores:

``x-decides: [selector, ...]``
    The jobs that compute with the key's value. A selector is a rule name, optionally restricted to the jobs
    whose wildcards take given values: ``extract_features(sample=analysis)``,
    ``embed_texts(part=classes|concepts)``. The workflow writes the value into the settings manifest of every
    selected job (:mod:`sing.workflow.settings`), so changing it reruns exactly those jobs and what depends on their
    outputs, under every ``--rerun-triggers`` choice.
``x-cosmetic: <why>``
    The key changes no output of any job (a location, a worker count, a job layout). It must reach no job's
    params or manifest.

The annotation belongs on the key's own node (next to ``description``), also for keys that ``$ref`` a shared
definition; registry entry fields (``models.<key>.*``) are annotated in their definition.
"""

from __future__ import annotations

import re
from typing import Any, Iterator, Mapping

__all__ = ["COSMETIC", "DECIDES", "annotation_problems", "decided_by", "leaves", "object_schema", "parse_selector",
           "resolve", "rows"]

DECIDES = "x-decides"
COSMETIC = "x-cosmetic"
_SELECTOR = re.compile(r"^(\w+)(?:\((\w+)=([\w|]+)\))?$")


def resolve(node: dict, schema: dict) -> dict:
    """The subschema with a local ``$ref`` merged in (the referring node's own keywords win)."""
    ref = node.get("$ref")
    if ref is None:
        return node
    if not ref.startswith("#/"):
        raise ValueError(f"only local $refs are supported, got {ref!r}")
    target: Any = schema
    for part in ref[2:].split("/"):
        target = target[part]
    merged = {**resolve(target, schema), **node}
    merged.pop("$ref")
    return merged


def object_schema(node: dict) -> dict | None:
    """The object part of a key: its own ``properties``, or those of an ``if: {type: object}`` / ``then:``."""
    if "properties" in node:
        return node
    then = node.get("then")
    if then and "properties" in then:
        return then
    return None


def _entries(node: dict) -> bool:
    """A key → registry-entry mapping (``models``, ``spaces``): its keys are user-chosen, its fields below."""
    extra = node.get("additionalProperties")
    return isinstance(extra, dict) and "$ref" in extra


def rows(schema: dict) -> Iterator[tuple[str, dict, bool]]:
    """(dotted key, resolved subschema, required) for every key, parents before children; the fields of a
    registry entry appear as ``models.<key>.<field>``."""

    def walk(node: dict, prefix: str) -> Iterator[tuple[str, dict, bool]]:
        obj = object_schema(node)
        if obj is not None:
            required = set(obj.get("required", []))
            for name, sub in obj["properties"].items():
                sub = resolve(sub, schema)
                yield f"{prefix}{name}", sub, name in required
                yield from walk(sub, f"{prefix}{name}.")
        if _entries(node):
            yield from walk(resolve(node["additionalProperties"], schema), f"{prefix}<key>.")

    yield from walk(schema, "")


def leaves(schema: dict) -> Iterator[tuple[str, dict]]:
    """(dotted key, resolved subschema) of every key with no keys below it."""
    for key, node, _ in rows(schema):
        if object_schema(node) is None and not _entries(node):
            yield key, node


def parse_selector(text: str) -> tuple[str, dict[str, frozenset[str]]]:
    """``"rule(wildcard=a|b)"`` → (``"rule"``, {``"wildcard"``: {``"a"``, ``"b"``}}); ValueError if malformed."""
    match = _SELECTOR.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{DECIDES} selector {text!r}: expected 'rule' or 'rule(wildcard=value|value)'")
    rule, wildcard, values = match.groups()
    return rule, ({wildcard: frozenset(values.split("|"))} if wildcard else {})


def annotation_problems(schema: dict, rules: Mapping[str, set[str]] | None = None) -> list[str]:
    """Every leaf key without exactly one of ``x-decides`` / ``x-cosmetic``, every malformed annotation, every
    annotation on a key that has keys below it, and (given ``rules``: rule name → its wildcard names) every
    selector naming an unknown rule or a wildcard its rule does not have."""
    problems = []
    leaf_keys = {key for key, _ in leaves(schema)}
    for key, node, _ in rows(schema):
        has = [k for k in (DECIDES, COSMETIC) if k in node]
        if key not in leaf_keys:
            if has:
                problems.append(f"{key}: {has[0]} on a key with keys below it (annotate its leaves)")
            continue
        if len(has) != 1:
            problems.append(f"{key}: needs exactly one of {DECIDES} / {COSMETIC}, has {has or 'none'}")
            continue
        if COSMETIC in node:
            if not isinstance(node[COSMETIC], str) or not node[COSMETIC].strip():
                problems.append(f"{key}: {COSMETIC} must say why the key changes no output")
            continue
        selectors = node[DECIDES]
        if not isinstance(selectors, list) or not selectors:
            problems.append(f"{key}: {DECIDES} must be a non-empty list of rule selectors")
            continue
        for text in selectors:
            try:
                rule, conditions = parse_selector(text)
            except ValueError as e:
                problems.append(f"{key}: {e}")
                continue
            if rules is None:
                continue
            if rule not in rules:
                problems.append(f"{key}: {DECIDES} names unknown rule {rule!r}")
            else:
                problems += [f"{key}: {DECIDES} {text!r}: rule {rule} has no wildcard {w!r}"
                             for w in conditions if w not in rules[rule]]
    return problems


def decided_by(schema: dict) -> dict[str, list[tuple[tuple[str, ...], dict[str, frozenset[str]]]]]:
    """rule → [(key path, wildcard conditions)] of every key whose ``x-decides`` selects that rule, in schema
    order. A key path is the dotted key split at its dots (``("models", "<key>", "seed")``)."""
    out: dict[str, list] = {}
    for key, node in leaves(schema):
        for text in node.get(DECIDES) or []:
            rule, conditions = parse_selector(text)
            out.setdefault(rule, []).append((tuple(key.split(".")), conditions))
    return out
