"""The spool on a real file system: append, read back, commit, reopen, cut torn tails."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import orjson
import pytest

from collector.ops.metrics import Metrics
from collector.spool.log import (
    CHECKPOINT,
    HEADER,
    QUARANTINE,
    SEGMENT_SUFFIX,
    Position,
    Spool,
    SpoolError,
    SpoolFull,
)
from tests.conftest import series


def appended(spool: Spool, payloads: list[bytes]) -> None:
    async def go() -> None:
        await asyncio.gather(*(spool.append(p, 1) for p in payloads))

    asyncio.run(go())


def opened(directory: Path, max_bytes: int = 10_000_000, segment_bytes: int = 1 << 20) -> Spool:
    spool = Spool(directory, max_bytes, segment_bytes)
    spool.open()
    return spool


def test_append_read_commit(tmp_path: Path) -> None:
    spool = opened(tmp_path)
    payloads = [f"record {i}".encode() for i in range(50)]
    appended(spool, payloads)
    assert spool.unread_rows == 50
    got, _, end = spool.read(20)
    assert got == payloads[:20] and spool.unread_rows == 30
    used = spool.used_bytes
    spool.commit(end)
    assert spool.used_bytes < used
    got2, start2, _ = spool.read(1000)
    assert start2 == end and got2 == payloads[20:]
    assert spool.read(1000)[0] == []
    spool.close()


def test_reopen_replays_everything_after_the_checkpoint(tmp_path: Path) -> None:
    spool = opened(tmp_path)
    payloads = [f"r{i}".encode() for i in range(10)]
    appended(spool, payloads)
    _, _, end = spool.read(4)
    spool.commit(end)
    spool.read(1000)  # read but never committed: as if the process died mid-insert
    spool.close()
    again = opened(tmp_path)
    assert again.unread_rows == 6
    assert again.read(1000)[0] == payloads[4:]
    again.close()


def test_torn_last_record_is_cut_and_earlier_ones_kept(tmp_path: Path) -> None:
    spool = opened(tmp_path)
    appended(spool, [b"whole one", b"whole two"])
    spool.close()
    (segment,) = tmp_path.glob(f"*{SEGMENT_SUFFIX}")
    with segment.open("ab") as f:
        f.write(b"\x40\x00\x00\x00garbage, a write cut short by a crash")
    again = opened(tmp_path)
    appended(again, [b"after restart"])
    assert again.read(1000)[0] == [b"whole one", b"whole two", b"after restart"]
    again.close()


def test_segments_roll_and_are_deleted_once_stored(tmp_path: Path) -> None:
    spool = opened(tmp_path, segment_bytes=1000)
    payloads = [bytes([65 + i % 26]) * 300 for i in range(20)]
    for p in payloads:  # one at a time, so each append is its own write
        appended(spool, [p])
    assert len(list(tmp_path.glob(f"*{SEGMENT_SUFFIX}"))) >= 5
    got, _, end = spool.read(1000)
    assert got == payloads
    spool.commit(end)
    assert len(list(tmp_path.glob(f"*{SEGMENT_SUFFIX}"))) == 1
    assert spool.used_bytes == 0
    spool.close()
    assert opened(tmp_path).unread_rows == 0


def test_full_spool_refuses_until_it_drains(tmp_path: Path) -> None:
    spool = opened(tmp_path, max_bytes=1000)
    appended(spool, [b"x" * 400, b"y" * 400])
    with pytest.raises(SpoolFull):
        appended(spool, [b"z" * 400])
    assert spool.used_bytes == 2 * (400 + 12)  # payload and frame header each
    _, _, end = spool.read(1000)
    spool.commit(end)
    appended(spool, [b"z" * 400])
    assert spool.read(1000)[0] == [b"z" * 400]
    spool.close()


def test_read_until_gives_back_exactly_what_was_read_before(tmp_path: Path) -> None:
    spool = opened(tmp_path)
    appended(spool, [b"a", b"b", b"c"])
    _, start, end = spool.read(2)
    spool.close()  # never committed
    again = opened(tmp_path)
    assert again.checkpoint == start
    assert again.durable_end > end
    assert again.read(1000, until=end) == ([b"a", b"b"], start, end)
    again.commit(end)
    again.close()
    assert opened(tmp_path).checkpoint == end


def test_checkpoint_holds_only_the_spool_position(tmp_path: Path) -> None:
    spool = opened(tmp_path)
    appended(spool, [b"a", b"b"])
    _, _, end = spool.read(1)
    spool.commit(end)
    spool.close()
    assert orjson.loads((tmp_path / CHECKPOINT).read_bytes()) == {"at": end.listed()}


def test_checkpoint_of_an_older_release_is_read(tmp_path: Path) -> None:
    """Older releases kept the sink's insert intent in the checkpoint: its position counts,
    the intent is the sink's to deal with (it finds its own record missing)."""
    spool = opened(tmp_path)
    appended(spool, [b"a", b"b", b"c"])
    _, _, end = spool.read(1)
    spool.close()
    (tmp_path / CHECKPOINT).write_bytes(
        orjson.dumps(
            {"at": end.listed(), "intent": {"start": end.listed(), "end": [9, 9], "token": "t"}}
        )
    )
    again = opened(tmp_path)
    assert again.checkpoint == end
    got, start, _ = again.read(1000)
    assert got == [b"b", b"c"] and not again.needs_verify(start)
    again.close()


