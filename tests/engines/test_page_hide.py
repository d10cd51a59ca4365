"""Delivery as the page goes, in each engine: what is still queued when the visitor leaves
goes out with ``navigator.sendBeacon`` from the page's last events, and arrives.

A script before the snippet notes each lifecycle event and each transport call, in the
order they happen, by a keepalive fetch of its own to the test server (localStorage
written in a page's last tasks is not always there for the next page in Firefox).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.engines.driver import Browser, flushed, leave, open_page, received, wait_for
from tests.engines.server import Lab

pytestmark = pytest.mark.browser

# Whether web-vitals has a final report to make when the page is hidden (LCP, INP and CLS
# are reported then; FCP and TTFB, all that WebKitGTK has, at once).
VITALS_AT_HIDE = {"chromium": True, "firefox": True, "webkit": False}

LIFECYCLE = """
const page_fetch = window.fetch;
let notes = 0;
const note = (what) => page_fetch('/engines/note',
  {method: 'POST', body: JSON.stringify([notes++, what]), keepalive: true});
for (const type of ['visibilitychange', 'pagehide']) {
  addEventListener(type, () => note(type + ':' + document.visibilityState), true);
}
const beacon = navigator.sendBeacon.bind(navigator);
navigator.sendBeacon = (url, body) => {
  const queued = beacon(url, body);
  note('sendBeacon:' + (queued ? 'queued' : 'refused'));
  return queued;
};
window.fetch = function (url, init) {
  note('fetch:' + (init && init.keepalive ? 'keepalive' : 'plain'));
  return page_fetch.apply(this, arguments);
};
"""


def test_what_is_queued_when_the_page_is_left_arrives_by_beacon(
    browser: Browser, lab: tuple[str, Lab]
) -> None:
    base, beacons = lab
    beacons.init = LIFECYCLE
    page = open_page(browser, base + "/lab")
    page.click("#works")  # reported once its feedback is known
    page.evaluate("microx.feedback('queued', 1)")  # 5 s before it would go on its own
    # A form left half filled: its abandonment is recorded as the page goes.
    page.click("input[name=fullname]")
    page.type("Ada")
    leave(page)

    def arrived() -> list[dict[str, Any]]:
        got = {e["t"] for e in beacons.events()}
        return beacons.events() if {"feedback", "form_abandon", "click"} <= got else []

    events = wait_for(arrived)
    assert len({e["id"] for e in events}) == len(events)
    # Every request was a beacon: no fetch was left to finish after the page had gone.
    assert [h["sec-fetch-mode"] for h in beacons.headers] == ["no-cors"] * len(beacons.headers)
    wait_for(lambda: any(n == "visibilitychange:hidden" for _, n in beacons.notes))
    time.sleep(0.5)  # the notes after it
    log = [n for _, n in sorted(beacons.notes)]
    # Leaving unloads the page while it is still visible (HTML's unload steps): pagehide
    # first, where the snippet sends what is queued and what leaving closed (the click
    # waiting for its feedback, the form's abandonment); visibilitychange to hidden after,
    # where it sends what web-vitals reports at hide: the engines with LCP, INP or CLS.
    assert log[0] == "pagehide:visible" and "visibilitychange:hidden" in log, log
    hidden = log.index("visibilitychange:hidden")
    at_pagehide, at_hidden = log[1:hidden], log[hidden + 1 :]
    assert set(at_pagehide + at_hidden) == {"sendBeacon:queued"}, log
    assert at_pagehide, log
    assert at_hidden == (["sendBeacon:queued"] if VITALS_AT_HIDE[browser.name] else []), log
    only_vitals = [env for env in beacons.envelopes() if {e["t"] for e in env["e"]} == {"vital"}]
    assert len(only_vitals) == len(at_hidden)


def test_what_is_queued_when_the_page_is_hidden_arrives_by_beacon(
    browser: Browser, lab: tuple[str, Lab]
) -> None:
    """Hidden without being left (another tab in front, a minimized window): what is
    queued goes out by beacon at visibilitychange, and the page goes on measuring."""
    base, beacons = lab
    page = open_page(browser, base + "/lab")
    page.click("#works")
    time.sleep(1.2)  # the click's wait for feedback is over: it is queued
    page.evaluate("microx.feedback('queued', 1)")
    if not page.hide():
        pytest.skip("headless Chromium cannot hide a page without leaving it")
    try:
        assert page.evaluate("document.visibilityState") == "hidden"
        received(beacons, "feedback")
    finally:
        page.show()
    assert {"click", "feedback"} <= {e["t"] for e in beacons.events()}
    assert {h["sec-fetch-mode"] for h in beacons.headers} == {"no-cors"}
    # Shown again, the page sends with fetch as before.
    page.evaluate("microx.feedback('after', 1)")
    wait_for(lambda: page.evaluate("document.visibilityState") == "visible")
    assert [e["n"] for e in flushed(page, beacons, "feedback", 2)] == ["queued", "after"]
    assert beacons.headers[-1]["sec-fetch-mode"] == "cors"
