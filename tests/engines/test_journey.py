"""A visitor's journey in each engine: the demo shop through the real collector into the
store, and a single-page app's routes."""

from __future__ import annotations

import time

import pytest

from tests.conftest import Collector, open_store
from tests.engines.driver import Browser, flushed, leave, open_page, wait_for
from tests.engines.server import Lab

pytestmark = pytest.mark.browser

# What the collector makes of each engine's User-Agent.
FAMILY = {"chromium": "Chrome", "firefox": "Firefox", "webkit": "Safari"}


def test_demo_journey_lands_in_events(browser: Browser, collector: Collector) -> None:
    page = open_page(browser, f"{collector.base}/")
    page.click("#add-kettle")
    wait_for(lambda: "Basket: 1" in page.evaluate("document.body.textContent"))
    page.click("#to-shipping")
    for name, value in [("fullname", "Ada Lovelace"), ("address", "12 Analytical Row")]:
        page.click(f"input[name={name}]")
        page.type(value)
    page.click("#to-payment")
    for name, value in [("cardnumber", "4242424242424242"), ("expiry", "12/30")]:
        page.click(f"input[name={name}]")
        page.type(value)
    page.click("#pay")
    wait_for(lambda: page.evaluate("!document.querySelector('#step-done').hidden"))
    # Leaving the page: the last click still waiting for its feedback goes in its beacon.
    leave(page)
    last = "SELECT count() FROM microx.events WHERE type = 'click' AND target = 'button#pay'"
    wait_for(lambda: collector.sql(last) == "1", timeout_s=30)
    assert collector.stopped_cleanly()

    with open_store(collector.store_url) as store:
        cols, rows = store.query(
            "SELECT type, name, target, label, browser, os, device, props,"
            " toUnixTimestamp64Milli(client_time) AS at FROM microx.events"
        )
        _, rejected = store.query("SELECT reason, field_path FROM microx.rejected_events")
        _, text = store.query(
            "SELECT arrayStringConcat([name, target, label, url, toString(props)], ' ')"
            " FROM microx.events"
        )
    events = [dict(zip(cols, r, strict=True)) for r in rows]
    assert rejected == []
    journey = [
        (e["type"], e["name"], e["target"], e["label"])
        for e in sorted(events, key=lambda e: (e["at"], e["type"]))
        # The clicks that focused a field are fields' (`ex`), not steps of the journey.
        if e["type"] == "step" or (e["type"] == "click" and "ex" not in e["props"])
    ]
    assert journey == [
        ("step", "checkout", "basket", ""),
        ("click", "", "button#add-kettle", "Add to basket"),
        ("click", "", "button#to-shipping", "Continue to shipping"),
        ("step", "checkout", "shipping", ""),
        ("click", "", "button#to-payment", "Continue to payment"),
        ("step", "checkout", "payment", ""),
        ("click", "", "button#pay", "Pay now"),
        ("step", "checkout", "confirmed", ""),
    ]
    assert [e["type"] for e in events].count("page") == 1
    assert {(e["browser"], e["os"], e["device"]) for e in events} == {
        (FAMILY[browser.name], "Linux", "desktop")
    }
    stored = " ".join(r[0] for r in text)
    for typed in ("Ada Lovelace", "Analytical", "42424242", "12/30"):
        assert typed not in stored


def test_spa_routes_and_hash_routes_are_moments(browser: Browser, lab: tuple[str, Lab]) -> None:
    base, beacons = lab
    page = open_page(browser, base + "/lab")
    page.click("#go")
    time.sleep(0.3)
    page.click("#hashgo")
    routes = flushed(page, beacons, "route", 2)
    assert [r["u"].removeprefix(base) for r in routes] == ["/app/next", "/app/next#/cart"]
    assert all(r["d"] >= 0 for r in routes)
    # A click carries the page it was made on, though reported after the route it caused.
    clicks = {c["tg"]: c for c in flushed(page, beacons, "click", 2)}
    assert "u" not in clicks["button#go"] and clicks["button#go"]["_env"]["u"] == base + "/lab"
    assert clicks["button#hashgo"]["u"] == base + "/app/next"
    assert all("secret" not in b for b in beacons.bodies)
