"""The event contract, loaded from ``schema/events.schema.json`` — its one source of truth.

The collector does not restate the contract in Python: both validators below are compiled
from the JSON Schema file, so the schema and the validation cannot drift apart.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastjsonschema
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
