"""HTTP connections: a bounded head, bounded waits, and a bounded number of them.

uvicorn's httptools protocol reads a request's line and headers without limit and keeps a
connection that never starts a request for ever: one client sending a huge header stalls
the event loop for everyone, and idle sockets use up the descriptors the spool and the
store need. :func:`protocol` adds, below the ASGI app:

- at most ``max_header_bytes`` of request line and headers, else ``431`` and close;
- the head read within ``header_timeout_s`` of the connection (or of its first byte on a
  kept-alive one), else ``408`` and close, or a quiet close when nothing was sent;
- a kept-alive connection closed after ``keepalive_timeout_s`` without a request;
- at most ``max_connections`` open: at the bound the connection that has waited longest
  for a head is closed to make room (a browser reopens one at need), and only when every
  connection has a request in progress is the new one answered ``503`` and closed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import resource
from typing import Any

from starlette.types import Message, Receive
from uvicorn.config import Config
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from collector.ops.metrics import Metrics

# Descriptors kept free for everything but client connections: the spool's segments and
# checkpoint, the embedded store's part files during inserts and merges, the file a batch's
# records are inserted from, logs and analysts' queries. At rest the collector holds about 65.
DESCRIPTOR_HEADROOM = 256
MIN_CONNECTIONS = 16
# Treated as the limit when there is none.
UNLIMITED_DESCRIPTORS = 1 << 20
RETRY_AFTER_S = 1
_END_OF_HEAD = b"\r\n\r\n"

log = logging.getLogger("microx.connections")


@dataclasses.dataclass(frozen=True)
class ConnectionLimits:
    max_header_bytes: int
    header_timeout_s: float
    keepalive_timeout_s: float
    max_connections: int


class DescriptorLimitError(ValueError):
    """The descriptor limit leaves no room for the connections asked for."""


def raise_descriptor_limit() -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard one, as far as allowed; return the soft
    limit before and after. Connections are bounded by what it leaves."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = UNLIMITED_DESCRIPTORS if hard == resource.RLIM_INFINITY else hard
    before = UNLIMITED_DESCRIPTORS if soft == resource.RLIM_INFINITY else soft
    if before < target:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            return before, before
        return before, target
    return before, before


def connection_bound(configured: int, descriptors: int) -> int:
    """``configured`` (0: as many as fit), checked against the descriptor limit."""
    room = descriptors - DESCRIPTOR_HEADROOM
    if room < MIN_CONNECTIONS:
        raise DescriptorLimitError(
            f"the descriptor limit ({descriptors}, ulimit -n) leaves no room for connections: "
            f"raise it to at least {DESCRIPTOR_HEADROOM + MIN_CONNECTIONS}"
        )
    if configured > room:
        raise DescriptorLimitError(
            f"MICROX_MAX_CONNECTIONS={configured} needs a descriptor limit of at least "
            f"{configured + DESCRIPTOR_HEADROOM} (ulimit -n is {descriptors}); lower it or "
            "raise the limit"
        )
    return configured or room


def body_received(receive: Receive) -> bool:
    """Whether the whole body of the request read through ``receive`` is in memory already
    (uvicorn's cycle has seen its end), so that reading it cannot wait for the client."""
    cycle = getattr(receive, "__self__", None)
    return isinstance(cycle, RequestResponseCycle) and not cycle.more_body


class _Cycle(RequestResponseCycle):
    """uvicorn's request and response, with the head of the response written together with
    the first part of its body: one write, one packet and one wake-up of the client instead
    of two for every answer."""

    _head = b""

    async def send(self, message: Message) -> None:  # type: ignore[override]
        transport = self.transport
        if self._head:
            self.transport = joined = _Joined(transport, self._head)  # type: ignore[assignment]
            self._head = b""
        elif message["type"] == "http.response.start" and self.scope["method"] != "HEAD":
            self.transport = joined = _Joined(None, b"")  # type: ignore[assignment]
        else:
            await super().send(message)  # type: ignore[arg-type]
            return
        try:
            await super().send(message)  # type: ignore[arg-type]
        finally:
            self.transport = transport
        if message["type"] == "http.response.start":
            self._head = joined.head
        # A head left over (the client went away, or the app broke the protocol) is dropped,
        # as uvicorn closes the connection then.


class _Joined:
    """The transport as uvicorn's ``send`` sees it: with no transport, what is written is
    kept as ``head``; with one, the kept head goes out in front of the next write."""

    def __init__(self, transport: asyncio.Transport | None, head: bytes) -> None:
        self._transport = transport
        self.head = head

    def write(self, data: bytes) -> None:
        if self._transport is None:
            self.head += data
        else:
            self._transport.write(self.head + data)
            self.head = b""

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def is_closing(self) -> bool:
        return self._transport is None or self._transport.is_closing()


def _answer(status: bytes, reason: str, extra: bytes = b"") -> bytes:
    body = b'{"error": "' + reason.encode() + b'", "reason": "' + reason.encode() + b'"}'
    return (
        b"HTTP/1.1 " + status + b"\r\ncontent-type: application/json\r\n"
        b"content-length: "
        + str(len(body)).encode()
        + b"\r\n"
        + extra
        + b"connection: close\r\n\r\n"
        + body
    )


_TOO_LARGE = _answer(b"431 Request Header Fields Too Large", "headers_too_large")
_TIMEOUT = _answer(b"408 Request Timeout", "header_timeout")
_FULL = _answer(
    b"503 Service Unavailable",
    "too_many_connections",
    b"retry-after: " + str(RETRY_AFTER_S).encode() + b"\r\n",
)


def protocol(limits: ConnectionLimits, metrics: Metrics) -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol with ``limits`` (one server's worth of shared state)."""
    open_connections: set[Guarded] = set()
    # Connections with no request in progress, those waiting longest first.
    waiting: dict[Guarded, None] = {}
    metrics.gauge(
        "microx_connections_open", "Client connections open.", lambda: len(open_connections)
    )
    metrics.gauge(
        "microx_connections_max",
        "The bound on client connections (MICROX_MAX_CONNECTIONS or the descriptor limit).",
        lambda: limits.max_connections,
    )

    class Guarded(HttpToolsProtocol):
        def __init__(
            self, config: Config, server_state: ServerState, app_state: dict[str, Any], **kw: Any
        ) -> None:
            super().__init__(config, server_state, app_state, **kw)
            self._reading_head = True
            self._head_bytes = 0
            self._heads = 0
            self._tail = b""
            self._timer: asyncio.TimerHandle | None = None
            self._timer_at = 0.0
            self._deadline: float | None = None
            self._idle = False

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(open_connections) >= limits.max_connections and not self._make_room():
                metrics.connections_closed.inc("over_limit")
                log.warning("connection refused: at the bound of %d", limits.max_connections)
                self.transport.write(_FULL)
                self.transport.close()
                return
            open_connections.add(self)
            waiting[self] = None
            self._arm(limits.header_timeout_s, idle=False)

        def connection_lost(self, exc: Exception | None) -> None:
            self._forget()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self.transport.is_closing():
                return  # refused or timed out: what else it sends is not read
            if not self._reading_head:
                super().data_received(data)
                return
            room = limits.max_header_bytes - self._head_bytes
            if len(data) > room and _END_OF_HEAD not in self._tail + data[:room]:
                self._refuse_head()
                return
            heads = self._heads
            super().data_received(data)
            if self._reading_head and self._heads == heads and not self.transport.is_closing():
                # Still in the same head: all of it counts.
                self._head_bytes += len(data)
                self._tail = data[-3:]
                if self._head_bytes > limits.max_header_bytes:
                    self._refuse_head()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            if self._idle:  # the first byte of a request on a kept-alive connection
                self._arm(limits.header_timeout_s, idle=False)

        def on_headers_complete(self) -> None:
            self._reading_head = False
            self._head_bytes = 0
            self._tail = b""
            self._heads += 1
            self._disarm()
            waiting.pop(self, None)
            super().on_headers_complete()
            if type(self.cycle) is RequestResponseCycle:
                # uvicorn makes the cycle here and has only scheduled its task: it runs as
                # ours, which sends a response's head with its body.
                self.cycle.__class__ = _Cycle

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._reading_head = True

        def on_response_complete(self) -> None:
            # uvicorn's, less its keep-alive timer: ours (``_arm``) replaces it.
            self.server_state.total_requests += 1
            if self.transport.is_closing():
                return
            self.flow.resume_reading()
            if self.pipeline:
                cycle, app = self.pipeline.pop()
                self._start_asgi_task(cycle, app)
                return
            waiting.pop(self, None)
            waiting[self] = None
            self._arm(limits.keepalive_timeout_s, idle=True)

        def _make_room(self) -> bool:
            victim = next(iter(waiting), None)
            if victim is None:
                return False
            metrics.connections_closed.inc("evicted")
            victim._close()
            return True

        def _arm(self, seconds: float, idle: bool) -> None:
            # A deadline, and one timer that is moved only when it would fire too late: a
            # kept-alive connection re-arms at every request, and setting and cancelling
            # a timer each time would cost more than the request's other waits.
            self._idle = idle
            deadline = self.loop.time() + seconds
            self._deadline = deadline
            if self._timer is None or self._timer_at > deadline:
                if self._timer is not None:
                    self._timer.cancel()
                self._timer = self.loop.call_at(deadline, self._expire)
                self._timer_at = deadline

        def _disarm(self) -> None:
            self._deadline = None  # a timer set still fires, and finds nothing due

        def _expire(self) -> None:
            self._timer = None
            deadline = self._deadline
            if deadline is None or self.transport.is_closing():
                return
            if self.loop.time() < deadline:  # armed again since the timer was set
                self._timer = self.loop.call_at(deadline, self._expire)
                self._timer_at = deadline
                return
            self._deadline = None
            if self._head_bytes or self._head_started():
                metrics.requests_refused.inc("header_timeout")
                log.info("refused request: header_timeout (408)", extra={"kind": "header_timeout"})
                self.transport.write(_TIMEOUT)
            else:
                metrics.connections_closed.inc("idle")
            self._close()

        def _head_started(self) -> bool:
            # A head that arrived in pieces none of which completed it.
            return self.scope is not None and "method" not in self.scope

        def _refuse_head(self) -> None:
            metrics.requests_refused.inc("headers_too_large")
            log.info(
                "refused request: headers_too_large (431)", extra={"kind": "headers_too_large"}
            )
            self.transport.write(_TOO_LARGE)
            self._close()

        def _close(self) -> None:
            self._forget()
            self.transport.close()

        def _forget(self) -> None:
            self._deadline = None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            open_connections.discard(self)
            waiting.pop(self, None)

    return Guarded
