"""A damaged spool, checkpoint or store under the real collector process: every
acknowledged event is stored exactly once, or kept and shown where a person looks."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from collector.spool.log import CHECKPOINT, HEADER, QUARANTINE, SEGMENT_SUFFIX
from tests.conftest import Collector, make_envelope, make_event, open_store, wait_for

SEGMENT_BYTES = "65536"
# Batching that never fires on its own: what is posted stays in the spool.
HOLD = {"MICROX_BATCH_MAX_ROWS": "1000000", "MICROX_BATCH_MAX_AGE_MS": "3600000"}
EVENTS_PER_POST = 20
# How long a restarted collector may take to drain what it was left, on a loaded machine.
WAIT_S = 60.0


Spawn = Callable[..., Collector]


@pytest.fixture
def spawn() -> Iterator[Spawn]:
    """Collectors started by a test, all stopped after it, passed or failed."""
    started: list[Collector] = []

    def start(data_dir: Path, **env: str) -> Collector:
        started.append(Collector(data_dir, preexec_fn=None, **env))
        return started[-1]

    yield start
    for collector in started:
        collector.stop()


def post_acked(collector: Collector, posts: int, invalid: bool = False) -> list[str]:
    """Event ids acknowledged by ``posts`` requests; with ``invalid``, each request also
    carries one event that goes to rejected_events."""
    acked: list[str] = []
    for _ in range(posts):
        events = [make_event(q=j) for j in range(EVENTS_PER_POST)]
        envelope = make_envelope(*events, *([make_event(ts="later")] if invalid else []))
        assert collector.post(envelope).status_code == 202
        acked += [e["id"] for e in events]
    return acked


def kill(collector: Collector) -> None:
    collector.proc.kill()  # SIGKILL: no shutdown hook runs
    collector.proc.wait()


def drained(collector: Collector) -> bool:
    return collector.metric("spool_bytes") == 0


def stored(data_dir: Path) -> dict[str, int]:
    with open_store(f"chdb://{data_dir / 'clickhouse'}") as store:
        _, rows = store.query(
            "SELECT toString(event_id), count() FROM microx.events GROUP BY event_id"
        )
    return dict(rows)


def records(spool: Path) -> list[tuple[Path, int, bytes]]:
    """Each record on disk: segment, offset, the whole frame."""
    found = []
    for segment in sorted(spool.glob(f"*{SEGMENT_SUFFIX}")):
        data = segment.read_bytes()
        offset = 0
        while offset < len(data):
            size = HEADER.size + HEADER.unpack_from(data, offset)[0]
            found.append((segment, offset, data[offset : offset + size]))
            offset += size
    return found


def ids_in(frame: bytes) -> list[str]:
    return [e["id"] for e in orjson.loads(frame[HEADER.size :]).get("e", [])]


def flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def test_flipped_bytes_in_a_two_segment_backlog_cost_only_their_records(
    tmp_path: Path, spawn: Spawn
) -> None:
    data_dir = tmp_path / "var"
    first = spawn(data_dir, MICROX_SPOOL_SEGMENT_BYTES=SEGMENT_BYTES, **HOLD)
    acked = post_acked(first, 60)
    kill(first)
    spool = data_dir / "spool"
    on_disk = records(spool)
    segments = sorted({segment for segment, _, _ in on_disk})
    assert len(segments) >= 2
    in_first = [r for r in on_disk if r[0] == segments[0]]
    in_last = [r for r in on_disk if r[0] == segments[-1]]
    # One record in the middle of the oldest segment (a payload byte) and one with valid
    # records after it in the newest (a length byte, so the framing itself is lost).
    bad_first, bad_last = in_first[len(in_first) // 2], in_last[len(in_last) // 2]
    flip(bad_first[0], bad_first[1] + HEADER.size + 30)
    flip(bad_last[0], bad_last[1] + 2)
    lost = set(ids_in(bad_first[2]) + ids_in(bad_last[2]))
    damaged = {
        segment.read_bytes()[offset : offset + len(frame)]
        for segment, offset, frame in (bad_first, bad_last)
    }

    second = spawn(data_dir, MICROX_SPOOL_SEGMENT_BYTES=SEGMENT_BYTES)
    wait_for(lambda: drained(second), WAIT_S, why="the backlog drained")
    late = post_acked(second, 1)
    wait_for(lambda: drained(second), WAIT_S, why="a new post stored")
    assert httpx.get(f"{second.base}/readyz").json()["status"] == "ok"
    assert second.metric("spool_quarantined_records_total") == 2
    assert second.stopped_cleanly()

    counts = stored(data_dir)
    expected = [i for i in acked if i not in lost] + late
    assert len(expected) == len(acked) + len(late) - 2 * EVENTS_PER_POST
    assert [i for i in expected if i not in counts] == [], "intact records lost"
    assert {i: n for i, n in counts.items() if n != 1} == {}, "stored more than once"
    assert lost.isdisjoint(counts)
    kept = sorted((spool / QUARANTINE).iterdir())
    assert {p.read_bytes() for p in kept} == damaged  # each bad record, as it was on disk
    log = second.log.read_text()
    assert log.count("corrupt record at") == 2


@pytest.mark.parametrize("damage", ["truncated", "deleted"])
def test_lost_checkpoint_is_rebuilt_without_duplicates(
    tmp_path: Path, spawn: Spawn, damage: str
) -> None:
    data_dir = tmp_path / "var"
    # Stored, then left in the spool: the oldest segment holds both when the
    # checkpoint goes.
    first = spawn(data_dir)
    acked = post_acked(first, 30, invalid=True)
    wait_for(lambda: drained(first), WAIT_S, why="first posts stored")
    kill(first)
    second = spawn(data_dir, **HOLD)
    acked += post_acked(second, 20, invalid=True)
    kill(second)
    checkpoint = data_dir / "spool" / CHECKPOINT
    if damage == "truncated":
        checkpoint.write_bytes(checkpoint.read_bytes()[:9])
    else:
        checkpoint.unlink()

    third = spawn(data_dir)
    wait_for(lambda: drained(third), WAIT_S, why="the spool drained")
    assert third.stopped_cleanly()

    counts = stored(data_dir)
    assert [i for i in acked if i not in counts] == [], "acknowledged events lost"
    assert {i: n for i, n in counts.items() if n != 1} == {}, "stored more than once"
    assert "rebuilding it from the spool" in third.log.read_text()
    with open_store(f"chdb://{data_dir / 'clickhouse'}") as store:
        _, rows = store.query("SELECT count(), uniqExact(raw) FROM microx.rejected_events")
    assert rows == [(50, 50)]  # one invalid event per request, each kept once


def test_store_directory_deleted_while_running_keeps_the_spool(
    tmp_path: Path, spawn: Spawn
) -> None:
    data_dir = tmp_path / "var"
    first = spawn(data_dir, MICROX_SHUTDOWN_TIMEOUT_S="1")
    post_acked(first, 3)
    wait_for(lambda: drained(first), WAIT_S, why="first posts stored")
    shutil.rmtree(data_dir / "clickhouse")
    after = post_acked(first, 10)
    wait_for(lambda: first.metric("store_lost") == 1, WAIT_S, why="the lost store noticed")
    ready = httpx.get(f"{first.base}/readyz").json()
    assert ready["status"] == "degraded" and ready["store"] == "lost", ready
    assert first.metric("spool_bytes") > 0  # kept: the store never really had them
    assert "was deleted or replaced while the collector ran" in first.log.read_text()
    first.stop()

    second = spawn(data_dir)  # a new, empty store: the spool fills it again
    wait_for(lambda: drained(second), WAIT_S, why="the spool drained into the new store")
    assert second.stopped_cleanly()
    counts = stored(data_dir)
    assert [i for i in after if i not in counts] == [], "events acknowledged after the loss"
    assert {i: n for i, n in counts.items() if n != 1} == {}


@pytest.fixture
def small_spool_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 4 MiB file system under the spool, to be filled up."""
    mount = tmp_path / "var" / "spool"
    mount.mkdir(parents=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a small file system here: {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


def fill(path: Path) -> None:
    with path.open("wb", buffering=0) as f:
        for chunk in (65536, 4096, 1):
            try:
                while True:
                    f.write(b"\0" * chunk)
            except OSError:
                pass


def test_readyz_says_a_full_spool_disk_is_not_ready(small_spool_disk: Path, spawn: Spawn) -> None:
    data_dir = small_spool_disk.parent
    collector = spawn(data_dir, MICROX_MAX_BODY_BYTES="65536")
    fill(small_spool_disk / "filler")
    refused = collector.post(make_envelope(make_event()))
    assert refused.status_code == 503 and refused.json()["reason"] == "spool_error"
    ready = httpx.get(f"{collector.base}/readyz")
    assert ready.status_code == 503 and ready.json()["status"] == "spool_error", ready.text
    (small_spool_disk / "filler").unlink()
    wait_for(
        lambda: httpx.get(f"{collector.base}/readyz").json()["status"] == "ok",
        WAIT_S,
        why="ready again once the disk has room",
    )
    acked = post_acked(collector, 2)
    wait_for(lambda: drained(collector), WAIT_S, why="stored")
    assert collector.stopped_cleanly()
    counts = stored(data_dir)
    assert sorted(counts) == sorted(acked) and set(counts.values()) == {1}
