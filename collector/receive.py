"""receive: the ``POST /v1/events`` endpoint and its CORS preflight.

It reads at most ``max_body_bytes`` (refusing larger bodies before reading them whole),
inflates gzip with the same cap, checks the site and the page's origin, hands the
payload to validation and enrichment, and queues the rows for the batcher.
"""

from __future__ import annotations

import logging
import time
import zlib
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from collector.batch import Batcher
from collector.contract import contract_version
from collector.enrich import enrich, ms_to_datetime
from collector.metrics import Metrics
from collector.sites import SiteRegistry
from collector.validate import EnvelopeError, Rejection, judge, parse

ACCEPTED_TYPES = ("text/plain", "application/json", "")
# A 400 or 202 lists at most this many rejections; the rest are in rejected_events.
MAX_ERRORS_SHOWN = 20

log = logging.getLogger("microx.receive")


class TooLarge(Exception):
    pass


def json_response(status: int, body: dict[str, Any], headers: dict[str, str]) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


class Ingest:
    def __init__(
        self, sites: SiteRegistry, batcher: Batcher, metrics: Metrics, max_body_bytes: int
    ) -> None:
        self._sites = sites
        self._batcher = batcher
        self._metrics = metrics
        self._max_body = max_body_bytes
        self._version = contract_version()

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
            if (origin and self._sites.known_origin(origin))
            else {}
        )
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type not in ACCEPTED_TYPES:
            return self._refuse(
                "unsupported_media_type", 415, "send text/plain or application/json", cors
            )
        try:
            body = await self._read_body(request)
        except TooLarge:
            return self._refuse(
                "body_too_large",
                413,
                f"body over {self._max_body} bytes; send smaller batches",
                cors,
            )
        except zlib.error:
            return self._refuse("bad_gzip", 400, "body is not valid gzip", cors)
        try:
            judgement = judge(parse(body))
        except EnvelopeError as exc:
            rejection = exc.rejection
            self._store_rejections("", [rejection], received_ms)
            self._metrics.requests_refused[rejection.reason] += 1
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
        self._metrics.events_received += len(envelope["e"])
        self._store_rejections(site, judgement.rejected, received_ms)
        shown = [r.as_json() for r in judgement.rejected[:MAX_ERRORS_SHOWN]]
        if not judgement.accepted:
            return json_response(
                400,
                {
                    "error": "no valid events in the batch",
                    "accepted": 0,
                    "rejected": len(judgement.rejected),
                    "errors": shown,
                },
                cors,
            )
        rows = enrich(
            envelope, judgement.accepted, received_ms, request.headers.get("user-agent", "")
        )
        self._batcher.add("events", rows)
        self._metrics.events_accepted += len(rows)
        return json_response(
            202, {"accepted": len(rows), "rejected": len(judgement.rejected), "errors": shown}, cors
        )

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

    def _store_rejections(self, site: str, rejected: list[Rejection], received_ms: int) -> None:
        if not rejected:
            return
        received_at = ms_to_datetime(received_ms)
        for r in rejected:
            self._metrics.events_rejected[r.reason] += 1
        self._batcher.add(
            "rejected_events",
            [
                (
                    received_at,
                    site,
                    r.reason,
                    r.field,
                    r.message[:500],
                    r.index,
                    self._version,
                    r.raw,
                )
                for r in rejected
            ],
        )
