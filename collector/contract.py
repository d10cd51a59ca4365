"""The event contract, loaded from ``schema/events.schema.json`` — its one source of truth.

The collector does not restate the contract in Python: both validators below are compiled
from the JSON Schema file, so the schema and the validation cannot drift apart.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import itertools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import fastjsonschema
import msgspec
import orjson

SCHEMA_FILE = "events.schema.json"
_HERE = Path(__file__).resolve().parent


def schema_dir() -> Path:
    """``schema/`` beside the package in a checkout, or its copy inside an installed wheel."""
    for candidate in (_HERE / "_schema", _HERE.parent / "schema"):
        if (candidate / SCHEMA_FILE).is_file():
            return candidate
    raise FileNotFoundError(f"{SCHEMA_FILE} not found next to the collector package")


@functools.cache
def load_schema() -> dict[str, Any]:
    schema: dict[str, Any] = orjson.loads((schema_dir() / SCHEMA_FILE).read_bytes())
    return schema


def contract_version() -> int:
    version: int = load_schema()["properties"]["v"]["const"]
    return version


def event_types() -> tuple[str, ...]:
    return tuple(load_schema()["definitions"]["event"]["properties"]["t"]["enum"])


Validator = Callable[[Any], Any]


@functools.cache
def envelope_validator() -> Validator:
    """Checks everything but the events themselves, which are judged one by one."""
    schema = copy.deepcopy(load_schema())
    schema["properties"]["e"]["items"] = {}
    return fastjsonschema.compile(schema, use_default=False, use_formats=False)


@functools.cache
def event_validator() -> Validator:
    root = load_schema()
    schema = {**root["definitions"]["event"], "definitions": root["definitions"]}
    return fastjsonschema.compile(schema, use_default=False, use_formats=False)


@functools.cache
def envelope_type() -> Any:
    """The whole contract, envelope and events, as msgspec types built from the schema,
    but for its patterns (:func:`pattern_checks` holds those).

    Checking a batch against these runs in C, about ten times faster than the compiled
    validators above; those stay the authority. A batch these refuse is judged again by
    the validators, event by event, and a test holds these and the pattern checks together
    to never accepting what the schema refuses. msgspec calls a pattern's regex once per
    string, and the call costs more than the match: with patterns, 80 µs for a batch of 20
    events, without, 18 µs.
    """
    schema = load_schema()
    structs = itertools.count()

    def of(node: dict[str, Any]) -> Any:
        if "$ref" in node:
            return of(schema["definitions"][node["$ref"].rsplit("/", 1)[1]])
        if "enum" in node:
            return Literal[tuple(node["enum"])]
        if "const" in node:
            return Literal[node["const"]]
        kind = node.get("type")
        if isinstance(kind, list):
            return Union[tuple(of({**node, "type": k}) for k in kind)]  # noqa: UP007
        meta: dict[str, Any] = {}
        base: Any
        if kind == "string":
            base = str
            meta.update(_meta(node, maxLength="max_length", minLength="min_length"))
        elif kind in ("integer", "number"):
            base = int if kind == "integer" else float
            meta.update(_meta(node, minimum="ge", maximum="le", exclusiveMinimum="gt"))
        elif kind == "boolean":
            base = bool
        elif kind == "array":
            base = list[of(node["items"])]  # type: ignore[misc]
            meta.update(_meta(node, maxItems="max_length", minItems="min_length"))
        elif kind == "object" and "properties" in node:
            required = set(node.get("required", ()))
            fields: list[tuple[str, Any] | tuple[str, Any, Any]] = [
                (name, of(sub)) if name in required else (name, of(sub), msgspec.UNSET)
                for name, sub in node["properties"].items()
            ]
            fields.sort(key=len)  # required fields first, as a struct wants them
            base = msgspec.defstruct(f"S{next(structs)}", fields, forbid_unknown_fields=True)
        elif kind == "object":
            base = dict[str, of(node["additionalProperties"])]  # type: ignore[misc]
            meta.update(_meta(node, maxProperties="max_length"))
        else:
            raise ValueError(f"the schema uses a construct the fast check lacks: {node}")
        return Annotated[base, msgspec.Meta(**meta)] if meta else base

    return of(schema)


Match = Callable[[str], object]


@dataclasses.dataclass(frozen=True)
class PatternChecks:
    """The schema's patterns, by where they apply: strings of the envelope and of each
    event, and the keys of an event's objects. Each is the pattern's regex as JSON Schema
    reads it (a search, ``$`` the end of the string)."""

    envelope: tuple[tuple[str, Match], ...]
    event: tuple[tuple[str, Match], ...]
    event_keys: tuple[tuple[str, Match], ...]


@functools.cache
def pattern_checks() -> PatternChecks:
    """Where the schema's patterns apply, for the fast check. A pattern anywhere else makes
    this fail, so a change to the schema cannot leave one unchecked."""
    schema = load_schema()

    def resolved(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = schema["definitions"][node["$ref"].rsplit("/", 1)[1]]
        return node

    def strings(properties: dict[str, Any]) -> tuple[tuple[str, Match], ...]:
        return tuple(
            (name, re.compile(_whole_string(resolved(sub)["pattern"])).search)
            for name, sub in properties.items()
            if "pattern" in resolved(sub)
        )

    event = schema["definitions"]["event"]["properties"]
    keys = tuple(
        (name, re.compile(_whole_string(sub["propertyNames"]["pattern"])).search)
        for name, sub in event.items()
        if "pattern" in sub.get("propertyNames", {})
    )
    checks = PatternChecks(strings(schema["properties"]), strings(event), keys)
    placed = len(checks.envelope) + len(checks.event) + len(checks.event_keys)
    # Every use of a pattern, through references too, against those placed above.
    used = _patterns_used(schema, schema)
    if used != placed:
        raise ValueError(f"the schema has {used} uses of a pattern, the fast check places {placed}")
    return checks


def _patterns_used(node: Any, schema: dict[str, Any]) -> int:
    if isinstance(node, list):
        return sum(_patterns_used(n, schema) for n in node)
    if not isinstance(node, dict):
        return 0
    if "$ref" in node:
        return _patterns_used(schema["definitions"][node["$ref"].rsplit("/", 1)[1]], schema)
    count = int(isinstance(node.get("pattern"), str))
    return count + sum(_patterns_used(v, schema) for k, v in node.items() if k != "definitions")


def _meta(node: dict[str, Any], **names: str) -> dict[str, Any]:
    return {meta: node[keyword] for keyword, meta in names.items() if keyword in node}


def _whole_string(pattern: str) -> str:
    # In JSON Schema (ECMA-262) `$` ends the string; in Python it also matches before a
    # final newline, which would let "<uuid>\n" through.
    return (
        pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith("\\$") else pattern
    )
