"""A visitor's data on request: export and erasure against the real collector and engine,
rows in the store and in the spool, across a kill -9 and a replay."""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import ROOT, Collector, make_envelope, make_event, wait_for

KEY = "mxsk_" + "a" * 32
BLOG_KEY = "mxsk_" + "b" * 32
KEYS = f"demo={KEY};blog={BLOG_KEY}"
# Rows wait in the spool: the sink stores them only on a full batch or at shutdown.
HOLD_MS, HOLD_ROWS = "3600000", "100000"


def send(c: Collector, envelope: dict[str, Any]) -> dict[str, Any]:
    r = httpx.post(
        f"{c.base}/v1/server-events",
        content=orjson.dumps(envelope),
        headers={"authorization": f"Bearer {KEY}", "content-type": "application/json"},
        timeout=10,
    )
    assert r.status_code == 202, r.text
    body: dict[str, Any] = r.json()
    return body


def session(
    c: Collector, sid: str, visitor: str | None, n: int, *, bad: int = 0, name: str = "buy"
) -> None:
    """``n`` clicks (and ``bad`` invalid events) of one session, ``visitor`` attached or not."""
    events = [make_event(tg=f"#{name}{i % 3}", q=i) for i in range(n)]
    events += [{"t": "click", "ts": "not a time", "q": 0} for _ in range(bad)]
    extra = {"vid": visitor} if visitor else {}
    send(c, make_envelope(*events, sid=sid, **extra))


def wait_for_answer(c: Collector, query: str, expected: str) -> None:
    wait_for(lambda: c.sql(query) == expected, 30, why=f"{query} answering {expected!r}")


