"""Hostile and random input: always a clear 2xx/4xx, never a 5xx, never an invalid row."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from collector.app import create_app
from collector.contract import event_types, load_schema
from collector.settings import Settings
from tests.conftest import make_envelope, make_event, now_ms, open_store, post

HOSTILE = Path(__file__).resolve().parent.parent / "hostile"
EXPECTED = {
    "array_root.json": 400,
    "bidi_controls.json": 202,
    "combining_marks.json": 400,
    "deep_nesting.json": 400,
    "duplicate_keys.json": 400,
    "empty.bin": 400,
    "future_event.json": 400,
    "gzip_bomb.gz": 413,
    "gzip_garbage.gz": 400,
    "gzip_truncated.gz": 400,
    "html_in_label.json": 202,
    "huge_float.json": 400,
    "huge_int.json": 400,
    "huge_label.json": 400,
    "infinity.json": 400,
    "invalid_utf8.bin": 400,
    "lone_surrogate.json": 400,
    "many_small_strings.json": 202,
    "moderate_nesting.json": 400,
    "nan.json": 400,
    "negative_and_float_fields.json": 400,
    "not_json.txt": 400,
    "null_bytes.json": 202,
    "null_root.json": 400,
    "proto_pollution.json": 400,
    "secret_as_site.json": 401,
    "sql_in_strings.json": 202,
    "string_root.json": 400,
    "too_many_events.json": 400,
    "too_many_props.json": 400,
    "truncated.json": 400,
    "unknown_site.json": 403,
    "wrong_types.json": 400,
}
EVENT = load_schema()["definitions"]["event"]["properties"]


def materialise(raw: bytes) -> bytes:
    now = str(now_ms()).encode()
    raw = raw.replace(b"__AT__", now).replace(b"__TS__", now)
    return re.sub(rb"__ID__", lambda _: str(uuid.uuid4()).encode(), raw)


def check_answer(r: Any) -> None:
    assert r.status_code < 500, r.text
    assert "Traceback" not in r.text and 'File "' not in r.text
    if r.status_code != 202 or r.content:
        assert isinstance(r.json(), dict)


def stored_rows_are_valid(settings: Settings) -> int:
    """Every row in events satisfies the contract; returns how many there are."""
    with open_store(settings.clickhouse_url) as store:
        _, rows = store.query(
            "SELECT type, length(name), length(target), length(label), seq,"
            " isNull(duration_ms) OR (duration_ms >= 0 AND duration_ms <= 86400000),"
            " length(props) FROM microx.events"
        )
    types = set(event_types())
    for kind, name_len, target_len, label_len, seq, duration_ok, props in rows:
        assert kind in types
        assert name_len <= EVENT["n"]["maxLength"]
        assert target_len <= EVENT["tg"]["maxLength"]
        assert label_len <= EVENT["l"]["maxLength"]
        assert seq >= 0 and duration_ok and props <= EVENT["p"]["maxProperties"]
    return len(rows)


def test_every_hostile_payload_gets_its_answer(tmp_path: Path) -> None:
    settings = Settings.from_env({"MICROX_DATA_DIR": str(tmp_path)})
    files = sorted(p for p in HOSTILE.iterdir() if p.name != "README.md")
    assert {p.name for p in files} == set(EXPECTED)
    accepted = 0
    with TestClient(create_app(settings)) as client:
        for path in files:
            headers = {"content-encoding": "gzip"} if path.suffix == ".gz" else {}
            r = post(client, materialise(path.read_bytes()), **headers)
            check_answer(r)
            assert r.status_code == EXPECTED[path.name], (path.name, r.text)
            if r.status_code == 202:
                accepted += r.json()["accepted"]
    assert stored_rows_are_valid(settings) == accepted
    with open_store(settings.clickhouse_url) as store:
        _, labels = store.query(
            "SELECT label FROM microx.events WHERE label LIKE '%DROP%' OR label LIKE '%<script>%'"
        )
    # Stored as the plain text it is, not interpreted, not mangled.
    assert sorted(labels) == [
        ("<script>alert(1)</script><img src=x onerror=alert(2)>",),
        ("Robert'); DROP TABLE events;--",),
    ]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=25,
)
valid_envelope_keys = ["v", "s", "sid", "at", "u", "r", "c", "e"]
event_keys = [*EVENT.keys(), "zz"]


@st.composite
def mutated_envelopes(draw: st.DrawFn) -> bytes:
    events = [make_event(q=i, l="ok") for i in range(draw(st.integers(1, 4)))]
    envelope: dict[str, Any] = make_envelope(*events)
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):
            target: dict[str, Any] = envelope
            key = draw(st.sampled_from(valid_envelope_keys))
        else:
            target = draw(st.sampled_from(events))
            key = draw(st.sampled_from(event_keys))
        if draw(st.booleans()):
            target.pop(key, None)
        else:
            target[key] = draw(json_values)
    return json.dumps(envelope, allow_nan=True).encode()


bodies = (
    st.binary(max_size=300)
    | json_values.map(lambda v: json.dumps(v, allow_nan=True).encode())
    | mutated_envelopes()
)


def test_random_input_never_breaks_the_collector(tmp_path: Path) -> None:
    config = Settings.from_env({"MICROX_DATA_DIR": str(tmp_path)})
    accepted = 0
    with TestClient(create_app(config)) as client:

        @settings(max_examples=400, deadline=None)
        @given(bodies, st.booleans())
        def one(body: bytes, as_json: bool) -> None:
            nonlocal accepted
            kind = "application/json" if as_json else "text/plain"
            r = post(client, body, **{"content-type": kind})
            check_answer(r)
            if r.status_code == 202:
                accepted += orjson.loads(r.content)["accepted"]

        one()
    assert stored_rows_are_valid(config) == accepted
