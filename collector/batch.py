"""batch + sink: drain the spool into ClickHouse in large columnar inserts.

One background task reads records back from the spool in order, about ``max_rows`` rows
at a time or whatever arrived within ``max_age_ms``, has a worker process rebuild their
rows as insert blocks (``blocks``), and inserts them. All store and spool-reading calls
run on one dedicated thread, so the event loop never blocks on ClickHouse or the disk.

Exactly once: before inserting, the batch's spool range and a content-derived
deduplication token are written to the checkpoint; a batch retried after a lost
response, or replayed after a crash, is inserted again under the same token and
ClickHouse drops the copy. Events the snippet marks as resent are looked up by id first.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import functools
import hashlib
import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from collector.blocks import Block, Blocks
from collector.enrich import EVENT_COLUMNS, ms_to_datetime
from collector.metrics import Metrics
from collector.record import REJECTED_COLUMNS
from collector.spool import Intent, Spool
from collector.store import Store

RETRY_FIRST_S = 0.2
RETRY_MAX_S = 10.0
# A resent event is looked for within this distance of its own time.
RESENT_LOOKBACK = dt.timedelta(days=2)

log = logging.getLogger("microx.batch")
T = TypeVar("T")
StoreFactory = Callable[[str], Store]


class Batcher:
    def __init__(
        self,
        store_url: str,
        spool: Spool,
        *,
        max_rows: int,
        max_age_ms: int,
        metrics: Metrics,
        store_factory: StoreFactory = Store,
    ) -> None:
        self._store_url = store_url
        self._spool = spool
        self._max_rows = max_rows
        self._max_age = max_age_ms / 1000
        self._metrics = metrics
        self._store_factory = store_factory
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._executor = concurrent.futures.ThreadPoolExecutor(1, "microx-sink")
        self._store: Store | None = None
        # A batch read from the spool but not yet stored: it is retried before anything
        # newer is read, because the checkpoint may only ever move past stored rows.
        self._pending: tuple[list[bytes], Intent] | None = None
        self._blocks: Blocks | None = None

    async def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the sink thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    async def start(self) -> None:
        """Open the spool and the store, apply migrations, start draining."""
        await self.call(self._spool.open)
        self._spool.on_durable = self._on_durable
        self._store = await self.call(lambda: self._store_factory(self._store_url))
        store = self._store
        for m in await self.call(store.migrate):
            log.info("applied migration %04d_%s", m.version, m.name)
        self._blocks = Blocks(
            await self.call(lambda: store.column_types("events", EVENT_COLUMNS)),
            await self.call(lambda: store.column_types("rejected_events", REJECTED_COLUMNS)),
        )
        await self._blocks.start()
        self._metrics.store_up = 1
        if self._spool.unread_rows:
            log.info("spool: %d rows from an earlier run to store", self._spool.unread_rows)
        self._task = asyncio.create_task(self._run(), name="microx-batcher")

    def _on_durable(self) -> None:
        if self._spool.unread_rows >= self._max_rows:
            self._wake.set()

    async def ping(self) -> bool:
        store = self._store
        return store is not None and await self.call(store.ping)

    async def _run(self) -> None:
        intent = self._spool.intent
        if intent is not None:
            await self._replay(intent)
        while not self._stopping:
            if self._spool.unread_rows < self._max_rows:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self._max_age)
                self._wake.clear()
            if self._stopping:
                break
            if self._pending or self._spool.unread_rows:
                await self._drain_once(deadline=None)

    async def _replay(self, intent: Intent) -> None:
        """Insert the batch a previous run was inserting, exactly as it was."""
        log.info("spool: replaying the batch in flight at the last stop")
        payloads, _, _ = await self.call(lambda: self._spool.read(self._max_rows, until=intent.end))
        self._pending = (payloads, intent)
        await self._drain_once(deadline=None)

    async def _drain_once(self, deadline: float | None) -> bool:
        """Store the pending batch, or the next one from the spool; False if it failed."""
        if self._pending is None:
            payloads, start, end = await self.call(lambda: self._spool.read(self._max_rows))
            if not payloads:
                return True
            token = hashlib.blake2b(b"".join(payloads), digest_size=16).hexdigest()
            self._pending = (payloads, Intent(start, end, token))
        payloads, intent = self._pending
        if await self._store_batch(payloads, intent, deadline):
            self._pending = None
            return True
        return False

    async def _store_batch(
        self, payloads: list[bytes], intent: Intent, deadline: float | None
    ) -> bool:
        """Insert until it succeeds (or ``deadline`` passes, leaving it in the spool)."""
        blocks = self._blocks
        if blocks is None:
            raise RuntimeError("batcher not started")
        block: Block | None = None
        delay = RETRY_FIRST_S
        while True:
            started = time.perf_counter()
            try:
                if block is None:
                    block = await blocks.build(payloads)
                written = await self.call(functools.partial(self._write, block, intent))
            except Exception as exc:  # noqa: BLE001 - any failure: keep the batch, retry
                if block is None:
                    self._metrics.build_errors += 1
                    log.error("building rows from the spool failed, retrying: %s", _first_line(exc))
                else:
                    self._metrics.insert_errors["events"] += 1
                    self._metrics.store_up = 0
                    log.warning(
                        "insert of %d rows failed, retrying: %s",
                        block.event_rows + block.rejected_rows,
                        _first_line(exc),
                    )
            else:
                self._metrics.insert_seconds.observe(time.perf_counter() - started)
                self._metrics.store_up = 1
                for table, rows in written.items():
                    self._metrics.insert_batches[table] += 1
                    self._metrics.insert_rows[table] += rows
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

    def _write(self, block: Block, intent: Intent) -> dict[str, int]:
        """On the sink thread: record the intent, insert both tables, commit."""
        store, blocks = self._store, self._blocks
        if store is None or blocks is None:
            raise RuntimeError("store not open")
        self._spool.begin(intent)
        if block.resent:
            times = [t for _, t in block.resent]
            stored = store.existing_event_ids(
                [i for i, _ in block.resent],
                ms_to_datetime(min(times)) - RESENT_LOOKBACK,
                ms_to_datetime(max(times)) + RESENT_LOOKBACK,
            )
            if stored:
                block = blocks.without(block, stored)
        written: dict[str, int] = {}
        if block.event_rows:
            store.insert_block("events", EVENT_COLUMNS, block.events, token=intent.token + "-e")
            written["events"] = block.event_rows
        if block.rejected_rows:
            store.insert_block(
                "rejected_events", REJECTED_COLUMNS, block.rejected, token=intent.token + "-r"
            )
            written["rejected_events"] = block.rejected_rows
        self._spool.commit(intent.end)
        self._metrics.events_duplicate += block.duplicates
        blocks.stored([i for i, _ in block.resent])
        return written

    async def stop(self, timeout_s: float) -> None:
        """Stop draining, store what is pending within ``timeout_s``, close.

        What cannot be stored in time stays in the spool for the next start.
        """
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
        deadline = time.monotonic() + timeout_s
        while (self._pending or self._spool.unread_rows) and self._store is not None:
            if not await self._drain_once(deadline):
                break
        if self._pending or self._spool.unread_rows:
            log.warning("stopping with unstored rows kept in the spool for the next start")
        if self._store is not None:
            await self.call(self._store.close)
        if self._blocks is not None:
            await self.call(self._blocks.close)
        await self.call(self._spool.close)
        self._executor.shutdown(wait=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
