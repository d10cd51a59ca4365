"""Generate the collector's typed view of the wire contract from the JSON Schema.

``python -m collector.tools.pygen`` prints ``collector/rows/wire.py``: the envelope, its
context and an event as ``TypedDict``s, so that code reading a validated envelope is
checked by mypy key by key against the schema. They are types only — a validated envelope
stays the dict the JSON decoder made, at no cost per request. A test fails when the
committed file differs from what the schema generates, as for the snippet's
``contract.ts``.
"""

from __future__ import annotations

import sys
import textwrap
from typing import Any

from collector.contract import event_types, load_schema

OUTPUT = "collector/rows/wire.py"
_NAMES = {
    "#": "Envelope",
    "context": "Context",
    "event": "WireEvent",
    "uuid": "Uuid",
    "epoch_ms": "EpochMs",
}
# JSON Schema's "integer" admits 1.0, so an integer field may hold a float until a row
# makes it an int.
# Comment lines fit the project's line length with the indent in front.
_WIDTH = 94
_SCALARS = {"string": "str", "integer": "float", "number": "float", "boolean": "bool"}


def _type(node: dict[str, Any]) -> str:
    if "$ref" in node:
        return _NAMES[node["$ref"].rsplit("/", 1)[-1]]
    if "const" in node:
        return f"Literal[{node['const']!r}]"
    if "enum" in node:
        if tuple(node["enum"]) == event_types():
            return "EventType"
        return "Literal[" + ", ".join(f'"{v}"' for v in node["enum"]) + "]"
    kind = node.get("type")
    if isinstance(kind, list):
        return " | ".join(_SCALARS[k] for k in kind)
    if kind == "array":
        return f"list[{_type(node['items'])}]"
    if kind == "object" and "properties" not in node:
        return f"dict[str, {_type(node['additionalProperties'])}]"
    if kind in _SCALARS:
        return _SCALARS[kind]
    raise ValueError(f"pygen does not support this schema node: {node}")


def _typed_dict(name: str, node: dict[str, Any]) -> list[str]:
    if node.get("additionalProperties") is not False:
        raise ValueError(f"{name}: contract objects must set additionalProperties: false")
    required = set(node.get("required", []))
    lines = [f"class {name}(TypedDict):"]
    if "description" in node:
        text = textwrap.wrap(f'"""{node["description"]}"""', _WIDTH)
        lines += [f"    {line}" for line in text]
        lines.append("")
    for key, prop in node["properties"].items():
        if "description" in prop:
            lines += [f"    # {line}" for line in textwrap.wrap(prop["description"], _WIDTH - 2)]
        kind = _type(prop)
        lines.append(f"    {key}: {kind if key in required else f'NotRequired[{kind}]'}")
    return lines


def generate() -> str:
    schema = load_schema()
    defs = schema["definitions"]
    out = [
        '"""The wire contract as types: generated from schema/events.schema.json by',
        "``python -m collector.tools.pygen``. Do not edit: change the schema and regenerate",
        '(``make contract``)."""',
        "",
        '# ruff: noqa: E741 - the keys are the wire\'s, "l" (label) included',
        "",
        "# No postponed annotations: TypedDict reads NotRequired[...] when the class is made.",
        "from typing import Literal, NotRequired, TypedDict",
        "",
        "Uuid = str",
        "# Milliseconds since the Unix epoch.",
        "EpochMs = float",
        "EventType = Literal[",
        *[f'    "{t}",' for t in event_types()],
        "]",
        "",
        "",
        *_typed_dict("Context", defs["context"]),
        "",
        "",
        *_typed_dict("WireEvent", defs["event"]),
        "",
        "",
        *_typed_dict("Envelope", schema),
    ]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(generate())
