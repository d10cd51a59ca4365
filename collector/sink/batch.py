"""batch + sink: drain the spool into ClickHouse in large columnar inserts.

One background task reads records back from the spool in order, about ``max_rows`` rows
at a time or whatever arrived within ``max_age_ms``, and inserts them as they are: the
engine builds the rows (``records``). All store and spool-reading calls
run on one dedicated thread, so the event loop never blocks on ClickHouse or the disk.

Exactly once: before inserting, the batch's spool range and a content-derived
deduplication token are written to the sink's own record (``intent``), and only after
the insert does the spool's checkpoint move past the range; a batch retried after a lost
response, or replayed after a crash, is inserted again under the same token and
ClickHouse drops the copy. What a token cannot catch — an event resent, a batch read where
the spool's checkpoint or that record was lost — is looked up first (``copies``).

The draining task is supervised: an unexpected error is logged with its traceback,
counted, shown by ``/readyz``, and the task starts again after a backoff.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import functools
import hashlib
import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from collector.ops.metrics import Metrics
from collector.rows.columns import EVENT_COLUMNS, REJECTED_COLUMNS
from collector.sink.copies import Copies
from collector.sink.intent import Intent, IntentFile
from collector.sink.records import EVENTS, REJECTED, Block, Erasure, index
from collector.sink.store import Store, StoreLost
from collector.sink.tombstones import Tombstones
from collector.spool.log import Position, Spool

RETRY_FIRST_S = 0.2
RETRY_MAX_S = 10.0
# Backoff between restarts of the draining task after an unexpected error.
RESTART_FIRST_S = 0.5
RESTART_MAX_S = 30.0
# Full batches waiting in the spool that mean the sink is behind (a backlog to drain).
BEHIND_BATCHES = 2

log = logging.getLogger("microx.batch")
T = TypeVar("T")
StoreFactory = Callable[[str], Store]


@dataclasses.dataclass
class _Batch:
    """Records read from the spool, in order, and what the sink found reading them."""

    payloads: list[bytes]
    intent: Intent
    block: Block | None = None
    # Read where the spool's checkpoint or the record of the insert in flight was lost:
    # its rows may be stored already.
    verify: bool = False


class Batcher:
    def __init__(
        self,
        store_url: str,
        spool: Spool,
        *,
        directory: Path,
        max_rows: int,
        max_age_ms: int,
        metrics: Metrics,
        store_factory: StoreFactory = Store,
        tombstones: Tombstones | None = None,
    ) -> None:
        self._store_url = store_url
        # Erased visitors and sessions: their rows are dropped before every insert, those
        # of a replayed spool included.
        self.tombstones = tombstones
        self._spool = spool
        # The sink's own directory: its record of the insert in flight.
        self._intent_file = IntentFile(directory)
        # The batch a previous run was inserting when it stopped, to insert again as it was.
        self._replay: Intent | None = None
        self._max_rows = max_rows
        self._max_age = max_age_ms / 1000
        self._metrics = metrics
        self._store_factory = store_factory
        self._stop_asked = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._executor = concurrent.futures.ThreadPoolExecutor(1, "microx-sink")
        self._store: Store | None = None
        # A batch read from the spool but not yet stored: it is retried before anything
        # newer is read, because the checkpoint may only ever move past stored rows.
        self._pending: _Batch | None = None
        # The batch after it, read ahead while it is inserted when the spool holds a
        # backlog. Only then: in steady traffic the overlap would take the cores requests
        # are waiting for.
        self._next: _Batch | None = None
        self._copies = Copies()  # sink thread only
        # What /readyz reports: the draining task's last crash (until it drains again),
        # the last failed store write (until one succeeds), a store directory gone.
        self.sink_error: str | None = None
        self.insert_error: str | None = None
        self.store_lost = False

    async def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the sink thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def start(self, before_drain: Callable[[Store], object] | None = None) -> None:
        """Open the spool and the store, apply migrations, run ``before_drain`` on the
        sink thread (nothing is inserted until it returns), start draining."""
        await self.call(self._spool.open)
        spool = self._spool
        self._replay = await self.call(
            lambda: self._intent_file.open(spool.checkpoint, spool.durable_end)
        )
        self._store = await self.call(lambda: self._store_factory(self._store_url))
        store = self._store
        for m in await self.call(store.migrate):
            log.info("applied migration %04d_%s", m.version, m.name)
        await self.call(store.claim)
        # A table missing a column the rows are made of is refused now, not at the first
        # insert.
        await self.call(lambda: store.column_types("events", EVENT_COLUMNS))
        await self.call(lambda: store.column_types("rejected_events", REJECTED_COLUMNS))
        self._metrics.store_up.set(1)
        if self._spool.unread_rows:
            log.info("spool: %d rows from an earlier run to store", self._spool.unread_rows)
        if self.tombstones is not None and len(self.tombstones):
            self.tombstones.prune(self._spool.checkpoint)
            log.info(
                "tombstones: rows of %d erased visitors and sessions are dropped before insert",
                len(self.tombstones),
            )
        if before_drain is not None:
            await self.call(lambda: before_drain(store))
        self._task = asyncio.create_task(self._supervise(), name="microx-batcher")

    @property
    def store(self) -> Store:
        """The sink's store: use it only on the sink thread (:meth:`call`)."""
        if self._store is None:
            raise RuntimeError("batcher not started")
        return self._store

    def _owners_wanted(self) -> bool:
        return self.tombstones is not None and len(self.tombstones) > 0

    async def ping(self) -> bool:
        store = self._store
        return store is not None and await self.call(store.ping)

    async def _supervise(self) -> None:
        """Run the draining loop; on an unexpected error, say so at once and restart it."""
        delay = RESTART_FIRST_S
        while not self._stopping:
            try:
                await self._run()
            except Exception as exc:  # whatever it was, draining must go on
                if self.sink_error is None:
                    delay = RESTART_FIRST_S  # it had recovered since the last crash
                self.sink_error = _first_line(exc)
                self._metrics.sink_restarts.inc()
                pause = random.uniform(delay / 2, delay)
                log.exception(
                    "the sink stopped on an unexpected error; restarting in %.1f s", pause
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop_asked.wait(), pause)
                delay = min(delay * 2, RESTART_MAX_S)

    async def _run(self) -> None:
        if await self._take_replay():
            await self._drain_once(deadline=None)
        while not self._stopping:
            await self._until_rows_or_stop()
            if self._stopping:
                break
            if self._pending or self._next or self._spool.has_unread:
                await self._drain_once(deadline=None)
            self.sink_error = None

    async def _until_rows_or_stop(self) -> None:
        """Until a full batch waits in the spool, ``max_age`` passes or stop is asked."""
        rows = asyncio.ensure_future(self._spool.wait_for_rows(self._max_rows, self._max_age))
        stop = asyncio.ensure_future(self._stop_asked.wait())
        try:
            await asyncio.wait((rows, stop), return_when=asyncio.FIRST_COMPLETED)
        finally:
            rows.cancel()
            stop.cancel()

    async def _take_replay(self) -> bool:
        """Make the batch a previous run was inserting, exactly as it was, the pending one;
        whether there was one."""
        intent = self._replay
        if intent is None or self._pending is not None:
            return False
        log.info("sink: replaying the batch in flight at the last stop")
        payloads, _, _ = await self.call(lambda: self._spool.read(self._max_rows, until=intent.end))
        self._pending = _Batch(payloads, intent, verify=self._may_be_stored(intent.start))
        self._replay = None
        return True

    def _may_be_stored(self, start: Position) -> bool:
        return self._spool.needs_verify(start) or self._intent_file.needs_verify(start)

    async def _drain_once(self, deadline: float | None) -> bool:
        """Store the pending batch, or the next one from the spool; False if it failed."""
        if self._pending is None:
            self._pending, self._next = self._next or await self._read(), None
            if self._pending is None:
                return True
        if self._next is None and self._spool.unread_rows >= BEHIND_BATCHES * self._max_rows:
            self._next = await self._read()
        if await self._store_batch(self._pending, deadline):
            self._pending = None
            return True
        return False

    async def _read(self) -> _Batch | None:
        """The next batch from the spool."""
        payloads, start, end = await self.call(lambda: self._spool.read(self._max_rows))
        if start == end:
            return None
        # No payloads but an advance: only quarantined bytes, committed like a batch so
        # that the checkpoint moves past them.
        token = hashlib.blake2b(b"".join(payloads), digest_size=16).hexdigest()
        return _Batch(payloads, Intent(start, end, token), verify=self._may_be_stored(start))

    async def _build(self, batch: _Batch) -> Block:
        """What ``batch`` holds, read on the sink thread: it holds the GIL for about a
        microsecond per event, in the switch intervals the event loop shares."""
        if batch.block is None:
            owners = self._owners_wanted()
            batch.block = await self.call(lambda: index(batch.payloads, owners=owners))
        return batch.block

    async def _store_batch(self, batch: _Batch, deadline: float | None) -> bool:
        """Insert until it succeeds (or ``deadline`` passes, leaving it in the spool)."""
        block: Block | None = None
        delay = RETRY_FIRST_S
        while True:
            started = time.perf_counter()
            try:
                if block is None:
                    block = await self._build(batch)
                written = await self.call(functools.partial(self._write, block, batch))
            except Exception as exc:  # noqa: BLE001 - any failure: keep the batch, retry
                if block is None:
                    self._metrics.build_errors.inc()
                    log.error("building rows from the spool failed, retrying: %s", _first_line(exc))
                else:
                    self._metrics.insert_errors.inc("events")
                    self._metrics.store_up.set(0)
                    self.insert_error = _first_line(exc)
                    if isinstance(exc, StoreLost):
                        self.store_lost = True
                        log.error("%s", exc)
                    else:
                        log.warning(
                            "insert of %d rows failed, retrying: %s",
                            len(block.ids) + block.rejected_rows,
                            _first_line(exc),
                        )
            else:
                self._metrics.insert_seconds.observe(time.perf_counter() - started)
                self._metrics.store_up.set(1)
                self.insert_error = None
                for table, rows in written.items():
                    self._metrics.insert_batches.inc(table)
                    self._metrics.insert_rows.inc(table, rows)
                return True
            # Capped exponential backoff with full jitter, so collectors recovering
            # from one outage do not hit the store in lockstep.
            pause = random.uniform(delay / 2, delay)
            if deadline is not None and time.monotonic() + pause > deadline:
                return False
            if deadline is None and self._stopping:
                return False
            await asyncio.sleep(pause)
            delay = min(delay * 2, RETRY_MAX_S)

    def _write(self, block: Block, batch: _Batch) -> dict[str, int]:
        """On the sink thread: record the intent, insert both tables, move the spool's
        checkpoint. The intent stays on record: the checkpoint past it says it is done."""
        store = self._store
        if store is None:
            raise RuntimeError("store not open")
        store.verify()
        self._intent_file.record(batch.intent)
        block, erasure = self._erasure(block, batch)
        stored = self._copies.find(store, block, batch.verify)
        if stored or erasure:
            block = index(batch.payloads, stored, erasure)
        written: dict[str, int] = {}
        if block.ids:
            token = batch.intent.token + "-e"
            store.insert_records(EVENTS, block.events, token=token)
            written["events"] = len(block.ids)
        if block.rejected_rows:
            token = batch.intent.token + "-r"
            store.insert_records(REJECTED, block.rejected, token=token)
            written["rejected_events"] = block.rejected_rows
        # The rows went to the directory this process opened, not to one made anew
        # after it was deleted: only then may the spool let go of them.
        store.verify()
        self._spool.commit(batch.intent.end)
        self._metrics.events_duplicate.inc(block.duplicates)
        if erasure:
            self._metrics.erased_dropped.inc("events", block.erased)
            self._metrics.erased_dropped.inc("rejected_events", len(erasure.rejected))
            log.info(
                "dropped %d events and %d rejected rows of erased visitors before insert",
                block.erased,
                len(erasure.rejected),
            )
        self._copies.remember(block)
        return written

    def _erasure(self, block: Block, batch: _Batch) -> tuple[Block, Erasure]:
        """On the sink thread, where erasures also run: what of ``block`` was erased."""
        tombstones = self.tombstones
        if tombstones is None or not len(tombstones):
            return block, Erasure()
        if block.owners is None or block.rejected_owners is None:
            # Read before the first erasure: read again, saying whose each row is.
            block = index(batch.payloads, owners=True)
        owners, rejected_owners = block.owners or (), block.rejected_owners or ()

        def erased(session: str, visitor: str, at_ms: int) -> bool:
            return tombstones.erased(session, at_ms) or tombstones.erased(visitor, at_ms)

        return block, Erasure(
            frozenset(i for i, o in zip(block.ids, owners, strict=True) if erased(*o)),
            frozenset(i for i, o in enumerate(rejected_owners) if erased(*o)),
        )

    def _unstored(self) -> bool:
        return bool(self._replay or self._pending or self._next or self._spool.has_unread)

    async def abandon(self) -> None:
        """Stop as a crash would: draining ends wherever it is, nothing pending is stored or
        committed, and the store is closed. The spool and the sink's intent stay as they
        were, for the next start to recover from; recovery is tested through this."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._store is not None:
            await self.call(self._store.close)

    async def stop(self, timeout_s: float) -> None:
        """Stop draining, store what is pending within ``timeout_s``, close.

        What cannot be stored in time stays in the spool for the next start.
        """
        self._stopping = True
        self._stop_asked.set()
        if self._task is not None:
            await self._task
        deadline = time.monotonic() + timeout_s
        while self._unstored() and self._store is not None:
            try:
                # Stopped before the task began: the batch in flight goes first, as it was.
                await self._take_replay()
                if not await self._drain_once(deadline):
                    break
            except Exception:  # what is left stays in the spool
                log.exception("storing the spool at shutdown failed")
                break
        if self._unstored():
            log.warning("stopping with unstored rows kept in the spool for the next start")
        if self._store is not None:
            await self.call(self._store.close)
        await self.call(self._spool.close)
        self._executor.shutdown(wait=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
