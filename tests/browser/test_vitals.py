"""Page-load timing and Core Web Vitals with their attribution, from the second file."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser

from tests.beacons import CSP, Beacons
from tests.browser.lab import flushed, goto_lab, open_lab
from tests.conftest import wait_for

pytestmark = pytest.mark.browser


def test_page_load_vitals_with_attribution_and_no_csp_violation(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    page = open_lab(browser, base)
    page.click("#works")
    page.click("#slow")  # its handler blocks for 150 ms: the page's INP
    # Its timing entry reaches web-vitals some time after the next paint; one made just
    # before the page is hidden can be missed (as in the field).
    page.wait_for_timeout(2000)
    page.goto("about:blank")  # hiding the page reports the final vitals
    wait_for(lambda: len({e["n"] for e in beacons.events("vital")}) >= 5, page=page)
    by_name = {e["n"]: e for e in beacons.events("vital")}
    assert {"FCP", "TTFB", "LCP", "CLS", "INP"} <= by_name.keys()
    inp = by_name["INP"]
    assert inp["val"] >= 150 and "slow" in inp["tg"]
    assert {"input", "proc", "pres", "type"} <= inp["p"].keys() and inp["p"]["proc"] >= 140
    # Each vital carries the time of what it measures, not of its report at page hide.
    slow = next(c for c in beacons.events("click") if "slow" in c["tg"])
    assert abs(inp["ts"] - slow["ts"]) < 100
    first_click = min(c["ts"] for c in beacons.events("click"))
    assert by_name["LCP"]["ts"] < first_click and by_name["TTFB"]["ts"] < first_click
    assert by_name["CLS"]["ts"] < slow["ts"]
    assert by_name["LCP"]["tg"]  # the attribution build names the LCP element
    assert {"ttfb", "delay", "load", "render", "rating"} <= by_name["LCP"]["p"].keys()
    assert {"wait", "dns", "conn", "req"} <= by_name["TTFB"]["p"].keys()
    (load,) = beacons.events("page")
    assert 0 < load["d"] < 30_000 and load["p"]["nav"] == "navigate"
    env = beacons.envelopes()[0]
    assert env["s"] == "lab" and env["u"].endswith("/lab") and env["c"]["cs"] == ["measure"]
    assert page.evaluate("window.__violations") == []
    assert page.errors == []  # type: ignore[attr-defined]


def test_a_nonce_based_csp_lets_the_second_file_in(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    beacons.csp = CSP.replace("script-src 'self'", "script-src 'nonce-n0nce'")
    beacons.attrs = 'nonce="n0nce"'
    page = open_lab(browser, base)
    # The page-load timing comes from the second file: it was let in.
    (load,) = flushed(page, beacons, "page")
    assert load["d"] > 0
    # The page's own script, which has no nonce, is the one refused.
    refused = page.evaluate("window.__violations")
    assert refused and all(v.endswith("/pages/lab.js") for v in refused)


def test_the_second_file_misses_nothing_that_happened_before_it_arrived(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    """Page-load timing and long frames are read from the browser's buffers, late."""
    base, beacons = lab
    beacons.second_file_delay_s = 2.0
    page = browser.new_page()
    # The file being fetched holds the load event back: do not wait for it.
    goto_lab(page, base, wait_until="domcontentloaded")
    page.click("#slow")  # a long frame, while the second file is still on its way
    clicked_at = page.evaluate("performance.now()")

    def late() -> list[dict[str, Any]]:
        page.evaluate("microx.flush()")
        tasks = [t for t in beacons.events("long_task") if t["p"].get("ia") == "button#slow"]
        return tasks if tasks and beacons.events("page") else []

    (task,) = wait_for(late, page=page)
    arrived = page.evaluate(
        "performance.getEntriesByType('resource')"
        ".find((r) => r.name.endsWith('/microx-vitals.js')).responseEnd"
    )
    assert arrived > clicked_at + 1000, (arrived, clicked_at)
    assert task["d"] >= 140
    (load,) = beacons.events("page")
    assert load["d"] > 0 and load["p"]["ttfb"] >= 0 and load["p"]["nav"] == "navigate"
