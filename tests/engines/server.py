"""The beacon-logging test server (``tests/beacons.py``) as every engine needs it.

A script of the test's own runs before the snippet on each lab page, served by the page
itself (``/engines/init.js``, allowed by the strict CSP): an engine-neutral way to set
things up before any page script, where WebDriver has no init scripts. The headers of
each beacon are kept, so a test can tell how the browser sent it. With ``app``, the
server serves that built single-page app instead of the lab page, every path that is no
file of it being the app's index, as an SPA's server does.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import ThreadingHTTPServer
from pathlib import Path

from tests.beacons import PAGES, Beacons, _handler

ROUTER_APP = Path(__file__).resolve().parent.parent / "apps" / "router" / "dist"

# Before any page script: page errors, CSP violations and frustration callbacks, for the
# test to read back.
WATCH = """
window.__errors = [];
window.__violations = [];
window.__frustrations = [];
addEventListener('error', (e) => window.__errors.push(String(e.message)));
addEventListener('unhandledrejection', (e) => window.__errors.push(String(e.reason)));
document.addEventListener('securitypolicyviolation',
  (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
document.addEventListener('microx:frustration', (e) => window.__frustrations.push(e.detail));
"""
INIT_TAG = '<script src="/engines/init.js"></script>'
TYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}


class Lab(Beacons):
    def __init__(
        self, app: Path | None = None, upstream: str | None = None, user_agent: str = ""
    ) -> None:
        super().__init__(upstream, user_agent)
        self.app = app
        # Run before the snippet on every page, after WATCH.
        self.init = ""
        # Lower-cased headers of each request to /v1/events, in the order they came.
        self.headers: list[dict[str, str]] = []
        # What a test's script in the page posted to /engines/note: [order, text] pairs.
        self.notes: list[tuple[int, str]] = []


def _lab_handler(lab: Lab) -> type:
    base = _handler(lab)

    class Handler(base):  # type: ignore[valid-type,misc]
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path == "/engines/init.js":
                self._send(200, (WATCH + lab.init).encode(), "text/javascript", {})
            elif path == "/engines/away":
                self._send(200, b"<!doctype html><title>away</title>", "text/html", {})
            elif lab.app is not None:
                file = (lab.app / path.lstrip("/")).resolve()
                if not (file.is_file() and file.is_relative_to(lab.app)):
                    file = lab.app / "index.html"
                body = file.read_bytes()
                if file.suffix == ".html":
                    body = body.replace(b"<script", INIT_TAG.encode() + b"<script", 1)
                extra = {"content-security-policy": lab.csp} if file.suffix == ".html" else {}
                self._send(200, body, TYPES.get(file.suffix, "text/plain"), extra)
            elif path.startswith("/app") or path.startswith("/lab"):
                html = (PAGES / "lab.html").read_text().replace("{{attrs}}", lab.attrs)
                html = html.replace('<script src="/sdk.js"', INIT_TAG + '<script src="/sdk.js"')
                self._send(200, html.encode(), "text/html", {"content-security-policy": lab.csp})
            else:
                super().do_GET()

        def do_POST(self) -> None:
            if self.path == "/engines/note":
                order, text = json.loads(self.rfile.read(int(self.headers["content-length"])))
                with lab.lock:
                    lab.notes.append((order, text))
                self._send(204, b"", "text/plain", {})
                return
            if self.path == "/v1/events":
                with lab.lock:
                    lab.headers.append({k.lower(): v for k, v in self.headers.items()})
            super().do_POST()

    return Handler


@contextmanager
def serve(
    app: Path | None = None, upstream: str | None = None, user_agent: str = ""
) -> Iterator[tuple[str, Lab]]:
    """``upstream``: relay beacons to this collector, as ``user_agent``."""
    lab = Lab(app, upstream, user_agent)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _lab_handler(lab))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", lab
    finally:
        server.shutdown()
        server.server_close()
