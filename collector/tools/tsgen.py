"""Generate the snippet's TypeScript contract types from the JSON Schema.

``python -m collector.tools.tsgen`` prints ``sdk_js/src/contract.ts``; a test fails when the
committed file differs, so the schema, the collector and the snippet cannot drift.
Only the JSON Schema features the contract uses are supported, and anything else is an
error rather than a silently wrong type.
"""

from __future__ import annotations

import sys
from typing import Any

from collector.contract import event_types, load_schema

OUTPUT = "sdk_js/src/contract.ts"
_NAMES = {
    "#": "Envelope",
    "context": "Context",
    "event": "WireEvent",
    "uuid": "Uuid",
    "epoch_ms": "EpochMs",
}
_SCALARS = {"string": "string", "integer": "number", "number": "number", "boolean": "boolean"}


def _type(node: dict[str, Any]) -> str:
    if "$ref" in node:
        return _NAMES[node["$ref"].rsplit("/", 1)[-1]]
    if "const" in node:
        return repr(node["const"]).replace("'", '"')
    if "enum" in node:
        return (
            "EventType"
            if tuple(node["enum"]) == event_types()
            else " | ".join(f'"{v}"' for v in node["enum"])
        )
    kind = node.get("type")
    if isinstance(kind, list):
        return " | ".join(_SCALARS[k] for k in kind)
    if kind == "array":
        item = _type(node["items"])
        return f"({item})[]" if " | " in item else f"{item}[]"
    if kind == "object" and "properties" not in node:
        return f"Record<string, {_type(node['additionalProperties'])}>"
    if kind in _SCALARS:
        return _SCALARS[kind]
    raise ValueError(f"tsgen does not support this schema node: {node}")


def _interface(name: str, node: dict[str, Any]) -> list[str]:
    if node.get("additionalProperties") is not False:
        raise ValueError(f"{name}: contract objects must set additionalProperties: false")
    required = set(node.get("required", []))
    lines = [
        f"/** {node['description']} */" if "description" in node else "",
        f"export interface {name} {{",
    ]
    for key, prop in node["properties"].items():
        if "description" in prop:
            lines.append(f"  /** {prop['description']} */")
        optional = "" if key in required else "?"
        lines.append(f"  {key}{optional}: {_type(prop)};")
    lines.append("}")
    return [line for line in lines if line]


def _max_lengths(node: dict[str, Any]) -> dict[str, int]:
    return {
        k: p["maxLength"]
        for k, p in node["properties"].items()
        if p.get("type") == "string" and "maxLength" in p
    }


def generate() -> str:
    schema = load_schema()
    defs = schema["definitions"]
    event = defs["event"]
    out = [
        "// Generated from schema/events.schema.json by `python -m collector.tools.tsgen`.",
        "// Do not edit: change the schema and regenerate.",
        "",
        f"export const CONTRACT_VERSION = {schema['properties']['v']['const']};",
        f"export const MAX_EVENTS_PER_BATCH = {schema['properties']['e']['maxItems']};",
        f"export const MAX_PROPS = {event['properties']['p']['maxProperties']};",
        "export const MAX_PROP_LENGTH = "
        f"{event['properties']['p']['additionalProperties']['maxLength']};",
        "/** Longest string the contract accepts for each event field. */",
        "export const MAX_LENGTH = {"
        + ", ".join(f"{k}: {v}" for k, v in _max_lengths(event).items())
        + "} as const;",
        "",
        "/** " + defs["uuid"].get("description", "A UUID string.") + " */",
        "export type Uuid = string;",
        "/** Milliseconds since the Unix epoch. */",
        "export type EpochMs = number;",
        "export type EventType =",
        *[f'  | "{t}"' for t in event_types()],
        ";",
        "",
    ]
    out += [*_interface("Envelope", schema), ""]
    out += [*_interface("Context", defs["context"]), ""]
    out += _interface("WireEvent", event)
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(generate())
