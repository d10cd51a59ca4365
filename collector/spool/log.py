"""spool: the durable append-only log between an accepted request and ClickHouse.

A request is answered 2xx only after its record is on disk (written and fsynced). Many
concurrent requests share one fsync (group commit). A reader awaits rows
(:meth:`Spool.wait_for_rows`), reads records back in order and moves the checkpoint only
once it is done with them; so after a crash everything past
the checkpoint is read again, and nothing acknowledged is lost. How the reader makes
reading twice harmless is its own business.

On disk: numbered segment files of framed records, ``<len u32><crc32 u32><rows u32>``
then the payload, plus a ``checkpoint`` file naming the first record not yet done with.

A record that fails its check is moved to ``quarantine/`` and reading resumes at the next
valid frame: one bad byte costs one record, never the records after it. Only an incomplete
frame at the very end of the last segment is a torn write, never acknowledged, and cut.
A checkpoint that is missing or unreadable is rebuilt: reading starts at the oldest
segment and every record up to the end of the spool as found is marked for checking
against the store, so that what was already stored is not stored again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import mmap
import os
import queue
import re
import struct
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import orjson

from collector.ops.metrics import Metrics

HEADER = struct.Struct("<III")
SEGMENT_SUFFIX = ".spool"
CHECKPOINT = "checkpoint"
QUARANTINE = "quarantine"
PROBE = "probe.tmp"
DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024
MIN_SEGMENT_BYTES = 4096

log = logging.getLogger("microx.spool")


class SpoolFull(Exception):
    """The spool holds its maximum of unstored bytes: refuse (503) until it drains."""


class SpoolError(Exception):
    """Writing to the spool failed (disk full, I/O error): nothing was acknowledged."""


@dataclasses.dataclass(frozen=True, order=True)
class Position:
    segment: int
    offset: int

    def __str__(self) -> str:
        return f"segment {self.segment} offset {self.offset}"

    def listed(self) -> list[int]:
        """The position as it is saved in a file (JSON)."""
        return [self.segment, self.offset]

    @classmethod
    def parse(cls, value: object) -> Position:
        """A position as saved (:meth:`listed`); ValueError unless it is two counts."""
        if (
            not isinstance(value, list)
            or len(value) != 2
            or not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in value)
        ):
            raise ValueError(f"position {value!r}")
        return cls(value[0], value[1])


def _segment_name(n: int) -> str:
    return f"{n:012d}{SEGMENT_SUFFIX}"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _frame_length(data: mmap.mmap | bytes, offset: int, end: int) -> int | None:
    """The size of the whole, CRC-valid frame at ``offset`` (ending by ``end``), if any.

    Payloads are never empty, so a run of zeros (a file extended but never written) does
    not pass for frames."""
    if offset + HEADER.size > end:
        return None
    length, crc, _rows = HEADER.unpack_from(data, offset)
    start = offset + HEADER.size
    if length == 0 or start + length > end or zlib.crc32(data[start : start + length]) != crc:
        return None
    return HEADER.size + int(length)


def _next_frame(data: mmap.mmap | bytes, offset: int, end: int) -> int | None:
    """The first offset after ``offset`` where a valid frame starts, if any.

    A frame's length is below the bytes left, so its top byte is small; payloads are
    JSON and hold no such bytes, so only header bytes are tried."""
    top = min((end - offset) >> 24, 255)
    candidates = re.compile(b"[\\x00-" + re.escape(bytes([top])) + b"]")
    at = offset + 1
    while (found := candidates.search(data, at + 3, end)) is not None:
        at = found.start() - 3
        if _frame_length(data, at, end) is not None:
            return at
        at += 1
    return None


@dataclasses.dataclass(frozen=True)
class _Group:
    """Records for one write and fsync: their frames, rows, the requests waiting for them,
    and the loop those requests wait on."""

    data: bytes
    rows: int
    waiting: list[tuple[bytes, int, asyncio.Future[None]]]
    loop: asyncio.AbstractEventLoop


@dataclasses.dataclass(frozen=True)
class _Span:
    """Bytes of a segment: one valid frame, or a corrupt stretch up to the next one."""

    start: int
    end: int
    rows: int
    valid: bool


def _walk(path: Path, start: int = 0) -> Iterator[_Span]:
    """The segment at ``path`` from ``start``, frame by frame, resynchronising past
    corrupt stretches; the last span is corrupt when no valid frame follows it."""
    size = path.stat().st_size
    if size <= start:
        return
    with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
        pos = start
        while pos < size:
            length = _frame_length(data, pos, size)
            if length is not None:
                yield _Span(pos, pos + length, HEADER.unpack_from(data, pos)[2], True)
                pos += length
                continue
            found = _next_frame(data, pos, size)
            yield _Span(pos, size if found is None else found, 0, False)
            if found is None:
                return
            pos = found


def _valid_length(path: Path) -> int:
    """Offset just past the last valid frame of ``path``: what follows is a torn write."""
    good = 0
    for span in _walk(path):
        if span.valid:
            good = span.end
    return good


def saved_checkpoint(directory: Path) -> Position:
    """Where the checkpoint says unstored records begin (the oldest segment when it
    cannot be read: then everything may be unstored)."""
    try:
        return Position.parse(orjson.loads((directory / CHECKPOINT).read_bytes())["at"])
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return Position(0, 0)


def unstored(directory: Path) -> Iterator[bytes]:
    """The valid records past the saved checkpoint, read without opening the spool for
    writing, so that a visitor's data waiting there can be found, running or not."""
    start = saved_checkpoint(directory)
    for n in sorted(
        int(p.name.removesuffix(SEGMENT_SUFFIX)) for p in directory.glob(f"*{SEGMENT_SUFFIX}")
    ):
        if n < start.segment:
            continue
        path = directory / _segment_name(n)
        offset = start.offset if n == start.segment else 0
        with contextlib.suppress(FileNotFoundError), path.open("rb") as f:
            for span in _walk(path, offset):
                if span.valid:
                    f.seek(span.start + HEADER.size)
                    yield f.read(span.end - span.start - HEADER.size)


