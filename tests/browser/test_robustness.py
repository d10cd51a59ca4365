"""The snippet never breaks the page: blocked storage, a second copy, a page that breaks
what it uses, and misuse of its API."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser

from tests.beacons import Beacons
from tests.browser.lab import flushed, open_lab

pytestmark = pytest.mark.browser


def test_blocked_storage_and_a_second_copy_of_the_script(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    block = """
    for (const area of ['localStorage', 'sessionStorage']) {
      Object.defineProperty(window, area,
        {get() { throw new DOMException('blocked', 'SecurityError'); }});
    }"""
    page = open_lab(browser, base, init=block)
    page.evaluate(
        """() => new Promise((r) => {
        const s = document.createElement('script');
        s.src = '/sdk.js'; s.dataset.site = 'lab'; s.onload = r;
        document.head.appendChild(s);
      })"""
    )
    page.click("#works")
    page.evaluate("microx.step('f', 'one')")
    clicks = flushed(page, beacons, "click")
    assert len(clicks) == 1
    # One page load, though the script ran twice: the second copy measured nothing.
    (load,) = flushed(page, beacons, "page")
    (step,) = flushed(page, beacons, "step")
    assert step["n"] == "f" and load["_env"]["sid"] == clicks[0]["_env"]["sid"]
    assert page.errors == []  # type: ignore[attr-defined]


def test_a_page_that_breaks_what_the_snippet_uses_sees_no_error(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    """Listeners and timers are guarded like the API: here the page breaks two DOM methods
    the click and loading captures call, and neither the page nor its error handlers see
    anything; the other captures go on."""
    base, beacons = lab
    breaks = """
    const closest = Element.prototype.closest;
    Element.prototype.closest = function (s) {
      if (String(s).includes('data-microx-ignore')) throw new Error('broken by the page');
      return closest.call(this, s);
    };
    Element.prototype.checkVisibility = function () { throw new Error('broken too'); };
    """
    page = open_lab(browser, base, init=breaks)
    page.click("#works")
    page.click("#spin")
    page.wait_for_timeout(1200)
    page.fill("input[name=fullname]", "Ada")
    (start,) = flushed(page, beacons, "form_start")
    assert (start["n"], start["tg"]) == ("signup", "fullname")
    assert page.errors == []  # type: ignore[attr-defined]
    assert beacons.events("error") == []


def test_api_misuse_never_throws(browser: Browser, lab: tuple[str, Beacons]) -> None:
    base, _ = lab
    page = open_lab(browser, base)
    # Anything thrown here would fail the evaluation.
    page.evaluate(
        """() => {
        microx.step(); microx.step(null, {}); microx.signal(); microx.feedback();
        microx.feedback('x', 'bad'); microx.variant(); microx.consent(null); microx.on('x');
        microx.moment().end(); microx.init(); microx.init({site: 'other'});
        microx.on('frustration', () => { throw new Error('page bug'); });
      }"""
    )
    page.click("#noop", click_count=4, delay=10)
    page.wait_for_timeout(1300)
    assert page.errors == []  # type: ignore[attr-defined]
