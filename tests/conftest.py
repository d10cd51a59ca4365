from __future__ import annotations

import contextlib
import http.server
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, TypeVar

import httpx
import orjson
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from collector.ingest.validate import judge
from collector.rows.columns import Row
from collector.rows.enrich import enrich
from collector.sink.store import Store

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
# What a real visitor's browser says; headless Chromium's own User-Agent marks it a bot.
BROWSER_UA = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36"
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def now_ms() -> int:
    return int(time.time() * 1000)


def make_event(**fields: Any) -> dict[str, Any]:
    return {"id": str(uuid.uuid4()), "t": "click", "ts": now_ms(), "q": 0, **fields}


def make_envelope(*events: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "v": 1,
        "s": "demo",
        "sid": str(uuid.uuid4()),
        "at": now_ms(),
        "u": "http://127.0.0.1/shop",
        "e": list(events),
        **fields,
    }


def rows_of(
    envelope: dict[str, Any],
    received_ms: int,
    user_agent: str = "",
    events: list[dict[str, Any]] | None = None,
) -> list[Row]:
    """The rows the sink makes of ``envelope`` (validated first, as ingest does); with
    ``events``, of those events under the envelope instead of its own."""
    verdict = judge({**envelope, "e": events} if events is not None else envelope)
    assert verdict.rejected == [], verdict.rejected
    return enrich(verdict.envelope, verdict.accepted, received_ms, user_agent)


T = TypeVar("T")
R = TypeVar("R", covariant=True)


class Client(Protocol[R]):
    """What the helpers below use of a client: httpx's, or Starlette's TestClient (which
    is built on a fork of httpx, so it is no ``httpx.Client``)."""

    def get(self, url: str) -> R: ...

    def post(self, url: str, *, content: bytes, headers: dict[str, str]) -> R: ...


def series(exposition: str, name: str) -> float:
    """The value of ``microx_<name>`` (labels included, as exported) in a /metrics text;
    a series missing from it fails."""
    for line in exposition.splitlines():
        if line.startswith(f"microx_{name} "):
            return float(line.split()[1])
    raise AssertionError(f"microx_{name} is not exported")


def wait_for(
    what: Callable[[], T], timeout_s: float = 20.0, *, page: Page | None = None, why: str = ""
) -> T:
    """Poll ``what`` until it returns something truthy, and return that. With ``page``, the
    page runs in between: Playwright's sync API runs its handlers only while it is called."""
    deadline = time.monotonic() + timeout_s
    while True:
        got = what()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"not seen in {timeout_s:g} s: {why or what.__doc__ or what}")
        if page is None:
            time.sleep(0.1)
        else:
            page.wait_for_timeout(100)


def metric(client: Client[Any], name: str) -> float:
    """A series the collector exports (``client`` may be a TestClient); a missing one fails
    (every counter is exported from start), so a renamed metric cannot read as 0 and pass
    a wait."""
    return series(client.get("/metrics").text, name)


def post(client: Client[R], body: object, *, path: str = "/v1/events", **headers: str) -> R:
    """``body`` (bytes as they are, anything else as JSON) sent as the snippet sends it:
    ``text/plain``, from an ordinary browser's User-Agent; ``headers`` add or override."""
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return client.post(
        path,
        content=content,
        headers={"content-type": "text/plain", "user-agent": BROWSER_UA, **headers},
    )


@contextlib.contextmanager
def open_store(url: str) -> Iterator[Store]:
    """The embedded engine admits one open directory per process: always close it."""
    store = Store(url)
    try:
        yield store
    finally:
        store.close()


class Collector:
    """``microx serve`` as a real process, the way an SRE runs it."""

    def __init__(
        self,
        data_dir: Path,
        *,
        preexec_fn: Callable[[], None] | None = None,
        module: str = "collector.cli",
        **env: str,
    ) -> None:
        """``module`` runs instead of the console script's (still with ``serve``): a
        test's wrapper around the real app."""
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.store_url = f"chdb://{data_dir / 'clickhouse'}"
        self.env = {
            **os.environ,
            "MICROX_PORT": str(self.port),
            "MICROX_HOST": "127.0.0.1",
            "MICROX_DATA_DIR": str(data_dir),
            "MICROX_BATCH_MAX_AGE_MS": "200",
            # Tests drive load from one address; rate-limit tests set their own limits.
            "MICROX_RATE_IP_PER_S": "1000000",
            **env,
        }
        self.log = data_dir / "collector.log"
        data_dir.mkdir(parents=True, exist_ok=True)
        # Logs go to stderr (JSON lines); stdout has only the start-up banner.
        with self.log.open("wb") as err, (data_dir / "collector.out").open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", module, "serve"],
                env=self.env,
                stdout=out,
                stderr=err,
                cwd=ROOT,
                preexec_fn=preexec_fn,
            )
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"collector exited early:\n{self.log.read_text()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError(f"collector not ready in {timeout}s:\n{self.log.read_text()}")

    def sql(self, query: str) -> str:
        """A read-only query through the running collector's /clickhouse/ (TSV answer)."""
        token = (self.data_dir / "query_token").read_text().strip()
        answer = httpx.post(
            f"{self.base}/clickhouse/", content=query, auth=("test", token), timeout=10
        )
        answer.raise_for_status()
        return answer.text.strip()

    def metric(self, name: str) -> float:
        """A series the collector exports; a missing one fails (every counter is exported
        from start), so a renamed metric cannot read as 0 and pass a wait."""
        return series(httpx.get(f"{self.base}/metrics", timeout=5).text, name)

    def post(self, body: object, *, path: str = "/v1/events", **headers: str) -> httpx.Response:
        with httpx.Client(base_url=self.base, timeout=10) as client:
            return post(client, body, path=path, **headers)

    def stop(self, timeout: float = 30.0) -> int:
        """SIGTERM, as an orchestrator sends it; uvicorn exits by re-raising the signal
        after the graceful shutdown, so a clean stop reports -SIGTERM."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def stopped_cleanly(self) -> bool:
        return self.stop() in (0, -signal.SIGTERM) and "pending rows flushed" in (
            self.log.read_text()
        )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    with sync_playwright() as p:
        # The whole browser must say it is an ordinary Chrome: a per-page override does
        # not reach sendBeacon, and the collector drops what calls itself HeadlessChrome.
        args = [*CHROMIUM_ARGS, f"--user-agent={BROWSER_UA}"]
        b = p.chromium.launch(executable_path=CHROMIUM, args=args)
        yield b
        b.close()


@pytest.fixture
def collector(tmp_path: Path) -> Iterator[Collector]:
    c = Collector(tmp_path / "var")
    try:
        yield c
    finally:
        c.stop()


class Listener:
    """A local HTTP server that only counts the requests it gets: one the collector can
    reach and must not be made to fetch."""

    def __init__(self) -> None:
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                listener.hits += 1
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"a\n")

            do_HEAD = do_GET

            def log_message(self, *args: object) -> None:
                pass

        self.hits = 0
        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/data.csv"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextlib.contextmanager
def listening() -> Iterator[Listener]:
    listener = Listener()
    try:
        yield listener
    finally:
        listener.close()
