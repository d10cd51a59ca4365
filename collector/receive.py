"""receive: the ``POST /v1/events`` endpoint and its CORS preflight.

It reads at most ``max_body_bytes`` (refusing larger bodies before reading them whole),
inflates gzip with the same cap, checks the site and the page's origin, validates each
event, and answers 202 only once the accepted events are durable in the spool.
"""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from collector.metrics import Metrics
from collector.record import encode
from collector.sites import SiteRegistry
from collector.spool import Spool, SpoolError, SpoolFull
from collector.validate import EnvelopeError, Rejection, judge, parse

ACCEPTED_TYPES = ("text/plain", "application/json", "")
# A 400 or 202 lists at most this many rejections; the rest are in rejected_events.
MAX_ERRORS_SHOWN = 20
# How long a client is asked to wait when the spool is full: about the time a recovered
# store needs to drain a good part of it.
RETRY_AFTER_S = 5

log = logging.getLogger("microx.receive")


class TooLarge(Exception):
    pass


def json_response(status: int, body: dict[str, Any], headers: dict[str, str]) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


class Ingest:
    def __init__(
        self,
        sites: SiteRegistry,
        spool: Spool,
        metrics: Metrics,
        max_body_bytes: int,
        body_timeout_s: float,
    ) -> None:
        self._sites = sites
        self._spool = spool
        self._metrics = metrics
        self._max_body = max_body_bytes
        self._body_timeout = body_timeout_s

    async def preflight(self, request: Request) -> Response:
        origin = request.headers.get("origin")
        if origin is None or not self._sites.known_origin(origin):
            return self._refuse("origin_not_allowed", 403, "this origin may not send events", {})
        return Response(
            status_code=204,
            headers={
                "access-control-allow-origin": origin,
                "access-control-allow-methods": "POST",
                "access-control-allow-headers": "content-type, content-encoding",
                "access-control-max-age": "86400",
                "vary": "origin",
            },
        )

    async def receive(self, request: Request) -> Response:
        received_ms = int(time.time() * 1000)
        origin = request.headers.get("origin")
        cors = (
            {"access-control-allow-origin": origin, "vary": "origin"}
            if origin and self._sites.known_origin(origin)
            else {}
        )
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type not in ACCEPTED_TYPES:
            return self._refuse(
                "unsupported_media_type", 415, "send text/plain or application/json", cors
            )
        try:
            async with asyncio.timeout(self._body_timeout):
                body = await self._read_body(request)
        except TooLarge:
            return self._refuse(
                "body_too_large",
                413,
                f"body over {self._max_body} bytes; send smaller batches",
                cors,
            )
        except TimeoutError:
            return self._refuse(
                "body_timeout", 408, f"body not received within {self._body_timeout:g}s", cors
            )
        except zlib.error:
            return self._refuse("bad_gzip", 400, "body is not valid gzip", cors)
        except ClientDisconnect:
            self._metrics.requests_refused["client_disconnected"] += 1
            return Response(status_code=400)
        user_agent = request.headers.get("user-agent", "")
        try:
            judgement = judge(parse(body))
        except EnvelopeError as exc:
            rejection = exc.rejection
            self._metrics.requests_refused[rejection.reason] += 1
            await self._keep_rejections([rejection], received_ms, user_agent)
            return json_response(
                400, {"error": rejection.message, "rejected": [rejection.as_json()]}, cors
            )
        envelope = judgement.envelope
        site = envelope["s"]
        if site not in self._sites:
            return self._refuse("unknown_site", 403, f"unknown site {site!r}", cors)
        if not self._sites.origin_allowed(site, origin):
            return self._refuse(
                "origin_not_allowed", 403, f"origin not allowed for site {site!r}", cors
            )
        accepted, rejected = judgement.accepted, judgement.rejected
        self._metrics.events_received += len(envelope["e"])
        shown = [r.as_json() for r in rejected[:MAX_ERRORS_SHOWN]]
        if not accepted:
            self._count_rejections(rejected)
            await self._keep_rejections(rejected, received_ms, user_agent, site)
            body_out = {
                "error": "no valid events in the batch",
                "accepted": 0,
                "rejected": len(rejected),
                "errors": shown,
            }
            return json_response(400, body_out, cors)
        payload, rows = encode(envelope, accepted, rejected, received_ms, user_agent, site)
        try:
            await self._spool.append(payload, rows)
        except (SpoolFull, SpoolError) as exc:
            reason = "spool_full" if isinstance(exc, SpoolFull) else "spool_error"
            headers = {**cors, "retry-after": str(RETRY_AFTER_S)}
            return self._refuse(reason, 503, "the collector cannot take events right now", headers)
        # Counted only once durable: "accepted" means acknowledged.
        self._count_rejections(rejected)
        self._metrics.events_accepted += len(accepted)
        body_out = {"accepted": len(accepted), "rejected": len(rejected), "errors": shown}
        return json_response(202, body_out, cors)

    async def _read_body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self._max_body:
            raise TooLarge
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > self._max_body:
                raise TooLarge
        gzipped = request.headers.get("content-encoding", "").lower() == "gzip" or (
            body[:2] == b"\x1f\x8b"
        )
        if not gzipped:
            return bytes(body)
        # Inflate at most one byte past the cap: a gzip bomb is never expanded in full.
        inflater = zlib.decompressobj(wbits=31)
        out = inflater.decompress(bytes(body), self._max_body + 1)
        if len(out) > self._max_body:
            raise TooLarge
        return out

    def _refuse(self, reason: str, status: int, message: str, headers: dict[str, str]) -> Response:
        self._metrics.requests_refused[reason] += 1
        log.info("refused request: %s (%d)", reason, status)
        return json_response(status, {"error": message, "reason": reason}, headers)

    def _count_rejections(self, rejected: list[Rejection]) -> None:
        for r in rejected:
            self._metrics.events_rejected[r.reason] += 1

    async def _keep_rejections(
        self, rejected: list[Rejection], received_ms: int, user_agent: str, site: str = ""
    ) -> None:
        """Put refused input in the spool on its way to rejected_events.

        The client gets its 4xx either way; if even this cannot be written, the refusal
        is still counted and logged.
        """
        payload, rows = encode(None, [], rejected, received_ms, user_agent, site)
        try:
            await self._spool.append(payload, rows)
        except (SpoolFull, SpoolError):
            self._metrics.requests_refused["rejection_not_kept"] += 1
            log.warning("spool unavailable: %d rejected events only counted", len(rejected))