def spool_end(directory: Path) -> Position:
    """The end of the newest segment: every record appended so far lies before it."""
    segments = sorted(
        int(p.name.removesuffix(SEGMENT_SUFFIX)) for p in directory.glob(f"*{SEGMENT_SUFFIX}")
    )
    if not segments:
        return Position(0, 0)
    return Position(segments[-1], (directory / _segment_name(segments[-1])).stat().st_size)


class Spool:
    def __init__(
        self,
        directory: Path,
        max_bytes: int,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
        metrics: Metrics | None = None,
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        # Where records moved to the quarantine are counted.
        self._metrics = metrics
        # The last append's failure (disk full, I/O error), None once one succeeds again.
        self.write_error: str | None = None
        # Groups of records for the writer thread to write and fsync, None to stop it.
        self._jobs: queue.SimpleQueue[_Group | None] = queue.SimpleQueue()
        self._writer: threading.Thread | None = None
        self._waiting: list[tuple[bytes, int, asyncio.Future[None]]] = []
        # Readers waiting for a number of unread rows (event loop only).
        self._readers: list[tuple[int, asyncio.Future[None]]] = []
        # The loop whose requests' group is being written, if any.
        self._flushing: asyncio.AbstractEventLoop | None = None
        self._fd = -1
        self._segment = 0
        self._size = 0  # bytes in the current segment
        # The end of what is durable and the rows appended up to it, as one value: the
        # writer thread replaces it, the sink thread reads both halves consistently.
        self._appended = (Position(0, 0), 0)
        self._checkpoint = Position(0, 0)
        # Records before this position may already be stored (the checkpoint was lost).
        self._verify_until = Position(0, 0)
        # Each counter is written by one thread only: the event loop reserves bytes, the
        # writer thread counts rows appended, the sink thread releases bytes and counts
        # rows read.
        self._reserved = 0
        self._released = 0
        self._rows_read = 0
        self._cursor = Position(0, 0)
        self._reader: tuple[int, BinaryIO] | None = None

    # -- start-up -----------------------------------------------------------------------

    def open(self) -> None:
        """Find the checkpoint, cut a torn last record, and get ready to append."""
        self.directory.mkdir(parents=True, exist_ok=True)
        segments = self._segments()
        trusted = self._load_checkpoint(segments)
        if not segments:
            segments = [max(1, self._checkpoint.segment)]
            (self.directory / _segment_name(segments[0])).touch()
            _fsync_dir(self.directory)
            # A new spool starts with a checkpoint, so that a missing one later means lost.
            self._checkpoint = Position(segments[0], 0)
            self._save(self._checkpoint)
        if self._checkpoint.segment < segments[0]:
            self._checkpoint = Position(segments[0], 0)
        last = self.directory / _segment_name(segments[-1])
        valid = _valid_length(last)
        size = last.stat().st_size
        if valid < size:
            with last.open("rb") as f:
                f.seek(valid)
                kept = self._quarantine(f.read(), Position(segments[-1], valid), "torn")
            log.warning(
                "spool: cut %d bytes of a torn record at the end of %s (a copy is in %s)",
                size - valid,
                last.name,
                kept,
            )
            os.truncate(last, valid)
        self._segment = segments[-1]
        self._fd = os.open(last, os.O_WRONLY | os.O_APPEND)
        self._size = valid
        durable = Position(self._segment, valid)
        if trusted and not self._on_boundary(self._checkpoint, durable):
            trusted = self._distrust(
                f"pointing at {self._checkpoint}, not at a record", segments[0]
            )
        if not trusted:
            self._verify_until = durable
            self._save(self._checkpoint)
        self._cursor = self._checkpoint
        self._reserved = self._bytes_between(self._checkpoint, durable)
        self._appended = (durable, self._count_rows(self._checkpoint))

    def _on_boundary(self, at: Position, durable: Position) -> bool:
        """Whether ``at`` is where a record starts (or the end), within the spool."""
        path = self.directory / _segment_name(at.segment)
        if at > durable or not path.exists():
            return False
        return at.offset == 0 or any(span.end == at.offset for span in _walk(path))

    def _load_checkpoint(self, segments: list[int]) -> bool:
        """Read the checkpoint; False when it is missing or damaged and must be rebuilt."""
        path = self.directory / CHECKPOINT
        try:
            saved = orjson.loads(path.read_bytes())
            self._checkpoint = Position.parse(saved["at"])
            if saved.get("verify_until"):
                self._verify_until = Position.parse(saved["verify_until"])
            return True
        except FileNotFoundError:
            problem = "missing"
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            problem = f"damaged ({exc})"
        if not segments:
            return True  # nothing written yet: nothing to lose or to repeat
        return self._distrust(problem, segments[0])

    def _distrust(self, problem: str, first_segment: int) -> bool:
        self._checkpoint = Position(first_segment, 0)
        log.error(
            "spool: checkpoint %s; rebuilding it from the spool: records from %s on are "
            "checked against the store before insert, so that none is stored twice",
            problem,
            _segment_name(first_segment),
        )
        return False

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
            if n >= start.segment:
                offset = start.offset if n == start.segment else 0
                rows += sum(span.rows for span in _walk(self.directory / _segment_name(n), offset))
        return rows

    @property
    def checkpoint(self) -> Position:
        """The first record not yet stored."""
        return self._checkpoint

    @property
    def durable_end(self) -> Position:
        """The end of what is durable: every record acknowledged so far lies before it."""
        return self._appended[0]

    @property
    def used_bytes(self) -> int:
        """Bytes not yet stored in ClickHouse, including those being written."""
        return self._reserved - self._released

    @property
    def unread_rows(self) -> int:
        return self._appended[1] - self._rows_read

    @property
    def has_unread(self) -> bool:
        """Whether anything durable is past the read cursor (rows counts aside: a corrupt
        record's count cannot be trusted, but it still has to be read to be quarantined)."""
        return self._cursor < self._appended[0]

    def needs_verify(self, start: Position) -> bool:
        """Whether records read from ``start`` may have been done with already (the
        checkpoint was rebuilt): the reader must check before it uses them again."""
        return start < self._verify_until

    def has_room(self, needed: int = 1) -> bool:
        """Whether ``needed`` more bytes would fit now."""
        return self.used_bytes + needed <= self.max_bytes

    def unwritable(self, needed: int) -> str | None:
        """Why ``needed`` bytes could not be appended now (no space on the disk, or the
        last append failed and a test write fails too), or None. Blocks: call off the loop.
        """
        disk = os.statvfs(self.directory)
        free = disk.f_bavail * disk.f_frsize
        if free < needed:
            return f"{free} bytes free on the spool's disk, {needed} needed"
        if self.write_error is None:
            return None
        probe = self.directory / PROBE
        try:
            with probe.open("wb") as f:
                f.write(b"\0" * needed)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            return f"spool not writable: {exc}"
        finally:
            probe.unlink(missing_ok=True)
        self.write_error = None
        return None

    # -- appending (event loop + writer thread) -----------------------------------------

    async def append(self, payload: bytes, rows: int) -> None:
        """Return once ``payload`` is on disk; raise :class:`SpoolFull` or :class:`SpoolError`."""
        frame = HEADER.pack(len(payload), zlib.crc32(payload), rows) + payload
        if self.used_bytes + len(frame) > self.max_bytes:
            raise SpoolFull
        self._reserved += len(frame)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        self._waiting.append((frame, rows, future))
        if self._flushing is None or self._flushing.is_closed():
            # A loop closed while its group was written never settled it: start afresh.
            self._flushing = loop
            self._hand_off(loop)
        await future

    # Group commit: while the writer thread writes and fsyncs one group, the requests that
    # arrive wait in ``_waiting`` and go as the next group. The thread answers each group
    # with one callback on the loop, which settles the group's requests and hands the next
    # group over: one wake-up of the loop per fsync, no task or executor future per group.

    def _hand_off(self, loop: asyncio.AbstractEventLoop) -> None:
        group, self._waiting = self._waiting, []
        data, rows = b"".join(f for f, _, _ in group), sum(r for _, r, _ in group)
        if self._writer is None:
            # Started at the first append, once the process is confined: a thread made
            # before the confinement would stay free of it.
            # A daemon: at exit without close() a group in flight was never acknowledged.
            self._writer = threading.Thread(
                target=self._write_groups, name="microx-spool", daemon=True
            )
            self._writer.start()
        self._jobs.put(_Group(data, rows, group, loop))

    def _write_groups(self) -> None:
        while (group := self._jobs.get()) is not None:
            try:
                self._write(group.data, group.rows)
                error: OSError | None = None
            except OSError as exc:
                error = exc
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits
                group.loop.call_soon_threadsafe(self._written, group, error)

    def _written(self, group: _Group, error: OSError | None) -> None:
        if error is not None:
            self._reserved -= len(group.data)
            self.write_error = str(error) or type(error).__name__
            for _, _, future in group.waiting:
                if not future.done():
                    future.set_exception(SpoolError(str(error)))
            log.error("spool write failed, %d requests refused: %s", len(group.waiting), error)
        else:
            self.write_error = None
            for _, _, future in group.waiting:
                if not future.done():
                    future.set_result(None)
            unread = self.unread_rows
            for wanted, reader in self._readers:
                if unread >= wanted and not reader.done():
                    reader.set_result(None)
        if self._waiting:
            self._hand_off(group.loop)
        else:
            self._flushing = None

    async def wait_for_rows(self, rows: int, timeout: float) -> bool:
        """Wait until at least ``rows`` durable rows are unread, or ``timeout`` seconds
        pass; whether they are there."""
        if self.unread_rows < rows:
            waiter = (rows, asyncio.get_running_loop().create_future())
            self._readers.append(waiter)
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter[1], timeout)
            finally:
                self._readers.remove(waiter)
        return self.unread_rows >= rows

    def _write(self, data: bytes, rows: int) -> None:
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
        self._appended = (Position(self._segment, self._size), self._appended[1] + rows)

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
        the positions before and after them. Corrupt records on the way are quarantined.
        """
        durable, appended_rows = self._appended
        start = pos = self._cursor
        limit = durable if until is None else min(until, durable)
        payloads: list[bytes] = []
        rows = 0
        while pos < limit and (until is not None or rows < max_rows):
            f = self._reader_for(pos.segment)
            end = limit.offset if pos.segment == limit.segment else os.fstat(f.fileno()).st_size
            if pos.offset >= end:
                pos = Position(pos.segment + 1, 0)
                continue
            f.seek(pos.offset)
            header = f.read(HEADER.size)
            length, crc, count = HEADER.unpack(header) if len(header) == HEADER.size else (0, 0, 0)
            payload = f.read(length) if 0 < length <= end - pos.offset - HEADER.size else b""
            if not payload or zlib.crc32(payload) != crc:
                pos = self._skip_corrupt(pos, end)
                continue
            payloads.append(payload)
            rows += count
            pos = Position(pos.segment, pos.offset + HEADER.size + length)
        self._cursor = pos
        # At the end of what is durable the count is exact again, whatever a corrupt
        # record's header claimed.
        self._rows_read = appended_rows if pos == durable else self._rows_read + rows
        return payloads, start, pos

    def _skip_corrupt(self, at: Position, end: int) -> Position:
        """Move the corrupt bytes at ``at`` to the quarantine; the position after them."""
        path = self.directory / _segment_name(at.segment)
        with path.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data:
            found = _next_frame(data, at.offset, end)
            after = end if found is None else found
            bad = data[at.offset : after]
        kept = self._quarantine(bad, at, "bad")
        log.error(
            "spool: corrupt record at %s offset %d (%d bytes) moved to %s; reading resumes "
            "at offset %d",
            path.name,
            at.offset,
            len(bad),
            kept,
            after,
        )
        if self._metrics is not None:
            self._metrics.spool_quarantined.inc()
        return Position(at.segment, after)

    def _quarantine(self, data: bytes, at: Position, kind: str) -> Path:
        """Keep ``data`` (found at ``at``) durably in the quarantine directory.

        Named after its position, so reading the same bytes again after a restart
        rewrites the same file rather than adding one."""
        directory = self.directory / QUARANTINE
        directory.mkdir(exist_ok=True)
        path = directory / f"{at.segment:012d}-{at.offset:012d}.{kind}"
        with path.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        _fsync_dir(directory)
        return path

    def _reader_for(self, segment: int) -> BinaryIO:
        if self._reader is None or self._reader[0] != segment:
            if self._reader is not None:
                self._reader[1].close()
            self._reader = (segment, (self.directory / _segment_name(segment)).open("rb"))
        return self._reader[1]

    def commit(self, end: Position) -> None:
        """Everything before ``end`` is stored: move the checkpoint, drop old segments."""
        self._save(end)
        self._released += self._bytes_between(self._checkpoint, end)
        self._checkpoint = end
        for n in self._segments():
            if n < end.segment:
                (self.directory / _segment_name(n)).unlink()

    def _save(self, at: Position) -> None:
        body: dict[str, object] = {"at": at.listed()}
        if at < self._verify_until:
            body["verify_until"] = self._verify_until.listed()
        tmp = self.directory / (CHECKPOINT + ".tmp")
        with tmp.open("wb") as f:
            f.write(orjson.dumps(body))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.directory / CHECKPOINT)
        _fsync_dir(self.directory)

    def close(self) -> None:
        if self._writer is not None:
            self._jobs.put(None)
            self._writer.join()
            self._writer = None
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        if self._reader is not None:
            self._reader[1].close()
            self._reader = None
