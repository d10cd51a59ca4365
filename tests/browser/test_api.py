"""The page's API, `window.microx`: funnel steps, moments, signals, feedback and variants."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Route

from collector.ingest.validate import judge
from tests.beacons import Beacons
from tests.browser.lab import flushed, goto_lab, open_lab
from tests.conftest import wait_for

pytestmark = pytest.mark.browser


def test_api_steps_moments_signals_feedback_and_variants(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    beacons.attrs = 'data-consent="measure,signals" data-signals="view,basket,search"'
    page = open_lab(browser, base)
    page.evaluate("microx.step('checkout', 'basket')")
    page.click("#buy")  # data-microx-step="checkout:pay"
    page.evaluate(
        """() => {
        const m = microx.moment('chat-reply').start();
        return new Promise((r) => setTimeout(() => r(m.end({agent: 'bot'})), 300));
      }"""
    )
    page.evaluate(
        """() => {
        microx.signal('view', 'kettle-1'); microx.signal('view', 'kettle-1');
        microx.signal('basket', 'kettle-1', {qty: 2});
        microx.signal('search', 'kettles for ada@example.com call 0123 456 789');
        microx.signal('wishlist', 'not enabled');
        microx.variant('checkout-button', 'B');
        microx.feedback('chat-reply', 4, 'quick, thanks! mail me at ada@example.com');
      }"""
    )
    steps = flushed(page, beacons, "step", 2)
    assert [(s["n"], s["tg"], s["p"]["i"]) for s in steps] == [
        ("checkout", "basket", 1),
        ("checkout", "pay", 2),
    ]
    assert "d" not in steps[0] and steps[1]["d"] >= 0
    (moment,) = flushed(page, beacons, "moment")
    assert moment["n"] == "chat-reply" and 290 <= moment["d"] < 1000
    assert moment["p"] == {"agent": "bot"}
    signals = flushed(page, beacons, "signal", 4)
    assert [(s["n"], s["tg"], s.get("val")) for s in signals] == [
        ("view", "kettle-1", None),  # each view is an event; SQL counts repeats
        ("view", "kettle-1", None),
        ("basket", "kettle-1", 2),
        ("search", "kettles for [email] call #", None),
    ]
    (fb,) = flushed(page, beacons, "feedback")
    assert fb["n"] == "chat-reply" and fb["val"] == 4
    assert fb["p"]["comment"] == "quick, thanks! mail me at [email]"
    assert fb["x"] == {"checkout-button": "B"}
    assert "x" not in steps[0]  # only later events carry the variant


def test_a_declared_step_is_counted_when_clicked_without_the_second_file(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    """A click happens once: the first file counts the step a button declares, blocked or not."""
    base, beacons = lab
    page = browser.new_page()
    blocked: list[str] = []

    def block(route: Route) -> None:
        blocked.append(route.request.url)
        route.abort()

    page.route("**/microx-vitals.js", block)
    goto_lab(page, base)
    page.click("#buy")  # data-microx-step="checkout:pay"
    (step,) = flushed(page, beacons, "step")
    assert (step["n"], step["tg"], step["p"]["i"]) == ("checkout", "pay", 1)
    assert blocked and not beacons.events("page")  # the second file never ran


def test_a_funnel_or_field_named_like_an_object_method_is_recorded(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    page = open_lab(browser, base)
    page.evaluate(
        """() => {
        microx.step('toString', 'one');
        microx.step('__proto__', 'one');
        const s = document.createElement('p');
        s.dataset.microxStep = 'constructor:shown';
        const f = document.createElement('form');
        f.name = 'odd';
        f.innerHTML = '<input name="constructor"><input name="__proto__">';
        document.body.append(s, f);
      }"""
    )
    page.fill("form[name=odd] input[name=constructor]", "x")
    page.fill("form[name=odd] input[name=__proto__]", "y")
    steps = flushed(page, beacons, "step", 3)
    assert sorted((s["n"], s["p"]["i"]) for s in steps) == [
        ("__proto__", 1),
        ("constructor", 1),
        ("toString", 1),
    ]
    fields = flushed(page, beacons, "form_field", 1)
    assert fields[0]["n"] == "odd" and fields[0]["tg"] == "constructor"
    assert page.errors == []  # type: ignore[attr-defined]


def test_odd_consent_and_variant_names_never_spoil_a_batch(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    page = open_lab(browser, base)
    page.evaluate(
        """() => {
        microx.consent({measure: true, marketing: true, visitor: 1, toString: true});
        microx.variant('checkout button (v2)!', 'B');
        for (let i = 0; i < 20; i++) microx.variant('exp' + i, 'x');
        microx.variant('', 'empty');
        microx.moment('after').end();
        microx.flush();
      }"""
    )
    wait_for(lambda: any(e.get("n") == "after" for e in beacons.events("moment")), page=page)
    for envelope in beacons.envelopes():
        verdict = judge(envelope)  # raises on an envelope the collector would refuse whole
        assert verdict.rejected == [], verdict.rejected
    (after,) = [e for e in beacons.events("moment") if e.get("n") == "after"]
    assert after["x"]["checkout_button__v2__"] == "B"
    assert len(after["x"]) == 16
    assert beacons.envelopes()[-1]["c"]["cs"] == ["measure", "visitor"]


# What the README documents as `window.microx`.
API = [
    "consent",
    "feedback",
    "flush",
    "init",
    "moment",
    "on",
    "signal",
    "step",
    "variant",
    "version",
]


def test_window_microx_is_the_documented_api_and_nothing_more(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    """The second file gets what it uses of the first on the script element that loads it:
    the page sees the documented API alone, also once the second file has run."""
    base, beacons = lab
    page = open_lab(browser, base)
    flushed(page, beacons, "page")  # recorded by the second file, through the first
    assert page.evaluate("Object.getOwnPropertyNames(microx).sort()") == API
    assert page.evaluate("Object.getOwnPropertySymbols(microx).length") == 0
