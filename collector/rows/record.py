"""record: what a spool record holds, and how it becomes rows again.

A record is one request's validated input, not its finished rows: enrichment is
deterministic given the record (receive time, User-Agent and Accept-Language are in it),
so the reader rebuilds identical rows whether it runs right away or after a crash.

Two kinds are written: :class:`Accepted` (a request with events to store, and the events
of it that were refused) and :class:`Refusal` (refused input only, kept for
``rejected_events``). Both encode to one JSON object:

``rx`` receive time (epoch ms), ``site``; with events: ``uc`` (the User-Agent's browser,
OS and device classes, first: a record without it was written before ingest classified
agents), ``env`` (the envelope without its events), ``e`` (the accepted events), ``ua``
(User-Agent), ``al`` (Accept-Language, only when the envelope does not name a language);
with refusals: ``rej`` (reason, field, message, index, raw), ``sid`` and ``vid`` (whose
they are, so an erasure reaches them).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import orjson

from collector.contract import contract_version
from collector.rows.columns import Row, ms_to_datetime
from collector.rows.enrich import enrich
from collector.rows.rejection import Rejection
from collector.rows.useragent import classify
from collector.rows.wire import Envelope, WireEvent

MESSAGE_LIMIT = 500


def _rejections(rejected: list[Rejection]) -> list[list[object]]:
    return [[r.reason, r.field, r.message[:MESSAGE_LIMIT], r.index, r.raw] for r in rejected]


@dataclasses.dataclass(frozen=True)
class Accepted:
    """A request with events to store."""

    received_ms: int
    envelope: Envelope
    accepted: list[WireEvent]
    rejected: list[Rejection]
    user_agent: str
    accept_language: str = ""
    # The User-Agent's classes when ingest has them already (``useragent.classify``).
    agent: tuple[str, str, str] | None = None

    @property
    def rows(self) -> int:
        return len(self.accepted) + len(self.rejected)

    def encode(self) -> bytes:
        envelope = self.envelope
        body: dict[str, Any] = {
            "uc": self.agent or classify(self.user_agent),
            "rx": self.received_ms,
            "site": envelope["s"],
            "env": {k: v for k, v in envelope.items() if k != "e"},
            "e": self.accepted,
            "ua": self.user_agent,
        }
        if self.accept_language and "lang" not in envelope.get("c", {}):
            body["al"] = self.accept_language
        if self.rejected:
            body["sid"] = envelope["sid"]
            body["vid"] = envelope.get("vid")
            body["rej"] = _rejections(self.rejected)
        return orjson.dumps(body)


@dataclasses.dataclass(frozen=True)
class Refusal:
    """Refused input of ``site``'s, on its way to rejected_events; ``envelope`` when the
    request was readable (its events all refused)."""

    received_ms: int
    site: str
    rejected: list[Rejection]
    envelope: Envelope | None = None

    @property
    def rows(self) -> int:
        return len(self.rejected)

    def encode(self) -> bytes:
        body: dict[str, Any] = {"rx": self.received_ms, "site": self.site}
        if self.envelope is not None:
            body["sid"] = self.envelope["sid"]
            body["vid"] = self.envelope.get("vid")
        body["rej"] = _rejections(self.rejected)
        return orjson.dumps(body)


@dataclasses.dataclass
class Decoded:
    events: list[Row] = dataclasses.field(default_factory=list)
    # Ids of events the snippet marked as resent; what the sink does with them is
    # ``sink.copies``'s business.
    resent: list[str] = dataclasses.field(default_factory=list)
    rejected: list[Row] = dataclasses.field(default_factory=list)


def decode(payloads: list[bytes]) -> Decoded:
    out = Decoded()
    version = contract_version()
    for payload in payloads:
        body = orjson.loads(payload)
        received_ms: int = body["rx"]
        if "e" in body:
            events: list[WireEvent] = body["e"]
            out.events.extend(
                enrich(body["env"], events, received_ms, body["ua"], body.get("al", ""))
            )
            out.resent.extend(e["id"] for e in events if e.get("a"))
        if "rej" in body:
            received_at: dt.datetime = ms_to_datetime(received_ms)
            site: str = body["site"]
            session, visitor = body.get("sid"), body.get("vid")
            out.rejected.extend(
                (received_at, site, reason, field, message, index, version, raw, session, visitor)
                for reason, field, message, index, raw in body["rej"]
            )
    return out
