"""receive: the ingest endpoints and their CORS preflight.

``POST /v1/events`` is for browsers: public site ids, origin allowlist, bots dropped.
``POST /v1/server-events`` is for back ends (support desk, e-mail, chat): a secret server
key, no browsers. Both read at most ``max_body_bytes`` (refusing larger bodies before
reading them whole), inflate gzip under the same cap, validate each event, and answer 202
only once the accepted events are durable in the spool.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import time
import zlib
from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.types import Receive, Scope

from collector.ingest.connections import body_received
from collector.ingest.policy import Browser, Policy, Server
from collector.ingest.ratelimit import AddressHasher, RateLimiter, retry_after
from collector.ingest.sites import SiteRegistry
from collector.ingest.validate import EnvelopeError, judge_body
from collector.ops.metrics import Metrics
from collector.ops.secrets import holds_secret
from collector.rows.record import Accepted, Refusal
from collector.rows.rejection import Rejection
from collector.rows.useragent import classify
from collector.spool.log import Spool, SpoolError, SpoolFull

ACCEPTED_TYPES = ("text/plain", "application/json", "")
# A 400 or 202 lists at most this many rejections; the rest are in rejected_events.
MAX_ERRORS_SHOWN = 20
# How long a client is asked to wait when the spool is full: about the time a recovered
# store needs to drain a good part of it.
RETRY_AFTER_S = 5

log = logging.getLogger("microx.receive")


class Refused(Exception):
    """A request answered with an error before its events were looked at."""

    def __init__(self, response: Response) -> None:
        self.response = response


@dataclasses.dataclass(frozen=True)
class Limits:
    max_body_bytes: int
    body_timeout_s: float
    drop_bots: bool
    trusted_proxy_hops: int


def json_response(status: int, body: dict[str, Any], headers: dict[str, str]) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


def head_of(scope: Scope) -> dict[bytes, bytes]:
    """The request's headers by name, the first of each (as Starlette's ``Headers.get``
    finds them): read once, where each ``request.headers`` lookup scans the list again."""
    head: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        if name not in head:
            head[name] = value
    return head


class Ingest:
    def __init__(
        self,
        sites: SiteRegistry,
        server_keys: dict[str, str],
        spool: Spool,
        metrics: Metrics,
        limits: Limits,
        per_ip: RateLimiter,
        per_site: RateLimiter,
    ) -> None:
        self._sites = sites
        self._server_keys = server_keys
        self._spool = spool
        self._metrics = metrics
        self._limits = limits
        self._per_ip = per_ip
        self._per_site = per_site
        self._hash_address = AddressHasher()

    # -- browsers -----------------------------------------------------------------------

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

    async def browser(self, request: Request) -> Response:
        received_ms = int(time.time() * 1000)
        scope = request.scope
        head = head_of(scope)
        origin_raw = head.get(b"origin")
        origin = origin_raw.decode("latin-1") if origin_raw is not None else None
        cors = (
            {"access-control-allow-origin": origin, "vary": "origin"}
            if origin and self._sites.known_origin(origin)
            else {}
        )
        try:
            wait = self._per_ip.take(self._hash_address(self._address(scope, head)))
            if wait:
                raise Refused(self._too_many("rate_limited_ip", wait, cors))
            # Header text reaches rows (Accept-Language), the spool (User-Agent) and logs
            # (X-Request-ID): a key in any of them is refused like one in the body.
            if any(holds_secret(value) for _, value in scope["headers"]):
                raise Refused(self._secret_exposed(cors))
            body = await self._read(request.receive, head, cors)
            if holds_secret(body):
                raise Refused(self._secret_exposed(cors))
        except Refused as refused:
            return refused.response
        user_agent = head.get(b"user-agent", b"").decode("latin-1")
        agent = classify(user_agent)
        if self._limits.drop_bots and agent[2] == "bot":
            count = _count_events(body)
            self._metrics.events_filtered.inc("bot", count)
            log.debug("dropped %d events from a bot user agent", count, extra={"kind": "bot"})
            return json_response(202, {"accepted": 0, "filtered": count, "reason": "bot"}, cors)
        policy = Browser(self._sites, self._per_site, origin, self._not_stored)
        language = head.get(b"accept-language", b"").decode("latin-1")
        return await self._ingest(body, received_ms, (user_agent, agent), language, cors, policy)

    # -- back ends ----------------------------------------------------------------------

    async def server(self, request: Request) -> Response:
        received_ms = int(time.time() * 1000)
        try:
            site = self.key_site(request, "server events are not accepted from browsers")
            body = await self._read(request.receive, head_of(request.scope), {})
        except Refused as refused:
            return refused.response
        user_agent = request.headers.get("user-agent", "")
        language = request.headers.get("accept-language", "")
        agent = (user_agent, classify(user_agent))
        return await self._ingest(body, received_ms, agent, language, {}, Server(site))

    def key_site(self, request: Request, from_browser: str) -> str:
        """The site the request's server key is for; :class:`Refused` when a browser sent
        it (an ``Origin`` header) or the key is missing or wrong."""
        if "origin" in request.headers:
            raise Refused(
                self._refuse(
                    "server_endpoint_from_browser", 403, f"{from_browser}; use /v1/events", {}
                )
            )
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        site = self._server_keys.get(key.strip()) if scheme.lower() == "bearer" else None
        if site is None:
            # The key, right or wrong, is never logged.
            raise Refused(
                self._refuse("bad_server_key", 401, "send 'Authorization: Bearer <server key>'", {})
            )
        return site

    async def small_body(self, request: Request, limit: int) -> bytes:
        """The body of a request to a back-end endpoint, at most ``limit`` bytes;
        :class:`Refused` past that or when it does not arrive in time."""
        try:
            return await self._read_body(request.receive, head_of(request.scope), limit)
        except _TooLarge:
            raise Refused(self.refuse("body_too_large", 413, f"body over {limit} bytes")) from None
        except TimeoutError:
            message = f"body not received within {self._limits.body_timeout_s:g}s"
            raise Refused(self.refuse("body_timeout", 408, message)) from None
        except zlib.error:
            raise Refused(self.refuse("bad_gzip", 400, "body is not valid gzip")) from None
        except ClientDisconnect:
            self._metrics.requests_refused.inc("client_disconnected")
            raise Refused(Response(status_code=400)) from None

    def refuse(self, reason: str, status: int, message: str) -> Response:
        """An error answer, counted in ``requests_refused`` and logged (throttled)."""
        return self._refuse(reason, status, message, {})

    # -- shared -------------------------------------------------------------------------

    async def _ingest(
        self,
        body: bytes,
        received_ms: int,
        agent: tuple[str, tuple[str, str, str]],
        language: str,
        cors: dict[str, str],
        policy: Policy,
    ) -> Response:
        try:
            judgement = judge_body(body)
        except EnvelopeError as exc:
            rejection = exc.rejection
            self._metrics.requests_refused.inc(rejection.reason)
            log.info(
                "refused request: %s (400)", rejection.reason, extra={"kind": rejection.reason}
            )
            owner = policy.owner(exc.site)
            if owner is not None:
                await self._keep(Refusal(received_ms, owner, [rejection]))
            return json_response(
                400, {"error": rejection.message, "rejected": [rejection.as_json()]}, cors
            )
        envelope = judgement.envelope
        site = envelope["s"]
        denial = policy.admit(site)
        if denial is not None:
            # A server's denial carries no CORS headers: no browser may read it.
            headers = cors if isinstance(policy, Browser) else {}
            return self._refuse(denial.reason, denial.status, denial.message, headers)
        wait = self._per_site.take(site, len(envelope["e"]))
        if wait:
            return self._too_many("rate_limited_site", wait, cors)
        accepted, rejected = judgement.accepted, judgement.rejected
        self._metrics.events_received.inc(len(envelope["e"]))
        shown = [r.as_json() for r in rejected[:MAX_ERRORS_SHOWN]]
        if not accepted:
            self._count_rejections(rejected)
            await self._keep(Refusal(received_ms, site, rejected, envelope))
            body_out = {
                "error": "no valid events in the batch",
                "accepted": 0,
                "rejected": len(rejected),
                "errors": shown,
            }
            return json_response(400, body_out, cors)
        user_agent, classes = agent
        record = Accepted(received_ms, envelope, accepted, rejected, user_agent, language, classes)
        try:
            await self._spool.append(record.encode(), record.rows)
        except (SpoolFull, SpoolError) as exc:
            reason = "spool_full" if isinstance(exc, SpoolFull) else "spool_error"
            headers = {**cors, "retry-after": str(RETRY_AFTER_S)}
            return self._refuse(reason, 503, "the collector cannot take events right now", headers)
        # Counted only once durable: "accepted" means acknowledged.
        self._count_rejections(rejected)
        self._metrics.events_accepted.inc(len(accepted))
        body_out = {"accepted": len(accepted), "rejected": len(rejected), "errors": shown}
        return json_response(202, body_out, cors)

    def _not_stored(self, reason: str) -> None:
        self._metrics.rejections_not_stored.inc(reason)

    def client_address(self, request: Request) -> str:
        return self._address(request.scope, head_of(request.scope))

    def _address(self, scope: Scope, head: dict[bytes, bytes]) -> str:
        hops = self._limits.trusted_proxy_hops
        if hops:
            # The entry our own nearest proxies appended; anything left of it is the
            # client's to forge.
            chain = head.get(b"x-forwarded-for", b"").decode("latin-1").split(",")
            if len(chain) >= hops and chain[-hops].strip():
                return chain[-hops].strip()
        client = scope.get("client")
        return client[0] if client else ""

    async def _read(
        self, receive: Receive, head: dict[bytes, bytes], cors: dict[str, str]
    ) -> bytes:
        content_type = head.get(b"content-type", b"").decode("latin-1")
        media_type = content_type.split(";")[0].strip().lower()
        if media_type not in ACCEPTED_TYPES:
            raise Refused(
                self._refuse(
                    "unsupported_media_type", 415, "send text/plain or application/json", cors
                )
            )
        limit = self._limits.max_body_bytes
        try:
            return await self._read_body(receive, head, limit)
        except _TooLarge:
            message = f"body over {limit} bytes; send smaller batches"
            raise Refused(self._refuse("body_too_large", 413, message, cors)) from None
        except TimeoutError:
            message = f"body not received within {self._limits.body_timeout_s:g}s"
            raise Refused(self._refuse("body_timeout", 408, message, cors)) from None
        except zlib.error:
            raise Refused(self._refuse("bad_gzip", 400, "body is not valid gzip", cors)) from None
        except ClientDisconnect:
            self._metrics.requests_refused.inc("client_disconnected")
            raise Refused(Response(status_code=400)) from None

    async def _read_body(self, receive: Receive, head: dict[bytes, bytes], limit: int) -> bytes:
        declared = head.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            raise _TooLarge
        if body_received(receive):
            # A beacon's body comes in the packet of its head: nothing to wait for, so no
            # timer to set and cancel.
            body = await _receive_body(receive, limit)
        else:
            async with asyncio.timeout(self._limits.body_timeout_s):
                body = await _receive_body(receive, limit)
        gzipped = head.get(b"content-encoding", b"").lower() == b"gzip" or (body[:2] == b"\x1f\x8b")
        if not gzipped:
            return bytes(body)
        # Inflate at most one byte past the cap: a gzip bomb is never expanded in full.
        inflater = zlib.decompressobj(wbits=31)
        out = inflater.decompress(bytes(body), limit + 1)
        if len(out) > limit:
            raise _TooLarge
        return out

    def _refuse(self, reason: str, status: int, message: str, headers: dict[str, str]) -> Response:
        self._metrics.requests_refused.inc(reason)
        log.info("refused request: %s (%d)", reason, status, extra={"kind": reason})
        return json_response(status, {"error": message, "reason": reason}, headers)

    def _too_many(self, reason: str, wait_s: float, cors: dict[str, str]) -> Response:
        headers = {**cors, "retry-after": retry_after(wait_s)}
        return self._refuse(reason, 429, "too many requests; retry later", headers)

    def _secret_exposed(self, cors: dict[str, str]) -> Response:
        message = (
            "a secret server key was sent to the browser endpoint: it is exposed, rotate it; "
            "browsers send the public site id only"
        )
        return self._refuse("secret_key_from_browser", 401, message, cors)

    def _count_rejections(self, rejected: list[Rejection]) -> None:
        if not rejected:
            return
        # One increment per reason, not per event: a batch of junk has hundreds.
        for reason, n in collections.Counter(r.reason for r in rejected).items():
            self._metrics.events_rejected.inc(reason, n)

    async def _keep(self, refusal: Refusal) -> None:
        """Put refused input in the spool on its way to rejected_events.

        The client gets its 4xx either way; if even this cannot be written, the refusal
        is still counted and logged.
        """
        try:
            await self._spool.append(refusal.encode(), refusal.rows)
        except (SpoolFull, SpoolError):
            self._metrics.requests_refused.inc("rejection_not_kept")
            log.warning(
                "spool unavailable: %d rejected events only counted",
                len(refusal.rejected),
                extra={"kind": "rejection_not_kept"},
            )


class _TooLarge(Exception):
    pass


async def _receive_body(receive: Receive, limit: int) -> bytearray:
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        body += message.get("body", b"")
        if len(body) > limit:
            raise _TooLarge
        if not message.get("more_body", False):
            return body


def _count_events(body: bytes) -> int:
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return 0
    events = payload.get("e") if isinstance(payload, dict) else None
    return len(events) if isinstance(events, list) else 0
