"""A visitor's data on request: everything stored about them, or all of it erased.

A visitor is known by the id the snippet sends with their consent (``vid``). Their rows
are those carrying that id and every row of a session where it appears, rows recorded
before the id was attached included; refused events are found by the session and visitor
they came with, or by the ids in their raw copy. Rows still in the spool count too.

Erasure writes tombstones first (durably: from then on the sink drops the visitor's
rows, a replayed spool included), then corrects each table a materialized view fills: the
keys the visitor's rows fed are deleted (a mutation) and recomputed from the other
events by the view's own query; then it deletes with ClickHouse's lightweight ``DELETE``
from every table that holds sessions, and marks the tombstones complete. An erasure a
crash cut short is finished at the next start from the tombstones' hashes, the ids read
back from the rows that match them. Online it runs on the sink's thread, between inserts.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import re
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
from clickhouse_connect.driver.exceptions import ClickHouseError
from starlette.requests import Request
from starlette.responses import Response

from collector.ingest.receive import Ingest, Refused, json_response
from collector.ops.metrics import Metrics
from collector.rows.columns import EVENT_COLUMNS, REJECTED_COLUMNS, Row
from collector.rows.record import decode
from collector.sink.batch import Batcher
from collector.sink.migrations import DATABASE
from collector.sink.store import Store, StoreLost
from collector.sink.tombstones import Tombstones, TombstonesFull, subject
from collector.spool.log import QUARANTINE, Position, Spool, spool_end, unstored

log = logging.getLogger("microx.visitors")
# A work table for the keys of a view's target an erasure touches; made and dropped by it.
KEYS_TABLE = f"{DATABASE}._erasure_keys"
_SESSION_ROWS = (
    "site = {site:String} AND (session_id IN {sessions:Array(UUID)} OR visitor_id = {visitor:UUID})"
)
_SESSION_ONLY_ROWS = "site = {site:String} AND session_id IN {sessions:Array(UUID)}"
_REJECTED_ROWS = (
    "site = {site:String} AND (envelope_session_id IN {sessions:Array(UUID)}"
    " OR envelope_visitor_id = {visitor:UUID}"
    " OR arrayExists(n -> positionCaseInsensitive(raw, n) > 0, {needles:Array(String)}))"
)
_SESSION = EVENT_COLUMNS.index("session_id")
_VISITOR = EVENT_COLUMNS.index("visitor_id")
_TIME = EVENT_COLUMNS.index("event_time")
_RECEIVED = EVENT_COLUMNS.index("received_at")
_REJECTED_SITE = REJECTED_COLUMNS.index("site")
_RAW = REJECTED_COLUMNS.index("raw")
_REJECTED_SESSION = REJECTED_COLUMNS.index("envelope_session_id")
_REJECTED_VISITOR = REJECTED_COLUMNS.index("envelope_visitor_id")
STORE_ERRORS = (ClickHouseError, OSError, StoreLost)
_UUID = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_SOURCE = re.compile(rf"\b{DATABASE}\.(\w+)\b")


class BadVisitor(ValueError):
    """The visitor id is not a UUID."""


def visitor_id(text: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise BadVisitor("the visitor id must be a UUID, as the snippet makes it") from None


@dataclasses.dataclass
class _Found:
    """A visitor's sessions and what of theirs waits in the spool."""

    sessions: set[str]
    spool_events: list[Row]
    spool_rejected: list[Row]


@dataclasses.dataclass(frozen=True)
class _View:
    """A materialized view: the table it reads, the table it fills and that table's key."""

    name: str
    source: str
    target: str
    key: str
    columns: tuple[str, ...]
    select: str


