"""A test server for the snippet: serves its build and test pages, logs every beacon.

Pages are served with a strict Content-Security-Policy (no inline code, no eval), so
every browser test also proves the snippet works under one. Answers to ``/v1/events``
follow a plan a test sets (a status, headers, a delay), or are relayed to a real
collector when one is given.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "sdk_js" / "dist"
PAGES = Path(__file__).resolve().parent / "pages"
# A strict policy that lets in what the snippet documents it needs: its files from the
# page's origin, its requests, and its sending worker (`worker-src blob:`).
CSP = (
    "default-src 'self'; script-src 'self'; connect-src 'self'; style-src 'self'; "
    "img-src 'self'; worker-src blob:; object-src 'none'; base-uri 'none'"
)


@dataclass
class Answer:
    status: int = 202
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


class Beacons:
    """What the snippet sent, and how the next requests will be answered."""

    def __init__(self, upstream: str | None = None, user_agent: str = "") -> None:
        self.upstream = upstream
        self.user_agent = user_agent
        self.bodies: list[str] = []
        self.answered: list[int] = []
        self.plan: list[Answer] = []
        self.lock = threading.Lock()
        self.attrs = ""
        # How long the snippet's second file takes to arrive.
        self.second_file_delay_s = 0.0
        self.csp = CSP

    def answer(self) -> Answer:
        with self.lock:
            return self.plan.pop(0) if self.plan else Answer()

    def envelopes(self) -> list[dict[str, Any]]:
        with self.lock:
            return [json.loads(b) for b in self.bodies]

    def events(self, type_: str | None = None, unique: bool = False) -> list[dict[str, Any]]:
        """Every event received, with the envelope's fields it depends on merged in;
        ``unique``: an event sent again (same id, stored once) only as first received."""
        out = []
        ids: set[str] = set()
        for env in self.envelopes():
            for e in env["e"]:
                if unique and e["id"] in ids:
                    continue
                ids.add(e["id"])
                out.append({**e, "_env": env})
        return [e for e in out if type_ is None or e["t"] == type_]

    def relay(self, body: bytes, headers: dict[str, str]) -> int:
        assert self.upstream
        req = urllib.request.Request(
            f"{self.upstream}/v1/events", data=body, headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return int(r.status)
        except urllib.error.HTTPError as e:
            return int(e.code)


def _handler(beacons: Beacons) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _send(self, status: int, body: bytes, ctype: str, extra: dict[str, str]) -> None:
            self.send_response(status)
            self.send_header("content-type", ctype)
            self.send_header("content-length", str(len(body)))
            self.send_header("cache-control", "no-store")
            for k, v in extra.items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path in ("/sdk.js", "/microx-vitals.js"):
                name = "microx.js" if path == "/sdk.js" else "microx-vitals.js"
                if name == "microx-vitals.js":
                    time.sleep(beacons.second_file_delay_s)
                self._send(200, (DIST / name).read_bytes(), "text/javascript", {})
            elif path.startswith("/app") or path.startswith("/lab"):
                # Every route of the test app is the same page (as an SPA server does).
                html = (PAGES / "lab.html").read_text().replace("{{attrs}}", beacons.attrs)
                self._send(
                    200, html.encode(), "text/html", {"content-security-policy": beacons.csp}
                )
            elif path == "/slow":
                time.sleep(2)  # a server slow to answer a navigation
                self._send(200, b"<!doctype html><title>slow</title>", "text/html", {})
            elif path.startswith("/pages/") and (PAGES / path[7:]).is_file():
                ctype = "text/javascript" if path.endswith(".js") else "text/css"
                self._send(200, (PAGES / path[7:]).read_bytes(), ctype, {})
            else:
                self._send(404, b"not found", "text/plain", {})

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            if self.path == "/lab/api":
                self._send(200, b"{}", "application/json", {})
                return
            plan = beacons.answer()
            if plan.delay_s:
                time.sleep(plan.delay_s)
            status = plan.status
            if status < 300:
                with beacons.lock:
                    beacons.bodies.append(body.decode())
                if beacons.upstream:
                    status = beacons.relay(
                        body,
                        {"content-type": "text/plain", "user-agent": beacons.user_agent},
                    )
            with beacons.lock:
                beacons.answered.append(status)
            self._send(status, b"", "text/plain", plan.headers)

    return Handler


@contextmanager
def serve(upstream: str | None = None, user_agent: str = "") -> Iterator[tuple[str, Beacons]]:
    beacons = Beacons(upstream, user_agent)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(beacons))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", beacons
    finally:
        server.shutdown()
        server.server_close()
