"""SIGKILL the running collector under load, restart it, and audit the store."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx

from tests.conftest import (
    Collector,
    make_envelope,
    make_event,
    open_store,
    post,
    wait_for,
)

KILLS = 3
EVENTS_PER_BATCH = 20
# Load bounds: each round stops at this many acknowledged events or this many seconds.
ACKED_PER_ROUND = 3000
ROUND_LIMIT_S = 60.0


def load_until_killed(collector: Collector, acked: list[str], sent: set[str], target: int) -> None:
    stop = threading.Event()
    lock = threading.Lock()

    def worker() -> None:
        with httpx.Client(base_url=collector.base, timeout=10) as client:
            while not stop.is_set():
                envelope = make_envelope(*[make_event(q=j) for j in range(EVENTS_PER_BATCH)])
                ids = [e["id"] for e in envelope["e"]]
                with lock:
                    sent.update(ids)
                try:
                    r = post(client, envelope)
                except httpx.HTTPError:
                    continue  # the collector is gone: this batch was never acknowledged
                if r.status_code == 202:
                    with lock:
                        acked.extend(ids)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + ROUND_LIMIT_S
    while len(acked) < target and time.monotonic() < deadline:
        time.sleep(0.01)
    collector.proc.kill()  # SIGKILL: no shutdown hook runs
    collector.proc.wait()
    stop.set()
    for t in threads:
        t.join()


def test_every_acknowledged_event_is_stored_exactly_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    acked: list[str] = []
    sent: set[str] = set()
    for round_no in range(1, KILLS + 1):
        collector = Collector(data_dir)
        load_until_killed(collector, acked, sent, ACKED_PER_ROUND * round_no)
    survivor = Collector(data_dir)  # replays the spool left by the last kill
    wait_for(lambda: survivor.metric("spool_bytes") == 0, 60, why="the spool drained")
    assert survivor.stopped_cleanly()

    with open_store(survivor.store_url) as store:
        _, rows = store.query(
            "SELECT toString(event_id), count() FROM microx.events GROUP BY event_id"
        )
    counts = dict(rows)
    assert len(acked) >= ACKED_PER_ROUND * KILLS
    missing = [i for i in acked if i not in counts]
    doubled = {i: n for i, n in counts.items() if n != 1}
    assert missing == [], f"{len(missing)} acknowledged events lost"
    assert doubled == {}, f"{len(doubled)} events stored more than once"
    assert set(counts) <= sent  # nothing stored that was never sent
