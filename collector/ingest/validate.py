"""validate: judge an envelope, then each event on its own.

A batch is never all-or-nothing: good events go on, each bad one becomes a
:class:`Rejection` that is stored in ``rejected_events`` with its reason and field path.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import fastjsonschema
import msgspec
import orjson

from collector.contract import (
    PatternChecks,
    envelope_type,
    envelope_validator,
    event_validator,
    pattern_checks,
)
from collector.rows.rejection import Rejection
from collector.rows.wire import Envelope, WireEvent

RAW_LIMIT = 2048
# An event cannot happen after the batch carrying it was sent (a minute of slack for a
# clock adjusted in between), and the snippet keeps unsent events for at most a week.
MAX_EVENT_AHEAD_MS = 60_000
MAX_EVENT_AGE_MS = 7 * 24 * 3600 * 1000
# The contract nests four deep (envelope, events, event, props); anything much deeper is
# refused before any code that recurses over it runs.
MAX_DEPTH = 8

# JSON Schema keywords, as reason codes a person reading rejected_events understands.
SCHEMA_REASONS = {
    "required": "missing_field",
    "type": "wrong_type",
    "enum": "invalid_value",
    "const": "unsupported_version",
    "maxLength": "too_long",
    "minLength": "too_short",
    "pattern": "bad_format",
    "additionalProperties": "unknown_field",
    "maxItems": "too_many_events",
    "minItems": "no_events",
    "minimum": "out_of_range",
    "maximum": "out_of_range",
    "maxProperties": "too_many_props",
    "propertyNames": "bad_prop_name",
}


@dataclasses.dataclass
class Judgement:
    envelope: Envelope
    accepted: list[WireEvent]
    rejected: list[Rejection]


class EnvelopeError(Exception):
    """The request as a whole cannot be used; nothing in it is stored as an event.

    ``site`` is the site id the body names, when it could be read: whether the refusal is
    kept depends on it."""

    def __init__(self, rejection: Rejection, site: str | None = None) -> None:
        super().__init__(rejection.message)
        self.rejection = rejection
        self.site = site


def truncate_raw(raw: bytes | str, limit: int = RAW_LIMIT) -> str:
    text = raw if isinstance(raw, str) else raw[: limit * 4].decode("utf-8", "replace")
    return text[:limit]


def _rejection(
    exc: fastjsonschema.JsonSchemaValueException, prefix: str, index: int, raw: str
) -> Rejection:
    path = [str(p) for p in (exc.path or [])[1:]]
    if exc.rule == "required" and isinstance(exc.value, dict):
        missing = [k for k in exc.rule_definition if k not in exc.value]
        path.append(missing[0] if missing else "")
    field = prefix
    for part in path:
        field += f"[{part}]" if part.isdigit() else (f".{part}" if field else part)
    message = str(exc.message).replace("data.", "", 1).replace("data ", "value ", 1)
    return Rejection(SCHEMA_REASONS.get(str(exc.rule), "invalid"), field, message, index, raw)


_KEY_END = re.compile(rb'"[ \t\r\n]*:')


class _DuplicateKey(ValueError):
    pass


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


def parse(body: bytes) -> Any:
    """Decode JSON strictly: invalid UTF-8, lone surrogates, NaN, Infinity and duplicate
    keys are refused, not coerced (with duplicate keys, which value was meant is a guess).
    """
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise EnvelopeError(
            Rejection("invalid_json", "", f"body is not valid JSON: {exc}", raw=truncate_raw(body))
        ) from None
    if not isinstance(payload, (dict, list)):
        return payload
    too_deep, keys = _shape(payload)
    # orjson keeps the last of duplicate keys silently. Every key in the text is a string
    # closed by `"` and then `:`, so when the text holds no more such pairs than the
    # decoded objects hold keys, none was repeated; only otherwise (a repeat, or `":`
    # inside a string) is the slower, exact second pass needed.
    if len(_KEY_END.findall(body)) != keys:
        try:
            json.loads(body, object_pairs_hook=_no_duplicate_keys)
        except _DuplicateKey as exc:
            raise EnvelopeError(
                Rejection(
                    "duplicate_key",
                    "",
                    f"key {exc.args[0]!r} appears twice in one object",
                    raw=truncate_raw(body),
                )
            ) from None
        except RecursionError:
            raise EnvelopeError(
                Rejection("invalid_json", "", "body is nested too deeply", raw=truncate_raw(body))
            ) from None
    if too_deep:
        raise EnvelopeError(
            Rejection(
                "too_deep",
                "",
                f"JSON nested deeper than {MAX_DEPTH} levels",
                raw=truncate_raw(body),
            )
        )
    return payload


def _shape(payload: dict[str, Any] | list[Any]) -> tuple[bool, int]:
    """Whether the value nests deeper than MAX_DEPTH, and how many object keys it has."""
    stack: list[tuple[Any, int]] = [(payload, 1)]
    keys = 0
    too_deep = False
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict):
            keys += len(node)
            children: Any = node.values()
        else:
            children = node
        for child in children:
            if isinstance(child, (dict, list)):
                if depth >= MAX_DEPTH:
                    too_deep = True
                    continue
                stack.append((child, depth + 1))
    return too_deep, keys


def _check_times(event: dict[str, Any], sent_ms: int, index: int) -> Rejection | None:
    ts: int = event["ts"]
    if ts > sent_ms + MAX_EVENT_AHEAD_MS:
        message = f"ts is {ts - sent_ms} ms after the batch's sent-at"
    elif sent_ms - ts > MAX_EVENT_AGE_MS:
        message = f"ts is {(sent_ms - ts) // 86_400_000} days before the batch's sent-at"
    else:
        return None
    raw = truncate_raw(orjson.dumps(event))
    return Rejection("timestamp_out_of_range", f"e[{index}].ts", message, index, raw)


def judge_body(body: bytes) -> Judgement:
    """``judge(parse(body))``, faster for the usual batch: one that is valid whole."""
    whole = accept_whole(body)
    return whole if whole is not None else judge(parse(body))


def accept_whole(body: bytes) -> Judgement | None:
    """The batch with every event accepted, when that is proven cheaply; else None, and
    :func:`parse` and :func:`judge` decide (and say what is wrong)."""
    try:
        payload = orjson.loads(body)
        msgspec.convert(payload, envelope_type())
    except (orjson.JSONDecodeError, msgspec.MsgspecError):
        return None
    if not _patterns_hold(payload, pattern_checks()):
        return None
    context = payload.get("c") or {}
    events: list[WireEvent] = payload["e"]
    keys = len(payload) + len(context)
    for e in events:
        keys += len(e) + len(e.get("p") or ()) + len(e.get("x") or ())
    # Every key in the text is a string, then optional whitespace, then `:`. With the
    # whitespace taken out, the text holds at least as many `":` as keys; as many as the
    # decoded objects hold only if no key was repeated (orjson keeps the last silently).
    if body.translate(None, b" \t\r\n").count(b'":') != keys:
        return None
    consent = context.get("cs") or ()
    if len(set(consent)) != len(consent):
        return None
    sent_ms: int = payload["at"]
    earliest, latest = sent_ms - MAX_EVENT_AGE_MS, sent_ms + MAX_EVENT_AHEAD_MS
    if not all(earliest <= e["ts"] <= latest for e in events):
        return None
    return Judgement(payload, events, [])


# Keys of events' objects (props, variants) already found to match their pattern. A site
# sends the same few again and again, so a set lookup answers for almost every key; the
# set is bounded, so keys nobody repeats cannot grow it.
_GOOD_KEYS: dict[str, set[str]] = {}
GOOD_KEYS_MAX = 4096


def _patterns_hold(payload: dict[str, Any], checks: PatternChecks) -> bool:
    """The schema's patterns, for a payload msgspec found well formed otherwise."""
    for name, match in checks.envelope:
        value = payload.get(name)
        if value is not None and match(value) is None:
            return False
    events: list[dict[str, Any]] = payload["e"]
    for name, match in checks.event:
        for e in events:
            value = e.get(name)
            if value is not None and match(value) is None:
                return False
    for name, match in checks.event_keys:
        good = _GOOD_KEYS.setdefault(name, set())
        for e in events:
            keys = e.get(name)
            if not keys or good.issuperset(keys):
                continue
            for key in keys:
                if key in good:
                    continue
                if match(key) is None:
                    return False
                if len(good) < GOOD_KEYS_MAX:
                    good.add(key)
    return True


def judge(payload: Any) -> Judgement:
    """Validate the envelope (raising :class:`EnvelopeError`) and then every event."""
    try:
        envelope_validator()(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        raw = truncate_raw(orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS))
        named = payload.get("s") if isinstance(payload, dict) else None
        site = named if isinstance(named, str) else None
        raise EnvelopeError(_rejection(exc, "", -1, raw), site) from None
    check = event_validator()
    accepted: list[WireEvent] = []
    rejected: list[Rejection] = []
    for index, event in enumerate(payload["e"]):
        try:
            check(event)
        except fastjsonschema.JsonSchemaValueException as exc:
            raw = truncate_raw(orjson.dumps(event, option=orjson.OPT_NON_STR_KEYS))
            rejected.append(_rejection(exc, f"e[{index}]", index, raw))
        else:
            late = _check_times(event, payload["at"], index)
            if late is None:
                accepted.append(event)
            else:
                rejected.append(late)
    return Judgement(payload, accepted, rejected)
