from __future__ import annotations

from typing import Any

import orjson
import pytest

from collector.ingest.validate import RAW_LIMIT, EnvelopeError, judge, parse
from tests.conftest import make_envelope, make_event


def rejection_of(payload: Any) -> tuple[str, str]:
    with pytest.raises(EnvelopeError) as info:
        judge(payload)
    return info.value.rejection.reason, info.value.rejection.field


def test_valid_batch_is_accepted_whole() -> None:
    events = [
        make_event(q=i, tg="button#buy", l="Buy", d=12.5, p={"x": 3, "ok": True}) for i in range(3)
    ]
    judgement = judge(make_envelope(*events))
    assert judgement.accepted == events
    assert judgement.rejected == []


def test_mixed_batch_keeps_good_events_and_names_each_bad_one() -> None:
    good = make_event()
    judgement = judge(make_envelope(good, make_event(t="hover"), make_event(q=-1), {"t": "click"}))
    assert judgement.accepted == [good]
    found = [(r.index, r.reason, r.field) for r in judgement.rejected]
    assert found == [
        (1, "invalid_value", "e[1].t"),
        (2, "out_of_range", "e[2].q"),
        (3, "missing_field", "e[3].id"),
    ]
    assert orjson.loads(judgement.rejected[0].raw)["t"] == "hover"


@pytest.mark.parametrize(
    ("event", "reason", "field"),
    [
        (make_event(l="x" * 101), "too_long", "e[0].l"),
        (make_event(extra=1), "unknown_field", "e[0]"),
        (make_event(id="not-a-uuid"), "bad_format", "e[0].id"),
        (make_event(ts="yesterday"), "wrong_type", "e[0].ts"),
        (make_event(d=-5), "out_of_range", "e[0].d"),
        (make_event(p={f"k{i}": i for i in range(33)}), "too_many_props", "e[0].p"),
        (make_event(p={"bad key": 1}), "bad_prop_name", "e[0].p"),
        (make_event(p={"nested": {"a": 1}}), "wrong_type", "e[0].p.nested"),
    ],
)
def test_event_rules(event: dict[str, Any], reason: str, field: str) -> None:
    judgement = judge(make_envelope(event))
    assert judgement.accepted == []
    assert [(r.reason, r.field) for r in judgement.rejected] == [(reason, field)]


@pytest.mark.parametrize(
    ("change", "reason", "field"),
    [
        ({"v": 2}, "unsupported_version", "v"),
        ({"s": "Bad Site"}, "bad_format", "s"),
        ({"e": []}, "no_events", "e"),
        ({"e": [make_event()] * 501}, "too_many_events", "e"),
        ({"at": -1}, "out_of_range", "at"),
        ({"c": {"vw": "wide"}}, "wrong_type", "c.vw"),
        ({"surprise": True}, "unknown_field", ""),
    ],
)
def test_envelope_rules(change: dict[str, Any], reason: str, field: str) -> None:
    assert rejection_of({**make_envelope(make_event()), **change}) == (reason, field)


def test_missing_envelope_field_is_named() -> None:
    payload = make_envelope(make_event())
    del payload["sid"]
    assert rejection_of(payload) == ("missing_field", "sid")
    assert rejection_of([1, 2]) == ("wrong_type", "")


@pytest.mark.parametrize(
    "body",
    [b"{", b"", b'{"v": NaN}', b'{"v": Infinity}', b'{"s": "\xff\xfe"}', b'{"s": "\\ud800"}'],
)
def test_parse_refuses_what_is_not_strict_json(body: bytes) -> None:
    with pytest.raises(EnvelopeError) as info:
        parse(body)
    assert info.value.rejection.reason == "invalid_json"
    assert len(info.value.rejection.raw) <= RAW_LIMIT


def test_raw_copy_is_truncated() -> None:
    with pytest.raises(EnvelopeError) as info:
        parse(b"[" + b"1," * 10_000)
    assert len(info.value.rejection.raw) == RAW_LIMIT


def test_duplicate_keys_are_refused_at_any_depth() -> None:
    for body in (
        b'{"v": 1, "v": 1}',
        b'{"e": [{"id": "a", "t": "click", "t": "page"}]}',
        b'{"v" :1,"v"\n:2}',
        # A `":` inside a string must not hide a repeated key from the quick count.
        b'{"l": "a\\":b", "l": 1}',
    ):
        with pytest.raises(EnvelopeError) as info:
            parse(body)
        assert info.value.rejection.reason == "duplicate_key"
    assert parse(b'{"a": {"k": 1}, "b": {"k": 2}}') == {"a": {"k": 1}, "b": {"k": 2}}
    assert parse(b'{"l": "x\\": y", "n" : 1}') == {"l": 'x": y', "n": 1}


def test_deep_nesting_is_refused_without_recursion_errors() -> None:
    with pytest.raises(EnvelopeError) as info:
        parse(b"[" * 100_000 + b"]" * 100_000)
    assert info.value.rejection.reason == "invalid_json"


def test_implausible_event_times_are_rejected_and_kept() -> None:
    sent = 1_800_000_000_000
    ahead = make_event(ts=sent + 10 * 60_000)
    stale = make_event(ts=sent - 8 * 86_400_000)
    fine = make_event(ts=sent - 6 * 86_400_000)  # a week-old offline queue is fine
    judgement = judge(make_envelope(ahead, stale, fine, at=sent))
    assert judgement.accepted == [fine]
    assert [(r.index, r.reason, r.field) for r in judgement.rejected] == [
        (0, "timestamp_out_of_range", "e[0].ts"),
        (1, "timestamp_out_of_range", "e[1].ts"),
    ]
    assert "600000 ms after" in judgement.rejected[0].message


@pytest.mark.parametrize("depth", [9, 900, 1000, 1023, 5000])
def test_deep_nesting_is_refused_cleanly(depth: int) -> None:
    body = b'{"v": ' + b"[" * depth + b"]" * depth + b"}"
    with pytest.raises(EnvelopeError) as info:
        parse(body)
    assert info.value.rejection.reason in ("too_deep", "invalid_json")


def test_contract_depth_is_allowed() -> None:
    body = orjson.dumps(make_envelope(make_event(p={"a": 1})))
    assert parse(body)["e"][0]["p"] == {"a": 1}
