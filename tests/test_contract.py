"""One contract: the JSON Schema, the collector's validation and the snippet's types agree."""

from __future__ import annotations

import json
import re
import typing
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import collector.contract
from collector.contract import event_types, load_schema, pattern_checks
from collector.ingest import validate
from collector.ingest.validate import (
    EnvelopeError,
    Judgement,
    accept_whole,
    judge,
    judge_body,
    parse,
)
from collector.rows.wire import Context, Envelope, EventType, WireEvent
from collector.tools.pygen import OUTPUT as PY_OUTPUT
from collector.tools.pygen import generate as generate_py
from collector.tools.tsgen import OUTPUT, generate
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


def test_collector_types_are_generated_from_the_schema() -> None:
    committed = (ROOT / PY_OUTPUT).read_text()
    assert committed == generate_py(), "schema changed: run `make contract` and commit the result"


def test_collector_types_name_every_field_and_which_are_required() -> None:
    for cls, node in ((Envelope, SCHEMA), (WireEvent, DEFS["event"]), (Context, DEFS["context"])):
        required = set(node.get("required", []))
        assert set(cls.__required_keys__) == required, cls.__name__
        assert set(cls.__optional_keys__) == set(node["properties"]) - required, cls.__name__
    assert typing.get_args(EventType) == tuple(event_types())


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


# -- the fast check (msgspec types built from the schema) never accepts more than it ----

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64)
    | st.floats(allow_nan=False)
    | st.text(max_size=80),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
# Values that sit on the schema's edges: limits, wrong numeric kinds, strings with a newline.
EDGES = st.sampled_from(
    [
        *(0, -1, 1.0, 3.5, 2**32, 4102444800001, 86400001, True),
        *("", "x" * 2049, "a\n", "0" * 36, "demo\n", "measure\n"),
        "00000000-0000-4000-8000-000000000000\n",
    ]
)


def allowed(where: str, key: str) -> st.SearchStrategy[Any]:
    """Values the schema allows for ``key`` of the object ``where`` names."""
    if where == "props":
        return strategy(DEFS["event"]["properties"]["p"]["additionalProperties"])
    node = {"envelope": SCHEMA, "context": DEFS["context"], "event": DEFS["event"]}[where]
    return strategy(node["properties"][key])


@st.composite
def altered(draw: st.DrawFn) -> tuple[bytes, dict[str, Any]]:
    """A valid batch with one thing changed, as the bytes a client would send."""
    events = draw(st.lists(strategy(DEFS["event"]), min_size=1, max_size=3))
    envelope = make_envelope(*events)
    for e in events:
        e["ts"] = envelope["at"]
    where = draw(st.sampled_from(["envelope", "context", "event", "props"]))
    target: dict[str, Any]
    if where == "envelope":
        target = envelope
    elif where == "context":
        target = envelope.setdefault("c", {})
    else:
        target = draw(st.sampled_from(events))
        if where == "props":
            target = target.setdefault("p", {})
    # Not the events (altered one at a time, as "event" and "props") nor the times (which
    # must stay within a window of each other, a rule the schema does not express).
    known = sorted(set(target) - {"e", "at", "ts"})
    # Most often (Hypothesis leans towards False), another value the schema allows there:
    # the batch often stays valid, so the fast check takes it and is compared with the
    # schema's verdict.
    if known and not draw(st.booleans()):
        key = draw(st.sampled_from(known))
        target[key] = draw(allowed(where, key))
    else:
        key = draw(
            st.sampled_from(sorted(target) or ["k"])
            | st.sampled_from(["k\n", "é"])
            | st.text(max_size=6)
        )
        target[key] = draw(JSON_VALUES | EDGES)
    body = json.dumps(envelope, separators=draw(st.sampled_from([(",", ":"), (", ", ": ")])))
    if draw(st.booleans()):
        # The same key twice in the text, which a decoder resolves silently.
        body = body.replace('"q":', '"q":0,"q":', 1)
    return body.encode(), envelope


def test_the_fast_check_accepts_nothing_the_schema_refuses() -> None:
    """Only a batch the fast check takes tests it (one it declines goes the schema's way):
    enough of the altered batches must be taken, and enough declined."""
    taken: Counter[bool] = Counter()

    @settings(max_examples=400, deadline=None)
    @given(altered())
    def check(case: tuple[bytes, dict[str, Any]]) -> None:
        body, _ = case
        whole = accept_whole(body)
        taken[whole is not None] += 1
        if whole is not None:
            assert REFERENCE.is_valid(json.loads(body))
            assert judge_or_refusal(slowly, body) == (whole.envelope, whole.accepted, [])
            assert judge_body(body) == whole

    check()
    assert taken[True] >= 40 and taken[False] >= 40, taken


