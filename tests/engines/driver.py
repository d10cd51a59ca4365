"""What a test does in a browser, the same in every engine.

Each engine is driven by its own protocol (Playwright for Chromium, WebDriver BiDi for
Firefox, W3C WebDriver for WebKitGTK); a test sees only ``Browser`` and ``Page``. Values
come back from the page as JSON text, so every engine returns the same Python values.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from tests.beacons import Beacons

T = TypeVar("T")

# The snippet has started on the page.
STARTED = "!!(window.microx && window.microx.version)"


def as_json(expression: str) -> str:
    """A script whose value is ``expression``'s (a promise awaited) as JSON text."""
    return (
        "(async () => { const v = await (" + expression + ");"
        " return JSON.stringify(v === undefined ? null : v); })()"
    )


def from_json(text: object) -> Any:
    assert isinstance(text, str), f"the page answered {text!r}"
    return json.loads(text)


def scroll_into_view(selector: str, timeout_ms: int = 5000) -> str:
    """Waits for the element (an app may render it a moment after its URL changed),
    scrolls it into the viewport if it is not there, and says whether it did: a scroll
    is page activity, which must be over before the click it would seem to answer."""
    sel = json.dumps(selector)
    return f"""(async () => {{
      const frame = () => new Promise((ok) => requestAnimationFrame(ok));
      const until = performance.now() + {timeout_ms};
      let el;
      while (!(el = document.querySelector({sel}))) {{
        if (performance.now() > until) throw new Error('no element ' + {sel});
        await new Promise((ok) => setTimeout(ok, 50));
      }}
      const r = el.getBoundingClientRect();
      if (r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight && r.right <= innerWidth) {{
        return false;
      }}
      el.scrollIntoView({{block: 'center'}});
      await frame();
      await frame();
      return true;
    }})()"""


class Page(Protocol):
    """One tab. Input is real input (pointer and keys through the engine), not events
    dispatched by script."""

    def goto(self, url: str) -> None:
        """Navigate and wait for the load event."""

    def reload(self) -> None: ...

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (a promise is awaited), as JSON gives it."""

    def click(self, selector: str, count: int = 1) -> None:
        """``count`` clicks on the element's centre, 20 ms apart."""

    def type(self, text: str) -> None:
        """Keys typed into the focused element."""

    def press(self, key: str) -> None:
        """One key: "Backspace", "Enter" or "Tab"."""

    def hide(self) -> bool:
        """Hide the page without leaving it, as switching to another tab does; False
        where the engine cannot (headless Chromium keeps every page visible)."""

    def show(self) -> None:
        """Show the hidden page again."""

    def close(self) -> None: ...


class Browser(Protocol):
    name: str
    user_agent: str

    def new_page(self) -> Page:
        """A tab with storage of its own."""

    def close(self) -> None: ...


def wait_for(what: Callable[[], T | None], timeout_s: float = 10.0) -> T:
    """Poll ``what`` until it is truthy and return it; a ``TimeoutError`` after
    ``timeout_s`` (not an AssertionError: a test that expects an assertion to fail must
    not pass because the page never got there)."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = what()
        if got:
            return got
        if time.monotonic() > deadline:
            raise TimeoutError(f"not seen in {timeout_s} s: {what.__doc__ or what}")
        time.sleep(0.1)


def open_page(browser: Browser, url: str) -> Page:
    """A new tab at ``url``, once the snippet has started on it."""
    page = browser.new_page()
    goto(page, url)
    return page


def goto(page: Page, url: str) -> None:
    page.goto(url)
    started(page)


def started(page: Page) -> None:
    """Wait until the snippet has started on the page."""
    wait_for(lambda: page.evaluate(STARTED))


def leave(page: Page) -> None:
    """Leave the page for another document: it is unloaded, as when a visitor follows a
    link away or closes the tab.

    The next document is one the lab serves, not ``about:blank``. A navigation the browser
    starts itself (the address bar, or the driver) makes Firefox cancel whatever script
    the page is running at that moment (``dom.ipc.cancel_content_js_when_navigating``), so
    that a busy page cannot hold the visitor up. Where the next page comes over the
    network that happens before the old page is unloaded, while it is idle; ``about:blank``
    commits at once, and on a loaded machine the cancel landed inside the page's pagehide
    listeners, cutting them short at any line: what they were sending was lost."""
    page.goto(page.evaluate("location.origin") + "/engines/away")


def flushed(page: Page, beacons: Beacons, type_: str, n: int = 1) -> list[dict[str, Any]]:
    """Flush the snippet until ``n`` events of ``type_`` have arrived; return them."""

    def seen() -> list[dict[str, Any]]:
        page.evaluate("microx.flush()")
        got = beacons.events(type_)
        return got if len(got) >= n else []

    return wait_for(seen)


def received(
    beacons: Beacons, type_: str, n: int = 1, timeout_s: float = 10.0
) -> list[dict[str, Any]]:
    """Wait, without flushing, until ``n`` events of ``type_`` have arrived; return them."""

    def seen() -> list[dict[str, Any]]:
        got = beacons.events(type_)
        return got if len(got) >= n else []

    return wait_for(seen, timeout_s)
