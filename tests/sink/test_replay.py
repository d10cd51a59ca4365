"""A batch stored again after a crash counts once everywhere: in ``microx.events``, in
``microx.rejected_events`` and in every table a materialized view fills."""

from __future__ import annotations

import re
import signal
import uuid
from pathlib import Path
from typing import Any

import pytest

from collector.rows.columns import EVENT_COLUMNS
from collector.sink.blocks import insert_rows
from collector.sink.intent import FILE as INTENT_FILE
from collector.sink.migrations import load_migrations
from collector.sink.store import Store
from tests.conftest import (
    Collector,
    make_envelope,
    make_event,
    now_ms,
    open_store,
    rows_of,
    wait_for,
)

ENVELOPES = 8
EVENTS_PER_ENVELOPE = 50
DRAIN_LIMIT_S = 60.0
# The migration that gave the views' tables a deduplication window.
DEDUPLICATING_VIEWS = 7

# The hourly aggregate as stored, and the same figures counted again from the raw rows.
STORED = """
SELECT site, kind, moment, hour, countMerge(occurrences_state), countMerge(clicks_state),
    countMerge(slow_state), countMerge(timed_state), uniqMerge(sessions_state)
FROM microx.moment_hourly GROUP BY site, kind, moment, hour ORDER BY site, kind, moment, hour
"""
RECOUNTED = """
SELECT site, microx_kind(type) AS kind, microx_moment(type, name, target, path) AS moment,
    toStartOfHour(event_time) AS hour, count(), countIf(type = 'click'),
    countIf(microx_measure(type, duration_ms, value) > microx_budget(type, name)
        AND microx_budget(type, name) > 0),
    countIf(isNotNull(microx_measure(type, duration_ms, value))
        AND microx_budget(type, name) > 0),
    uniq(session_id)
FROM microx.events GROUP BY site, kind, moment, hour ORDER BY site, kind, moment, hour
"""


def varied_event(i: int) -> dict[str, Any]:
    if i % 3 == 0:
        return make_event(q=i, t="click", tg=f"button#b{i % 4}", d=50 + 100 * (i % 5))
    if i % 3 == 1:
        return make_event(q=i, t="loading", n="spinner", tg="div.spin", d=400 + 300 * (i % 6))
    return make_event(q=i, t="page", d=1000 + 900 * (i % 4))


def wait_drained(collector: Collector) -> None:
    try:
        wait_for(lambda: collector.metric("spool_bytes") == 0, DRAIN_LIMIT_S, why="spool drained")
    except AssertionError as exc:
        raise AssertionError(f"{exc}:\n{collector.log.read_text()[-3000:]}") from None


@pytest.mark.parametrize("record", ["kept", "lost"])
def test_batch_replayed_after_a_crash_counts_once_in_every_view(
    tmp_path: Path, record: str
) -> None:
    """The sink's record of the insert in flight kept, the batch is replayed under its
    token; lost, every row is looked up in the store first."""
    data_dir = tmp_path / "var"
    acked: list[str] = []
    # One batch for everything sent: the crash takes all of it down at once.
    crashing = Collector(
        data_dir,
        module="tests.crash_after_insert",
        MICROX_BATCH_MAX_AGE_MS="60000",
        MICROX_BATCH_MAX_ROWS=str(ENVELOPES * (EVENTS_PER_ENVELOPE + 1)),
    )
    for n in range(ENVELOPES):
        good = [varied_event(n * EVENTS_PER_ENVELOPE + i) for i in range(EVENTS_PER_ENVELOPE)]
        # One invalid event each, so the batch writes microx.rejected_events as well.
        envelope = make_envelope(*good, make_event(q=999, t="click", d="slow"))
        assert crashing.post(envelope).status_code == 202
        acked += [e["id"] for e in good]
    # The batch is inserted into both tables, then the process is killed before the
    # checkpoint moves past it.
    assert crashing.proc.wait(DRAIN_LIMIT_S) == -signal.SIGKILL
    assert "replaying" not in crashing.log.read_text()
    if record == "lost":
        (data_dir / "sink" / INTENT_FILE).unlink()

    survivor = Collector(data_dir)
    wait_drained(survivor)
    assert survivor.stopped_cleanly()
    log = survivor.log.read_text()
    if record == "kept":
        assert "sink: replaying the batch in flight" in log
    else:
        assert "replaying" not in log and "record of the insert in flight is missing" in log
        found = f"{len(acked)} of {len(acked)} events and {ENVELOPES} of {ENVELOPES} rejected"
        assert f"{found} rows were stored already" in log

    with open_store(survivor.store_url) as store:
        _, ids = store.query("SELECT toString(event_id), count() FROM microx.events GROUP BY 1")
        _, rejected = store.query("SELECT count() FROM microx.rejected_events")
        _, stored = store.query(STORED)
        _, recounted = store.query(RECOUNTED)
        _, sessions = store.query(
            "SELECT sum(moments), uniqExact(session_id) FROM microx.session_hourly"
        )
    assert sorted(i for i, _ in ids) == sorted(acked)
    assert {n for _, n in ids} == {1}
    assert sum(r[4] for r in stored) == len(acked)
    assert stored == recounted
    assert rejected == [(ENVELOPES,)]
    # The per-session aggregate: every moment once, in as many sessions as were sent.
    assert sessions == [(len(acked), ENVELOPES)]


