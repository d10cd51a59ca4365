"""An erasure the collector died in, after its tombstones were written: the next start
finishes it from the tombstones' hashes alone, with the real collector and engine."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import orjson
import pytest

from tests.conftest import Collector
from tests.rights.test_visitors import (
    AGGREGATE,
    KEY,
    KEYS,
    RECOUNT,
    in_store,
    session,
    wait_for_answer,
)

RESUMED = 'visitor_requests_total{request="forget_resumed"}'


@pytest.mark.parametrize("step", ["aggregates", "rows"])
def test_an_erasure_cut_by_a_crash_is_finished_at_the_next_start(tmp_path: Path, step: str) -> None:
    data_dir = tmp_path / "var"
    me, other = str(uuid.uuid4()), str(uuid.uuid4())
    early, mine, theirs, anonymous = (str(uuid.uuid4()) for _ in range(4))
    c = Collector(
        data_dir,
        module="tests.crash_mid_forget",
        MICROX_SERVER_KEYS=KEYS,
        MICROX_TEST_CRASH_STEP=step,
    )
    try:
        # A session begun before the visitor consented: its first rows carry no id.
        session(c, early, None, 3)
        session(c, early, me, 2, bad=1)
        session(c, mine, me, 4, name="pay")
        session(c, theirs, other, 5)
        session(c, anonymous, None, 2, name="pay")
        wait_for_answer(c, "SELECT count() FROM microx.events", "16")
        wait_for_answer(c, "SELECT count() FROM microx.rejected_events", "1")
        with pytest.raises(httpx.TransportError):
            httpx.post(
                f"{c.base}/v1/visitors/{me}/forget",
                headers={"authorization": f"Bearer {KEY}"},
                timeout=60,
            )
        assert c.proc.wait(timeout=30) == -9
    finally:
        c.stop()
    stones = orjson.loads((data_dir / "spool" / "tombstones.json").read_bytes())
    assert len(stones["entries"]) == 3  # the visitor and the two sessions, durable
    assert me.encode() not in (data_dir / "spool" / "tombstones.json").read_bytes()

    c = Collector(data_dir, MICROX_SERVER_KEYS=KEYS)
    try:
        assert in_store(c, [early, mine]) == 0
        assert c.sql("SELECT count() FROM microx.rejected_events") == "0"
        assert in_store(c, [theirs, anonymous]) == 7
        assert c.sql(AGGREGATE) == c.sql(RECOUNT)
        assert c.metric(RESUMED) == 1
        assert c.metric('visitor_rows_erased_total{table="events"}') == 9
        resumed = [
            orjson.loads(line)
            for line in c.log.read_text().splitlines()
            if "forget_resumed" in line
        ]
        assert len(resumed) == 1, resumed
        text = resumed[0]["msg"]
        assert "events 9" in text and "rejected_events 1" in text, text
        assert me not in c.log.read_text() and early not in c.log.read_text()
    finally:
        assert c.stopped_cleanly()

    # Done: the next start has nothing to resume.
    c = Collector(data_dir, MICROX_SERVER_KEYS=KEYS)
    try:
        assert c.metric(RESUMED) == 0
        assert in_store(c, [theirs, anonymous]) == 7
    finally:
        assert c.stopped_cleanly()
