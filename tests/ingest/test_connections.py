"""Connections against a running collector: heads too large or too slow, idle sockets, and
a descriptor limit that abusive clients cannot use up."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import resource
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from uvicorn.protocols.http.flow_control import FlowControl

from collector.ingest.connections import DescriptorLimitError, _Cycle, connection_bound
from tests.conftest import BROWSER_UA, Collector, make_envelope, make_event, wait_for

MAX_HEADER_BYTES = 4096
LOW_NOFILE = 1024


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    c = Collector(
        tmp_path_factory.mktemp("connections") / "var",
        MICROX_MAX_HEADER_BYTES=str(MAX_HEADER_BYTES),
        MICROX_HEADER_TIMEOUT_S="1",
        MICROX_KEEPALIVE_TIMEOUT_S="1",
    )
    try:
        yield c
    finally:
        c.stop()


def request_head(path: str = "/v1/events", extra: bytes = b"", length: int = 0) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
        f"User-Agent: {BROWSER_UA}\r\nContent-Length: {length}\r\n".encode()
        + extra
        + b"\r\n"
    )


def answer(s: socket.socket) -> bytes:
    """What the server sent before closing (or within the socket's timeout)."""
    data = b""
    with contextlib.suppress(ConnectionResetError):
        while chunk := s.recv(65536):
            data += chunk
    return data


def one_response(s: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        data += s.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"content-length: (\d+)", head, re.I)[1])  # type: ignore[index]
    while len(body) < length:
        body += s.recv(65536)
    return head + b"\r\n\r\n" + body


def closed_by_server(s: socket.socket) -> bool:
    s.setblocking(False)
    try:
        return s.recv(65536) == b"" or closed_by_server(s)
    except BlockingIOError:
        return False
    except OSError:
        return True


