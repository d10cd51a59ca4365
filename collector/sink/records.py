"""records: spool records inserted as they are, the engine building the rows.

A batch's records go to ClickHouse as JSON lines, and one ``INSERT … SELECT`` per table
expands each record's events and derives every column there, with the rules of
``rows.enrich`` written in SQL (``schema/views/enrich.sql``): clock-skew correction, the
page language, URL scrubbing and paths, properties as text. The User-Agent's classes come
in the record, classified at ingest (where the bot drop needs them anyway).

What stays in Python is what the sink decides rather than derives: which rows of a batch
are repeats, stored already or erased. :func:`index` reads each record for its event ids
and times; a record that loses rows is written again without them, so the engine always
stores every row of the records it is given. A property holding a float is written then
too, as the text Python gives it: the engine's text of a float differs (1e-5, not 1e-05),
and the SQL that would lay it out as Python does costs every insert, floats or not, about
10 ms to prepare.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from typing import Any

import orjson

from collector.contract import contract_version
from collector.rows.columns import EVENT_COLUMNS, REJECTED_COLUMNS
from collector.rows.enrich import MAX_EPOCH_MS
from collector.rows.useragent import classify
from collector.sink.copies import Found, RejectedKey
from collector.sink.migrations import DATABASE
from collector.sink.tombstones import subject

Owner = tuple[str, str, int]

# How the engine reads a record: only the fields each table is made of, the rest skipped.
EVENTS_INPUT = (
    "rx Int64, uc Array(String), al String, "
    "env Tuple(v Float64, s String, sid String, at Float64, u String, r String,"
    " vid Nullable(String), c Tuple(sdk String, vw Float64, vh Float64, lang Nullable(String),"
    " tz String, cs Array(String), sr Nullable(Float64))), "
    "e Array(Tuple(id String, t String, n String, tg String, l String, d Nullable(Float64),"
    " val Nullable(Float64), q Float64, u Nullable(String), p String, ts Float64,"
    " x Map(String, String), df String))"
)
REJECTED_INPUT = (
    "rx Int64, site String, sid Nullable(String), vid Nullable(String), "
    "rej Array(Tuple(String, String, String, Int64, String))"
)
# Read as JSONEachRow: objects the structure names as String come as their text, and a
# field a record lacks takes its type's default, in a tuple too.
INPUT_SETTINGS = {
    "input_format_skip_unknown_fields": 1,
    "input_format_json_read_objects_as_strings": 1,
    "input_format_json_defaults_for_missing_elements_in_named_tuple": 1,
    "input_format_json_ignore_unknown_keys_in_named_tuple": 1,
    "input_format_null_as_default": 1,
}


def events_select(source: str) -> str:
    """The rows of ``microx.events`` from the records read by ``source``, in
    :data:`EVENT_COLUMNS` order."""
    return f"""
SELECT
    site,
    toUUID(ev.id),
    session_id,
    ev.t,
    ev.n,
    ev.tg,
    ev.l,
    ev.d,
    ev.val,
    toUInt32(ev.q),
    if(isNull(ev.u), urls[1], urls[n + 2]),
    if(isNull(ev.u), paths[1], paths[n + 1]),
    urls[2],
    JSONExtract(ev.p, 'Map(String, String)'),
    fromUnixTimestamp64Milli(toInt64(ev.ts), 'UTC'),
    fromUnixTimestamp64Milli(sent_ms, 'UTC'),
    fromUnixTimestamp64Milli(rx, 'UTC'),
    fromUnixTimestamp64Milli(least(greatest(toInt64(ev.ts) + skew, 0), {MAX_EPOCH_MS}), 'UTC'),
    skew,
    uc[1],
    uc[2],
    uc[3],
    toUInt16(env.c.vw),
    toUInt16(env.c.vh),
    ifNull(env.c.lang, microx_first_language(al)),
    env.c.tz,
    env.c.sdk,
    toUInt8(env.v),
    toUUIDOrNull(env.vid),
    env.c.cs,
    toFloat32(ifNull(env.c.sr, 1)),
    ev.x,
    ev.df
FROM (
    SELECT
        rx, uc, al, env, e,
        env.s AS site,
        toUUID(env.sid) AS session_id,
        toInt64(env.at) AS sent_ms,
        rx - sent_ms AS skew,
        -- Each rule is called once, over every URL of the record: the page's, the
        -- referrer, each event's own (the engine prepares a function per call).
        arrayMap(
            u -> microx_scrub_url(u),
            arrayConcat([env.u, env.r], arrayMap(x -> ifNull(x.u, ''), e))) AS urls,
        arrayMap(u -> microx_url_path(u), arrayConcat([urls[1]], arraySlice(urls, 3))) AS paths
    FROM {source}
)
ARRAY JOIN e AS ev, arrayEnumerate(e) AS n"""


def rejected_select(source: str) -> str:
    """The rows of ``microx.rejected_events`` from the records read by ``source``, in
    :data:`REJECTED_COLUMNS` order."""
    return f"""
SELECT
    fromUnixTimestamp64Milli(rx, 'UTC'),
    site,
    r.1,
    r.2,
    r.3,
    toInt32(r.4),
    {contract_version()},
    r.5,
    toUUIDOrNull(sid),
    toUUIDOrNull(vid)
