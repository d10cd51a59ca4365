"""CORS, keys, rate limits, bots and slow clients over real HTTP against a running collector."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from collector.ops.secrets import new_secret
from tests.conftest import BROWSER_UA, Collector, make_envelope, make_event, open_store, wait_for

SHOP = "https://shop.example"
SHOP_KEY = new_secret()
BLOG_KEY = new_secret()


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    c = Collector(
        tmp_path_factory.mktemp("security") / "var",
        MICROX_SITES=f"shop={SHOP};blog=https://blog.example",
        MICROX_SERVER_KEYS=f"shop={SHOP_KEY};blog={BLOG_KEY}",
        MICROX_RATE_IP_PER_S="1",
        MICROX_RATE_IP_BURST="10",
        MICROX_RATE_SITE_EVENTS_PER_S="50",
        MICROX_RATE_SITE_BURST="200",
        MICROX_TRUSTED_PROXY_HOPS="1",
        MICROX_BODY_TIMEOUT_S="1",
        MICROX_MAX_INFLIGHT="3",
    )
    try:
        yield c
    finally:
        c.stop()


_client_no = 0


def client_address() -> str:
    """A fresh client address (through the trusted proxy), so tests do not share buckets."""
    global _client_no
    _client_no += 1
    return f"198.51.100.{_client_no}"


def proxied(
    c: Collector, body: Any, *, path: str = "/v1/events", addr: str | None = None, **headers: str
) -> httpx.Response:
    """``body`` posted from ``addr`` (by default a fresh address) through the trusted proxy."""
    return c.post(body, path=path, **{"x-forwarded-for": addr or client_address(), **headers})


def test_cors_for_allowed_origins_only(running: Collector) -> None:
    ask = {
        "origin": SHOP,
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
    }
    r = httpx.options(running.base + "/v1/events", headers=ask)
    assert r.status_code == 204 and r.headers["access-control-allow-origin"] == SHOP
    assert "access-control-allow-credentials" not in r.headers
    r = httpx.options(
        running.base + "/v1/events", headers={**ask, "origin": "https://evil.example"}
    )
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
    r = proxied(running, make_envelope(make_event(), s="shop"), origin=SHOP)
    assert r.status_code == 202 and r.headers["access-control-allow-origin"] == SHOP
    r = proxied(running, make_envelope(make_event(), s="shop"), origin="https://blog.example")
    assert r.status_code == 403 and r.json()["reason"] == "origin_not_allowed"


def test_secret_key_sent_from_a_browser_is_refused_and_never_logged(running: Collector) -> None:
    r = proxied(
        running, make_envelope(make_event(), s="shop", u=f"{SHOP}/?k={SHOP_KEY}"), origin=SHOP
    )
    assert r.status_code == 401 and r.json()["reason"] == "secret_key_from_browser"
    r = proxied(
        running,
        make_envelope(make_event(), s="shop"),
        origin=SHOP,
        authorization=f"Bearer {SHOP_KEY}",
    )
    assert r.status_code == 401
    assert SHOP_KEY not in running.log.read_text()


def test_server_events_need_a_key_and_no_browser(running: Collector) -> None:
    envelope = make_envelope(make_event(t="moment", n="support_reply", d=3_600_000), s="shop")
    r = proxied(running, envelope, path="/v1/server-events", authorization=f"Bearer {SHOP_KEY}")
    assert r.status_code == 202 and r.json()["accepted"] == 1
    r = proxied(running, envelope, path="/v1/server-events", authorization="Bearer mxsk_wrong")
    assert r.status_code == 401 and r.json()["reason"] == "bad_server_key"
    r = proxied(running, envelope, path="/v1/server-events")
    assert r.status_code == 401
    r = proxied(running, envelope, path="/v1/server-events", authorization=f"Bearer {BLOG_KEY}")
    assert r.status_code == 403 and r.json()["reason"] == "key_site_mismatch"
    r = proxied(
        running, envelope, path="/v1/server-events", authorization=f"Bearer {SHOP_KEY}", origin=SHOP
    )
    assert r.status_code == 403 and r.json()["reason"] == "server_endpoint_from_browser"
    assert "wrong" not in running.log.read_text()


def test_noisy_client_is_limited_and_others_are_not(running: Collector) -> None:
    noisy, quiet = client_address(), client_address()
    replies = [
        proxied(
            running,
            make_envelope(make_event(), s="blog"),
            addr=noisy,
            origin="https://blog.example",
        )
        for _ in range(30)
    ]
    codes = [r.status_code for r in replies]
    assert codes[:10] == [202] * 10  # the burst
    limited = [r for r in replies if r.status_code == 429]
    assert len(limited) >= 15  # refills at 1 request/s
    assert all(int(r.headers["retry-after"]) >= 1 for r in limited)
    ok = proxied(
        running, make_envelope(make_event(), s="blog"), addr=quiet, origin="https://blog.example"
    )
    assert ok.status_code == 202
    assert running.metric('requests_refused_total{reason="rate_limited_ip"}') == len(limited)


def test_site_limit_counts_events(running: Collector) -> None:
    big = make_envelope(*[make_event(q=i) for i in range(150)], s="shop")
    assert proxied(running, big, origin=SHOP).status_code == 202
    r = proxied(
        running, make_envelope(*[make_event(q=i) for i in range(150)], s="shop"), origin=SHOP
    )
    assert r.status_code == 429 and r.json()["reason"] == "rate_limited_site"
    time.sleep(2.5)  # the bucket refills at 50 events/s
    assert proxied(running, make_envelope(make_event(), s="shop"), origin=SHOP).status_code == 202


def test_bots_are_dropped_and_counted(running: Collector) -> None:
    before = running.metric('events_filtered_total{reason="bot"}')
    r = proxied(
        running,
        make_envelope(make_event(), make_event(q=1)),
        **{"user-agent": "Mozilla/5.0 (compatible; Googlebot/2.1)"},
    )
    assert r.status_code == 202 and r.json() == {"accepted": 0, "filtered": 2, "reason": "bot"}
    assert running.metric('events_filtered_total{reason="bot"}') == before + 2


def read_response(s: socket.socket) -> str:
    """Headers and the whole body, however the bytes are split into packets."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            return data.decode()
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = int(re.search(rb"content-length: (\d+)", head, re.I)[1])  # type: ignore[index]
    while len(body) < length:
        chunk = s.recv(4096)
        if not chunk:
            break
        body += chunk
    return (head + b"\r\n\r\n" + body).decode()


