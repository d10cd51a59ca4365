"""Loading cues: how long a spinner stays up, and the click that raised it."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser

from tests.beacons import Beacons
from tests.browser.lab import flushed, open_lab

pytestmark = pytest.mark.browser


def test_spinner_time_is_measured_and_tied_to_its_click(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    page = open_lab(browser, base)
    page.evaluate("document.body.dataset.spinMs = '800'")
    page.click("#spin")
    (cue,) = flushed(page, beacons, "loading")
    assert cue["n"] == "busy" and cue["tg"] == "div#spinner"
    shown = page.evaluate("document.body.dataset.hiddenAt - document.body.dataset.shownAt")
    assert shown > 0
    # Seen within a couple of frames of the DOM change, at both ends.
    assert abs(cue["d"] - shown) <= 200, (cue, shown)
    assert cue["p"]["by"] == "button#spin"
    # The wait from the click to the cue: the two events' times.
    (click,) = [c for c in flushed(page, beacons, "click") if c["tg"] == "button#spin"]
    assert 0 <= cue["ts"] - click["ts"] < 400
