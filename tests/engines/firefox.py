"""Firefox ESR (Debian's), headless, through WebDriver BiDi, which it speaks natively.

Firefox is started with a fresh profile and ``--remote-debugging-port``; the test talks
to it over one websocket. Only the commands the driver needs are sent.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from websockets.sync.client import ClientConnection, connect

from tests.engines.driver import Page, as_json, from_json, scroll_into_view

FIREFOX = "/usr/bin/firefox-esr"
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
# A port of its own choosing, which it prints.
REMOTE = ["--remote-debugging-port", "0", "about:blank"]
# WebDriver's key codes.
KEYS = {"Backspace": "\ue003", "Enter": "\ue007", "Tab": "\ue004"}
# The profile's own preferences, on top of those the remote agent sets for automation.
# Every request but to this machine goes to a closed local port: the browser reaches
# nothing outside, whatever its background services try.
PREFS = {
    "general.useragent.override": USER_AGENT,
    "network.proxy.type": 1,
    "network.proxy.http": "127.0.0.1",
    "network.proxy.http_port": 9,
    "network.proxy.ssl": "127.0.0.1",
    "network.proxy.ssl_port": 9,
    "network.proxy.no_proxies_on": "127.0.0.1,localhost",
    "browser.shell.checkDefaultBrowser": False,
    "datareporting.policy.dataSubmissionEnabled": False,
}


class BiDi:
    """One WebDriver BiDi session: commands in order, each waiting for its answer."""

    def __init__(self, url: str) -> None:
        self._stack = contextlib.ExitStack()
        self._ws: ClientConnection = self._stack.enter_context(
            connect(url, max_size=None, open_timeout=30)
        )
        self._id = 0

    def call(self, method: str, **params: Any) -> Any:
        self._id += 1
        self._ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self._ws.recv(timeout=120))
            if message.get("id") != self._id:
                continue  # an event: none is subscribed to, but they may come
            if message.get("type") == "error":
                raise RuntimeError(f"{method}: {message['error']}: {message.get('message')}")
            return message["result"]

    def close(self) -> None:
        self._stack.close()


class FirefoxPage:
    def __init__(self, bidi: BiDi, context: str, user_context: str) -> None:
        self._bidi = bidi
        self._context = context
        self._user_context = user_context
        self._other = ""

    def goto(self, url: str) -> None:
        self._bidi.call("browsingContext.navigate", context=self._context, url=url, wait="complete")

    def reload(self) -> None:
        self._bidi.call("browsingContext.reload", context=self._context, wait="complete")

    def _run(self, expression: str, **more: Any) -> dict[str, Any]:
        answer = self._bidi.call(
            "script.evaluate",
            expression=expression,
            target={"context": self._context},
            awaitPromise=True,
            **more,
        )
        if answer["type"] == "exception":
            raise RuntimeError(f"page error: {answer['exceptionDetails']['text']}")
        result: dict[str, Any] = answer["result"]
        return result

    def evaluate(self, expression: str) -> Any:
        return from_json(self._run(as_json(expression))["value"])

    def click(self, selector: str, count: int = 1) -> None:
        self._run(scroll_into_view(selector))
        node = self._run(f"document.querySelector({json.dumps(selector)})")
        origin = {"type": "element", "element": {"sharedId": node["sharedId"]}}
        actions: list[dict[str, Any]] = [{"type": "pointerMove", "x": 0, "y": 0, "origin": origin}]
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
        self._bidi.call("input.performActions", context=self._context, actions=[source])
        self._bidi.call("input.releaseActions", context=self._context)

    def hide(self) -> bool:
        """Another tab of the same window in front."""
        other = self._bidi.call(
            "browsingContext.create", type="tab", userContext=self._user_context
        )
        self._bidi.call("browsingContext.activate", context=other["context"])
        self._other = other["context"]
        return True

    def show(self) -> None:
        self._bidi.call("browsingContext.activate", context=self._context)
        self._bidi.call("browsingContext.close", context=self._other)

    def close(self) -> None:
        self._bidi.call("browsingContext.close", context=self._context)
        self._bidi.call("browser.removeUserContext", userContext=self._user_context)


class Firefox:
    name = "firefox"
    user_agent = USER_AGENT

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="microx-firefox-")
        profile = Path(self._dir.name) / "profile"
        profile.mkdir()
        (profile / "user.js").write_text(
            "".join(f"user_pref({json.dumps(k)}, {json.dumps(v)});\n" for k, v in PREFS.items())
        )
        self._log = Path(self._dir.name) / "firefox.log"
        with self._log.open("wb") as log:
            # A process group of its own: its content processes go with it.
            self._proc = subprocess.Popen(
                [FIREFOX, "--headless", "--no-remote", "--profile", str(profile), *REMOTE],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self._bidi = BiDi(self._listening() + "/session")
            self._bidi.call("session.new", capabilities={"alwaysMatch": {}})
        except BaseException:
            self._kill()
            raise

    def _listening(self, timeout_s: float = 60.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = re.search(r"WebDriver BiDi listening on (ws://\S+)", self._log.read_text())
            if found:
                return found.group(1)
            if self._proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError(f"Firefox did not start its WebDriver BiDi:\n{self._log.read_text()}")

    def new_page(self) -> Page:
        user_context = self._bidi.call("browser.createUserContext")["userContext"]
        context = self._bidi.call("browsingContext.create", type="tab", userContext=user_context)
        return FirefoxPage(self._bidi, context["context"], user_context)

    def close(self) -> None:
        try:
            with contextlib.suppress(RuntimeError, OSError, TimeoutError):
                self._bidi.call("browser.close")
            self._bidi.close()
            self._proc.wait(30)
        except subprocess.TimeoutExpired:
            pass
        finally:
            self._kill()

    def _kill(self) -> None:
        if self._proc.poll() is None:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, signal.SIGKILL)
        self._dir.cleanup()
