"""blocks: spool records made into ClickHouse insert blocks, in a worker process.

Rebuilding rows (``record.decode``) and serialising them column by column is pure Python
and holds the GIL for tens of milliseconds per batch; in the request process that time
is taken from requests waiting to be read and answered. So it runs in a process of its
own, which hands back each table's rows as one block in ClickHouse's Native format: the
request process only passes the block to the store, where the engine works without the
GIL. The worker keeps no state between batches: a block is built from its records alone.
It ends when the collector does, however the collector ends (``kill -9`` included).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import dataclasses
import gc
import multiprocessing
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Sequence

from clickhouse_connect.datatypes.registry import get_from_name
from clickhouse_connect.driver.insert import InsertContext
from clickhouse_connect.driver.transform import NativeTransform

from collector.rows.columns import EVENT_COLUMNS, REJECTED_COLUMNS, Row
from collector.rows.record import decode
from collector.sink.copies import Found, RejectedKey, first_of_each, not_stored, rejected_key
from collector.sink.migrations import DATABASE
from collector.sink.store import Store
from collector.sink.tombstones import subject

_LOW_CARDINALITY = re.compile(r"LowCardinality\((.*?)\)")
_UUID = re.compile(r"\bUUID\b")
_ID = EVENT_COLUMNS.index("event_id")
_TIME = EVENT_COLUMNS.index("event_time")
# prctl(2): the signal the kernel sends this process when its parent dies.
_PR_SET_PDEATHSIG = 1
# How often the worker checks that the collector still runs, where prctl is missing.
PARENT_POLL_S = 1.0
_RECEIVED = EVENT_COLUMNS.index("received_at")
_SESSION = EVENT_COLUMNS.index("session_id")
_VISITOR = EVENT_COLUMNS.index("visitor_id")
_REJECTED_SESSION = REJECTED_COLUMNS.index("envelope_session_id")
_REJECTED_VISITOR = REJECTED_COLUMNS.index("envelope_visitor_id")


@dataclasses.dataclass(frozen=True)
class Block:
    """One batch, ready to insert: each table's rows in Native format."""

    events: bytes
    rejected: bytes
    rejected_rows: int
    # Events decoded but left out: repeats within the batch, and those stored already.
    duplicates: int
    # Per row of ``events``, in order: its event id and its event time (epoch ms).
    ids: tuple[str, ...]
    times: tuple[int, ...]
    # Events in ``events`` that the snippet marked as resent.
    resent: tuple[str, ...]
    # Per row of ``rejected``: the key it is found by in the store (``copies``).
    rejected_keys: tuple[RejectedKey, ...]
    # Asked for while tombstones exist: per event row and per rejected row as decoded, the
    # hashes of its session and visitor ("" for none) and its time (epoch ms), to look
    # up in the tombstones (``tombstones.subject``).
    owners: tuple[Owner, ...] | None = None
    rejected_owners: tuple[Owner, ...] | None = None
    # Events left out because their visitor or session was erased.
    erased: int = 0


Owner = tuple[str, str, int]


def native(
    table: str, column_names: Sequence[str], type_names: Sequence[str], rows: list[Row]
) -> bytes:
    """``rows`` as one Native-format block, as clickhouse-connect would send it."""
    if not rows:
        return b""
    types = [get_from_name(t) for t in type_names]
    columns = list(zip(*rows, strict=True))
    context = InsertContext(table, list(column_names), types, columns, column_oriented=True)
    data = b"".join(NativeTransform().build_insert(context))
    # The transform puts the INSERT statement in front, for an HTTP request body.
    return data[data.index(b"\n") + 1 :] if data.startswith(b"INSERT ") else data


_types: tuple[list[str], list[str]] = ([], [])


def wire_type(column_type: str) -> str:
    """The type a column is sent as: UUID and LowCardinality columns go as plain strings,
    which ClickHouse converts on insert (in C++, where the driver's encoders for those
    types are Python and took a third of the time to build a block)."""
    return _UUID.sub("String", _LOW_CARDINALITY.sub(r"\1", column_type))


def _exit_with(parent: int) -> None:
    """End this process when ``parent`` ends. Nothing else would: the worker waits on a
    pipe whose writing end it holds itself, so the collector's death never closes it, and
    the resource tracker lives as long as any process holding its pipe (the worker does)."""
    if sys.platform == "linux":
        # Sent when the thread that started this process ends: the event loop's or the
        # sink's, which both live as long as the collector.
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before prctl took effect
        os._exit(1)
    threading.Thread(target=watch_parent, args=(parent,), name="microx-parent", daemon=True).start()


def watch_parent(parent: int) -> None:
    """End this process once ``parent`` has ended, by polling: what is left where prctl is
    missing or fails (an orphan is adopted by another process). Public so a test can run
    it alone."""
    while os.getppid() == parent:
        time.sleep(PARENT_POLL_S)
    os._exit(1)


