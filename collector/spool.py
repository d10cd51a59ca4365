"""spool: the durable append-only log between an accepted request and ClickHouse.

A request is answered 2xx only after its record is on disk (written and fsynced). Many
concurrent requests share one fsync (group commit). The batcher reads records back in
order, inserts them, and only then moves the checkpoint; so after a crash everything past
the checkpoint is read again, and nothing acknowledged is lost.

On disk: numbered segment files of framed records, ``<len u32><crc32 u32><rows u32>``
then the payload, plus a ``checkpoint`` file naming the first record not yet stored and
the batch being inserted (its token makes a replayed insert idempotent).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import os
import struct
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import orjson

HEADER = struct.Struct("<III")
SEGMENT_SUFFIX = ".spool"
CHECKPOINT = "checkpoint"
DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024

log = logging.getLogger("microx.spool")


class SpoolFull(Exception):
    """The spool holds its maximum of unstored bytes: refuse (503) until it drains."""


class SpoolError(Exception):
    """Writing to the spool failed (disk full, I/O error): nothing was acknowledged."""


@dataclasses.dataclass(frozen=True, order=True)
class Position:
    segment: int
    offset: int


@dataclasses.dataclass(frozen=True)
class Intent:
    """A batch read from ``start`` to ``end`` that is being inserted under ``token``."""

    start: Position
    end: Position
    token: str


def _segment_name(n: int) -> str:
    return f"{n:012d}{SEGMENT_SUFFIX}"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _valid_length(path: Path, start: int) -> int:
    """Offset just past the last whole, CRC-valid record at or after ``start``."""
    with path.open("rb") as f:
        f.seek(start)
        good = start
        while True:
            header = f.read(HEADER.size)
            if len(header) < HEADER.size:
                return good
            length, crc, _rows = HEADER.unpack(header)
            payload = f.read(length)
            if len(payload) < length or zlib.crc32(payload) != crc:
                return good
            good += HEADER.size + length


class Spool:
    def __init__(
        self, directory: Path, max_bytes: int, segment_bytes: int = DEFAULT_SEGMENT_BYTES
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.on_durable: Callable[[], None] = lambda: None
        self._writer = concurrent.futures.ThreadPoolExecutor(1, "microx-spool")
        self._waiting: list[tuple[bytes, int, asyncio.Future[None]]] = []
        self._flushing = False
        self._fd = -1
        self._segment = 0
        self._size = 0  # bytes in the current segment
        self._durable = Position(0, 0)
        self._checkpoint = Position(0, 0)
        self._intent: Intent | None = None
        # Each counter is written by one thread only: the event loop reserves bytes and
        # counts rows appended, the sink thread releases bytes and counts rows read.
        self._reserved = 0
        self._released = 0
        self._rows_appended = 0
        self._rows_read = 0
        self._cursor = Position(0, 0)
        self._reader: tuple[int, BinaryIO] | None = None

    # -- start-up -----------------------------------------------------------------------

    def open(self) -> None:
        """Find the checkpoint, cut a torn last record, and get ready to append."""
        self.directory.mkdir(parents=True, exist_ok=True)
        segments = self._segments()
        checkpoint_file = self.directory / CHECKPOINT
        if checkpoint_file.exists():
            saved = orjson.loads(checkpoint_file.read_bytes())
            self._checkpoint = Position(*saved["at"])
            if saved.get("intent"):
                i = saved["intent"]
                self._intent = Intent(Position(*i["start"]), Position(*i["end"]), i["token"])
        elif segments:
            self._checkpoint = Position(segments[0], 0)
        if not segments:
            segments = [max(1, self._checkpoint.segment)]
            (self.directory / _segment_name(segments[0])).touch()
        if self._checkpoint.segment < segments[0]:
            self._checkpoint = Position(segments[0], 0)
        last = self.directory / _segment_name(segments[-1])
        valid = _valid_length(last, 0)
        if valid < last.stat().st_size:
            log.warning(
                "spool: cut %d bytes of a torn record at the end of %s",
                last.stat().st_size - valid,
                last.name,
            )
            os.truncate(last, valid)
        self._segment = segments[-1]
        self._fd = os.open(last, os.O_WRONLY | os.O_APPEND)
        self._size = valid
        self._durable = Position(self._segment, valid)
        self._cursor = self._checkpoint
        self._reserved = self._bytes_between(self._checkpoint, self._durable)
        self._rows_appended = self._count_rows(self._checkpoint)

    def _segments(self) -> list[int]:
        return sorted(
            int(p.name.removesuffix(SEGMENT_SUFFIX))
            for p in self.directory.glob(f"*{SEGMENT_SUFFIX}")
        )

    def _bytes_between(self, start: Position, end: Position) -> int:
        total = 0
        for n in self._segments():
            if start.segment <= n <= end.segment:
                size = (
                    end.offset
                    if n == end.segment
                    else (self.directory / _segment_name(n)).stat().st_size
                )
                total += size - (start.offset if n == start.segment else 0)
        return total

    def _count_rows(self, start: Position) -> int:
        rows = 0
        for n in self._segments():
            if n < start.segment:
                continue
            with (self.directory / _segment_name(n)).open("rb") as f:
                f.seek(start.offset if n == start.segment else 0)
                while header := f.read(HEADER.size):
                    if len(header) < HEADER.size:
                        break
                    length, _crc, count = HEADER.unpack(header)
                    f.seek(length, os.SEEK_CUR)
                    rows += count
        return rows

    @property
    def intent(self) -> Intent | None:
        """The batch that was being inserted when the last process stopped, if any."""
        return self._intent

    @property
    def used_bytes(self) -> int:
        """Bytes not yet stored in ClickHouse, including those being written."""
        return self._reserved - self._released

    @property
    def unread_rows(self) -> int:
        return self._rows_appended - self._rows_read

    def has_room(self, needed: int = 1) -> bool:
        """Whether ``needed`` more bytes would fit now."""
        return self.used_bytes + needed <= self.max_bytes

    # -- appending (event loop + writer thread) -----------------------------------------

    async def append(self, payload: bytes, rows: int) -> None:
        """Return once ``payload`` is on disk; raise :class:`SpoolFull` or :class:`SpoolError`."""
        frame = HEADER.pack(len(payload), zlib.crc32(payload), rows) + payload
        if self.used_bytes + len(frame) > self.max_bytes:
            raise SpoolFull
        self._reserved += len(frame)
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((frame, rows, future))
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().create_task(self._group_commit())
        await future

    async def _group_commit(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._waiting:
                group, self._waiting = self._waiting, []
                try:
                    await loop.run_in_executor(
                        self._writer, self._write, b"".join(f for f, _, _ in group)
                    )
                except OSError as exc:
                    self._reserved -= sum(len(f) for f, _, _ in group)
                    for _, _, future in group:
                        if not future.done():
                            future.set_exception(SpoolError(str(exc)))
                    log.error("spool write failed, %d requests refused: %s", len(group), exc)
                    continue
                self._rows_appended += sum(r for _, r, _ in group)
                for _, _, future in group:
                    if not future.done():
                        future.set_result(None)
                self.on_durable()
        finally:
            self._flushing = False

    def _write(self, data: bytes) -> None:
        if self._size and self._size + len(data) > self.segment_bytes:
            self._roll()
        try:
            written = os.write(self._fd, data)
            if written != len(data):
                raise OSError(f"short write: {written} of {len(data)} bytes")
            os.fdatasync(self._fd)
        except OSError:
            # Cut whatever part made it, so the segment never holds a torn record
            # in front of later ones.
            os.ftruncate(self._fd, self._size)
            raise
        self._size += len(data)
        self._durable = Position(self._segment, self._size)

    def _roll(self) -> None:
        os.fsync(self._fd)
        os.close(self._fd)
        self._segment += 1
        path = self.directory / _segment_name(self._segment)
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        _fsync_dir(self.directory)
        self._size = 0

    # -- reading and committing (sink thread) -------------------------------------------

    def read(
        self,
        max_rows: int,
        until: Position | None = None,
    ) -> tuple[list[bytes], Position, Position]:
        """Whole records from the read cursor: about ``max_rows`` rows, or exactly up to
        ``until`` (to replay an interrupted batch as it was). Returns the payloads and
        the positions before and after them.
        """
        start = pos = self._cursor
        limit = self._durable if until is None else min(until, self._durable)
        payloads: list[bytes] = []
        rows = 0
        while pos < limit and (until is not None or rows < max_rows):
            f = self._reader_for(pos.segment)
            f.seek(pos.offset)
            header = f.read(HEADER.size)
            if len(header) < HEADER.size:
                if pos.segment < limit.segment:
                    pos = Position(pos.segment + 1, 0)
                    continue
                break
            length, crc, count = HEADER.unpack(header)
            payload = f.read(length)
            if len(payload) < length or zlib.crc32(payload) != crc:
                raise SpoolError(f"spool record at {pos} is corrupt")
            payloads.append(payload)
            rows += count
            pos = Position(pos.segment, pos.offset + HEADER.size + length)
        self._cursor = pos
        self._rows_read += rows
        return payloads, start, pos

    def _reader_for(self, segment: int) -> BinaryIO:
        if self._reader is None or self._reader[0] != segment:
            if self._reader is not None:
                self._reader[1].close()
            self._reader = (segment, (self.directory / _segment_name(segment)).open("rb"))
        return self._reader[1]

    def begin(self, intent: Intent) -> None:
        """Record, durably, the batch about to be inserted."""
        self._save(self._checkpoint, intent)
        self._intent = intent

    def commit(self, end: Position) -> None:
        """Everything before ``end`` is stored: move the checkpoint, drop old segments."""
        self._save(end, None)
        self._released += self._bytes_between(self._checkpoint, end)
        self._checkpoint = end
        self._intent = None
        for n in self._segments():
            if n < end.segment:
                (self.directory / _segment_name(n)).unlink()

    def _save(self, at: Position, intent: Intent | None) -> None:
        body: dict[str, object] = {"at": [at.segment, at.offset]}
        if intent is not None:
            body["intent"] = {
                "start": [intent.start.segment, intent.start.offset],
                "end": [intent.end.segment, intent.end.offset],
                "token": intent.token,
            }
        tmp = self.directory / (CHECKPOINT + ".tmp")
        with tmp.open("wb") as f:
            f.write(orjson.dumps(body))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.directory / CHECKPOINT)
        _fsync_dir(self.directory)

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._reader is not None:
            self._reader[1].close()
            self._reader = None
