"""Sending: when batches go, how large they are, and retries told by the collector."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser

from tests.beacons import CSP, Answer, Beacons, serve
from tests.browser.lab import flushed, goto_lab, open_lab
from tests.conftest import BROWSER_UA, Collector, open_store, wait_for

pytestmark = pytest.mark.browser


def test_retry_after_429_resends_the_same_events(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    beacons.plan = [Answer(429, {"retry-after": "2"})]
    page = open_lab(browser, base)
    page.click("#works")
    page.wait_for_timeout(1200)  # a click is reported once its feedback is known
    started = time.monotonic()
    page.evaluate("microx.flush()")
    wait_for(lambda: beacons.answered[:1] == [429], page=page)
    (click,) = wait_for(lambda: beacons.events("click"), 15, page=page)
    assert time.monotonic() - started >= 1.9  # waited as told
    assert click["a"] == 1
    assert page.errors == []  # type: ignore[attr-defined]


def test_slow_and_failing_collector_never_breaks_the_page(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    beacons.plan = [Answer(503), Answer(202, delay_s=3), Answer(500)]
    page = open_lab(browser, base)
    for _ in range(3):
        page.click("#works")
        page.evaluate("microx.flush()")
        page.wait_for_timeout(200)
    assert page.inner_text("#out").startswith("Done at")

    def three() -> list[dict[str, Any]]:
        clicks = beacons.events("click")
        return clicks if len(clicks) >= 3 else []

    clicks = wait_for(three, 20, page=page)
    assert len({c["id"] for c in clicks}) == 3
    assert page.errors == []  # type: ignore[attr-defined]


def test_events_go_out_on_their_own_after_5_s(browser: Browser, lab: tuple[str, Beacons]) -> None:
    """No flush() here: a batch goes when its oldest event is 5 s old."""
    base, beacons = lab
    page = open_lab(browser, base)
    page.evaluate("microx.feedback('alone', 1)")
    started = time.monotonic()
    (fb,) = wait_for(lambda: beacons.events("feedback"), 10, page=page)
    assert fb["n"] == "alone" and 4.5 <= time.monotonic() - started < 9


def test_a_large_batch_goes_in_requests_under_60_kb(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    """Each request stays under 60 KB, counted in UTF-8 bytes: 19 moments of about 32 KB
    each (32 props of 500 two-byte characters) go one per request."""
    base, beacons = lab
    page = open_lab(browser, base)
    page.evaluate(
        """() => {
        const p = {};
        for (let i = 0; i < 32; i++) p['k' + i] = '\u00e9'.repeat(500);
        for (let i = 0; i < 19; i++) microx.moment('big' + i).end(p);
        microx.flush();
      }"""
    )
    wait_for(lambda: len(beacons.events("moment")) >= 19, page=page)
    moments = beacons.events("moment")
    assert sorted(m["n"] for m in moments) == sorted(f"big{i}" for i in range(19))
    sizes = [len(b.encode()) for b in beacons.bodies]
    assert max(sizes) <= 60_000 and len(sizes) >= 19
    assert min(len(m["_env"]["e"]) for m in moments) == 1


def test_failing_collector_then_recovery_stores_each_event_once(
    browser: Browser, tmp_path: Path
) -> None:
    """Through the real collector: refused sends are retried and stored exactly once."""
    collector = Collector(tmp_path, MICROX_SITES="lab=")
    try:
        with serve(upstream=collector.base, user_agent=BROWSER_UA) as (base, beacons):
            beacons.plan = [Answer(503, {"retry-after": "1"}), Answer(503)]
            page = open_lab(browser, base)
            for sel in ("#works", "#fetches", "#noop"):
                page.click(sel)
            page.wait_for_timeout(1200)
            page.evaluate("microx.flush()")
            wait_for(lambda: beacons.answered.count(202) >= 1, 20, page=page)
            page.goto("about:blank")

            def all_relayed() -> bool:
                # Every event the test server took has been passed on and acknowledged;
                # the hidden page's last beacon may arrive after the first of them.
                relayed = len({e["id"] for e in beacons.events()})
                return collector.metric("events_accepted_total") >= relayed >= 5

            wait_for(all_relayed, page=page)
            page.wait_for_timeout(500)
            wait_for(all_relayed, page=page)
        assert collector.stopped_cleanly()
    finally:
        collector.stop()
    sent = {e["id"] for e in beacons.events()}
    with open_store(collector.store_url) as store:
        _, rows = store.query("SELECT toString(event_id), count() FROM microx.events GROUP BY 1")
    stored = {r[0]: r[1] for r in rows}
    assert set(stored) == sent and set(stored.values()) == {1}


# The page told it is hidden, as a browser tells it (the event bubbles to the window).
HIDE = """(() => {
  Object.defineProperty(document, 'visibilityState', {get: () => 'hidden', configurable: true});
  document.dispatchEvent(new Event('visibilitychange', {bubbles: true}));
})()"""


def test_batches_go_from_a_worker_and_those_in_flight_are_resent_as_the_page_hides(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    """Once the second file runs, batches leave from a worker (off the page's main
    thread). A request still unanswered when the page is hidden would die with the page:
    it is sent again as a beacon, marked as a second try, so the collector can drop the
    copy."""
    base, beacons = lab
    page = open_lab(browser, base)
    wait_for(lambda: [w for w in page.workers if w.url.startswith("blob:")], page=page)
    flushed(page, beacons, "page")  # what the page had queued is out
    beacons.plan = [Answer(202, delay_s=3)]
    page.evaluate("microx.feedback('late', 1); microx.flush()")
    page.wait_for_timeout(500)  # sent, and held by the collector
    page.evaluate(HIDE)

    def both() -> list[dict[str, Any]]:
        late = [f for f in beacons.events("feedback") if f["n"] == "late"]
        return late if len(late) == 2 else []

    resent, first = sorted(wait_for(both, 10, page=page), key=lambda f: -f.get("a", 0))
    assert resent["id"] == first["id"] and resent["a"] == first.get("a", 0) + 1
    assert page.evaluate("window.__violations") == []
    assert page.errors == []  # type: ignore[attr-defined]


def test_a_policy_that_refuses_the_worker_is_met_once_and_sends_go_on(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    """A Content Security Policy without `blob:` for workers refuses the worker (and
    reports it): requests go from the page's own fetch, and later pages of the site do
    not try again."""
    base, beacons = lab
    beacons.csp = CSP.replace(" worker-src blob:;", "")
    page = open_lab(browser, base)
    wait_for(lambda: page.evaluate("localStorage.getItem('microx_nw')"), page=page)
    assert page.evaluate("window.__violations") == ["worker-src blob"]
    page.evaluate("microx.feedback('refused', 1)")
    (fb,) = flushed(page, beacons, "feedback")
    assert fb["n"] == "refused"
    goto_lab(page, base)
    page.wait_for_timeout(1000)  # the second file has had its time to run
    assert page.evaluate("window.__violations") == []
    assert not [w for w in page.workers if w.url.startswith("blob:")]
    page.evaluate("microx.feedback('again', 1)")
    assert [f["n"] for f in flushed(page, beacons, "feedback", 2)] == ["refused", "again"]
