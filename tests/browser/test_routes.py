"""Route changes of a single-page app: history and hash routes, and the URL events carry."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser

from tests.beacons import Beacons
from tests.browser.lab import flushed, open_lab
from tests.conftest import wait_for

pytestmark = pytest.mark.browser


def test_spa_routes_and_hash_routes_are_moments(browser: Browser, lab: tuple[str, Beacons]) -> None:
    base, beacons = lab
    page = open_lab(browser, base)
    page.click("#go")
    page.wait_for_timeout(300)
    page.click("#hashgo")
    routes = flushed(page, beacons, "route", 2)
    assert [r["u"].removeprefix(base) for r in routes] == ["/app/next", "/app/next#/cart"]
    # Where it came from is the previous event's URL; what started it, the click.
    assert [r["p"] for r in routes] == [{"by": "button#go"}, {"by": "button#hashgo"}]
    assert all(r["df"] == "view@1:100ms" for r in routes)
    assert all(r["d"] >= 0 for r in routes)
    # A click carries the page it was made on, though reported after the route it caused.
    clicks = {c["tg"]: c for c in flushed(page, beacons, "click", 2)}
    assert "u" not in clicks["button#go"] and clicks["button#go"]["_env"]["u"] == base + "/lab"
    assert clicks["button#hashgo"]["u"] == base + "/app/next"
    # Vitals, reported as the page is hidden, are about the page as loaded.
    page.goto("about:blank")
    vitals = wait_for(lambda: beacons.events("vital"), page=page)
    assert all("u" not in v and v["_env"]["u"] == base + "/lab" for v in vitals)
    # Events after the route carry the new URL; the query string never leaves the page.
    assert all("secret" not in b for b in beacons.bodies)
