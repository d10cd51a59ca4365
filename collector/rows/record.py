"""What a spool record holds, and how it becomes rows again.

A record is one request's validated input, not its finished rows: enrichment is
deterministic given the record (receive time and User-Agent are in it), so the reader
rebuilds identical rows whether it runs right away or after a crash.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import orjson

from collector.contract import contract_version
from collector.ingest.validate import Rejection
from collector.rows.enrich import Row, enrich, ms_to_datetime

REJECTED_COLUMNS = (
    "received_at",
    "site",
    "reason",
    "field_path",
    "message",
    "event_index",
    "contract_version",
    "raw",
    "envelope_session_id",
    "envelope_visitor_id",
)
MESSAGE_LIMIT = 500


def encode(
    envelope: dict[str, Any] | None,
    accepted: list[dict[str, Any]],
    rejected: list[Rejection],
    received_ms: int,
    user_agent: str,
    site: str,
) -> tuple[bytes, int]:
    """The spool payload for one request and the number of rows it will make."""
    body: dict[str, Any] = {"rx": received_ms, "site": site}
    if accepted and envelope is not None:
        body["env"] = {k: v for k, v in envelope.items() if k != "e"}
        body["e"] = accepted
        body["ua"] = user_agent
    if rejected and envelope is not None:
        # Who the refused events came from, so a visitor's erasure reaches them too.
        body["sid"] = envelope.get("sid")
        body["vid"] = envelope.get("vid")
    if rejected:
        body["rej"] = [
            [r.reason, r.field, r.message[:MESSAGE_LIMIT], r.index, r.raw] for r in rejected
        ]
    return orjson.dumps(body), len(accepted) + len(rejected)


@dataclasses.dataclass
class Decoded:
    events: list[Row] = dataclasses.field(default_factory=list)
    # Ids of events the snippet marked as resent: the only ones worth looking up in
    # ClickHouse before inserting.
    resent: list[str] = dataclasses.field(default_factory=list)
    rejected: list[Row] = dataclasses.field(default_factory=list)


def decode(payloads: list[bytes]) -> Decoded:
    out = Decoded()
    version = contract_version()
    for payload in payloads:
        body = orjson.loads(payload)
        received_ms: int = body["rx"]
        if "e" in body:
            out.events.extend(enrich(body["env"], body["e"], received_ms, body["ua"]))
            out.resent.extend(e["id"] for e in body["e"] if e.get("a"))
        if "rej" in body:
            received_at: dt.datetime = ms_to_datetime(received_ms)
            site: str = body["site"]
            session, visitor = body.get("sid"), body.get("vid")
            out.rejected.extend(
                (received_at, site, reason, field, message, index, version, raw, session, visitor)
                for reason, field, message, index, raw in body["rej"]
            )
    return out