def test_concurrent_appends_share_fsyncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = 0
    real = os.fdatasync

    def counting(fd: int) -> None:
        nonlocal calls
        calls += 1
        real(fd)

    monkeypatch.setattr(os, "fdatasync", counting)
    spool = opened(tmp_path)
    appended(spool, [f"{i}".encode() for i in range(200)])
    assert spool.unread_rows == 200
    assert calls < 200  # group commit: one fsync covers every request waiting for it
    spool.close()


def test_a_failed_write_refuses_its_group_and_the_next_one_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.fdatasync
    failures = [OSError(28, "No space left on device")]

    def failing_once(fd: int) -> None:
        if failures:
            raise failures.pop()
        real(fd)

    monkeypatch.setattr(os, "fdatasync", failing_once)
    spool = opened(tmp_path)

    async def go() -> tuple[BaseException | None]:
        results = await asyncio.gather(spool.append(b"lost", 1), return_exceptions=True)
        await spool.append(b"kept", 1)
        return results

    results = asyncio.run(go())
    assert isinstance(results[0], SpoolError) and spool.write_error is None
    assert spool.read(10)[0] == [b"kept"] and spool.used_bytes == HEADER.size + len(b"kept")
    spool.close()


def test_a_reader_waits_for_rows_until_enough_are_durable(tmp_path: Path) -> None:
    spool = opened(tmp_path)

    async def go() -> tuple[bool, bool, bool, bool]:
        waiting = asyncio.ensure_future(spool.wait_for_rows(3, 60))
        await spool.append(b"one", 1)
        await spool.append(b"two", 1)
        early = waiting.done()
        await spool.append(b"three and four", 2)
        woken = await asyncio.wait_for(waiting, 10)
        at_once = await spool.wait_for_rows(4, 0)
        return early, woken, at_once, await spool.wait_for_rows(5, 0.05)

    early, woken, at_once, too_many = asyncio.run(go())
    assert not early and woken and at_once and not too_many
    spool.read(1000)
    assert not asyncio.run(spool.wait_for_rows(1, 0.05))  # read: nothing unread is left
    spool.close()


def test_positions_order() -> None:
    assert Position(1, 500) < Position(2, 0) < Position(2, 1)


def frames(directory: Path) -> list[tuple[Path, int, int]]:
    """Every record on disk: its segment, offset and whole frame size."""
    found = []
    for segment in sorted(directory.glob(f"*{SEGMENT_SUFFIX}")):
        data = segment.read_bytes()
        offset = 0
        while offset < len(data):
            length = HEADER.unpack_from(data, offset)[0]
            found.append((segment, offset, HEADER.size + length))
            offset += HEADER.size + length
    return found


def flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x20
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("where", ["payload", "length", "crc"])
def test_corrupt_record_is_quarantined_and_reading_resumes_after_it(
    tmp_path: Path, where: str
) -> None:
    spool = opened(tmp_path)
    payloads = [b'{"record": %d, "pad": "%s"}' % (i, b"x" * 40) for i in range(10)]
    appended(spool, payloads)
    spool.close()
    segment, offset, size = frames(tmp_path)[4]
    flip(segment, offset + {"payload": HEADER.size + 5, "length": 2, "crc": 5}[where])
    bad = segment.read_bytes()[offset : offset + size]
    metrics = Metrics()
    again = Spool(tmp_path, 10_000_000, 1 << 20, metrics)
    again.open()
    got, _, end = again.read(1000)
    assert got == payloads[:4] + payloads[5:]
    assert series(metrics.render().decode(), "spool_quarantined_records_total") == 1
    (kept,) = (tmp_path / QUARANTINE).iterdir()
    assert kept.read_bytes() == bad and kept.name.endswith(f"-{offset:012d}.bad")
    again.commit(end)
    assert again.used_bytes == 0 and again.unread_rows == 0
    again.close()


def test_corrupt_record_at_the_end_of_an_older_segment_is_quarantined(tmp_path: Path) -> None:
    spool = opened(tmp_path, segment_bytes=1000)
    payloads = [bytes([65 + i % 26]) * 300 for i in range(8)]
    for p in payloads:
        appended(spool, [p])
    spool.close()
    records = frames(tmp_path)
    # The last record of the first segment: valid records follow only in the next one.
    i = next(i for i, r in enumerate(records) if records[i + 1][0] != r[0])
    segment, offset, _ = records[i]
    flip(segment, offset + HEADER.size + 10)
    again = opened(tmp_path)
    assert again.read(1000)[0] == payloads[:i] + payloads[i + 1 :]
    assert len(list((tmp_path / QUARANTINE).iterdir())) == 1
    again.close()


def test_zeroed_tail_after_power_loss_is_cut_as_torn(tmp_path: Path) -> None:
    spool = opened(tmp_path)
    appended(spool, [b"whole one", b"whole two"])
    spool.close()
    (segment,) = tmp_path.glob(f"*{SEGMENT_SUFFIX}")
    with segment.open("ab") as f:
        f.write(b"\0" * 4096)  # the file grew, the data never reached the disk
    again = opened(tmp_path)
    appended(again, [b"after restart"])
    assert again.read(1000)[0] == [b"whole one", b"whole two", b"after restart"]
    again.close()


@pytest.mark.parametrize("damage", ["truncated", "deleted", "garbage", "off_a_record"])
def test_damaged_checkpoint_is_rebuilt_from_the_oldest_segment(tmp_path: Path, damage: str) -> None:
    spool = opened(tmp_path)
    payloads = [f"r{i}".encode() for i in range(10)]
    appended(spool, payloads)
    _, _, end = spool.read(4)
    spool.commit(end)
    spool.close()
    checkpoint = tmp_path / CHECKPOINT
    if damage == "truncated":
        checkpoint.write_bytes(checkpoint.read_bytes()[:7])
    elif damage == "deleted":
        checkpoint.unlink()
    elif damage == "garbage":
        checkpoint.write_bytes(b'{"at": "nowhere"}')
    else:
        checkpoint.write_bytes(b'{"at": [%d, %d]}' % (end.segment, end.offset + 3))
    again = opened(tmp_path)
    assert again.checkpoint == Position(1, 0)
    got, start, end2 = again.read(1000)
    assert got == payloads and again.needs_verify(start)
    again.commit(end2)
    again.close()
    # Once past what was there, the checkpoint is trusted again.
    third = opened(tmp_path)
    appended(third, [b"new"])
    _, start3, _ = third.read(1000)
    assert not third.needs_verify(start3)
    third.close()


def test_rebuilding_survives_a_second_crash(tmp_path: Path) -> None:
    spool = opened(tmp_path)
    appended(spool, [f"r{i}".encode() for i in range(6)])
    spool.close()
    (tmp_path / CHECKPOINT).unlink()
    again = opened(tmp_path)
    _, _, end = again.read(2)
    again.commit(end)  # part of the rebuilt range stored, then a crash
    again.close()
    third = opened(tmp_path)
    _, start, _ = third.read(1000)
    assert third.needs_verify(start)
    third.close()


def test_new_spool_has_a_checkpoint(tmp_path: Path) -> None:
    opened(tmp_path).close()
    assert (tmp_path / CHECKPOINT).exists()
    again = opened(tmp_path)
    appended(again, [b"x"])
    _, start, _ = again.read(1000)
    assert not again.needs_verify(start)
    again.close()