def _start(parent: int, event_types: list[str], rejected_types: list[str]) -> None:
    _exit_with(parent)
    global _types
    _types = (event_types, rejected_types)
    # What was made while importing lives as long as the process: keep it out of the
    # collector's way.
    gc.freeze()


def _owners(site: str, session: str | None, visitor: str | None, at_ms: int) -> Owner:
    return (
        subject("s", site, session) if session else "",
        subject("v", site, visitor) if visitor else "",
        at_ms,
    )


@dataclasses.dataclass(frozen=True)
class Erasure:
    """What a batch leaves out because it was erased: event ids, and rejected rows by their
    index among the batch's rejected rows as decoded."""

    events: frozenset[str] = frozenset()
    rejected: frozenset[int] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.events or self.rejected)


_NOTHING_STORED = Found()


def _build(
    payloads: list[bytes],
    stored: Found = _NOTHING_STORED,
    erasure: Erasure = Erasure(),
    owners: bool = False,
) -> Block:
    """In the worker: the block for ``payloads``, without what is ``stored`` already,
    repeats, nor what ``erasure`` names."""
    decoded = decode(payloads)
    kept = [r for r in decoded.events if r[_ID] not in erasure.events]
    erased = len(decoded.events) - len(kept)
    rows = first_of_each(kept, stored.events)
    resent = set(decoded.resent)
    rejected = not_stored(
        (r for i, r in enumerate(decoded.rejected) if i not in erasure.rejected), stored.rejected
    )
    event_owners = rejected_owners = None
    if owners:
        event_owners = tuple(
            _owners(r[0], r[_SESSION], r[_VISITOR], min(r[_TIME], r[_RECEIVED])) for r in rows
        )
        rejected_owners = tuple(
            _owners(
                r[1],
                r[_REJECTED_SESSION],
                r[_REJECTED_VISITOR],
                round(r[0].timestamp() * 1000),
            )
            for r in decoded.rejected
        )
    event_types, rejected_types = _types
    return Block(
        events=native("microx.events", EVENT_COLUMNS, event_types, rows),
        rejected=native("microx.rejected_events", REJECTED_COLUMNS, rejected_types, rejected),
        rejected_rows=len(rejected),
        duplicates=len(decoded.events) - len(rows) - erased,
        ids=tuple(r[_ID] for r in rows),
        times=tuple(r[_TIME] for r in rows),
        resent=tuple(r[_ID] for r in rows if r[_ID] in resent),
        rejected_keys=tuple(rejected_key(r) for r in rejected),
        owners=event_owners,
        rejected_owners=rejected_owners,
        erased=erased,
    )


class Blocks:
    """The worker process, as the batcher uses it.

    A worker that dies (killed, out of memory) is replaced on the next call; the batch
    it was building is built again, since nothing leaves the spool before it is stored.
    """

    def __init__(self, event_types: Sequence[str], rejected_types: Sequence[str]) -> None:
        self._types = ([wire_type(t) for t in event_types], [wire_type(t) for t in rejected_types])
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        # The event loop builds, the sink thread rebuilds: one pool between them.
        self._lock = threading.Lock()

    def _executor(self) -> concurrent.futures.ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                # spawn, not fork: the request process runs the embedded engine's threads,
                # which a forked child would inherit in whatever state they were.
                self._pool = concurrent.futures.ProcessPoolExecutor(
                    1,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start,
                    initargs=(os.getpid(), *self._types),
                )
            return self._pool

    async def start(self) -> None:
        """Start the worker now, so that the first batch does not wait for it (about a
        second: a new interpreter importing the driver)."""
        await self.build([])

    async def build(self, payloads: list[bytes], owners: bool = False) -> Block:
        """The block for ``payloads``; with ``owners``, every row's session and visitor
        hashes."""
        try:
            return await asyncio.wrap_future(
                self._executor().submit(_build, payloads, _NOTHING_STORED, Erasure(), owners)
            )
        except concurrent.futures.BrokenExecutor:
            self.close()
            raise

    def rebuild(
        self,
        payloads: list[bytes],
        stored: Found = _NOTHING_STORED,
        erasure: Erasure = Erasure(),
        owners: bool = False,
    ) -> Block:
        """From the sink thread: the block for ``payloads`` without what is ``stored``
        already, nor what ``erasure`` names."""
        try:
            return self._executor().submit(_build, payloads, stored, erasure, owners).result()
        except concurrent.futures.BrokenExecutor:
            self.close()
            raise

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)


def insert_rows(
    store: Store,
    table: str,
    column_names: Sequence[str],
    rows: list[Row],
    token: str | None = None,
) -> None:
    """Insert ``rows`` the way the sink does: one Native block in the columns' wire types,
    built here rather than in the worker (for tools and tests that have rows at hand)."""
    types = [wire_type(t) for t in store.column_types(table, column_names)]
    block = native(f"{DATABASE}.{table}", column_names, types, rows)
    store.insert_block(table, column_names, block, token=token)
