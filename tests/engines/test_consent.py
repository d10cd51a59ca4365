"""Consent, privacy signals and sampling decide what is sent, in every engine."""

from __future__ import annotations

import time

import pytest

from tests.engines.driver import Browser, flushed, goto, open_page
from tests.engines.server import Lab

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("signal", ["globalPrivacyControl", "doNotTrack"])
def test_gpc_and_dnt_mean_nothing_is_sent_until_consent(
    browser: Browser, lab: tuple[str, Lab], signal: str
) -> None:
    base, beacons = lab
    value = "true" if signal == "globalPrivacyControl" else "'1'"
    beacons.init = (
        f"Object.defineProperty(Navigator.prototype, '{signal}', {{get: () => {value}}});"
    )
    page = open_page(browser, base + "/lab")
    page.click("#noop")
    page.evaluate("microx.flush()")
    time.sleep(1.5)
    page.evaluate("microx.flush()")
    time.sleep(0.3)
    assert beacons.bodies == []
    page.evaluate("microx.consent({measure: true})")
    page.click("#works")
    assert flushed(page, beacons, "click")


def test_the_visitor_id_lasts_when_consent_is_given_on_every_page(
    browser: Browser, lab: tuple[str, Lab]
) -> None:
    """A consent manager grants "visitor" after the snippet starts, on each page: the id
    stays the same. Withdrawing it deletes the id."""
    base, beacons = lab
    page = browser.new_page()
    ids: list[str] = []
    for _ in range(2):
        goto(page, base + "/lab")
        page.evaluate("microx.consent({visitor: true}), microx.feedback('here', 1)")
        seen = len(ids)
        (last,) = flushed(page, beacons, "feedback", seen + 1)[seen:]
        ids.append(last["_env"]["vid"])
    assert ids[0] == ids[1]
    page.evaluate("microx.consent({visitor: false})")
    assert page.evaluate("localStorage.getItem('microx_vid')") is None


def test_signals_need_consent(browser: Browser, lab: tuple[str, Lab]) -> None:
    base, beacons = lab
    beacons.attrs = 'data-signals="view"'
    page = open_page(browser, base + "/lab")
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


def test_sampled_out_session_sends_nothing_and_query_allowlist(
    browser: Browser, lab: tuple[str, Lab]
) -> None:
    base, beacons = lab
    beacons.attrs = 'data-sample="0"'
    page = open_page(browser, base + "/lab")
    page.click("#works")
    time.sleep(1.2)
    page.evaluate("microx.flush()")
    time.sleep(0.3)
    assert beacons.bodies == []
    page.close()
    beacons.attrs = 'data-query="utm_source"'
    page = open_page(browser, base + "/lab?utm_source=mail&email=ada%40example.com")
    page.click("#works")
    (click,) = flushed(page, beacons, "click")
    assert click["_env"]["u"] == f"{base}/lab?utm_source=mail"
    assert click["_env"]["c"]["sr"] == 1