def deduplication_window(store: Store, table: str) -> int:
    _, rows = store.query(
        "SELECT engine_full FROM system.tables WHERE database = 'microx' AND name = {t:String}",
        {"t": table},
    )
    assert rows, f"no table microx.{table}"
    found = re.search(r"non_replicated_deduplication_window = (\d+)", rows[0][0])
    return int(found[1]) if found else 0


def view_targets(store: Store) -> dict[str, str]:
    """Every materialized view of microx, with the table it writes to."""
    _, views = store.query(
        "SELECT name, toString(uuid), create_table_query FROM system.tables"
        " WHERE database = 'microx' AND engine = 'MaterializedView'"
    )
    targets = {}
    for name, view_id, create in views:
        to = re.search(r"\bTO microx\.`?(\w+)`?", create)
        targets[name] = to[1] if to else f".inner_id.{view_id}"
    return targets


def test_every_table_written_under_a_token_deduplicates(tmp_path: Path) -> None:
    """Inserted into with a token, or filled by a view from such an insert: each keeps a
    window of tokens, or ClickHouse stores a replayed batch there again."""
    with open_store(f"chdb://{tmp_path / 'ch'}") as store:
        store.migrate()
        targets = view_targets(store)
        assert targets  # the hourly aggregate at least
        for table in ["events", "rejected_events", *targets.values()]:
            assert deduplication_window(store, table) >= 1000, table


def test_upgrade_recounts_the_hourly_aggregate_from_events(tmp_path: Path) -> None:
    """A store that double counted replays before the view deduplicated is recounted."""
    envelope = make_envelope(*[varied_event(i) for i in range(30)])
    rows = rows_of(envelope, now_ms())
    migrations = load_migrations()
    before = [m for m in migrations if m.version < DEDUPLICATING_VIEWS]
    with open_store(f"chdb://{tmp_path / 'ch'}") as store:
        store.migrate(before)
        for _ in range(2):  # a replay under the same token
            insert_rows(store, "events", EVENT_COLUMNS, rows, token="replayed")
        assert sum(r[4] for r in store.query(STORED)[1]) == 2 * len(rows)
        store.migrate(migrations)
        assert store.query(STORED)[1] == store.query(RECOUNTED)[1]
        assert sum(r[4] for r in store.query(STORED)[1]) == len(rows)
        later = rows_of(
            envelope, now_ms(), events=[{**e, "id": str(uuid.uuid4())} for e in envelope["e"]]
        )
        for _ in range(2):
            insert_rows(store, "events", EVENT_COLUMNS, later, token="later")
        assert store.query(STORED)[1] == store.query(RECOUNTED)[1]
        assert sum(r[4] for r in store.query(STORED)[1]) == 2 * len(rows)
