"""Uncaught errors of the page, and the clicks that raised them."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser

from tests.beacons import Beacons
from tests.browser.lab import flushed, open_lab

pytestmark = pytest.mark.browser


def test_error_click_and_uncaught_error(browser: Browser, lab: tuple[str, Beacons]) -> None:
    base, beacons = lab
    page = open_lab(browser, base)
    page.click("#boom")
    (err_click,) = flushed(page, beacons, "error_click")
    assert err_click["tg"] == "button#boom" and "checkout exploded" in err_click["n"]
    (error,) = flushed(page, beacons, "error")
    assert "checkout exploded" in error["n"] and error["p"]["src"].endswith("/pages/lab.js")
    assert [f["type"] for f in page.evaluate("window.__frustrations")] == ["error"]
