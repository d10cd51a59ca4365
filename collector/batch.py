"""batch + sink: gather rows and write them to ClickHouse in large columnar inserts.

Inserts are triggered by size or age, whichever comes first, from one background task.
All store calls run on one dedicated thread (clickhouse-connect's client is synchronous
and not thread-safe), so the event loop never blocks on ClickHouse.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from collector.enrich import EVENT_COLUMNS, Row
from collector.metrics import Metrics
from collector.store import Store

REJECTED_COLUMNS = (
    "received_at",
    "site",
    "reason",
    "field_path",
    "message",
    "event_index",
    "contract_version",
    "raw",
)
RETRY_FIRST_S = 0.2
RETRY_MAX_S = 10.0

log = logging.getLogger("microx.batch")
T = TypeVar("T")


class Batcher:
    def __init__(self, store_url: str, *, max_rows: int, max_age_ms: int, metrics: Metrics) -> None:
        self._store_url = store_url
        self._max_rows = max_rows
        self._max_age = max_age_ms / 1000
        self._metrics = metrics
        self._pending: dict[str, list[Row]] = {"events": [], "rejected_events": []}
        self._oldest: float | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._executor = concurrent.futures.ThreadPoolExecutor(1, "microx-sink")
        self._store: Store | None = None

    async def call(self, fn: Callable[[Store], T]) -> T:
        """Run ``fn(store)`` on the sink thread."""
        store = self._store
        if store is None:
            raise RuntimeError("the batcher is not started")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, store)

    async def start(self) -> None:
        """Open the store, apply migrations and start the background flusher."""
        loop = asyncio.get_running_loop()
        self._store = await loop.run_in_executor(self._executor, Store, self._store_url)
        applied = await self.call(lambda s: s.migrate())
        for m in applied:
            log.info("applied migration %04d_%s", m.version, m.name)
        self._metrics.store_up = 1
        self._task = asyncio.create_task(self._run(), name="microx-batcher")

    def add(self, table: str, rows: Sequence[Row]) -> None:
        if not rows:
            return
        self._pending[table].extend(rows)
        if self._oldest is None:
            self._oldest = time.monotonic()
        self._metrics.pending_rows += len(rows)
        if self._metrics.pending_rows >= self._max_rows:
            self._wake.set()

    async def _run(self) -> None:
        delay = RETRY_FIRST_S
        while not self._stopping:
            timeout = (
                self._max_age
                if self._oldest is None
                else max(0.0, self._oldest + self._max_age - time.monotonic())
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()
            if self._oldest is None or self._stopping:
                continue
            if await self._flush():
                delay = RETRY_FIRST_S
            else:
                # Capped exponential backoff with full jitter, so many collectors
                # recovering from one outage do not hit the store in lockstep.
                await asyncio.sleep(random.uniform(0, delay))
                delay = min(delay * 2, RETRY_MAX_S)

    async def _flush(self) -> bool:
        """Insert everything pending; on failure keep it for the next attempt."""
        ok = True
        for table, columns in (("events", EVENT_COLUMNS), ("rejected_events", REJECTED_COLUMNS)):
            rows = self._pending[table]
            if not rows:
                continue
            self._pending[table] = []
            started = time.perf_counter()
            try:
                await self.call(functools.partial(_insert, table, columns, rows))
            except Exception as exc:  # noqa: BLE001 - any failure: keep the rows, retry
                # Keep the rows, in order, ahead of any that arrived meanwhile.
                self._pending[table] = rows + self._pending[table]
                self._metrics.insert_errors[table] += 1
                self._metrics.store_up = 0
                log.warning(
                    "insert into %s failed, %d rows kept for retry: %s",
                    table,
                    len(rows),
                    _first_line(exc),
                )
                ok = False
                continue
            self._metrics.insert_seconds_sum += time.perf_counter() - started
            self._metrics.insert_batches[table] += 1
            self._metrics.insert_rows[table] += len(rows)
            self._metrics.pending_rows -= len(rows)
            self._metrics.store_up = 1
        if not any(self._pending.values()):
            self._oldest = None
        return ok

    async def stop(self, timeout_s: float) -> None:
        """Stop the flusher, write what is pending (retrying until ``timeout_s``), close."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
        deadline = time.monotonic() + timeout_s
        delay = RETRY_FIRST_S
        while any(self._pending.values()) and self._store is not None:
            if await self._flush():
                break
            if time.monotonic() + delay > deadline:
                lost = sum(len(r) for r in self._pending.values())
                log.error("shutdown: the store stayed unavailable, %d rows were not written", lost)
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_MAX_S)
        if self._store is not None:
            await self.call(lambda s: s.close())
        self._executor.shutdown(wait=True)


def _insert(table: str, columns: Sequence[str], rows: list[Row], store: Store) -> None:
    # Transposing to columns happens here, on the sink thread, not on the event loop.
    store.insert_columns(table, columns, list(zip(*rows, strict=True)))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__
