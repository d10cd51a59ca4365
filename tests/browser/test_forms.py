"""Forms: started, stalled, refused, submitted or abandoned, never a typed value."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser

from tests.beacons import Beacons
from tests.browser.lab import flushed, open_lab
from tests.conftest import wait_for

pytestmark = pytest.mark.browser


def test_abandoned_form_names_the_last_field_and_never_a_value(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    page = open_lab(browser, base)
    page.fill("input[name=fullname]", "Ada Lovelace")
    page.click("input[name=email]")
    page.wait_for_timeout(300)
    page.keyboard.type("ada@example")
    page.keyboard.press("Backspace")
    page.fill("input[name=password]", "hunter2-secret")
    page.fill("input[name=cardnumber]", "4242 4242 4242 4242")
    page.fill("input[name=nickname]", "Countess")
    page.click("input[name=email]")
    page.keyboard.type("x")
    page.goto("about:blank")  # leaves the page without submitting
    (abandon,) = wait_for(lambda: beacons.events("form_abandon"), page=page)
    assert abandon["n"] == "signup" and abandon["tg"] == "email"
    assert abandon["p"]["how"] == "page"
    assert set(abandon["p"]["fields"].split(",")) == {"fullname", "email", "private"}
    (start,) = beacons.events("form_start")
    assert start["tg"] == "fullname"
    fields = {f["tg"]: f for f in beacons.events("form_field")}
    email = fields["email"]
    assert email["p"]["hes"] >= 250 and email["p"]["dels"] == 1
    assert email["p"]["amends"] == 1 and email["p"]["filled"] is True
    bodies = "\n".join(beacons.bodies)
    for secret in ("Ada", "Lovelace", "ada@example", "hunter2", "4242", "Countess"):
        assert secret not in bodies
    for name in ("password", "cardnumber", "nickname"):
        assert name not in bodies


def test_a_form_is_left_at_the_field_focused_last_even_without_typing(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    page = open_lab(browser, base)
    page.fill("input[name=fullname]", "Ada")
    page.click("input[name=email]")  # balks: focused, nothing typed
    page.wait_for_timeout(200)
    page.goto("about:blank")
    (abandon,) = wait_for(lambda: beacons.events("form_abandon"), page=page)
    assert abandon["tg"] == "email" and abandon["d"] > 0
    assert abandon["p"]["fields"] == "fullname"
    email = next(f for f in beacons.events("form_field") if f["tg"] == "email")
    assert email["p"]["edits"] == 0 and "hes" not in email["p"]


def test_a_form_focused_but_never_typed_into_is_abandoned_without_a_start(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    page = open_lab(browser, base)
    page.click("input[name=fullname]")
    page.click("input[name=email]")
    page.goto("about:blank")
    (abandon,) = wait_for(lambda: beacons.events("form_abandon"), page=page)
    assert (abandon["n"], abandon["tg"], abandon["p"]["how"]) == ("signup", "email", "page")
    assert "d" not in abandon and abandon["p"]["fields"] == ""
    assert beacons.events("form_start") == [] and beacons.events("form_field") == []


def test_submitted_form_is_not_abandoned_and_invalid_fields_stall_it(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    page = open_lab(browser, base)
    page.fill("input[name=fullname]", "Ada")
    page.click("#signup-submit")  # email is required: refused
    page.click("#signup-submit")  # refused again: the form is stalled
    invalid = flushed(page, beacons, "form_invalid", 2)
    assert {(i["tg"], i["p"]["why"]) for i in invalid} == {("email", "valueMissing")}
    stalls = [f for f in page.evaluate("window.__frustrations") if f["type"] == "stalled_form"]
    assert stalls and stalls[0]["form"] == "signup" and stalls[0]["why"] == "invalid"
    page.fill("input[name=email]", "a@b.example")
    page.click("#signup-submit")
    (submit,) = flushed(page, beacons, "form_submit")
    assert submit["n"] == "signup" and submit["d"] > 0
    page.goto("about:blank")
    page.wait_for_timeout(500)
    assert beacons.events("form_abandon") == []


def test_an_idle_form_stalls(browser: Browser, lab: tuple[str, Beacons]) -> None:
    base, beacons = lab
    beacons.attrs = """data-options='{"stallMs": 800}'"""
    page = open_lab(browser, base)
    page.fill("input[name=fullname]", "Ada")
    stalls = wait_for(
        lambda: [f for f in page.evaluate("window.__frustrations") if f["type"] == "stalled_form"],
        page=page,
    )
    assert stalls[0]["field"] == "fullname" and stalls[0]["why"] == "idle"
