"""The collector's required work per request and nothing else, with the store's work of
``bare_store``: a plain ASGI handler that reads the body, judges it with the collector's
own ``judge_body`` (the schema's checks), encodes the spool record (``Accepted.encode``),
appends it to the collector's ``Spool`` (written and fsynced, shared by the requests that
arrive meanwhile) and answers 202, then asks the engine process for one insert per
``FLOOR_INSERT_ROWS`` events. No admission, rate limit, secret scan, CORS, metric or
request id: a lower bound on the collector's request path, used by ``loadtests.floor``."""

from __future__ import annotations

import os
import time
from pathlib import Path

import orjson
from starlette.types import Receive, Scope, Send

from collector.ingest.validate import judge_body
from collector.rows.record import Accepted
from collector.rows.useragent import classify
from collector.spool.log import Spool
from loadtests.servers.bare_store import received

SPOOL = Spool(Path(os.environ.get("FLOOR_SPOOL", "spool")), 8 << 30)
SPOOL.open()
HEADERS = [(b"content-type", b"application/json")]


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    received_ms = int(time.time() * 1000)
    user_agent = next((v for k, v in scope["headers"] if k == b"user-agent"), b"").decode()
    judged = judge_body(body)
    record = Accepted(
        received_ms,
        judged.envelope,
        judged.accepted,
        judged.rejected,
        user_agent,
        "",
        classify(user_agent),
    )
    await SPOOL.append(record.encode(), record.rows)
    received(len(judged.accepted))
    answer = {"accepted": len(judged.accepted), "rejected": len(judged.rejected), "errors": []}
    await send({"type": "http.response.start", "status": 202, "headers": HEADERS})
    await send({"type": "http.response.body", "body": orjson.dumps(answer)})
