"""validate: judge an envelope, then each event on its own.

A batch is never all-or-nothing: good events go on, each bad one becomes a
:class:`Rejection` that is stored in ``rejected_events`` with its reason and field path.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import fastjsonschema
import orjson

from collector.contract import envelope_validator, event_validator

RAW_LIMIT = 2048

# JSON Schema keywords, as reason codes a person reading rejected_events understands.
_REASONS = {
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


@dataclasses.dataclass(frozen=True)
class Rejection:
    reason: str
    field: str
    message: str
    index: int = -1  # the event's index in the batch; -1 when the whole request failed
    raw: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "reason": self.reason,
            "field": self.field,
            "message": self.message,
        }


@dataclasses.dataclass
class Judgement:
    envelope: dict[str, Any]
    accepted: list[dict[str, Any]]
    rejected: list[Rejection]


class EnvelopeError(Exception):
    """The request as a whole cannot be used; nothing in it is stored as an event."""

    def __init__(self, rejection: Rejection) -> None:
        super().__init__(rejection.message)
        self.rejection = rejection


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
    return Rejection(_REASONS.get(str(exc.rule), "invalid"), field, message, index, raw)


def parse(body: bytes) -> Any:
    """Decode JSON strictly: invalid UTF-8, NaN and Infinity are refused, not coerced."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise EnvelopeError(
            Rejection("invalid_json", "", f"body is not valid JSON: {exc}", raw=truncate_raw(body))
        ) from None


def judge(payload: Any) -> Judgement:
    """Validate the envelope (raising :class:`EnvelopeError`) and then every event."""
    try:
        envelope_validator()(payload)
    except fastjsonschema.JsonSchemaValueException as exc:
        raw = truncate_raw(orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS))
        raise EnvelopeError(_rejection(exc, "", -1, raw)) from None
    check = event_validator()
    accepted: list[dict[str, Any]] = []
    rejected: list[Rejection] = []
    for index, event in enumerate(payload["e"]):
        try:
            check(event)
        except fastjsonschema.JsonSchemaValueException as exc:
            raw = truncate_raw(orjson.dumps(event, option=orjson.OPT_NON_STR_KEYS))
            rejected.append(_rejection(exc, f"e[{index}]", index, raw))
        else:
            accepted.append(event)
    return Judgement(payload, accepted, rejected)