def test_slow_body_is_cut_off_with_408(running: Collector) -> None:
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as s:
        s.sendall(
            b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
            b"User-Agent: " + BROWSER_UA.encode() + b"\r\n"
            b"X-Forwarded-For: " + client_address().encode() + b"\r\n"
            b'Content-Length: 1000\r\n\r\n{"v":1,'
        )
        reply = read_response(s)
    assert reply.startswith("HTTP/1.1 408")
    assert "body_timeout" in reply


def test_overload_is_refused_at_once_and_recovers(running: Collector) -> None:
    def hold() -> socket.socket:
        # Headers and half a body: the request stays in flight until its body times out.
        s = socket.create_connection(("127.0.0.1", running.port), timeout=10)
        s.sendall(
            b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
            b"X-Forwarded-For: " + client_address().encode() + b"\r\n"
            b'Content-Length: 1000\r\n\r\n{"v":1,'
        )
        return s

    before = running.metric('requests_refused_total{reason="overloaded"}')
    held = [hold() for _ in range(3)]
    try:
        wait_for(lambda: running.metric("ingest_inflight") >= 3, 5, why="the held requests in")
        refused = proxied(running, make_envelope(make_event()))
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert refused.json()["reason"] == "overloaded"
        assert running.metric('requests_refused_total{reason="overloaded"}') == before + 1
    finally:
        replies = [read_response(s) for s in held]
        for s in held:
            s.close()
    assert all(r.startswith("HTTP/1.1 408") for r in replies)
    assert proxied(running, make_envelope(make_event())).status_code == 202


def test_every_response_has_a_request_id(running: Collector) -> None:
    r = proxied(running, b"not json", **{"x-request-id": "trace-123"})
    assert r.status_code == 400 and r.headers["x-request-id"] == "trace-123"
    r = httpx.get(running.base + "/healthz")
    assert len(r.headers["x-request-id"]) == 16


def test_logs_are_json_without_payloads_or_client_addresses(running: Collector) -> None:
    marker = "very-private-label-text"
    proxied(
        running,
        make_envelope(make_event(l=marker), make_event(t="bogus", l=marker)),
        addr="203.0.113.77",
    )
    proxied(running, b'{"broken": ' + marker.encode(), addr="203.0.113.77")
    time.sleep(0.3)
    lines = running.log.read_text().splitlines()
    entries = [orjson.loads(line) for line in lines]
    assert all({"ts", "level", "logger", "msg"} <= e.keys() for e in entries)
    text = "\n".join(lines)
    assert marker not in text and "203.0.113.77" not in text
    assert any(e.get("request_id") for e in entries)


