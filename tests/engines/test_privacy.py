"""No typed value, email or token leaves the page, in any engine."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.engines.driver import Browser, flushed, leave, open_page, wait_for
from tests.engines.server import Lab

pytestmark = pytest.mark.browser

TYPED = "zanzibar teapot"
EMAIL = "ada.lovelace@example.com"
TOKEN = "9f86d081884c7d659a2feaa0c55ad015"

# Page text that echoes what is typed, an aria-label that does, an error quoting it.
ECHOES = """(() => {
  const q = document.createElement('input');
  q.id = 'q'; q.name = 'q';
  const echo = document.createElement('button');
  echo.id = 'echo'; echo.textContent = 'Search';
  q.addEventListener('input', () => (echo.textContent = `Search for "${q.value}"`));
  const send = document.createElement('button');
  send.id = 'send';
  send.setAttribute('aria-label', 'Send');
  q.addEventListener('input', () => send.setAttribute('aria-label', 'Send ' + q.value));
  const check = document.createElement('button');
  check.id = 'check'; check.textContent = 'Check';
  check.onclick = () => { throw new Error('Validation failed for value ' + q.value); };
  document.getElementById('lab').prepend(q, echo, send, check);
})()"""


def test_typed_text_emails_and_tokens_never_leave_the_page(
    browser: Browser, lab: tuple[str, Lab]
) -> None:
    base, beacons = lab
    beacons.attrs = 'data-query="ref"'
    page = open_page(browser, f"{base}/lab/account/{EMAIL}/settings?ref={EMAIL}")
    page.evaluate(ECHOES)
    page.click("#q")
    page.type(TYPED)
    for sel in ("#echo", "#send", "#check"):
        page.click(sel)
    page.evaluate(f"location.hash = '#/reset/{TOKEN}'")
    (route,) = flushed(page, beacons, "route")
    time.sleep(1.2)  # the clicks are reported once their wait for feedback is over
    clicks = flushed(page, beacons, "click", 4)
    for secret in (TYPED, "zanzibar", EMAIL, "lovelace", TOKEN):
        assert all(secret not in b for b in beacons.bodies), secret
    # What the visitor did is still there, named without it.
    labels = {c["tg"]: c["l"] for c in clicks}
    assert labels["button#echo"] == 'Search for "…"' and labels["button#send"] == "Send …"
    errors = [e["n"] for e in beacons.events() if e["t"] in ("error", "error_click")]
    assert errors and all("Validation failed for value …" in n for n in errors)
    assert route["u"].endswith("/lab/account/[email]/settings?ref=[email]#/reset/[token]")


def test_abandoned_form_names_the_last_field_and_never_a_value(
    browser: Browser, lab: tuple[str, Lab]
) -> None:
    """Left half filled: the abandonment goes out as the page goes, in every engine."""
    base, beacons = lab
    page = open_page(browser, base + "/lab")
    for name, value in [
        ("fullname", "Ada Lovelace"),
        ("email", "ada@example"),
        ("password", "hunter2-secret"),
        ("cardnumber", "4242 4242 4242 4242"),
        ("nickname", "Countess"),
    ]:
        page.click(f"input[name={name}]")
        page.type(value)
        if name == "email":
            page.press("Backspace")
    page.click("input[name=email]")
    page.type("x")
    leave(page)  # without submitting

    def once(type_: str) -> list[dict[str, Any]]:
        """Each event once. Closing what was open as the page goes can make the queue's
        20th event, whose batch then starts from the worker and goes again as a beacon
        (`a` marks the second try; the collector keeps one): the same event twice, in a
        batch of its own."""
        first: dict[str, dict[str, Any]] = {}
        for e in beacons.events(type_):
            kept = first.setdefault(e["id"], e)
            assert kept is e or kept.get("a") or e.get("a"), "sent twice as a first try"
            assert {k: v for k, v in e.items() if k not in ("a", "_env")} == {
                k: v for k, v in kept.items() if k not in ("a", "_env")
            }
        return list(first.values())

    (abandon,) = wait_for(lambda: once("form_abandon"))
    assert abandon["n"] == "signup" and abandon["tg"] == "email"
    assert abandon["p"]["how"] == "page"
    assert set(abandon["p"]["fields"].split(",")) == {"fullname", "email", "private"}
    (start,) = once("form_start")
    assert start["tg"] == "fullname"
    email = [f for f in once("form_field") if f["tg"] == "email"]
    assert email[0]["p"]["dels"] == 1 and email[0]["p"]["filled"] is True
    assert email[-1]["p"]["amends"] == 1
    bodies = "\n".join(beacons.bodies)
    # The card number with its spaces: its digits alone can be part of a time or an id.
    for secret in ("Lovelace", "ada@example", "hunter2", "4242 4242", "Countess"):
        assert secret not in bodies
    for name in ("password", "cardnumber", "nickname"):
        assert name not in bodies


def test_typed_text_of_an_editable_area_never_names_a_click(
    browser: Browser, lab: tuple[str, Lab]
) -> None:
    base, beacons = lab
    page = open_page(browser, base + "/lab")
    page.evaluate(
        """(() => {
        const box = document.createElement('div');
        box.id = 'note'; box.setAttribute('role', 'button');
        box.innerHTML = '<p>Notes</p><div contenteditable="true"></div>';
        document.getElementById('lab').prepend(box);
      })()"""
    )
    page.click("#note [contenteditable]")
    page.type("my secret diagnosis, call 0123 456 789")
    page.click("#note [contenteditable]")
    clicks = flushed(page, beacons, "click", 2)
    assert {c["tg"] for c in clicks} == {"div#note"}
    # The number with its spaces: "0123" alone can be part of a time or an id.
    for secret in ("secret", "diagnosis", "0123 456"):
        assert all(secret not in body for body in beacons.bodies), secret
