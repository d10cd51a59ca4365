"""route: the two ingest endpoints, answered in front of the framework.

A beacon is the collector's hot path. Its ``POST`` is matched here by method and path,
given its request id, admitted against the bound on requests in flight and handed to
``receive``, without the router's scan of every route and the middleware layers each
request would otherwise pass through twice. Every other request, and every other method
on these paths, goes on to the app behind (Starlette's router and middleware) unchanged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from collector.ingest.receive import json_response
from collector.ops.logs import new_request_id, request_id
from collector.ops.metrics import Metrics

OVERLOAD_RETRY_AFTER_S = 1

Endpoint = Callable[[Request], Awaitable[Response]]
log = logging.getLogger("microx.route")


class IngestRoute:
    def __init__(
        self,
        app: ASGIApp,
        endpoints: Mapping[str, Endpoint],
        max_inflight: int,
        metrics: Metrics,
    ) -> None:
        if max_inflight < 1:
            raise ValueError("max_inflight must be at least 1")
        self.app = app
        self._endpoints = dict(endpoints)
        self._max_inflight = max_inflight
        self._metrics = metrics
        self.inflight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        endpoint = (
            self._endpoints.get(scope["path"])
            if scope["type"] == "http" and scope["method"] == "POST"
            else None
        )
        if endpoint is None:
            await self.app(scope, receive, send)
            return
        rid = new_request_id(scope)
        token = request_id.set(rid)
        try:
            try:
                response = await self._admitted(endpoint, Request(scope, receive))
            except Exception:
                # As Starlette's outermost layer does: an answer, then the error for the
                # server to log.
                await PlainTextResponse("Internal Server Error", 500)(scope, receive, send)
                raise
            response.raw_headers.append((b"x-request-id", rid.encode()))
            await response(scope, receive, send)
        finally:
            request_id.reset(token)

    async def _admitted(self, endpoint: Endpoint, request: Request) -> Response:
        """Past the bound on requests in flight, 503 at once: queueing more would only grow
        memory and latency for requests the clients will give up on."""
        if self.inflight >= self._max_inflight:
            self._metrics.requests_refused.inc("overloaded")
            return json_response(
                503,
                {"error": "the collector is at capacity; retry later", "reason": "overloaded"},
                {"retry-after": str(OVERLOAD_RETRY_AFTER_S)},
            )
        self.inflight += 1
        started = time.perf_counter()
        try:
            return await endpoint(request)
        finally:
            self.inflight -= 1
            self._metrics.ingest_seconds.observe(time.perf_counter() - started)