def test_the_fast_check_agrees_on_valid_batches() -> None:
    """Valid batches go the fast way (a few it declines, cheaply unsure of their text, are
    still valid the schema's way), with the schema's verdict."""
    taken: Counter[bool] = Counter()

    # The share taken is a property of the data drawn, so the draw is fixed: a random one
    # put it anywhere from 71:29 to 90:10 and the bound below would fail now and then.
    @settings(max_examples=100, deadline=None, derandomize=True, database=None)
    @given(st.lists(strategy(DEFS["event"]), min_size=1, max_size=5))
    def check(events: list[dict[str, Any]]) -> None:
        envelope = make_envelope(*events)
        for e in events:
            e["ts"] = envelope["at"]
        body = json.dumps(envelope).encode()
        whole = accept_whole(body)
        taken[whole is not None] += 1
        parsed = json.loads(body)
        verdict: object = (parsed, parsed["e"], [])
        assert judge_or_refusal(slowly, body) == verdict
        if whole is not None:
            assert (whole.envelope, whole.accepted, whole.rejected) == verdict

    check()
    assert taken[True] >= taken[False] * 3, taken


def test_the_fast_check_takes_a_typical_batch() -> None:
    """It must not be silently bypassed: a batch as the snippet sends it goes the fast way."""
    event = {"id": "4b2d0111-d1c6-4a9b-bb1d-2b909e7a44fb", "t": "click", "ts": 0, "q": 0}
    envelope = make_envelope(
        {**event, "tg": "button#buy", "l": "Buy", "d": 12, "p": {"x": 3, "fb": "dom", "ok": True}},
        {
            **event,
            "id": "4b2d0111-d1c6-4a9b-bb1d-2b909e7a44fc",
            "t": "form_field",
            "x": {"hero": "b"},
        },
    )
    envelope["c"] = {"sdk": "0.1.0", "vw": 1280, "vh": 800, "cs": ["measure"], "sr": 0.5}
    for e in envelope["e"]:
        e["ts"] = envelope["at"]
    whole = accept_whole(orjson.dumps(envelope))
    assert whole is not None and whole.accepted == envelope["e"]
    # A key repeated, or a UUID with a newline after it, is left to the exact check.
    assert accept_whole(orjson.dumps(envelope).replace(b'"q":', b'"q":1,"q":', 1)) is None
    envelope["sid"] += "\n"
    assert accept_whole(orjson.dumps(envelope)) is None


def test_a_key_once_refused_is_refused_again_and_known_keys_stay_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Keys that matched their pattern are remembered, so most are a set lookup; a key
    that does not match is never remembered, and nobody can grow the set past its bound."""
    monkeypatch.setattr(validate, "_GOOD_KEYS", {})
    monkeypatch.setattr(validate, "GOOD_KEYS_MAX", 3)
    event = {"id": "4b2d0111-d1c6-4a9b-bb1d-2b909e7a44fb", "t": "click", "ts": 0, "q": 0}

    def batch(props: dict[str, Any]) -> bytes:
        envelope = make_envelope({**event, "p": props})
        envelope["e"][0]["ts"] = envelope["at"]
        return orjson.dumps(envelope)

    assert accept_whole(batch({"fb": "dom"})) is not None
    for _ in range(2):
        assert accept_whole(batch({"fb": "dom", "bad key": 1})) is None
    assert "bad key" not in validate._GOOD_KEYS["p"]
    for i in range(10):
        assert accept_whole(batch({f"k{i}": i})) is not None
    assert len(validate._GOOD_KEYS["p"]) == 3
    # Past the bound, keys are still checked, one by one.
    assert accept_whole(batch({"k9": 1, "no/slash": 2})) is None


def test_a_pattern_the_fast_check_does_not_place_stops_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A schema that puts a pattern where the fast check looks for none (in the context,
    say) cannot be checked fast and unchecked: the checks refuse to be built."""
    schema = json.loads(json.dumps(load_schema()))
    schema["definitions"]["context"]["properties"]["sdk"]["pattern"] = "^[0-9.]+$"
    monkeypatch.setattr(collector.contract, "load_schema", lambda: schema)
    pattern_checks.cache_clear()
    try:
        with pytest.raises(ValueError, match="7 uses of a pattern, the fast check places 6"):
            pattern_checks()
    finally:
        pattern_checks.cache_clear()


def slowly(body: bytes) -> Judgement:
    """The exact way, without the fast check."""
    return judge(parse(body))


def judge_or_refusal(fn: Callable[[bytes], Judgement], body: bytes) -> object:
    try:
        j = fn(body)
    except EnvelopeError as exc:
        return ("refused", exc.rejection)
    return (j.envelope, j.accepted, j.rejected)
