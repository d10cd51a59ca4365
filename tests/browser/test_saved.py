"""Events kept on the device while the collector fails, and sent once by a later page."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser

from tests.beacons import Answer, Beacons
from tests.browser.lab import SAVED_KEYS, STARTED, flushed, goto_lab, open_lab
from tests.conftest import wait_for

pytestmark = pytest.mark.browser


def test_events_queued_while_the_collector_fails_survive_a_reload(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    beacons.plan = [Answer(503)] * 3
    page = open_lab(browser, base)
    page.click("#works")
    page.evaluate("microx.flush()")
    wait_for(lambda: beacons.answered[:1] == [503], page=page)
    session = page.evaluate("JSON.parse(sessionStorage.getItem('microx_sid'))[0]")
    page.reload()  # leaves with the click unsent: it is kept in localStorage
    page.wait_for_function(STARTED)
    beacons.plan = []
    (click,) = flushed(page, beacons, "click")
    assert click["a"] >= 1 and click["_env"]["sid"] == session
    assert click["u"] == f"{base}/lab"
    assert page.evaluate(SAVED_KEYS) == []


def test_the_offline_queue_keeps_500_events_and_the_next_page_sends_them(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    """A page left while the collector fails keeps at most 500 unsent events in
    localStorage; the next page sends each of them once."""
    base, beacons = lab
    beacons.plan = [Answer(503)] * 50
    page = open_lab(browser, base)
    page.evaluate("for (let i = 0; i < 600; i++) microx.feedback('m' + i, 1)")
    # 30 batches of 20 went out at once; each refusal puts its events back in the queue.
    wait_for(lambda: beacons.answered.count(503) == 30, page=page)
    page.wait_for_timeout(500)
    page.goto("about:blank")  # leaving while the collector fails: the queue is stored
    beacons.plan = []
    goto_lab(page, base)

    def resent() -> list[dict[str, Any]]:
        page.evaluate("microx.flush()")
        events = [e for e in beacons.events() if e.get("a")]
        return events if len(events) >= 500 else []

    events = wait_for(resent, page=page)
    # 500 of the page's events, each once: most of the feedback (which ones depends on the
    # order the refused batches came back in) and what the page recorded as it was hidden.
    assert len(events) == len({e["id"] for e in events}) == 500
    names = {e["n"] for e in events if e["t"] == "feedback"}
    assert len(names) >= 490 and "m599" in names
    assert page.evaluate(SAVED_KEYS) == []


# Slows each read of a saved batch in the page, as a busy page or a slow disk would:
# without the Web Lock, two tabs opening at once would then both read a batch before
# either deleted it.
SLOW_SAVED_READS = """
const get = Storage.prototype.getItem;
Storage.prototype.getItem = function (k) {
  if (String(k).startsWith('microx_q.')) {
    const end = performance.now() + 1000;
    while (performance.now() < end);
  }
  return get.call(this, k);
};
"""


NO_LOCKS = "Object.defineProperty(Navigator.prototype, 'locks', {get: () => undefined});"


@pytest.mark.parametrize("locks", [True, False], ids=["web-locks", "no-locks"])
def test_two_tabs_opening_at_once_send_saved_events_once(
    browser: Browser, lab: tuple[str, Beacons], locks: bool
) -> None:
    """Saved events are taken by one tab only. Without Web Locks (plain-http pages, old
    browsers) two tabs may both send them, and the collector's resend check stores them
    once: the second case shows the lock is what keeps them from being sent twice."""
    base, beacons = lab
    context = browser.new_context()
    try:
        beacons.plan = [Answer(503)] * 5
        first = context.new_page()
        goto_lab(first, base)
        first.evaluate("for (let i = 0; i < 30; i++) microx.feedback('m' + i, 1)")
        first.evaluate("microx.flush()")
        wait_for(lambda: beacons.answered.count(503) >= 2, page=first)
        first.goto("about:blank")  # leaving while the collector fails: the queue is saved
        beacons.plan = []
        tabs = [context.new_page() for _ in range(2)]
        for tab in tabs:
            tab.add_init_script(SLOW_SAVED_READS + ("" if locks else NO_LOCKS))
        for tab in tabs:
            tab.goto(base + "/lab", wait_until="commit")
        for tab in tabs:
            # Polling before the page has loaded would evaluate under its CSP mid-navigation.
            tab.wait_for_load_state("load")
            tab.wait_for_function(STARTED)

        def resent() -> list[str]:
            for tab in tabs:
                tab.evaluate("microx.flush()")
            got = [e["id"] for e in beacons.events("feedback") if e.get("a")]
            return got if len(set(got)) >= 30 else []

        ids = wait_for(resent, page=tabs[0])
        tabs[0].wait_for_timeout(1500)  # a second copy, if any, has time to arrive
        ids = [e["id"] for e in beacons.events("feedback") if e.get("a")]
        assert len(set(ids)) == 30
        if locks:
            assert len(ids) == 30
        else:
            assert len(ids) == 60  # both tabs read the batch before either deleted it
    finally:
        context.close()


def test_saved_events_whose_resend_fails_keep_their_session(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    """Events an earlier page left go out under that page's session. When that resend
    fails as well, they are saved again and retried a few seconds later, still under
    their own session, not the session of the tab that picked them up."""
    base, beacons = lab
    context = browser.new_context()
    try:
        beacons.plan = [Answer(503)]
        first = context.new_page()
        goto_lab(first, base)
        first.evaluate("microx.feedback('early', 1); microx.flush()")
        wait_for(lambda: beacons.answered == [503], page=first)
        session = first.evaluate("JSON.parse(sessionStorage.getItem('microx_sid'))[0]")
        first.goto("about:blank")  # left while the collector fails: saved
        beacons.plan = [Answer(503)]  # the other tab's first resend fails too
        second = context.new_page()
        goto_lab(second, base)
        wait_for(lambda: beacons.answered[:2] == [503, 503], page=second)

        def early() -> list[dict[str, Any]]:
            return [e for e in beacons.events("feedback") if e["n"] == "early"]

        (event,) = wait_for(early, 15, page=second)
        own = second.evaluate("JSON.parse(sessionStorage.getItem('microx_sid'))[0]")
        assert event["_env"]["sid"] == session != own
        assert event["a"] >= 2
    finally:
        context.close()


def test_a_large_queue_left_behind_arrives_whole(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    """Leaving with about 160 KB queued: beacons take what fits the browser's 64 KiB
    budget, the rest is saved, and the next page sends it. Each event arrives once."""
    base, beacons = lab
    page = open_lab(browser, base)
    page.evaluate(
        """() => {
        const p = {};
        for (let i = 0; i < 32; i++) p['k' + i] = 'x'.repeat(500);
        for (let i = 0; i < 10; i++) microx.moment('big' + i).end(p);
      }"""
    )
    page.goto("about:blank")
    goto_lab(page, base)

    def arrived() -> list[str]:
        page.evaluate("microx.flush()")
        names = [m["n"] for m in beacons.events("moment")]
        return names if len(set(names)) >= 10 else []

    names = wait_for(arrived, 15, page=page)
    assert sorted(names) == sorted(f"big{i}" for i in range(10))
    assert max(len(b.encode()) for b in beacons.bodies) <= 60_000
    # Some went as the page was left, the rest were saved and resent by the next page.
    resent = [m for m in beacons.events("moment") if m.get("a")]
    assert 0 < len(resent) < 10


def test_events_waiting_on_a_failing_collector_survive_leaving(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    """A request still unanswered when the page is left: the browser ends it as the page
    goes, and while the collector is failing its events are kept for the next page like
    unsent ones."""
    base, beacons = lab
    beacons.plan = [Answer(503), Answer(503, delay_s=3)]
    page = open_lab(browser, base)
    page.evaluate("microx.feedback('first', 1); microx.flush()")
    wait_for(lambda: beacons.answered == [503], page=page)
    page.evaluate("microx.feedback('second', 1)")
    wait_for(lambda: not beacons.plan, page=page)  # the retry is out, its answer 3 s away
    page.goto("about:blank")
    goto_lab(page, base)

    def resent() -> list[str]:
        page.evaluate("microx.flush()")
        return sorted(e["n"] for e in beacons.events("feedback") if e.get("a"))

    assert wait_for(resent, page=page) == ["first", "second"]
