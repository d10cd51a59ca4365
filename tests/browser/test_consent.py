"""Consent: what is sent and kept before, with and after it, GPC and Do-Not-Track."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, Page

from tests.beacons import Answer, Beacons
from tests.browser.lab import SAVED_KEYS, flushed, goto_lab, open_lab
from tests.conftest import wait_for

pytestmark = pytest.mark.browser


def test_the_visitor_id_lasts_when_consent_is_given_on_every_page(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    """A consent manager grants "visitor" after the snippet starts, on each page: the
    id stays the same. Withdrawing it deletes the id."""
    base, beacons = lab
    context = browser.new_context()
    try:
        page = context.new_page()
        ids: list[str] = []
        for _ in range(2):
            goto_lab(page, base)
            page.evaluate("microx.consent({visitor: true}); microx.feedback('here', 1)")
            seen = len(ids)
            # At-least-once: the first page's feedback may be sent again from the second.
            (last,) = flushed(page, beacons, "feedback", seen + 1, unique=True)[seen:]
            ids.append(last["_env"]["vid"])
        assert ids[0] == ids[1]
        page.evaluate("microx.consent({visitor: false})")
        assert page.evaluate("localStorage.getItem('microx_vid')") is None
    finally:
        context.close()


def test_signals_need_consent(browser: Browser, lab: tuple[str, Beacons]) -> None:
    base, beacons = lab
    beacons.attrs = 'data-signals="view"'
    page = open_lab(browser, base)
    page.evaluate("microx.signal('view', 'kettle-1')")
    page.evaluate("microx.consent({signals: true, visitor: true})")
    page.evaluate("microx.signal('view', 'kettle-2')")
    (signal,) = flushed(page, beacons, "signal")
    assert signal["tg"] == "kettle-2"
    env = signal["_env"]
    assert sorted(env["c"]["cs"]) == ["measure", "signals", "visitor"] and env["vid"]
    page.evaluate("microx.consent({visitor: false})")
    page.evaluate("microx.step('f', 's')")
    (step,) = flushed(page, beacons, "step")
    assert "vid" not in step["_env"]
    assert page.evaluate("localStorage.getItem('microx_vid')") is None


@pytest.mark.parametrize(
    "signal", ["Navigator.prototype, 'globalPrivacyControl'", "Navigator.prototype, 'doNotTrack'"]
)
def test_gpc_and_dnt_mean_nothing_is_sent_until_consent(
    browser: Browser, lab: tuple[str, Beacons], signal: str
) -> None:
    base, beacons = lab
    value = "true" if "global" in signal else "'1'"
    page = open_lab(browser, base, init=f"Object.defineProperty({signal}, {{get: () => {value}}});")
    page.click("#noop")
    page.evaluate("microx.flush()")
    page.wait_for_timeout(1500)
    page.evaluate("microx.flush()")
    page.wait_for_timeout(300)
    assert beacons.bodies == []
    page.evaluate("microx.consent({measure: true})")
    page.click("#works")
    assert flushed(page, beacons, "click")


def test_saved_events_wait_for_consent_and_go_when_it_is_withdrawn(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    """Events an earlier page saved are sent only while the visitor consents to
    measuring; withdrawing that consent deletes them from the device."""
    base, beacons = lab
    context = browser.new_context()
    saved = SAVED_KEYS + ".length"

    def leave_failing(page: Page, name: str) -> None:
        # Retry-After holds the page's next try past its leaving (a backoff of a second
        # or less could send the event from this page before it goes); any request it
        # still makes fails too, until it has gone.
        beacons.plan = [Answer(503, {"retry-after": "3600"}) for _ in range(20)]
        page.evaluate(f"microx.feedback('{name}', 1); microx.flush()")
        wait_for(lambda: len(beacons.plan) < 20, page=page)
        page.wait_for_timeout(500)  # the answer read: the event waits in the queue
        page.goto("about:blank")
        beacons.plan = []

    def fresh_page() -> Page:
        return goto_lab(context.new_page(), base)

    def sent(name: str) -> bool:
        return any(e["n"] == name for e in beacons.events("feedback"))

    try:
        leave_failing(fresh_page(), "first")
        beacons.attrs = 'data-consent="visitor"'  # pages start without consent to measure
        page = fresh_page()
        page.wait_for_timeout(6000)  # more than one look for saved events
        assert not sent("first") and page.evaluate(saved) >= 1
        page.evaluate("microx.consent({measure: true})")
        wait_for(lambda: sent("first"), page=page)
        leave_failing(page, "second")
        page = fresh_page()
        assert page.evaluate(saved) >= 1
        page.evaluate("microx.consent({measure: false})")
        assert page.evaluate(saved) == 0
        page.evaluate("microx.consent({measure: true})")
        page.wait_for_timeout(6000)
        assert not sent("second")
    finally:
        context.close()