def export(c: Collector, visitor: str, key: str = KEY) -> list[dict[str, Any]]:
    r = httpx.get(
        f"{c.base}/v1/visitors/{visitor}",
        params={"site": "demo"},
        headers={"authorization": f"Bearer {key}"},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/x-ndjson")
    return [orjson.loads(line) for line in r.text.splitlines()]


def forget(c: Collector, visitor: str) -> dict[str, Any]:
    r = httpx.post(
        f"{c.base}/v1/visitors/{visitor}/forget",
        headers={"authorization": f"Bearer {KEY}"},
        timeout=60,
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def in_store(c: Collector, sessions: list[str]) -> int:
    ids = ",".join(f"'{s}'" for s in sessions)
    return int(c.sql(f"SELECT count() FROM microx.events WHERE session_id IN ({ids})"))


# The aggregate view's states merged, against the same figures counted from events (the
# tests send only clicks, whose moment is the target on its page).
AGGREGATE = (
    "SELECT site, kind, moment, toString(hour), countMerge(occurrences_state) AS n,"
    " uniqMerge(sessions_state) AS s, countMerge(clicks_state) AS c"
    " FROM microx.moment_hourly GROUP BY ALL HAVING n > 0 ORDER BY ALL"
)
RECOUNT = (
    "SELECT site, 'click', concat(target, ' @ ', path), toString(toStartOfHour(event_time)),"
    " count(), uniq(session_id), countIf(type = 'click')"
    " FROM microx.events GROUP BY ALL ORDER BY ALL"
)


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "var"


def test_a_visitor_is_exported_then_erased_everywhere_and_stays_erased(data_dir: Path) -> None:
    me, other = str(uuid.uuid4()), str(uuid.uuid4())
    early, mine_stored, mine_spooled = (str(uuid.uuid4()) for _ in range(3))
    theirs, anonymous, theirs_spooled = (str(uuid.uuid4()) for _ in range(3))
    c = Collector(data_dir, MICROX_SERVER_KEYS=KEYS)
    try:
        # A session that began before the visitor consented: its first rows carry no id.
        session(c, early, None, 3)
        session(c, early, me, 2, bad=1)
        session(c, mine_stored, me, 4, name="pay")
        session(c, theirs, other, 5)
        session(c, anonymous, None, 2, name="pay")
        wait_for_answer(c, "SELECT count() FROM microx.events", "16")
        wait_for_answer(c, "SELECT count() FROM microx.rejected_events", "1")
    finally:
        assert c.stopped_cleanly()

    c = Collector(
        data_dir,
        MICROX_SERVER_KEYS=KEYS,
        MICROX_BATCH_MAX_AGE_MS=HOLD_MS,
        MICROX_BATCH_MAX_ROWS=HOLD_ROWS,
    )
    try:
        # Still in the spool when the erasure comes: a new session of mine, a late row of
        # the early session (no visitor id), and another visitor's rows.
        session(c, mine_spooled, me, 3)
        session(c, early, None, 1)
        session(c, theirs_spooled, other, 2)
        assert c.metric("spool_unread_rows") == 6

        before = export(c, me)
        rows, summary = before[:-1], before[-1]["summary"]
        assert summary == {
            "events": 9,
            "rejected_events": 1,
            "spool_events": 4,
            "spool_rejected_events": 0,
        }
        assert {r["session_id"] for r in rows if r["table"] == "events"} == {
            early,
            mine_stored,
            mine_spooled,
        }
        assert sum(1 for r in rows if r["table"] == "events" and r["visitor_id"] is None) == 4
        assert sum(1 for r in rows if r["pending"]) == 4
        refused = [r for r in rows if r["table"] == "rejected_events"]
        assert [
            (r["reason"], r["envelope_session_id"], r["envelope_visitor_id"]) for r in refused
        ] == [("missing_field", early, me)]

        result = forget(c, me)
        assert result["sessions"] == 3
        assert result["erased"]["events"] == 9
        assert result["erased"]["rejected_events"] == 1
        assert result["erased"]["spool"] == 4
        assert result["erased"]["moment_hourly"] > 0
        assert me not in orjson.dumps(result).decode()
        assert in_store(c, [early, mine_stored]) == 0
        assert c.sql("SELECT count() FROM microx.rejected_events") == "0"
        assert c.sql(AGGREGATE) == c.sql(RECOUNT)

        after = export(c, me)
        assert after == [after[-1]]
        assert set(after[-1]["summary"].values()) == {0}
        assert c.metric('visitor_requests_total{request="forget"}') == 1
        assert c.metric('visitor_rows_erased_total{table="events"}') == 9
        # A crash before the spool was stored, and a replay at the next start.
        c.proc.send_signal(signal.SIGKILL)
        c.proc.wait()
    finally:
        c.stop()

    c = Collector(data_dir, MICROX_SERVER_KEYS=KEYS)
    try:
        wait_for_answer(c, "SELECT count() FROM microx.events", "9")
        assert in_store(c, [early, mine_stored, mine_spooled]) == 0
        assert in_store(c, [theirs, anonymous, theirs_spooled]) == 9
        # Counted just after the insert that left them out.
        dropped = 'erased_rows_dropped_total{table="events"}'
        wait_for(lambda: c.metric(dropped) == 4, 10, why=f"{dropped} at 4")
        assert c.sql(AGGREGATE) == c.sql(RECOUNT)
        assert set(export(c, me)[-1]["summary"].values()) == {0}
        # The other visitor is all there.
        theirs_export = export(c, other)
        assert theirs_export[-1]["summary"]["events"] == 7
        assert "visitor " in c.log.read_text() and me not in c.log.read_text()
    finally:
        assert c.stopped_cleanly()
    tombstones = (data_dir / "spool" / "tombstones.json").read_bytes()
    assert me.encode() not in tombstones and early.encode() not in tombstones


def test_an_unknown_visitor_gets_zero_counts_and_strangers_are_refused(tmp_path: Path) -> None:
    c = Collector(tmp_path / "var", MICROX_SERVER_KEYS=KEYS)
    try:
        nobody = str(uuid.uuid4())
        result = forget(c, nobody)
        assert result["sessions"] == 0
        assert set(result["erased"].values()) == {0}
        assert export(c, nobody) == [
            {
                "summary": {
                    "events": 0,
                    "rejected_events": 0,
                    "spool_events": 0,
                    "spool_rejected_events": 0,
                },
                "site": "demo",
                "visitor": result["visitor"],
            }
        ]
        url = f"{c.base}/v1/visitors/{nobody}"
        for method, path in (("GET", url), ("POST", url + "/forget")):
            browser = httpx.request(
                method,
                path,
                headers={"authorization": f"Bearer {KEY}", "origin": c.base},
                timeout=10,
            )
            assert browser.status_code == 403
            assert browser.json()["reason"] == "server_endpoint_from_browser"
            assert httpx.request(method, path, timeout=10).status_code == 401
            wrong = httpx.request(
                method, path, headers={"authorization": "Bearer mxsk_" + "c" * 32}, timeout=10
            )
            assert wrong.status_code == 401 and wrong.json()["reason"] == "bad_server_key"
            other_site = httpx.request(
                method,
                path,
                params={"site": "demo"},
                headers={"authorization": f"Bearer {BLOG_KEY}"},
                timeout=10,
            )
            assert other_site.status_code == 403
            assert other_site.json()["reason"] == "key_site_mismatch"
        bad = httpx.get(
            f"{c.base}/v1/visitors/not-a-uuid", headers={"authorization": f"Bearer {KEY}"}
        )
        assert bad.status_code == 400 and bad.json()["reason"] == "bad_visitor_id"
        assert c.metric('visitor_requests_total{request="export"}') == 1
        assert c.metric('visitor_requests_total{request="forget"}') == 1
    finally:
        assert c.stopped_cleanly()


def microx(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector.cli", *args],
        env={"PATH": "/usr/bin:/bin", "MICROX_DATA_DIR": str(data_dir), **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_commands_work_through_a_running_collector_and_without_one(data_dir: Path) -> None:
    me, mine, kept = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    c = Collector(data_dir, MICROX_SERVER_KEYS=KEYS)
    try:
        session(c, mine, me, 2)
        session(c, kept, None, 1)
        wait_for_answer(c, "SELECT count() FROM microx.events", "3")
        env = {"MICROX_PORT": str(c.port), "MICROX_SERVER_KEYS": KEYS}
        out = microx(data_dir, "export", "--site", "demo", "--visitor", me, **env)
        assert out.returncode == 0, out.stderr
        assert orjson.loads(out.stdout.splitlines()[-1])["summary"]["events"] == 2
        no_key = microx(
            data_dir, "forget", "--site", "demo", "--visitor", me, MICROX_PORT=str(c.port)
        )
        assert no_key.returncode == 2 and "MICROX_SERVER_KEYS" in no_key.stderr
    finally:
        assert c.stopped_cleanly()
    # No collector running: the command opens the store and the spool itself.
    out = microx(data_dir, "forget", "--site", "demo", "--visitor", me, MICROX_CONFINE="false")
    assert out.returncode == 0, out.stderr
    assert orjson.loads(out.stdout)["erased"]["events"] == 2
    out = microx(data_dir, "export", "--site", "demo", "--visitor", me)
    assert out.returncode == 0, out.stderr
    assert set(orjson.loads(out.stdout.splitlines()[-1])["summary"].values()) == {0}
    c = Collector(data_dir, MICROX_SERVER_KEYS=KEYS)
    try:
        assert in_store(c, [mine]) == 0 and in_store(c, [kept]) == 1
    finally:
        assert c.stopped_cleanly()