FROM {source}
ARRAY JOIN rej AS r"""


@dataclasses.dataclass(frozen=True)
class Statement:
    """One table's insert: its columns, the records' structure and the SELECT over them."""

    table: str
    columns: Sequence[str]
    structure: str
    select: Any  # (source) -> str

    def sql(self, source: str) -> str:
        columns = ", ".join(self.columns)
        return f"INSERT INTO {DATABASE}.{self.table} ({columns}){self.select(source)}"


EVENTS = Statement("events", EVENT_COLUMNS, EVENTS_INPUT, events_select)
REJECTED = Statement("rejected_events", REJECTED_COLUMNS, REJECTED_INPUT, rejected_select)


@dataclasses.dataclass(frozen=True)
class Block:
    """One batch, ready to insert: the records each table's rows are made of, as JSON
    lines, and what the sink needs to know of those rows."""

    events: bytes
    rejected: bytes
    rejected_rows: int
    # Events read but left out: repeats within the batch, and those stored already.
    duplicates: int
    # Per event row, in order: its event id and its event time (epoch ms).
    ids: tuple[str, ...]
    times: tuple[int, ...]
    # Events in ``events`` that the snippet marked as resent.
    resent: tuple[str, ...]
    # Per rejected row: the key it is found by in the store (``copies``).
    rejected_keys: tuple[RejectedKey, ...]
    # Asked for while tombstones exist: per event row and per rejected row as read, the
    # hashes of its session and visitor ("" for none) and its time (epoch ms), to look
    # up in the tombstones (``tombstones.subject``).
    owners: tuple[Owner, ...] | None = None
    rejected_owners: tuple[Owner, ...] | None = None
    # Events left out because their visitor or session was erased.
    erased: int = 0


@dataclasses.dataclass(frozen=True)
class Erasure:
    """What a batch leaves out because it was erased: event ids, and rejected rows by their
    index among the batch's rejected rows as read."""

    events: frozenset[str] = frozenset()
    rejected: frozenset[int] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.events or self.rejected)


def _owner(site: str, session: str | None, visitor: str | None, at_ms: int) -> Owner:
    return (
        subject("s", site, session) if session else "",
        subject("v", site, visitor) if visitor else "",
        at_ms,
    )


def _rejected_key(received_ms: int, site: str, rejection: list[Any]) -> RejectedKey:
    reason, field, _, event_index, raw = rejection
    digest = hashlib.md5(raw.encode("utf-8", "surrogatepass"), usedforsecurity=False)
    return (received_ms, site, reason, field, event_index, digest.hexdigest())


# A record written before ingest classified the User-Agent starts with its receive time.
_CLASSIFIED = b'{"uc":'

_NOTHING_STORED = Found()


def index(
    payloads: list[bytes],
    stored: Found = _NOTHING_STORED,
    erasure: Erasure = Erasure(),
    owners: bool = False,
) -> Block:
    """The block for ``payloads``, without what is ``stored`` already, repeats (the
    first of each event id is kept), nor what ``erasure`` names; with ``owners``, every
    row's session and visitor hashes."""
    event_lines: list[bytes] = []
    rejected_lines: list[bytes] = []
    seen: set[str] = set()
    ids: list[str] = []
    times: list[int] = []
    resent: list[str] = []
    keys: list[RejectedKey] = []
    event_owners: list[Owner] = []
    rejected_owners: list[Owner] = []
    read = erased = rejected_seen = 0
    for payload in payloads:
        body = orjson.loads(payload)
        changed = False
        received_ms: int = body["rx"]
        events: list[dict[str, Any]] | None = body.get("e")
        if events is not None:
            if not payload.startswith(_CLASSIFIED):
                body = {"uc": list(classify(body["ua"])), **body}
                changed = True
            envelope = body["env"]
            site, session, visitor = envelope["s"], envelope["sid"], envelope.get("vid")
            skew = received_ms - int(envelope["at"])
            kept: list[dict[str, Any]] = []
            for event in events:
                read += 1
                props = event.get("p")
                if props and any(type(v) is float for v in props.values()):
                    event["p"] = {k: repr(v) if type(v) is float else v for k, v in props.items()}
                    changed = True
                event_id: str = event["id"]
                if event_id in erasure.events:
                    erased += 1
                    continue
                if event_id in seen or event_id in stored.events:
                    continue
                seen.add(event_id)
                kept.append(event)
                at_ms = min(max(int(event["ts"]) + skew, 0), MAX_EPOCH_MS)
                ids.append(event_id)
                times.append(at_ms)
                if event.get("a"):
                    resent.append(event_id)
                if owners:
                    event_owners.append(_owner(site, session, visitor, min(at_ms, received_ms)))
            if len(kept) != len(events):
                body["e"] = kept
                changed = True
        rejections: list[list[Any]] | None = body.get("rej")
        if rejections is not None:
            site = body["site"]
            session, visitor = body.get("sid"), body.get("vid")
            left: list[list[Any]] = []
            for rejection in rejections:
                position, rejected_seen = rejected_seen, rejected_seen + 1
                if owners:
                    rejected_owners.append(_owner(site, session, visitor, received_ms))
                if position in erasure.rejected:
                    continue
                key = _rejected_key(received_ms, site, rejection)
                if key in stored.rejected:
                    continue
                left.append(rejection)
                keys.append(key)
            if len(left) != len(rejections):
                body["rej"] = left
                changed = True
        line = orjson.dumps(body) if changed else payload
        if body.get("e"):
            event_lines.append(line)
        if body.get("rej"):
            rejected_lines.append(line)
    return Block(
        events=b"\n".join(event_lines),
        rejected=b"\n".join(rejected_lines),
        rejected_rows=len(keys),
        duplicates=read - len(ids) - erased,
        ids=tuple(ids),
        times=tuple(times),
        resent=tuple(resent),
        rejected_keys=tuple(keys),
        owners=tuple(event_owners) if owners else None,
        rejected_owners=tuple(rejected_owners) if owners else None,
        erased=erased,
    )
