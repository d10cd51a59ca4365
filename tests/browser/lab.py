"""The snippet on the test server's lab page: opening it, and waiting for its beacons."""

from __future__ import annotations

from typing import Any, Literal

from playwright.sync_api import Browser, Page

from tests.beacons import Beacons
from tests.conftest import wait_for

# Installed before any page script: records CSP violations, page errors and frustration.
WATCH = """
window.__violations = [];
window.__frustrations = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
document.addEventListener('microx:frustration', (e) => window.__frustrations.push(e.detail));
"""

# The snippet has started on the page; the keys of the batches it saved for a later page.
STARTED = "window.microx && window.microx.version"
SAVED_KEYS = "Object.keys(localStorage).filter((k) => k.startsWith('microx_q'))"


def goto_lab(
    page: Page,
    base: str,
    path: str = "/lab",
    wait_until: Literal["load", "domcontentloaded"] = "load",
) -> Page:
    """Go to a lab page and wait until the snippet has started on it."""
    page.goto(base + path, wait_until=wait_until)
    page.wait_for_function(STARTED)
    return page


def open_lab(browser: Browser, base: str, path: str = "/lab", init: str = "") -> Page:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.add_init_script(WATCH + init)
    goto_lab(page, base, path)
    page.errors = errors  # type: ignore[attr-defined]
    return page


def flushed(
    page: Page, beacons: Beacons, type_: str, n: int = 1, unique: bool = False
) -> list[dict[str, Any]]:
    """Flush the snippet until `n` events of `type_` have arrived; return them (each once
    if `unique`, however often it was sent)."""

    def seen() -> list[dict[str, Any]]:
        page.evaluate("microx.flush()")
        got = beacons.events(type_, unique)
        return got if len(got) >= n else []

    return wait_for(seen, page=page)
