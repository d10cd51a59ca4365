"""A real visitor in headless Chromium, through the real collector, into the embedded store."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
from playwright.sync_api import Browser

from tests.conftest import Collector, free_port, now_ms, open_store, wait_for

pytestmark = pytest.mark.browser


def test_demo_journey_lands_in_events(
    collector: Collector, browser: Browser, tmp_path: Path
) -> None:
    started = now_ms()
    page = browser.new_page()
    page.goto(f"{collector.base}/")
    page.wait_for_function("window.microx && window.microx.version")
    page.click("#add-kettle")
    page.wait_for_selector("#basket-count:has-text('Basket: 1')")
    page.click("#to-shipping")
    page.fill("input[name=fullname]", "Ada Lovelace")
    page.fill("input[name=address]", "12 Analytical Row")
    page.click("#to-payment")
    page.fill("input[name=cardnumber]", "4242424242424242")
    page.fill("input[name=expiry]", "12/30")
    page.click("#pay")
    page.wait_for_selector("#order-confirmed", state="visible")
    # Leaving the page hides it: the snippet must flush with a beacon on its way out.
    page.goto("about:blank")
    # The clicks still open when the page is left go out in its last beacon: wait until
    # the last of them is stored, however long a loaded machine takes to send it.
    last = "SELECT count() FROM microx.events WHERE type = 'click' AND target = 'button#pay'"
    wait_for(lambda: collector.sql(last) == "1", 30)
    page.close()
    assert collector.stopped_cleanly()
    finished = now_ms()

    with open_store(collector.store_url) as store:
        cols, rows = store.query(
            "SELECT type, name, target, label, duration_ms, value, seq, toString(session_id),"
            " toUnixTimestamp64Milli(event_time), clock_skew_ms, path, browser, os, device, props,"
            " toUnixTimestamp64Milli(client_time)"
            " FROM microx.events ORDER BY seq"
        )
        _, rejected = store.query("SELECT reason, field_path FROM microx.rejected_events")
        _, text_cols = store.query(
            "SELECT arrayStringConcat([name, target, label, url, referrer,"
            " toString(props)], ' ') FROM microx.events"
        )
    events = [dict(zip(cols, r, strict=True)) for r in rows]

    assert rejected == []
    # A click is reported once its feedback is known, so order by when things happened
    # (a click before the step its handler records in the same millisecond).
    journey = [
        (e["type"], e["name"], e["target"], e["label"])
        for e in sorted(events, key=lambda e: (e["toUnixTimestamp64Milli(client_time)"], e["type"]))
        if e["type"] in ("click", "step")
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
    pages = [e for e in events if e["type"] == "page"]
    assert len(pages) == 1 and pages[0]["path"] == "/"
    assert 0 < pages[0]["duration_ms"] < 30_000
    vitals = {e["name"]: e["value"] for e in events if e["type"] == "vital"}
    assert {"FCP", "TTFB", "LCP", "CLS"} <= vitals.keys()
    assert all(v is not None and v >= 0 for v in vitals.values())

    assert len({e["toString(session_id)"] for e in events}) == 1
    uuid.UUID(events[0]["toString(session_id)"])
    assert [e["seq"] for e in events] == list(range(len(events)))
    for e in events:
        # Same machine, same clock: corrected times fall inside the test's own window.
        assert started - 1000 <= e["toUnixTimestamp64Milli(event_time)"] <= finished + 1000
        assert abs(e["clock_skew_ms"]) < 5_000
        assert (e["browser"], e["os"], e["device"]) == ("Chrome", "Linux", "desktop")
    steps = [e for e in events if e["type"] == "step"]
    assert steps[0]["duration_ms"] is None
    assert all(s["duration_ms"] is not None and s["duration_ms"] >= 0 for s in steps[1:])
    # The confirmation waited on a 600 ms spinner after the payment step.
    assert steps[-1]["duration_ms"] >= 550
    clicks = [e for e in events if e["type"] == "click"]
    assert all({"x", "y", "det"} <= e["props"].keys() for e in clicks)
    stored_text = " ".join(r[0] for r in text_cols)
    for typed in ("Ada Lovelace", "Analytical", "4242", "12/30"):
        assert typed not in stored_text


def test_sql_command_reads_what_the_collector_stored(
    collector: Collector, browser: Browser
) -> None:
    import subprocess
    import sys

    page = browser.new_page()
    page.goto(f"{collector.base}/")
    page.wait_for_function("window.microx && window.microx.version")
    page.click("#to-shipping")
    page.goto("about:blank")
    wait_for(lambda: collector.metric("events_accepted_total") >= 3)
    page.close()

    query = "SELECT type, target FROM microx.events WHERE type = 'click'"
    cmd = [sys.executable, "-m", "collector.cli", "sql", query]

    def sql(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
        return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)

    def clicks(answer: subprocess.CompletedProcess[str]) -> list[list[str]]:
        assert answer.returncode == 0, answer.stderr
        if answer.stdout.strip() == "(no rows)":
            return []
        lines = answer.stdout.splitlines()
        assert lines[0].split() == ["type", "target"]
        return [line.split() for line in lines[2:]]

    # While it runs, the query goes through the collector's read-only endpoint.
    wait_for(lambda: clicks(sql(collector.env)) == [["click", "button#to-shipping"]])
    # Started on another port than the command is told: found from its data directory.
    elsewhere = {**collector.env, "MICROX_PORT": str(free_port())}
    assert clicks(sql(elsewhere)) == [["click", "button#to-shipping"]]
    # A store held by a collector the command knows nothing of (another data directory):
    # said plainly, no traceback.
    unknown = {
        **elsewhere,
        "MICROX_DATA_DIR": str(collector.data_dir / "elsewhere"),
        "MICROX_CLICKHOUSE_URL": collector.store_url,
    }
    busy = sql(unknown)
    assert busy.returncode == 2
    assert "another process holds it" in busy.stderr
    assert "Traceback" not in busy.stderr

    collector.stop()
    assert clicks(sql(collector.env)) == [["click", "button#to-shipping"]]


def test_snippet_marks_resent_events_and_they_are_stored_once(
    collector: Collector, browser: Browser
) -> None:
    page = browser.new_page()
    bodies: list[dict[str, Any]] = []
    first = True

    def route(r: Any) -> None:
        nonlocal first
        bodies.append(orjson.loads(r.request.post_data))
        if first:
            first = False
            r.fulfill(status=503, headers={"retry-after": "1"}, body="busy")
        else:
            r.continue_()

    page.route("**/v1/events", route)
    page.goto(f"{collector.base}/")
    page.wait_for_function("window.microx && window.microx.version")
    page.click("#to-shipping")
    page.evaluate("microx.flush()")  # answered 503: the events go back in the queue
    wait_for(lambda: len(bodies) == 1, page=page)
    page.evaluate("microx.flush()")
    wait_for(lambda: len(bodies) == 2, page=page)
    wait_for(lambda: collector.metric("events_accepted_total") >= len(bodies[1]["e"]))
    page.close()
    first_ids = [e["id"] for e in bodies[0]["e"]]
    resent = [e for e in bodies[1]["e"] if e["id"] in first_ids]
    assert len(resent) == len(first_ids) and all(e["a"] == 1 for e in resent)
    assert collector.stopped_cleanly()
    with open_store(collector.store_url) as store:
        _, rows = store.query("SELECT toString(event_id) FROM microx.events")
    stored = [r[0] for r in rows]
    assert len(stored) == len(set(stored))  # nothing twice
    # Everything routed is stored (the final beacon on close bypasses routing, so may add more).
    assert {e["id"] for b in bodies for e in b["e"]} <= set(stored)