def test_secret_key_json_escaped_or_in_headers_is_refused(running: Collector) -> None:
    escaped = "\\u006d" + SHOP_KEY[1:]  # the key with its m written as a JSON escape
    in_label = orjson.dumps(make_envelope(make_event(l="LABEL"), s="shop"))
    in_props = orjson.dumps(make_envelope(make_event(p={"k": "PROP"}), s="shop"))
    bodies = [
        in_label.replace(b"LABEL", escaped.encode()),
        in_props.replace(b"PROP", escaped.encode()),
        b'{"v":1,"s":"shop","l":"' + escaped.encode(),  # not even valid JSON
    ]
    for body in bodies:
        r = proxied(running, body, origin=SHOP)
        assert r.status_code == 401 and r.json()["reason"] == "secret_key_from_browser"
    for header in ("accept-language", "user-agent", "x-request-id"):
        r = proxied(
            running, make_envelope(make_event(), s="shop"), origin=SHOP, **{header: SHOP_KEY}
        )
        assert r.status_code == 401 and r.json()["reason"] == "secret_key_from_browser"
        assert SHOP_KEY not in r.headers["x-request-id"]
    # A key as the request id of a request refused for another reason, and of another
    # endpoint: never kept as the id, so never logged or echoed.
    r = proxied(running, make_envelope(make_event(), s="nosuchsite"), **{"x-request-id": BLOG_KEY})
    assert r.status_code in (401, 403) and BLOG_KEY not in r.headers["x-request-id"]
    r = httpx.get(running.base + "/healthz", headers={"x-request-id": BLOG_KEY})
    assert BLOG_KEY not in r.headers["x-request-id"]
    # What was refused never reached a row: a good event sent after them is stored first.
    marker = make_event(l="after-the-keys")
    assert proxied(running, make_envelope(marker, s="shop"), origin=SHOP).status_code == 202
    marked = f"SELECT count() FROM microx.events WHERE event_id = '{marker['id']}'"
    wait_for(lambda: running.sql(marked) != "0", 10, why="the marker event stored")
    for table in ("events", "rejected_events"):
        hits = running.sql(
            f"SELECT count() FROM microx.{table} WHERE position(toString(tuple(*)), 'xsk_') > 0"
        )
        assert hits == "0", table
    log = running.log.read_text()
    assert SHOP_KEY[5:] not in log and BLOG_KEY[5:] not in log


def test_no_raw_ip_reaches_the_store(running: Collector, tmp_path: Path) -> None:
    proxied(running, make_envelope(make_event()), addr="203.0.113.99")
    running.stop()
    with open_store(running.store_url) as store:
        for table in ("events", "rejected_events"):
            _, cols = store.query(
                "SELECT name FROM system.columns WHERE database = 'microx' AND table = "
                f"'{table}' AND type LIKE '%String%'"
            )
            concat = ", ".join(f"toString({c[0]})" for c in cols)
            _, hits = store.query(
                f"SELECT count() FROM microx.{table} WHERE position(concat({concat}), "
                "'203.0.113') > 0"
            )
            assert hits == [(0,)]


def test_forwarded_for_is_ignored_without_trusted_proxies(tmp_path: Path) -> None:
    c = Collector(
        tmp_path / "var",
        MICROX_RATE_IP_PER_S="1",
        MICROX_RATE_IP_BURST="5",
        MICROX_TRUSTED_PROXY_HOPS="0",
    )
    try:
        # A proxy on the same host passing on whatever its clients claim.
        codes = [
            proxied(c, make_envelope(make_event()), addr=f"192.0.2.{i}").status_code
            for i in range(20)
        ]
    finally:
        c.stop()
    assert codes[:5] == [202] * 5
    assert codes.count(429) >= 10


def test_refusals_from_anyone_are_counted_and_their_log_lines_throttled(tmp_path: Path) -> None:
    c = Collector(tmp_path / "var")
    sent = 1000
    try:
        with httpx.Client(base_url=c.base, headers={"user-agent": BROWSER_UA}) as client:
            for i in range(sent):
                r = client.post(
                    "/v1/events",
                    content=orjson.dumps(make_envelope(make_event(), s=f"nosuchsite{i}")),
                    headers={"content-type": "text/plain"},
                )
                assert r.status_code == 403
        assert c.metric('requests_refused_total{reason="unknown_site"}') == sent
    finally:
        assert c.stopped_cleanly()
    entries = [orjson.loads(line) for line in c.log.read_text().splitlines()]
    shown = [e for e in entries if e["msg"] == "refused request: unknown_site (403)"]
    summaries = [
        int(re.match(r"suppressed (\d+) similar lines", e["msg"])[1])  # type: ignore[index]
        for e in entries
        if e["msg"].startswith("suppressed") and "unknown_site" in e["msg"]
    ]
    assert len(shown) < sent / 10
    assert summaries and len(shown) + sum(summaries) == sent
