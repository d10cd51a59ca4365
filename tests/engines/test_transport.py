"""Batches, retries and what is kept for the next page, in every engine."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from tests.beacons import Answer
from tests.conftest import Collector, open_store
from tests.engines.driver import (
    Browser,
    flushed,
    goto,
    leave,
    open_page,
    received,
    started,
    wait_for,
)
from tests.engines.server import Lab, serve

pytestmark = pytest.mark.browser

# Whether the engine refuses beacons past the 64 KiB that fetch(keepalive) and sendBeacon
# share in flight.
BEACON_BUDGET = {"chromium": True, "firefox": False, "webkit": True}
# Seen in 3 runs of 4: the batch saved at pagehide is missing on the next page, while the
# one saved at the visibilitychange after it (the vitals reported at hide) is there.
SAVED_KEYS = "Object.keys(localStorage).filter((k) => k.startsWith('microx_q'))"
# Moments of about 32 KB each: 32 props of 500 characters.
BIG_MOMENTS = """(() => {{
  const p = {{}};
  for (let i = 0; i < 32; i++) p['k' + i] = '{char}'.repeat(500);
  for (let i = 0; i < {n}; i++) microx.moment('big' + i).end(p);
}})()"""


def test_retry_after_429_resends_the_same_events(browser: Browser, lab: tuple[str, Lab]) -> None:
    base, beacons = lab
    beacons.plan = [Answer(429, {"retry-after": "2"})]
    page = open_page(browser, base + "/lab")
    page.click("#works")
    time.sleep(1.2)  # a click is reported once its feedback is known
    page.evaluate("microx.flush()")
    wait_for(lambda: beacons.answered[:1] == [429])
    refused_at = time.monotonic()
    (click,) = wait_for(lambda: beacons.events("click"), timeout_s=15)
    assert time.monotonic() - refused_at >= 1.5  # waited as told
    assert click["a"] == 1
    assert page.evaluate("window.__errors") == []


def test_events_queued_while_the_collector_fails_survive_a_reload(
    browser: Browser, lab: tuple[str, Lab]
) -> None:
    base, beacons = lab
    beacons.plan = [Answer(503)] * 3
    page = open_page(browser, base + "/lab")
    page.click("#works")
    page.evaluate("microx.flush()")
    wait_for(lambda: beacons.answered[:1] == [503])
    time.sleep(0.5)  # the page has the answer too: the click is back in its queue
    session = page.evaluate("JSON.parse(sessionStorage.getItem('microx_sid'))[0]")
    page.reload()  # leaves with the click unsent: it is kept in localStorage
    started(page)
    beacons.plan = []
    # Sent when the second file arrives, or at its next look 5 s later (WebKitGTK: the
    # page left may still hold the Web Lock on saved events at the first).
    (click,) = received(beacons, "click", timeout_s=15)
    assert click["a"] >= 1 and click["_env"]["sid"] == session
    # Firefox may save the batch twice as the page goes (pagehide, then visibilitychange):
    # the copy is sent and dropped at the next look, 5 s later.
    wait_for(lambda: page.evaluate(SAVED_KEYS) == [], timeout_s=15)
    assert {c["id"] for c in beacons.events("click")} == {click["id"]}


def test_a_large_batch_goes_in_requests_under_60_kb(browser: Browser, lab: tuple[str, Lab]) -> None:
    """Counted in UTF-8 bytes: moments of two-byte characters go one per request."""
    base, beacons = lab
    page = open_page(browser, base + "/lab")
    page.evaluate(BIG_MOMENTS.format(char="\u00e9", n=19))
    moments = flushed(page, beacons, "moment", 19)
    assert sorted(m["n"] for m in moments) == sorted(f"big{i}" for i in range(19))
    sizes = [len(b.encode()) for b in beacons.bodies]
    assert max(sizes) <= 60_000 and len(sizes) >= 19


def test_a_large_queue_left_behind_arrives_whole(browser: Browser, lab: tuple[str, Lab]) -> None:
    """Leaving with about 160 KB queued: beacons take what fits the browser's budget for
    them, the rest is saved and the next page sends it. Each event arrives once. Firefox
    has no such budget: it takes every beacon."""
    base, beacons = lab
    page = open_page(browser, base + "/lab")
    page.evaluate(BIG_MOMENTS.format(char="x", n=10))
    leave(page)
    goto(page, base + "/lab")

    def arrived() -> list[str]:
        page.evaluate("microx.flush()")
        names = [m["n"] for m in beacons.events("moment")]
        return names if len(set(names)) >= 10 else []

    names = wait_for(arrived, timeout_s=15)
    assert sorted(names) == sorted(f"big{i}" for i in range(10))
    assert max(len(b.encode()) for b in beacons.bodies) <= 60_000
    # Some went as the page was left, the rest were saved and resent by the next page.
    resent = [m for m in beacons.events("moment") if m.get("a")]
    if BEACON_BUDGET[browser.name]:
        # Some went as the page was left, the rest were saved and resent by the next page.
        assert 0 < len(resent) < 10
    else:
        # Every beacon was taken: nothing was left to save.
        assert resent == []
        assert {h["sec-fetch-mode"] for h in beacons.headers[:5]} == {"no-cors"}


def test_events_waiting_on_a_failing_collector_survive_leaving(
    browser: Browser, lab: tuple[str, Lab]
) -> None:
    """A request still unanswered when the page is left: while the collector is failing,
    its events are kept for the next page like unsent ones, or sent again as the page
    goes. (Firefox and WebKitGTK let a keepalive fetch still waiting for its answer
    outlive the page, which then never sees it fail; the request is the worker's here,
    and the worker's requests in flight are sent again as beacons as the page is hidden.)"""
    base, beacons = lab
    beacons.plan = [Answer(503), Answer(503, delay_s=3)]
    page = open_page(browser, base + "/lab")
    page.evaluate("microx.feedback('first', 1), microx.flush()")
    wait_for(lambda: beacons.answered == [503])
    page.evaluate("microx.feedback('second', 1)")
    wait_for(lambda: not beacons.plan)  # the retry is out, its answer 3 s away
    leave(page)
    goto(page, base + "/lab")

    # The request the page left waiting was answered, with a failure.
    wait_for(lambda: beacons.answered.count(503) == 2)

    def resent() -> list[Any]:
        page.evaluate("microx.flush()")
        return sorted(e["n"] for e in beacons.events("feedback") if e.get("a"))

    try:
        got = wait_for(resent)
    except TimeoutError:
        got = []
    assert got == ["first", "second"]


def test_events_go_out_on_their_own_after_5_s(browser: Browser, lab: tuple[str, Lab]) -> None:
    """No flush() here: a batch goes when its oldest event is 5 s old."""
    base, beacons = lab
    page = open_page(browser, base + "/lab")
    page.evaluate("microx.feedback('alone', 1)")
    started_at = time.monotonic()
    (fb,) = received(beacons, "feedback", timeout_s=10)
    assert fb["n"] == "alone" and 4.5 <= time.monotonic() - started_at < 9


def test_the_offline_queue_keeps_500_events_and_the_next_page_sends_them(
    browser: Browser, lab: tuple[str, Lab]
) -> None:
    """A page left while the collector fails keeps at most 500 unsent events in
    localStorage; the next page sends each of them once."""
    base, beacons = lab
    beacons.plan = [Answer(503)] * 50
    page = open_page(browser, base + "/lab")
    page.evaluate("(() => { for (let i = 0; i < 600; i++) microx.feedback('m' + i, 1); })()")
    # 30 batches of 20 went out at once; each refusal puts its events back in the queue.
    wait_for(lambda: beacons.answered.count(503) == 30)
    time.sleep(0.5)
    leave(page)  # leaving while the collector fails: the queue is stored
    beacons.plan = []
    goto(page, base + "/lab")

    def resent() -> list[dict[str, Any]]:
        page.evaluate("microx.flush()")
        events = [e for e in beacons.events() if e.get("a")]
        return events if len(events) >= 500 else []

    events = wait_for(resent, timeout_s=15)
    assert len(events) == len({e["id"] for e in events}) == 500
    names = {e["n"] for e in events if e["t"] == "feedback"}
    assert len(names) >= 490 and "m599" in names
    assert page.evaluate(SAVED_KEYS) == []


def test_failing_collector_then_recovery_stores_each_event_once(
    browser: Browser, tmp_path: Path
) -> None:
    """Through the real collector: refused sends are retried and stored exactly once."""
    collector = Collector(tmp_path, MICROX_SITES="lab=")
    try:
        with serve(upstream=collector.base, user_agent=browser.user_agent) as (base, beacons):
            beacons.plan = [Answer(503, {"retry-after": "1"}), Answer(503)]
            page = open_page(browser, base + "/lab")
            for sel in ("#works", "#fetches", "#noop"):
                page.click(sel)
            time.sleep(1.2)
            page.evaluate("microx.flush()")
            wait_for(lambda: beacons.answered.count(202) >= 1, timeout_s=20)
            leave(page)
            wait_for(lambda: collector.metric("events_accepted_total") >= 5)
            time.sleep(1)  # what the page sent as it went has arrived
            sent = {e["id"] for e in beacons.events()}
        assert collector.stopped_cleanly()
    finally:
        collector.stop()
    with open_store(collector.store_url) as store:
        _, rows = store.query("SELECT toString(event_id), count() FROM microx.events GROUP BY 1")
    stored = {r[0]: r[1] for r in rows}
    assert set(stored) == sent and set(stored.values()) == {1}
