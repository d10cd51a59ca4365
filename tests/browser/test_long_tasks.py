"""Long tasks tied to the interaction they delayed, and none caused by the snippet."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser

from tests.beacons import Beacons
from tests.browser.lab import STARTED, flushed, open_lab
from tests.conftest import wait_for

pytestmark = pytest.mark.browser


# Installed before any page script: each long animation frame (a long task, with the
# scripts that ran in it) from the start of the page load.
LONG_FRAMES = """
window.__frames = [];
new PerformanceObserver((list) => {
  for (const f of list.getEntries()) {
    window.__frames.push({duration: f.duration,
      scripts: f.scripts.map((s) => ({src: s.sourceURL, duration: s.duration}))});
  }
}).observe({type: 'long-animation-frame', buffered: true});
"""


# A page that does nothing but load the snippet, so a long frame can only be its own.
QUIET_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>quiet</title>
<script src="/sdk.js" data-site="lab"></script></head>
<body><button id="idle">Nothing happens</button></body></html>"""


def test_long_animation_frame_is_tied_to_the_click(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    page = open_lab(browser, base)
    page.click("#slow")

    def near() -> list[dict[str, Any]]:
        page.evaluate("microx.flush()")
        return [t for t in beacons.events("long_task") if t["p"].get("ia") == "button#slow"]

    (task,) = wait_for(near, page=page)
    assert task["d"] >= 140 and task["n"] in ("loaf", "longtask")


def test_the_snippet_causes_no_long_task(browser: Browser, lab: tuple[str, Beacons]) -> None:
    """Its start-up and its handling of a click burst each stay under 50 ms of script.

    Long animation frames name the scripts that ran in them, so the browser's own work
    (parsing, the first layout) on a slow machine does not count against the snippet.
    """
    base, beacons = lab
    page = browser.new_page()
    page.add_init_script(LONG_FRAMES)
    page.route(
        f"{base}/quiet",
        lambda route: route.fulfill(status=200, content_type="text/html", body=QUIET_PAGE),
    )
    page.goto(f"{base}/quiet")
    page.wait_for_function(STARTED)
    assert page.evaluate("PerformanceObserver.supportedEntryTypes.includes('long-animation-frame')")
    page.wait_for_timeout(500)  # the vitals file loads and starts
    page.click("#idle", click_count=5, delay=20)  # a rage burst on a dead button
    (rage,) = flushed(page, beacons, "rage_click")
    assert rage["tg"] == "button#idle"

    snippet = "['/sdk.js', '/microx-vitals.js'].some((f) => s.src.endsWith(f))"
    long_work = page.evaluate(
        f"window.__frames.flatMap((f) => f.scripts).filter((s) => {snippet} && s.duration >= 50)"
    )
    assert long_work == []
    # The observer does see a long frame when there is one: a page task that blocks, then
    # changes what is shown.
    page.evaluate(
        """setTimeout(() => {
        const end = performance.now() + 120;
        while (performance.now() < end);
        document.body.append('.');
      })"""
    )
    wait_for(lambda: page.evaluate("window.__frames.some((f) => f.duration >= 100)"), page=page)
