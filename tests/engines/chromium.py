"""Chromium (Debian's), headless, through Playwright."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import sync_playwright

from tests.conftest import BROWSER_UA, CHROMIUM, CHROMIUM_ARGS
from tests.engines.driver import Page, as_json, from_json

KEYS = {"Backspace": "Backspace", "Enter": "Enter", "Tab": "Tab"}


class ChromiumPage:
    def __init__(self, page: Any) -> None:
        self._page = page

    def goto(self, url: str) -> None:
        self._page.goto(url)

    def reload(self) -> None:
        self._page.reload()

    def evaluate(self, expression: str) -> Any:
        return from_json(self._page.evaluate(as_json(expression)))

    def click(self, selector: str, count: int = 1) -> None:
        self._page.click(selector, click_count=count, delay=20 if count > 1 else 0)

    def type(self, text: str) -> None:
        self._page.keyboard.type(text)

    def press(self, key: str) -> None:
        self._page.keyboard.press(KEYS[key])

    def hide(self) -> bool:
        # Neither another tab in front nor a minimized window hides a headless page.
        return False

    def show(self) -> None:
        pass

    def close(self) -> None:
        self._page.context.close()


class Chromium:
    name = "chromium"
    # Browser-wide: a per-page override does not reach sendBeacon, and the collector
    # drops what calls itself HeadlessChrome.
    user_agent = BROWSER_UA

    def __init__(self) -> None:
        self._playwright = sync_playwright().start()
        try:
            self._browser = self._playwright.chromium.launch(
                executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, f"--user-agent={BROWSER_UA}"]
            )
        except BaseException:
            self._playwright.stop()
            raise

    def new_page(self) -> Page:
        return ChromiumPage(self._browser.new_context().new_page())

    def close(self) -> None:
        try:
            self._browser.close()
        finally:
            self._playwright.stop()
