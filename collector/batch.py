"""batch + sink: drain the spool into ClickHouse in large columnar inserts.

One background task reads records back from the spool in order, about ``max_rows`` rows
at a time or whatever arrived within ``max_age_ms``, rebuilds their rows and inserts
them. All store and spool-reading calls run on one dedicated thread, so the event loop
never blocks on ClickHouse or the disk.

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
import hashlib
import logging
import random
import time
from collections.abc import Callable
from typing import TypeVar

from collector.enrich import EVENT_COLUMNS, Row, ms_to_datetime
from collector.metrics import Metrics
from collector.record import REJECTED_COLUMNS, Decoded, decode
from collector.spool import Intent, Spool
from collector.store import Store

RETRY_FIRST_S = 0.2
RETRY_MAX_S = 10.0
# A resent event is looked for within this distance of its own time.
RESENT_LOOKBACK = dt.timedelta(days=2)
# Resent events stored recently, remembered so that their original, if it shows up late
# (it was still in flight when the resend overtook it), is recognised as a copy.
RECENT_RESENT_S = 600.0
RECENT_RESENT_MAX = 100_000
_ID = EVENT_COLUMNS.index("event_id")
_TIME = EVENT_COLUMNS.index("event_time")

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
        self._recent_resent: dict[str, float] = {}  # sink thread only

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
        decoded = await self.call(lambda: decode(payloads))
        delay = RETRY_FIRST_S
        while True:
            started = time.perf_counter()
            try:
                written = await self.call(lambda: self._write(decoded, intent))
            except Exception as exc:  # noqa: BLE001 - any failure: keep the batch, retry
                self._metrics.insert_errors["events"] += 1
                self._metrics.store_up = 0
                log.warning(
                    "insert of %d rows failed, retrying: %s",
                    len(decoded.events) + len(decoded.rejected),
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

    def _write(self, decoded: Decoded, intent: Intent) -> dict[str, int]:
        """On the sink thread: record the intent, insert both tables, commit."""
        store = self._store
        if store is None:
            raise RuntimeError("store not open")
        self._spool.begin(intent)
        rows = [r for r in _unique(decoded.events) if r[_ID] not in self._recent_resent]
        resent = set(decoded.resent)
        if resent:
            times = [r[_TIME] for r in rows if r[_ID] in resent]
            if times:
                stored = store.existing_event_ids(
                    list(resent),
                    ms_to_datetime(min(times)) - RESENT_LOOKBACK,
                    ms_to_datetime(max(times)) + RESENT_LOOKBACK,
                )
                rows = [r for r in rows if r[_ID] not in stored]
        self._metrics.events_duplicate += len(decoded.events) - len(rows)
        written: dict[str, int] = {}
        if rows:
            store.insert_columns(
                "events", EVENT_COLUMNS, list(zip(*rows, strict=True)), token=intent.token + "-e"
            )
            written["events"] = len(rows)
        if decoded.rejected:
            store.insert_columns(
                "rejected_events",
                REJECTED_COLUMNS,
                list(zip(*decoded.rejected, strict=True)),
                token=intent.token + "-r",
            )
            written["rejected_events"] = len(decoded.rejected)
        self._spool.commit(intent.end)
        self._remember_resent([r[_ID] for r in rows if r[_ID] in resent])
        return written

    def _remember_resent(self, ids: list[str]) -> None:
        now = time.monotonic()
        recent = self._recent_resent
        for event_id in ids:
            recent[event_id] = now
        # Insertion order is time order: drop from the front while too old or too many.
        while recent:
            oldest_id, seen = next(iter(recent.items()))
            if now - seen < RECENT_RESENT_S and len(recent) <= RECENT_RESENT_MAX:
                break
            del recent[oldest_id]

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
        await self.call(self._spool.close)
        self._executor.shutdown(wait=True)


def _unique(rows: list[Row]) -> list[Row]:
    """Drop repeats of an event id within one batch, keeping the first."""
    seen: set[str] = set()
    out: list[Row] = []
    for r in rows:
        if r[_ID] not in seen:
            seen.add(r[_ID])
            out.append(r)
    return out


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
