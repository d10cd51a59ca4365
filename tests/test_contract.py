"""One contract: the JSON Schema, the collector's validation and the snippet's types agree."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
from hypothesis import given, settings
from hypothesis import strategies as st

from collector.contract import event_types, load_schema
from collector.tsgen import OUTPUT, generate
from collector.validate import judge
from tests.conftest import make_envelope

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = load_schema()
DEFS = SCHEMA["definitions"]
REFERENCE = jsonschema.Draft7Validator(SCHEMA)


def test_schema_is_valid_draft_07() -> None:
    assert SCHEMA["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(SCHEMA)


def test_snippet_types_are_generated_from_the_schema() -> None:
    committed = (ROOT / OUTPUT).read_text()
    assert committed == generate(), "schema changed: run `make contract` and commit the result"


def test_snippet_types_name_every_field_and_event_type() -> None:
    ts = (ROOT / OUTPUT).read_text()
    interfaces = dict(re.findall(r"export interface (\w+) \{(.*?)\n\}", ts, re.S))
    for name, node in (
        ("Envelope", SCHEMA),
        ("WireEvent", DEFS["event"]),
        ("Context", DEFS["context"]),
    ):
        keys = re.findall(r"^  (\w+)(\??):", interfaces[name], re.M)
        required = set(node.get("required", []))
        assert {(k, "" if k in required else "?") for k in node["properties"]} == set(keys)
    assert re.findall(r'^  \| "(\w+)"$', ts, re.M) == list(event_types())


def strategy(node: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Values the schema node allows, built from the schema itself."""
    if "$ref" in node:
        return strategy(DEFS[node["$ref"].rsplit("/", 1)[-1]])
    if "enum" in node:
        return st.sampled_from(node["enum"])
    if "pattern" in node:
        return st.from_regex(node["pattern"], fullmatch=True)
    kind = node["type"]
    if isinstance(kind, list):
        return st.one_of(*[strategy({**node, "type": k}) for k in kind])
    if kind == "boolean":
        return st.booleans()
    if kind == "string":
        return st.text(max_size=node.get("maxLength", 50))
    if kind == "integer":
        return st.integers(node.get("minimum", 0), node.get("maximum", 2**32))
    if kind == "number" and "exclusiveMinimum" in node:
        return st.floats(node["exclusiveMinimum"], node["maximum"], exclude_min=True)
    if kind == "number":
        return st.floats(node.get("minimum", 0), node.get("maximum", 1e6), allow_nan=False)
    if kind == "array":
        return st.lists(strategy(node["items"]), max_size=node["maxItems"], unique=True)
    if kind == "object" and "properties" in node:
        required = set(node.get("required", []))
        return st.fixed_dictionaries(
            {k: strategy(v) for k, v in node["properties"].items() if k in required},
            optional={k: strategy(v) for k, v in node["properties"].items() if k not in required},
        )
    if kind == "object":
        return st.dictionaries(
            st.from_regex(node["propertyNames"]["pattern"], fullmatch=True),
            strategy(node["additionalProperties"]),
            max_size=node["maxProperties"],
        )
    raise AssertionError(f"no strategy for {node}")


@settings(max_examples=200, deadline=None)
@given(st.lists(strategy(DEFS["event"]), min_size=1, max_size=5))
def test_every_event_the_schema_allows_is_accepted(events: list[dict[str, Any]]) -> None:
    envelope = make_envelope(*events)
    # Event times are also judged against the batch's sent-at, a rule JSON Schema cannot
    # express (the schema's description of ts states it); keep them plausible here.
    for e in events:
        e["ts"] = envelope["at"]
    REFERENCE.validate(envelope)  # the reference implementation agrees it is valid
    judgement = judge(envelope)
    assert judgement.rejected == []
    assert judgement.accepted == events


@settings(max_examples=100, deadline=None)
@given(
    st.sampled_from(
        sorted(
            k
            for k, v in DEFS["event"]["properties"].items()
            if v.get("type") == "string" and "maxLength" in v
        )
    ),
    st.integers(1, 5),
)
def test_every_string_limit_of_the_schema_is_enforced(field: str, over: int) -> None:
    limit = DEFS["event"]["properties"][field]["maxLength"]
    event = {
        "id": "0" * 8 + "-0000-4000-8000-" + "0" * 12,
        "t": "click",
        "ts": 0,
        "q": 0,
        field: "x" * (limit + over),
    }
    envelope = make_envelope(event)
    assert not REFERENCE.is_valid(envelope)
    judgement = judge(envelope)
    assert [(r.reason, r.field) for r in judgement.rejected] == [("too_long", f"e[0].{field}")]
