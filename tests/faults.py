"""Fault injection around the real store: the real engine stays underneath, failing on cue."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from collector.sink.records import Statement
from collector.sink.store import Store


class Faults:
    """What the next inserts do: ``fail`` before writing, ``hang`` then fail,
    ``lose_response``: write, then fail as if the answer never arrived, or
    ``fail_writes``: fail while the store still answers pings (a full or read-only disk);
    into every table, or into one."""

    def __init__(self) -> None:
        self.mode: str | None = None
        self.remaining: int | None = None  # None: until cleared
        self.table: str | None = None  # None: every table
        self.hang_s = 0.5
        self.inserts_attempted = 0
        self.inserts_landed = 0
        self.tokens_landed: list[str | None] = []  # each landed insert's token, in order
        self._lock = threading.Lock()

    def set(self, mode: str | None, times: int | None = None, table: str | None = None) -> None:
        with self._lock:
            self.mode, self.remaining, self.table = mode, times, table

    def take(self, table: str) -> str | None:
        with self._lock:
            if self.table is not None and self.table != table:
                return None
            mode = self.mode
            if mode is not None and self.remaining is not None:
                self.remaining -= 1
                if self.remaining <= 0:
                    self.mode = None
            return mode


class FaultyStore(Store):
    def __init__(self, url: str, faults: Faults) -> None:
        super().__init__(url)
        self.faults = faults

    def _around(self, table: str, insert: Callable[[], None], token: str | None) -> None:
        self.faults.inserts_attempted += 1
        mode = self.faults.take(table)
        if mode == "fail":
            raise ConnectionError("injected: store unavailable")
        if mode == "fail_writes":
            raise OSError("injected: Cannot reserve space on the store's disk")
        if mode == "hang":
            time.sleep(self.faults.hang_s)
            raise TimeoutError("injected: store did not answer")
        insert()
        self.faults.inserts_landed += 1
        self.faults.tokens_landed.append(token)
        if mode == "lose_response":
            raise ConnectionError("injected: response lost after the insert")

    def insert_columns(
        self,
        table: str,
        column_names: Sequence[str],
        columns: Sequence[Sequence[Any]],
        token: str | None = None,
    ) -> None:
        self._around(
            table,
            lambda: super(FaultyStore, self).insert_columns(table, column_names, columns, token),
            token,
        )

    def insert_block(
        self, table: str, column_names: Sequence[str], block: bytes, token: str | None = None
    ) -> None:
        self._around(
            table,
            lambda: super(FaultyStore, self).insert_block(table, column_names, block, token),
            token,
        )

    def insert_records(
        self, statement: Statement, records: bytes, token: str | None = None
    ) -> None:
        self._around(
            statement.table,
            lambda: super(FaultyStore, self).insert_records(statement, records, token),
            token,
        )

    def ping(self) -> bool:
        if self.faults.mode in ("fail", "hang"):
            return False
        return super().ping()
