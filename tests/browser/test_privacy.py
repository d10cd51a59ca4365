"""Privacy: no typed text, email or token leaves the page; sampling and the query allowlist."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.beacons import Beacons, serve
from tests.browser.lab import flushed, open_lab
from tests.conftest import BROWSER_UA, Collector, open_store, wait_for

pytestmark = pytest.mark.browser


def test_typed_text_of_an_editable_area_never_names_a_click(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    page = open_lab(browser, base)
    page.evaluate(
        """() => {
        const box = document.createElement('div');
        box.id = 'note'; box.setAttribute('role', 'button');
        box.innerHTML = '<p>Notes</p><div contenteditable="true"></div>';
        document.body.append(box);
      }"""
    )
    # The click is meant for the box around the editable area: named by attributes only.
    page.click("#note [contenteditable]")
    page.keyboard.type("my secret diagnosis, call 0123 456 789")
    page.click("#note [contenteditable]")
    clicks = flushed(page, beacons, "click", 2)
    assert {c["tg"] for c in clicks} == {"div#note"}
    # The number with its spaces: "0123" alone can be part of a time or an id.
    for secret in ("secret", "diagnosis", "0123 456"):
        assert all(secret not in body for body in beacons.bodies), secret


def test_sampled_out_session_sends_nothing_and_query_allowlist(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    beacons.attrs = 'data-sample="0"'
    page = open_lab(browser, base)
    page.click("#works")
    page.wait_for_timeout(1200)
    page.evaluate("microx.flush()")
    page.wait_for_timeout(300)
    assert beacons.bodies == []
    page.close()
    beacons.attrs = 'data-query="utm_source"'
    page = open_lab(browser, base, path="/lab?utm_source=mail&email=ada%40example.com")
    page.click("#works")
    (click,) = flushed(page, beacons, "click")
    assert click["_env"]["u"] == f"{base}/lab?utm_source=mail"
    assert click["_env"]["c"]["sr"] == 1


TYPED = "zanzibar teapot"


EMAIL = "ada.lovelace@example.com"


TOKEN = "9f86d081884c7d659a2feaa0c55ad015"


def test_typed_text_emails_and_tokens_never_reach_the_store(
    browser: Browser, tmp_path: Path
) -> None:
    """Through the real collector: page text that echoes a typed value, an error message
    quoting it, and a URL with an email in its path and query and a token in its route."""
    collector = Collector(tmp_path, MICROX_SITES="lab=")
    try:
        with serve(upstream=collector.base, user_agent=BROWSER_UA) as (base, beacons):
            beacons.attrs = 'data-query="ref"'
            page = open_lab(browser, base, f"/lab/account/{EMAIL}/settings?ref={EMAIL}")
            page.evaluate(
                """() => {
                const q = document.createElement('input');
                q.id = 'q'; q.name = 'q';
                const echo = document.createElement('button');
                echo.id = 'echo'; echo.textContent = 'Search';
                q.addEventListener('input', () => (echo.textContent = `Search for "${q.value}"`));
                const send = document.createElement('button');
                send.id = 'send';
                send.setAttribute('aria-label', 'Send');
                const say = () => send.setAttribute('aria-label', 'Send ' + q.value);
                q.addEventListener('input', say);
                const check = document.createElement('button');
                check.id = 'check'; check.textContent = 'Check';
                const why = () => 'Validation failed for value ' + q.value;
                check.onclick = () => { throw new Error(why()); };
                document.getElementById('lab').append(q, echo, send, check);
              }"""
            )
            page.fill("#q", TYPED)
            for sel in ("#echo", "#send", "#check"):
                page.click(sel)
            page.evaluate(f"location.hash = '#/reset/{TOKEN}'")
            routes = flushed(page, beacons, "route")
            page.wait_for_timeout(1200)
            page.goto("about:blank")

            def settled() -> bool:
                # Every event the proxy passed on has been accepted (a beacon sent as the
                # page went may still be on its way when the first ones are counted).
                seen = len(beacons.events())
                return seen >= 8 and collector.metric("events_accepted_total") == seen

            wait_for(settled, page=page)
        # Read once the proxy is closed: nothing more reaches the collector through it.
        sent = beacons.events()
        assert collector.stopped_cleanly()
    finally:
        collector.stop()
    with open_store(collector.store_url) as store:
        _, rows = store.query("SELECT * FROM microx.events")
        _, named = store.query("SELECT type, name, target, label FROM microx.events")
        _, refused = store.query("SELECT * FROM microx.rejected_events")
    assert len(rows) == len(sent) >= 8 and not refused
    stored = "\n".join(map(str, rows))
    for secret in (TYPED, "zanzibar", EMAIL, "lovelace", TOKEN):
        assert secret not in stored
        assert all(secret not in b for b in beacons.bodies)
    # What the visitor did is still there, named without it.
    labels = {target: label for type_, _, target, label in named if type_ == "click"}
    assert labels["button#echo"] == 'Search for "…"' and labels["button#send"] == "Send …"
    errors = [n for t, n, _, _ in named if t in ("error", "error_click")]
    assert errors and all("Validation failed for value …" in n for n in errors)
    assert routes[0]["u"].endswith("/lab/account/[email]/settings?ref=[email]#/reset/[token]")
