"""The snippet never throws into the page, in any engine: misuse of its API, a page that
breaks what it relies on, blocked storage, a second copy, a failing collector."""

from __future__ import annotations

import time

import pytest

from collector.ingest.validate import judge
from tests.beacons import Answer
from tests.engines.driver import Browser, flushed, open_page, received, wait_for
from tests.engines.server import Lab

pytestmark = pytest.mark.browser


def test_api_misuse_never_throws(browser: Browser, lab: tuple[str, Lab]) -> None:
    base, _ = lab
    page = open_page(browser, base + "/lab")
    result = page.evaluate(
        """(() => {
        microx.step(); microx.step(null, {}); microx.signal(); microx.feedback();
        microx.feedback('x', 'bad'); microx.variant(); microx.consent(null); microx.on('x');
        microx.moment().end(); microx.init(); microx.init({site: 'other'});
        microx.on('frustration', () => { throw new Error('page bug'); });
        return 'ok';
      })()"""
    )
    assert result == "ok"
    page.click("#noop", count=4)  # rage and dead: the throwing callback is called
    time.sleep(1.3)
    assert page.evaluate("window.__errors") == []
    assert {f["type"] for f in page.evaluate("window.__frustrations")} == {"rage", "dead"}


def test_a_page_that_breaks_what_the_snippet_uses_sees_no_error(
    browser: Browser, lab: tuple[str, Lab]
) -> None:
    base, beacons = lab
    beacons.init = """
    const closest = Element.prototype.closest;
    Element.prototype.closest = function (s) {
      if (String(s).includes('data-microx-ignore')) throw new Error('broken by the page');
      return closest.call(this, s);
    };
    Element.prototype.checkVisibility = function () { throw new Error('broken too'); };
    """
    page = open_page(browser, base + "/lab")
    page.click("#works")
    page.click("#spin")
    time.sleep(1.2)
    page.click("input[name=fullname]")
    page.type("Ada")
    assert page.evaluate("document.querySelector('#out').textContent").startswith("Done at")
    flushed(page, beacons, "form_start")
    assert page.evaluate("window.__errors") == []
    assert beacons.events("error") == []


def test_blocked_storage_and_a_second_copy_of_the_script(
    browser: Browser, lab: tuple[str, Lab]
) -> None:
    base, beacons = lab
    beacons.init = """
    for (const area of ['localStorage', 'sessionStorage']) {
      Object.defineProperty(window, area,
        {get() { throw new DOMException('blocked', 'SecurityError'); }});
    }"""
    page = open_page(browser, base + "/lab")
    page.evaluate(
        """new Promise((r) => {
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
    assert page.evaluate("window.__errors") == []


def test_slow_and_failing_collector_never_breaks_the_page(
    browser: Browser, lab: tuple[str, Lab]
) -> None:
    base, beacons = lab
    beacons.plan = [Answer(503), Answer(202, delay_s=3), Answer(500)]
    page = open_page(browser, base + "/lab")
    for _ in range(3):
        page.click("#works")
        page.evaluate("microx.flush()")
        time.sleep(0.2)
    assert page.evaluate("document.querySelector('#out').textContent").startswith("Done at")
    clicks = received(beacons, "click", 3, timeout_s=20)
    assert len({c["id"] for c in clicks}) == 3
    assert page.evaluate("window.__errors") == []


def test_odd_consent_and_variant_names_never_spoil_a_batch(
    browser: Browser, lab: tuple[str, Lab]
) -> None:
    base, beacons = lab
    page = open_page(browser, base + "/lab")
    page.evaluate(
        """(() => {
        microx.consent({measure: true, marketing: true, visitor: 1, toString: true});
        microx.variant('checkout button (v2)!', 'B');
        for (let i = 0; i < 20; i++) microx.variant('exp' + i, 'x');
        microx.variant('', 'empty');
        microx.moment('after').end();
        microx.flush();
      })()"""
    )
    wait_for(lambda: any(e.get("n") == "after" for e in beacons.events("moment")))
    for envelope in beacons.envelopes():
        verdict = judge(envelope)  # raises on an envelope the collector would refuse whole
        assert verdict.rejected == [], verdict.rejected
    (after,) = [e for e in beacons.events("moment") if e.get("n") == "after"]
    assert after["x"]["checkout_button__v2__"] == "B"
    assert len(after["x"]) == 16
