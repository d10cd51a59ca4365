"""blocks: spool records made into ClickHouse insert blocks, in a worker process.

Rebuilding rows (``record.decode``) and serialising them column by column is pure Python
and holds the GIL for tens of milliseconds per batch; in the request process that time
is taken from requests waiting to be read and answered. So it runs in a process of its
own, which hands back each table's rows as one block in ClickHouse's Native format: the
request process only passes the block to the store, where the engine works without the
GIL.

The worker keeps the rows of the batch it built last, so that a block can be rebuilt
without the events found to be stored already, and the ids of resent events stored
recently (see :class:`Blocks`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import gc
import multiprocessing
import time
from collections.abc import Sequence
from typing import Any

from clickhouse_connect.datatypes.registry import get_from_name
from clickhouse_connect.driver.insert import InsertContext
from clickhouse_connect.driver.transform import NativeTransform

from collector.enrich import EVENT_COLUMNS, Row
from collector.record import REJECTED_COLUMNS, decode

# Resent events stored recently, remembered so that their original, if it shows up late
# (it was still in flight when the resend overtook it), is recognised as a copy.
RECENT_RESENT_S = 600.0
RECENT_RESENT_MAX = 100_000
_ID = EVENT_COLUMNS.index("event_id")
_TIME = EVENT_COLUMNS.index("event_time")


@dataclasses.dataclass(frozen=True)
class Block:
    """One batch, ready to insert: each table's rows in Native format."""

    events: bytes
    event_rows: int
    rejected: bytes
    rejected_rows: int
    # Events decoded but left out: repeats within the batch, or copies of resent events
    # stored recently.
    duplicates: int
    # Events in ``events`` that the snippet marked as resent, with their event times
    # (epoch ms): the only ones worth looking up in ClickHouse before inserting.
    resent: tuple[tuple[str, int], ...]


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


class _Worker:
    """The worker process's state; one instance, reached through the functions below."""

    def __init__(self, event_types: Sequence[str], rejected_types: Sequence[str]) -> None:
        self.event_types = list(event_types)
        self.rejected_types = list(rejected_types)
        self.recent_resent: dict[str, float] = {}
        self.rows: list[Row] = []
        self.resent: set[str] = set()

    def build(self, payloads: list[bytes], stored_resent: list[str]) -> Block:
        self.remember(stored_resent)
        decoded = decode(payloads)
        seen: set[str] = set()
        rows: list[Row] = []
        for r in decoded.events:
            event_id = r[_ID]
            if event_id not in seen and event_id not in self.recent_resent:
                seen.add(event_id)
                rows.append(r)
        self.rows = rows
        self.resent = set(decoded.resent)
        return Block(
            events=native("microx.events", EVENT_COLUMNS, self.event_types, rows),
            event_rows=len(rows),
            rejected=native(
                "microx.rejected_events", REJECTED_COLUMNS, self.rejected_types, decoded.rejected
            ),
            rejected_rows=len(decoded.rejected),
            duplicates=len(decoded.events) - len(rows),
            resent=tuple((r[_ID], r[_TIME]) for r in rows if r[_ID] in self.resent),
        )

    def without(self, block: Block, stored: list[str]) -> Block:
        """The last block built, less the events in ``stored``."""
        gone = set(stored)
        rows = [r for r in self.rows if r[_ID] not in gone]
        return dataclasses.replace(
            block,
            events=native("microx.events", EVENT_COLUMNS, self.event_types, rows),
            event_rows=len(rows),
            duplicates=block.duplicates + block.event_rows - len(rows),
            resent=tuple(x for x in block.resent if x[0] not in gone),
        )

    def remember(self, ids: list[str]) -> None:
        now = time.monotonic()
        recent = self.recent_resent
        for event_id in ids:
            recent[event_id] = now
        # Insertion order is time order: drop from the front while too old or too many.
        while recent:
            oldest_id, seen = next(iter(recent.items()))
            if now - seen < RECENT_RESENT_S and len(recent) <= RECENT_RESENT_MAX:
                break
            del recent[oldest_id]


_worker: _Worker | None = None


def _start(event_types: list[str], rejected_types: list[str]) -> None:
    global _worker
    _worker = _Worker(event_types, rejected_types)
    # What was made while importing lives as long as the process: keep it out of the
    # collector's way.
    gc.freeze()


def _build(payloads: list[bytes], stored_resent: list[str]) -> Block:
    assert _worker is not None
    return _worker.build(payloads, stored_resent)


def _without(block: Block, stored: list[str]) -> Block:
    assert _worker is not None
    return _worker.without(block, stored)


class Blocks:
    """The worker process, as the batcher uses it.

    A worker that dies (killed, out of memory) is replaced on the next call; the batch
    it was building is built again, since nothing leaves the spool before it is stored.
    """

    def __init__(self, event_types: Sequence[str], rejected_types: Sequence[str]) -> None:
        self._types = (list(event_types), list(rejected_types))
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        # Resent events just stored, passed on with the next batch.
        self._stored_resent: list[str] = []

    def _executor(self) -> concurrent.futures.ProcessPoolExecutor:
        if self._pool is None:
            # spawn, not fork: the request process runs the embedded engine's threads,
            # which a forked child would inherit in whatever state they were.
            self._pool = concurrent.futures.ProcessPoolExecutor(
                1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start,
                initargs=self._types,
            )
        return self._pool

    async def _run(self, fn: Any, *args: Any) -> Block:
        try:
            block: Block = await asyncio.get_running_loop().run_in_executor(
                self._executor(), fn, *args
            )
        except concurrent.futures.BrokenExecutor:
            self.close()
            raise
        return block

    async def start(self) -> None:
        """Start the worker now, so that the first batch does not wait for it (about a
        second: a new interpreter importing the driver)."""
        await self._run(_build, [], [])

    async def build(self, payloads: list[bytes]) -> Block:
        stored, self._stored_resent = self._stored_resent, []
        try:
            return await self._run(_build, payloads, stored)
        except BaseException:
            self._stored_resent = stored + self._stored_resent
            raise

    def without(self, block: Block, stored: set[str]) -> Block:
        """From the sink thread: ``block`` less the events already stored."""
        result: Block = self._executor().submit(_without, block, sorted(stored)).result()
        return result

    def stored(self, resent_ids: list[str]) -> None:
        """Resent events now stored: later copies of them in the next batches are dropped."""
        self._stored_resent.extend(resent_ids)

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