class Visitor:
    """One visitor's data in one store and spool. Not thread-safe: online, run it on the
    sink thread (``Batcher.call``), where inserts run too."""

    def __init__(
        self, store: Store, spool_dir: Path, site: str, visitor: str, checkpoint: Position
    ) -> None:
        self.store = store
        self.spool_dir = spool_dir
        self.site = site
        self.visitor = visitor
        self.checkpoint = checkpoint
        self.hashed = subject("v", site, visitor)

    # -- finding ------------------------------------------------------------------------

    def _find(self, tombstones: Tombstones | None = None) -> _Found:
        _, rows = self.store.query(
            f"SELECT DISTINCT toString(session_id) FROM {DATABASE}.events"
            " WHERE site = {site:String} AND visitor_id = {visitor:UUID}",
            {"site": self.site, "visitor": self.visitor},
        )
        sessions = {str(r[0]) for r in rows}
        # Two passes over the spool, each record looked into only if it holds one of the
        # ids: the sessions the visitor has there, then every row of theirs.
        me = self.visitor.encode()
        for payload in unstored(self.spool_dir):
            if me in payload.lower():
                sid, vid = _owner(orjson.loads(payload), self.site)
                if vid == self.visitor and sid:
                    sessions.add(sid)
        events: list[Row] = []
        rejected: list[Row] = []
        needles = [self.visitor, *sessions]
        for payload in unstored(self.spool_dir):
            text = payload.lower()
            if not any(n.encode() in text for n in needles):
                continue
            sid, vid = _owner(orjson.loads(payload), self.site)
            mine = self._mine(sid, vid, sessions)
            decoded = decode([payload])
            events += [
                r
                for r in decoded.events
                if r[0] == self.site
                and self._mine(r[_SESSION], r[_VISITOR], sessions)
                and not self._dropped(
                    tombstones, r[_SESSION], r[_VISITOR], min(r[_TIME], r[_RECEIVED])
                )
            ]
            rejected += [
                r
                for r in decoded.rejected
                if r[_REJECTED_SITE] == self.site
                and (mine or any(n in str(r[_RAW]).lower() for n in needles))
                and not self._dropped(
                    tombstones,
                    r[_REJECTED_SESSION],
                    r[_REJECTED_VISITOR],
                    round(r[0].timestamp() * 1000),
                )
            ]
        return _Found(sessions, events, rejected)

    def _dropped(
        self, tombstones: Tombstones | None, session: object, visitor: object, at_ms: int
    ) -> bool:
        """Whether the sink will drop this spool row: an earlier erasure covers it."""
        if tombstones is None:
            return False
        hashes = [subject("s", self.site, str(session))] if session else []
        hashes += [subject("v", self.site, str(visitor))] if visitor else []
        return any(tombstones.erased(h, at_ms) for h in hashes)

    def _mine(self, session: object, visitor: object, sessions: set[str]) -> bool:
        return (bool(session) and str(session).lower() in sessions) or (
            bool(visitor) and str(visitor).lower() == self.visitor
        )

    def _parameters(self, found: _Found) -> dict[str, Any]:
        return {
            "site": self.site,
            "visitor": self.visitor,
            "sessions": sorted(found.sessions),
            "needles": [self.visitor, *sorted(found.sessions)],
        }

    def _views(self) -> list[_View]:
        """Materialized views whose target has no sessions: their rows mix visitors and
        must be recomputed, not deleted."""
        _, rows = self.store.query(
            "SELECT name, toString(uuid), as_select, create_table_query FROM system.tables"
            " WHERE database = {db:String} AND engine = 'MaterializedView'",
            {"db": DATABASE},
        )
        views = []
        for name, view_uuid, select, create in rows:
            to = re.search(rf"\bTO\s+{DATABASE}\.`?([\w.-]+)`?", str(create))
            target = to[1] if to else f".inner_id.{view_uuid}"
            _, info = self.store.query(
                "SELECT sorting_key FROM system.tables WHERE database = {db:String}"
                " AND name = {t:String}",
                {"db": DATABASE, "t": target},
            )
            _, columns = self.store.query(
                "SELECT name FROM system.columns WHERE database = {db:String}"
                " AND table = {t:String} ORDER BY position",
                {"db": DATABASE, "t": target},
            )
            names = tuple(str(c[0]) for c in columns)
            source = _SOURCE.search(str(select))
            if not info or source is None or "session_id" in names:
                continue
            views.append(_View(str(name), source[1], target, str(info[0][0]), names, str(select)))
        return views

    # -- export -------------------------------------------------------------------------

    def export(self, tombstones: Tombstones | None = None) -> tuple[bytes, dict[str, int]]:
        """Every row about the visitor as JSON lines, then a summary line with the counts;
        spool rows an erasure will drop are not theirs any more."""
        found = self._find(tombstones)
        params = self._parameters(found)
        counts: dict[str, int] = {}
        out = bytearray()
        for table, where in (("events", _SESSION_ROWS), ("rejected_events", _REJECTED_ROWS)):
            _, rows = self.store.query(
                f"SELECT count() FROM {DATABASE}.{table} WHERE {where}", params
            )
            counts[table] = int(rows[0][0])
            if counts[table]:
                out += self.store.raw(
                    f"SELECT '{table}' AS table, false AS pending, * FROM {DATABASE}.{table}"
                    f" WHERE {where} ORDER BY received_at",
                    params,
                    "JSONEachRow",
                )
        for table, columns, rows in (
            ("events", EVENT_COLUMNS, found.spool_events),
            ("rejected_events", REJECTED_COLUMNS, found.spool_rejected),
        ):
            for row in rows:
                line = {"table": table, "pending": True, **_jsonable(columns, row)}
                out += orjson.dumps(line) + b"\n"
        counts["spool_events"] = len(found.spool_events)
        counts["spool_rejected_events"] = len(found.spool_rejected)
        summary = {"summary": counts, "site": self.site, "visitor": self.hashed}
        return bytes(out) + orjson.dumps(summary) + b"\n", counts

    # -- erasure ------------------------------------------------------------------------

    def forget(self, tombstones: Tombstones, spool_end: Position) -> dict[str, Any]:
        """Erase the visitor; returns what was erased, per table."""
        found = self._find()
        erased_ms = int(time.time() * 1000)
        tombstones.prune(self.checkpoint, erased_ms)
        # First, durably: from here on neither the spool nor a resend brings them back,
        # and a crash before :meth:`Tombstones.done` leaves the rest to the next start.
        tombstones.add(
            [self.hashed, *(subject("s", self.site, s) for s in found.sessions)],
            erased_ms,
            spool_end,
            pending=self.hashed,
        )
        result = self._erase(found, erased_ms)
        tombstones.done(self.hashed)
        return result

    def _erase(self, found: _Found, erased_ms: int) -> dict[str, Any]:
        """Correct the aggregates, clear the quarantine, then delete the rows. Each step
        can run again; the rows go last because they are what a resumed erasure finds
        the rest by."""
        params = self._parameters(found)
        counts: dict[str, int] = {}
        for view in self._views():
            # Named after the table the view fills (its own name when the table is hidden).
            table = view.name if view.target.startswith(".inner") else view.target
            counts[table] = self._recompute(view, self._keys_of(view, params), params)
        counts["quarantine_files"] = self._clear_quarantine(params["needles"])
        for table, has_visitor in _session_tables(self.store):
            where = _SESSION_ROWS if has_visitor else _SESSION_ONLY_ROWS
            counts[table] = self._delete(table, where, params)
        counts["rejected_events"] = self._delete("rejected_events", _REJECTED_ROWS, params)
        counts["spool"] = len(found.spool_events) + len(found.spool_rejected)
        return {
            "site": self.site,
            "visitor": self.hashed,
            "sessions": len(found.sessions),
            "erased_at": dt.datetime.fromtimestamp(erased_ms / 1000, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "erased": counts,
        }

    def _delete(self, table: str, where: str, params: dict[str, Any]) -> int:
        _, rows = self.store.query(
            f"SELECT count() FROM {DATABASE}.`{table}` WHERE {where}", params
        )
        count = int(rows[0][0])
        if count:
            # Lightweight: the rows vanish from every query at once; merges remove the bytes.
            self.store.command(f"DELETE FROM {DATABASE}.`{table}` WHERE {where}", params)
        return count

    def _keys_of(self, view: _View, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """The target keys the visitor's rows fed, computed by the view's own query over
        those rows alone."""
        _, rows = self.store.query(
            f"SELECT DISTINCT {view.key} FROM ({_over(view, _source_rows(view))})", params
        )
        return rows

    def _recompute(self, view: _View, keys: list[tuple[Any, ...]], params: dict[str, Any]) -> int:
        """Delete the target's rows for ``keys`` and insert them again, through the view's
        own query, from the source without the visitor's rows (still there: they are
        deleted after this)."""
        if not keys:
            return 0
        self.store.command(f"DROP TABLE IF EXISTS {KEYS_TABLE}")
        self.store.command(
            f"CREATE TABLE {KEYS_TABLE} ENGINE = Memory AS SELECT DISTINCT {view.key}"
            f" FROM {DATABASE}.`{view.target}` LIMIT 0"
        )
        try:
            self.store.insert_columns(
                KEYS_TABLE.removeprefix(f"{DATABASE}."),
                [k.strip() for k in view.key.split(",")],
                list(zip(*keys, strict=True)),
            )
            match = f"({view.key}) IN (SELECT * FROM {KEYS_TABLE})"
            self.store.command(
                f"ALTER TABLE {DATABASE}.`{view.target}` DELETE WHERE {match}"
                " SETTINGS mutations_sync = 2"
            )
            names = ", ".join(f"`{c}`" for c in view.columns)
            # A NULL visitor id makes the condition NULL, not false: such rows stay.
            others = f"NOT ifNull(({_source_rows(view)}), false)"
            self.store.command(
                f"INSERT INTO {DATABASE}.`{view.target}` ({names})"
                f" SELECT {names} FROM ({_over(view, others)}) WHERE {match}",
                params,
            )
        finally:
            self.store.command(f"DROP TABLE IF EXISTS {KEYS_TABLE}")
        return len(keys)

    def _clear_quarantine(self, needles: list[str]) -> int:
        """Corrupt records kept for inspection are removed if they hold the visitor's ids."""
        removed = 0
        for path in sorted((self.spool_dir / QUARANTINE).glob("*")):
            data = path.read_bytes().lower()
            if any(n.encode() in data for n in needles):
                path.unlink()
                removed += 1
        return removed


def _session_tables(store: Store) -> list[tuple[str, bool]]:
    """Tables holding sessions (besides rejected_events), and whether each also has a
    visitor id column."""
    _, rows = store.query(
        "SELECT table, countIf(name = 'visitor_id') FROM system.columns"
        " WHERE database = {db:String} AND name IN ('session_id', 'visitor_id', 'site')"
        " GROUP BY table HAVING countIf(name = 'session_id') > 0"
        " AND countIf(name = 'site') > 0",
        {"db": DATABASE},
    )
    engines = dict(
        store.query(
            "SELECT name, engine FROM system.tables WHERE database = {db:String}",
            {"db": DATABASE},
        )[1]
    )
    return sorted(
        (str(t), bool(v))
        for t, v in rows
        if str(t) != "rejected_events" and "MergeTree" in str(engines.get(t, ""))
    )


def _source_rows(view: _View) -> str:
    return _REJECTED_ROWS if view.source == "rejected_events" else _SESSION_ROWS


def _over(view: _View, where: str) -> str:
    """The view's query over the rows of its source that match ``where``."""
    rows = f"(SELECT * FROM {DATABASE}.{view.source} WHERE {where})"
    return re.sub(rf"\b{DATABASE}\.{view.source}\b", rows, view.select)


def _owner(body: dict[str, Any], site: str) -> tuple[str | None, str | None]:
    """The session and visitor of a spool record of ``site`` (None, None for another
    site's, or a request whose envelope was unreadable)."""
    if body.get("site") != site:
        return None, None
    env = body.get("env") or {}
    sid, vid = env.get("sid", body.get("sid")), env.get("vid", body.get("vid"))
    return (str(sid).lower() if sid else None), (str(vid).lower() if vid else None)


def _jsonable(columns: tuple[str, ...], row: Row) -> dict[str, Any]:
    """A row rebuilt from the spool, in the form ClickHouse's JSONEachRow gives stored ones."""
    out: dict[str, Any] = {}
    for name, value in zip(columns, row, strict=True):
        if name in ("client_time", "sent_at", "received_at", "event_time") and isinstance(
            value, int
        ):
            value = dt.datetime.fromtimestamp(value / 1000, dt.UTC)
        if isinstance(value, dt.datetime):
            value = value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        out[name] = value
    return out


def log_request(request: str, result: dict[str, Any], metrics: Metrics | None) -> None:
    """One line per request: the site, the hashed id and the counts; never a payload."""
    counts = result.get("erased") or result.get("summary") or {}
    log.info(
        "visitor %s: site %s, visitor %s, %s",
        request,
        result.get("site") or "-",
        result.get("visitor"),
        ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "nothing found",
    )
    if metrics is not None:
        metrics.visitor_requests.inc(request)
        if request in ("forget", "forget_resumed"):
            for table, n in counts.items():
                if table != "quarantine_files":
                    metrics.visitor_rows_erased.inc(table, n)


def _hashed(kind: str) -> str:
    """SQL for :func:`subject` of a row's ``site`` and ``id`` (ids are lower case)."""
    return f"substring(lower(hex(SHA256(concat('{kind}', char(0), site, char(0), id)))), 1, 32)"


def _resolve(
    store: Store, erasure: str, hashes: set[str]
) -> tuple[str | None, str | None, set[str]]:
    """The site, visitor id and session ids whose hashes an erasure's tombstones hold,
    read back from the rows still stored (every id they carry is hashed, raw copies'
    included): the tombstones keep no id."""
    visitor_column = ", ifNull(toString(visitor_id), '')"
    tables = [
        (t, f"[toString(session_id){visitor_column if v else ''}]")
        for t, v in _session_tables(store)
    ]
    tables.append(
        (
            "rejected_events",
            "arrayConcat([ifNull(toString(envelope_session_id), ''),"
            " ifNull(toString(envelope_visitor_id), '')], extractAll(lower(raw), {uuid:String}))",
        )
    )
    site = visitor = None
    sessions: set[str] = set()
    for table, ids in tables:
        _, rows = store.query(
            f"SELECT DISTINCT site, id, {_hashed('v')} = {{erasure:String}} AS is_visitor"
            f" FROM (SELECT site, arrayJoin({ids}) AS id"
            f" FROM {DATABASE}.`{table}`)"
            f" WHERE is_visitor OR {_hashed('s')} IN {{sessions:Array(String)}}",
            {"erasure": erasure, "sessions": sorted(hashes - {erasure}), "uuid": _UUID},
        )
        for row_site, ident, is_visitor in rows:
            site = str(row_site)
            if is_visitor:
                visitor = str(ident)
            else:
                sessions.add(str(ident))
    return site, visitor, sessions


def resume(store: Store, spool: Spool, tombstones: Tombstones, metrics: Metrics | None) -> int:
    """Finish the erasures a crash cut short after their tombstones were written, the way
    :meth:`Visitor.forget` does; run it on the sink thread before anything is inserted.
    Returns how many were finished; one that fails stays pending for the next start."""
    finished = 0
    for erasure, (hashes, erased_ms) in sorted(tombstones.pending().items()):
        try:
            site, visitor, sessions = _resolve(store, erasure, hashes)
            if site is None:
                result: dict[str, Any] = {"site": None, "visitor": erasure, "erased": {}}
            else:
                # An id no row has stands in for a visitor whose own rows are all gone.
                target = Visitor(
                    store, spool.directory, site, visitor or str(uuid.uuid4()), spool.checkpoint
                )
                target.hashed = erasure
                found = target._find()
                found.sessions |= sessions
                result = target._erase(found, erased_ms)
            tombstones.done(erasure)
        except STORE_ERRORS as exc:
            log.error(
                "visitor %s: the erasure could not be finished; the next start retries it: %s",
                erasure,
                _first_line(exc),
            )
            continue
        log_request("forget_resumed", result, metrics)
        finished += 1
    return finished


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


def summary_of(body: bytes) -> dict[str, Any]:
    """The summary line that ends an export."""
    last: dict[str, Any] = orjson.loads(body.rstrip(b"\n").rsplit(b"\n", 1)[-1])
    return last


class VisitorRequests:
    """``GET /v1/visitors/{id}`` (export) and ``POST /v1/visitors/{id}/forget`` (erasure),
    for back ends with the site's server key; refused from browsers."""

    def __init__(
        self,
        ingest: Ingest,
        batcher: Batcher,
        spool: Spool,
        tombstones: Tombstones,
        metrics: Metrics,
    ) -> None:
        self._ingest = ingest
        self._batcher = batcher
        self._spool = spool
        self._tombstones = tombstones
        self._metrics = metrics

    def _visitor(self, request: Request) -> Visitor:
        site = self._ingest.key_site(request, "visitor requests are not accepted from browsers")
        named = request.query_params.get("site")
        if named is not None and named != site:
            raise Refused(
                self._ingest.refuse("key_site_mismatch", 403, f"the key is not for site {named!r}")
            )
        try:
            visitor = visitor_id(request.path_params["visitor"])
        except BadVisitor as exc:
            raise Refused(self._ingest.refuse("bad_visitor_id", 400, str(exc))) from None
        spool = self._spool
        return Visitor(self._batcher.store, spool.directory, site, visitor, spool.checkpoint)

    async def export(self, request: Request) -> Response:
        try:
            visitor = self._visitor(request)
            body, _ = await self._batcher.call(lambda: visitor.export(self._tombstones))
        except Refused as refused:
            return refused.response
        except STORE_ERRORS as exc:
            return self._unavailable("export", exc)
        log_request("export", summary_of(body), self._metrics)
        return Response(body, 200, media_type="application/x-ndjson")

    async def forget(self, request: Request) -> Response:
        try:
            visitor = self._visitor(request)
            result = await self._batcher.call(
                lambda: visitor.forget(self._tombstones, spool_end(self._spool.directory))
            )
        except Refused as refused:
            return refused.response
        except TombstonesFull as exc:
            self._metrics.requests_refused.inc("tombstones_full")
            log.error("visitor forget refused: %s", exc)
            return json_response(
                503, {"error": str(exc), "reason": "tombstones_full"}, {"retry-after": "3600"}
            )
        except STORE_ERRORS as exc:
            return self._unavailable("forget", exc)
        log_request("forget", result, self._metrics)
        return json_response(200, result, {})

    def resume(self, store: Store) -> None:
        """At start, on the sink thread: finish the erasures a crash cut short."""
        resume(store, self._spool, self._tombstones, self._metrics)

    def _unavailable(self, request: str, exc: Exception) -> Response:
        self._metrics.requests_refused.inc("store_unavailable")
        text = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        log.error("visitor %s failed, the client may retry: %s", request, text)
        return json_response(
            503,
            {"error": "the store could not complete the request; retry", "reason": "store_error"},
            {"retry-after": "5"},
        )
