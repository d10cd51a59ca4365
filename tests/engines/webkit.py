"""WebKitGTK (Debian's; Safari's engine) through WebKitWebDriver, W3C WebDriver over HTTP.

The driver starts WebKitGTK's MiniBrowser in automation mode; it needs a display, so
both run under an Xvfb of their own. A session has one window: each new page starts it
afresh at about:blank (every test's server is a new origin, so storage is not shared).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import free_port
from tests.engines.driver import Page, as_json, from_json, scroll_into_view, wait_for

DRIVER = "/usr/bin/WebKitWebDriver"
XVFB = "/usr/bin/Xvfb"
# Debian's libwebkit2gtk-4.1-0 ships it under the machine's multiarch directory.
MINIBROWSER = next(
    (str(p) for p in sorted(Path("/usr/lib").glob("*/webkit2gtk-4.1/MiniBrowser"))),
    "/usr/lib/x86_64-linux-gnu/webkit2gtk-4.1/MiniBrowser",
)
USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.0 Safari/605.1.15"
)
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
WINDOW = {"width": 1280, "height": 900}
KEYS = {"Backspace": "\ue003", "Enter": "\ue007", "Tab": "\ue004"}


def _group(proc: subprocess.Popen[bytes]) -> None:
    """End a process started in a group of its own, with whatever it started."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


class WebKitPage:
    def __init__(self, http: httpx.Client) -> None:
        self._http = http

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        answer = self._http.request(method, path, json=body)
        value = answer.json()["value"] if answer.content else None
        if answer.status_code != 200:
            raise RuntimeError(f"{method} {path}: {answer.status_code} {value}")
        return value

    def goto(self, url: str) -> None:
        self._call("POST", "/url", {"url": url})

    def reload(self) -> None:
        self._call("POST", "/refresh", {})

    def evaluate(self, expression: str) -> Any:
        return from_json(
            self._call(
                "POST", "/execute/sync", {"script": f"return {as_json(expression)}", "args": []}
            )
        )

    def click(self, selector: str, count: int = 1) -> None:
        self.evaluate(scroll_into_view(selector))
        element = self._call("POST", "/element", {"using": "css selector", "value": selector})
        actions: list[dict[str, Any]] = [
            {"type": "pointerMove", "x": 0, "y": 0, "origin": {ELEMENT: element[ELEMENT]}}
        ]
        for _ in range(count):
            actions += [
                {"type": "pointerDown", "button": 0},
                {"type": "pointerUp", "button": 0},
                {"type": "pause", "duration": 20},
            ]
        self._perform(
            {
                "type": "pointer",
                "id": "mouse",
                "parameters": {"pointerType": "mouse"},
                "actions": actions,
            }
        )

    def type(self, text: str) -> None:
        actions = []
        for ch in text:
            actions += [{"type": "keyDown", "value": ch}, {"type": "keyUp", "value": ch}]
        self._perform({"type": "key", "id": "keyboard", "actions": actions})

    def press(self, key: str) -> None:
        code = KEYS[key]
        self._perform(
            {
                "type": "key",
                "id": "keyboard",
                "actions": [{"type": "keyDown", "value": code}, {"type": "keyUp", "value": code}],
            }
        )

    def _perform(self, source: dict[str, Any]) -> None:
        self._call("POST", "/actions", {"actions": [source]})
        self._call("DELETE", "/actions")

    def hide(self) -> bool:
        self._call("POST", "/window/minimize", {})
        return True

    def show(self) -> None:
        # Setting its size restores a minimized window.
        self._call("POST", "/window/rect", WINDOW)

    def close(self) -> None:
        self.goto("about:blank")


class WebKit:
    name = "webkit"
    user_agent = USER_AGENT

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="microx-webkit-")
        log = Path(self._dir.name) / "webkit.log"
        self._procs: list[subprocess.Popen[bytes]] = []
        try:
            display = self._xvfb()
            port = free_port()
            with log.open("ab") as out:
                self._procs.append(
                    subprocess.Popen(
                        [DRIVER, f"--port={port}"],
                        env={**os.environ, "DISPLAY": display},
                        stdout=out,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )
            base = f"http://127.0.0.1:{port}"
            wait_for(lambda: self._ready(base), timeout_s=30)
            args = ["--automation", f"--user-agent={USER_AGENT}"]
            # Every request but to this machine goes to a closed local port.
            args += [
                "--proxy=http://127.0.0.1:9",
                "--ignore-host=127.0.0.1",
                "--ignore-host=localhost",
            ]
            options = {"binary": MINIBROWSER, "args": args}
            caps = {"alwaysMatch": {"webkitgtk:browserOptions": options}}
            answer = httpx.post(f"{base}/session", json={"capabilities": caps}, timeout=60)
            if answer.status_code != 200:
                raise RuntimeError(f"no WebKit session: {answer.text}\n{log.read_text()}")
            session = answer.json()["value"]["sessionId"]
            self._http = httpx.Client(base_url=f"{base}/session/{session}", timeout=120)
            self._page = WebKitPage(self._http)
            self._page._call("POST", "/window/rect", WINDOW)
        except BaseException:
            self._stop()
            raise

    def _xvfb(self) -> str:
        read, write = os.pipe()
        with (Path(self._dir.name) / "xvfb.log").open("ab") as out:
            self._procs.append(
                subprocess.Popen(
                    [
                        XVFB,
                        "-displayfd",
                        str(write),
                        "-screen",
                        "0",
                        "1280x1024x24",
                        "-nolisten",
                        "tcp",
                    ],
                    pass_fds=(write,),
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
            )
        os.close(write)
        with os.fdopen(read) as f:
            number = f.readline().strip()
        if not number:
            raise RuntimeError("Xvfb did not start")
        return f":{number}"

    @staticmethod
    def _ready(base: str) -> bool:
        with contextlib.suppress(httpx.HTTPError):
            return bool(httpx.get(f"{base}/status", timeout=1).json()["value"]["ready"])
        return False

    def new_page(self) -> Page:
        self._page.goto("about:blank")
        return self._page

    def close(self) -> None:
        with contextlib.suppress(httpx.HTTPError):
            self._http.delete("")
            self._http.close()
        self._stop()

    def _stop(self) -> None:
        for proc in reversed(self._procs):
            _group(proc)
        self._dir.cleanup()