def test_a_head_over_the_limit_gets_431(running: Collector) -> None:
    body = orjson.dumps(make_envelope(make_event()))
    too_long_header = b"X-Pad: " + b"a" * MAX_HEADER_BYTES + b"\r\n"
    too_long_url = "/v1/events?" + "a" * MAX_HEADER_BYTES
    many_headers = b"".join(b"X-N%d: 1\r\n" % i for i in range(MAX_HEADER_BYTES // 8))
    for head in (
        request_head(extra=too_long_header, length=len(body)),
        request_head(too_long_url, length=len(body)),
        request_head(extra=many_headers, length=len(body)),
    ):
        with socket.create_connection(("127.0.0.1", running.port), timeout=10) as s:
            s.sendall(head + body)
            reply = answer(s)
        assert reply.startswith(b"HTTP/1.1 431"), reply[:100]
        assert b"headers_too_large" in reply
    assert running.metric('requests_refused_total{reason="headers_too_large"}') >= 3


def test_a_huge_header_is_cut_off_while_it_is_sent(running: Collector) -> None:
    sent = 0
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as s:
        s.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\nX-Pad: ")
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            while sent < 50 * 1024 * 1024:
                s.sendall(b"a" * 65536)
                sent += 65536
            s.sendall(b"\r\nContent-Length: 0\r\n\r\n")
        reply = answer(s)
    # The server closes the connection long before 50 MiB are through; whether the 431
    # it wrote arrives before the reset depends on the kernel.
    assert sent < 50 * 1024 * 1024 or reply.startswith(b"HTTP/1.1 431")
    assert b"202" not in reply.split(b"\r\n")[0]


def test_a_head_under_the_limit_with_a_large_body_is_served(running: Collector) -> None:
    body = orjson.dumps(make_envelope(*[make_event(q=i, l="x" * 90) for i in range(400)]))
    assert len(body) > 10 * MAX_HEADER_BYTES
    cookie = b"Cookie: session=" + b"c" * (MAX_HEADER_BYTES // 2) + b"\r\n"
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as s:
        s.sendall(request_head(extra=cookie, length=len(body)) + body)
        reply = one_response(s)
    assert reply.startswith(b"HTTP/1.1 202"), reply[:200]


def test_a_slow_head_gets_408_and_an_idle_connection_is_closed(running: Collector) -> None:
    with (
        socket.create_connection(("127.0.0.1", running.port), timeout=10) as slow,
        socket.create_connection(("127.0.0.1", running.port), timeout=10) as silent,
    ):
        slow.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\n")
        assert answer(slow).startswith(b"HTTP/1.1 408")
        assert answer(silent) == b""  # closed without a word: it never asked anything
    assert running.metric('requests_refused_total{reason="header_timeout"}') >= 1
    assert running.metric('connections_closed_total{reason="idle"}') >= 1


def test_a_kept_alive_connection_is_closed_after_its_timeout(running: Collector) -> None:
    body = orjson.dumps(make_envelope(make_event()))
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as s:
        s.sendall(request_head(length=len(body)) + body)
        first = one_response(s)
        assert first.startswith(b"HTTP/1.1 202") and b"connection: close" not in first.lower()
        assert answer(s) == b""  # nothing more: closed by the server after the keep-alive


def test_each_request_moves_the_keep_alive_deadline(running: Collector) -> None:
    body = orjson.dumps(make_envelope(make_event()))
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as s:
        started = time.monotonic()
        answered = 0
        # Past the first request's keep-alive (1 s), each request within 1 s of the last.
        while time.monotonic() - started < 2.2:
            s.sendall(request_head(length=len(body)) + body)
            assert one_response(s).startswith(b"HTTP/1.1 202")
            answered += 1
            time.sleep(0.6)
        assert answered >= 4 and not closed_by_server(s)


class Recorded:
    """A transport that keeps what is written to it."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...


def sent(method: str, messages: list[dict[str, object]]) -> list[bytes]:
    transport = Recorded()
    scope = {"type": "http", "method": method, "path": "/", "headers": []}
    cycle = _Cycle(
        scope=scope,  # type: ignore[arg-type]
        transport=transport,  # type: ignore[arg-type]
        flow=FlowControl(transport),  # type: ignore[arg-type]
        logger=logging.getLogger("test"),
        access_logger=logging.getLogger("test"),
        access_log=False,
        default_headers=[],
        message_event=asyncio.Event(),
        expect_100_continue=False,
        keep_alive=True,
        on_response=lambda: None,
    )

    async def go() -> None:
        for message in messages:
            await cycle.send(message)

    asyncio.run(go())
    return transport.writes


def test_a_response_is_written_with_its_head_in_one_write() -> None:
    start = {"type": "http.response.start", "status": 202, "headers": [(b"content-length", b"2")]}
    writes = sent("POST", [start, {"type": "http.response.body", "body": b"{}"}])
    assert len(writes) == 1
    assert writes[0].startswith(b"HTTP/1.1 202") and writes[0].endswith(b"\r\n\r\n{}")
    # A streamed body: the head goes with its first part, the rest as it comes.
    chunked = {"type": "http.response.start", "status": 200, "headers": []}
    parts = [{"type": "http.response.body", "body": b"ab", "more_body": True}]
    writes = sent("GET", [chunked, *parts, {"type": "http.response.body", "body": b"cd"}])
    assert len(writes) == 2 and writes[0].startswith(b"HTTP/1.1 200")
    assert writes[0].endswith(b"2\r\nab\r\n") and writes[1] == b"2\r\ncd\r\n0\r\n\r\n"
    # A HEAD request's answer has no body to wait for.
    writes = sent("HEAD", [start])
    assert len(writes) == 1 and writes[0].startswith(b"HTTP/1.1 202")


def test_the_connection_bound_fits_the_descriptor_limit() -> None:
    assert connection_bound(0, 1024) == 1024 - 256
    assert connection_bound(500, 1024) == 500
    with pytest.raises(DescriptorLimitError, match="MICROX_MAX_CONNECTIONS=1000"):
        connection_bound(1000, 1024)
    with pytest.raises(DescriptorLimitError, match="ulimit -n"):
        connection_bound(0, 200)


def low_descriptor_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (LOW_NOFILE, LOW_NOFILE))


def test_idle_and_half_open_sockets_cannot_use_up_descriptors(tmp_path: Path) -> None:
    c = Collector(tmp_path / "var", preexec_fn=low_descriptor_limit, MICROX_HEADER_TIMEOUT_S="3")
    held: list[socket.socket] = []
    try:
        assert "connections: at most 768 (descriptor limit 1024" in c.log.read_text()
        for i in range(2 * LOW_NOFILE):
            s = socket.create_connection(("127.0.0.1", c.port), timeout=10)
            if i % 2:
                s.sendall(b"POST /v1/events HTTP/1.1\r\nHost: x\r\n")
            held.append(s)
        assert httpx.get(f"{c.base}/healthz", timeout=10).status_code == 200
        assert c.post(make_envelope(make_event())).status_code == 202
        assert c.metric("connections_open") <= c.metric("connections_max") == 768
        assert c.metric('connections_closed_total{reason="evicted"}') >= LOW_NOFILE
        # Whatever was not pushed out is closed once its head is overdue.
        wait_for(lambda: all(closed_by_server(s) for s in held), 30, why="idle sockets closed")
        assert "Too many open files" not in c.log.read_text()
        assert c.stopped_cleanly()
    finally:
        for s in held:
            s.close()
        c.stop()
