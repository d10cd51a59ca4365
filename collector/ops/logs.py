"""Structured logs: one JSON object a line, with the request id of the request being served.

Log calls pass facts (reasons, counts, sizes), never payloads, keys or client addresses.
Lines anonymous senders can cause are throttled (:class:`Throttle`), so a flood of bad
requests costs a few lines and a count, not a line each.
"""

from __future__ import annotations

import asyncio
import contextvars
import datetime as dt
import logging
import random
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from collector.ops.secrets import holds_secret

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
_INCOMING_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Per kind of line: a burst for the first of a flood, then one line a second; what is held
# back is reported as one count at least this often.
THROTTLE_BURST = 20
THROTTLE_PER_S = 1.0
SUMMARY_INTERVAL_S = 60.0
# Loggers whose lines a client can cause at will: refusals and malformed HTTP.
THROTTLED_LOGGERS = ("microx.receive", "microx.connections", "uvicorn.error")


class Throttle(logging.Filter):
    """A token bucket per kind of line: the logger, the message template and, when a call
    passes ``extra={"kind": ...}``, that (a refusal's reason), so a flood of one reason does
    not hide another. Held-back lines are counted and reported by :meth:`summarise` as
    ``suppressed N similar lines``."""

    def __init__(
        self,
        burst: float = THROTTLE_BURST,
        per_s: float = THROTTLE_PER_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._burst = burst
        self._per_s = per_s
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[tuple[str, str, str], list[float]] = {}  # -> [tokens, last time]
        self._held: dict[tuple[str, str, str], tuple[int, logging.LogRecord]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "throttle_summary", False):
            return True
        key = (record.name, str(record.msg), str(getattr(record, "kind", "")))
        now = self._clock()
        with self._lock:
            bucket = self._buckets.setdefault(key, [self._burst, now])
            bucket[0] = min(self._burst, bucket[0] + (now - bucket[1]) * self._per_s)
            bucket[1] = now
            if bucket[0] >= 1:
                bucket[0] -= 1
                return True
            held, _ = self._held.get(key, (0, record))
            self._held[key] = (held + 1, record)
            if len(self._buckets) > 10_000:  # a flood of kinds: forget the full buckets
                self._buckets = {k: b for k, b in self._buckets.items() if b[0] < self._burst}
            return False

    def summarise(self) -> None:
        """Log one line per kind of line held back since the last summary."""
        with self._lock:
            held, self._held = self._held, {}
        for (name, _, kind), (count, last) in held.items():
            logging.getLogger(name).handle(_summary(last, count, kind))


def _summary(last: logging.LogRecord, count: int, kind: str) -> logging.LogRecord:
    what = last.getMessage()
    if kind not in what:
        what = f"{what} [{kind}]"
    record = logging.LogRecord(
        last.name,
        last.levelno,
        last.pathname,
        last.lineno,
        "suppressed %d similar lines: %s",
        (count, what),
        None,
    )
    record.throttle_summary = True
    return record


throttle = Throttle()


async def summarise_periodically(interval_s: float = SUMMARY_INTERVAL_S) -> None:
    """Report held-back lines every ``interval_s`` even when the flood has stopped."""
    while True:
        await asyncio.sleep(interval_s)
        throttle.summarise()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = request_id.get()
        if rid:
            entry["request_id"] = rid
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            entry["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            entry["traceback"] = self.formatException(record.exc_info)
        return orjson.dumps(entry).decode()


def configure(level: str, fmt: str) -> None:
    handler = logging.StreamHandler()
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    for name in THROTTLED_LOGGERS:
        logger = logging.getLogger(name)
        logger.filters[:] = [f for f in logger.filters if not isinstance(f, Throttle)]
        logger.addFilter(throttle)


def new_request_id(scope: Scope) -> str:
    """The request's id: a sane incoming ``X-Request-ID`` unless it holds a secret key, else
    a new one (random, 16 hex digits)."""
    found = b""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            found = value  # the last one, as a dict of the headers would keep
    incoming = found.decode("latin-1")
    if _INCOMING_ID.match(incoming) and not holds_secret(found):
        return incoming
    # Not os.urandom: a request id is no secret, and a system call lets go of the GIL, which
    # the event loop may then wait for behind the sink's or the spool's thread.
    return f"{random.getrandbits(64):016x}"


class RequestId:
    """Gives every request an id (a sane incoming ``X-Request-ID`` is kept, unless it holds
    a secret key), puts it in every log line written while serving it, and returns it in the
    response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = new_request_id(scope)
        token = request_id.set(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            request_id.reset(token)
