"""The app factory: the pipeline's stages, wired in the order a request meets them.

receive -> validate -> spool (durable, then 202) -> batch (enrich) -> ClickHouse.
Health, readiness, metrics, the snippet, the demo page and the analysts' read-only SQL
and report sit beside the pipeline. With ``MICROX_QUERY_PORT`` the read-only SQL also
answers at ``/`` on a port of its own, where nothing else is served.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from collector.ingest.ratelimit import RateLimiter
from collector.ingest.receive import Ingest, Limits
from collector.ingest.route import Endpoint, IngestRoute
from collector.ingest.sites import SiteRegistry
from collector.ops.logs import RequestId, summarise_periodically, throttle
from collector.ops.metrics import CONTENT_TYPE, Metrics
from collector.read.annotations import Annotations
from collector.read.journey import JourneyError, load_journeys
from collector.read.query import QueryLimits, QueryService, default_query_memory, load_token
from collector.read.reportpage import ReportPage
from collector.rights.visitors import VisitorRequests
from collector.settings import Settings, SettingsError
from collector.sink.batch import Batcher, StoreFactory
from collector.sink.store import Store, describe_url
from collector.sink.tombstones import Tombstones
from collector.spool.log import Spool
from collector.web.pages import DEMO_DIR, VITALS_FILE, Snippet, demo_page, healthz, snippet_path

READY_TIMEOUT_S = 2.0
log = logging.getLogger("microx")


class ByPort:
    """Requests that arrived on one of ``ports`` go to its app, the rest (and the lifespan)
    to ``app``: one server, one event loop and one set of connection limits for every
    socket it listens on."""

    def __init__(self, app: ASGIApp, ports: dict[int, ASGIApp]) -> None:
        self.app = app
        self.ports = ports

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server") if scope["type"] in ("http", "websocket") else None
        target = self.ports.get(server[1], self.app) if server else self.app
        await target(scope, receive, send)


class _Route:
    """The ingest route in front of the app's stack, made before the stack is."""

    def __init__(self, max_inflight: int, metrics: Metrics) -> None:
        self._max_inflight = max_inflight
        self._metrics = metrics
        self._route: IngestRoute | None = None

    @property
    def inflight(self) -> int:
        return self._route.inflight if self._route is not None else 0

    def wrap(self, stack: ASGIApp, endpoints: Mapping[str, Endpoint]) -> ASGIApp:
        self._route = IngestRoute(stack, endpoints, self._max_inflight, self._metrics)
        return self._route


class _Collector(Starlette):
    """Starlette, with the ingest route outermost: in front of its error handling and
    middleware too, which the route does for itself."""

    def __init__(self, outermost: Callable[[ASGIApp], ASGIApp], **kwargs: Any) -> None:
        self._outermost = outermost
        super().__init__(**kwargs)

    def build_middleware_stack(self) -> ASGIApp:
        return self._outermost(super().build_middleware_stack())


def create_app(settings: Settings, store_factory: StoreFactory = Store) -> Starlette:
    """The collector as an ASGI app; ``store_factory`` lets tests wrap the real store."""
    metrics = Metrics()
    sites = SiteRegistry(settings.sites, settings.public_origins)
    spool = Spool(
        settings.data_dir / "spool",
        settings.spool_max_bytes,
        settings.spool_segment_bytes,
        metrics,
    )
    tombstones = Tombstones(spool.directory, settings.tombstones_max)
    batcher = Batcher(
        settings.clickhouse_url,
        spool,
        directory=settings.data_dir / "sink",
        max_rows=settings.batch_max_rows,
        max_age_ms=settings.batch_max_age_ms,
        metrics=metrics,
        store_factory=store_factory,
        tombstones=tombstones,
    )
    limits = Limits(
        settings.max_body_bytes,
        settings.body_timeout_s,
        settings.drop_bots,
        settings.trusted_proxy_hops,
    )
    ingest = Ingest(
        sites,
        settings.server_keys,
        spool,
        metrics,
        limits,
        per_ip=RateLimiter(settings.rate_ip_per_s, settings.rate_ip_burst),
        per_site=RateLimiter(settings.rate_site_events_per_s, settings.rate_site_burst),
    )
    query_limits = QueryLimits(
        timeout_s=settings.query_timeout_s,
        concurrency=settings.query_concurrency,
        queue=settings.query_queue,
        max_memory_bytes=settings.query_max_memory_bytes
        or default_query_memory(settings.query_concurrency),
        max_result_rows=settings.query_max_result_rows,
        max_result_bytes=settings.query_max_result_bytes,
    )
    queries = QueryService(
        settings.clickhouse_url,
        load_token(settings.query_token, settings.data_dir),
        query_limits,
        metrics,
        ingest.client_address,
    )
    try:
        # Read once, before the process is confined to its spool and store.
        journeys = load_journeys(settings.journey_path)
    except JourneyError as exc:
        raise SettingsError(f"MICROX_JOURNEY_FILE: {exc}") from None
    report = ReportPage(queries, settings.goals, journeys)
    visitors = VisitorRequests(ingest, batcher, spool, tombstones, metrics)
    annotations = Annotations(ingest, batcher)
    route = _Route(settings.max_inflight, metrics)
    metrics.gauge(
        "microx_ingest_inflight", "Ingest requests being handled.", lambda: route.inflight
    )
    metrics.gauge("microx_spool_bytes", "Spool bytes not yet stored.", lambda: spool.used_bytes)
    metrics.gauge("microx_spool_max_bytes", "The spool's bound.", lambda: spool.max_bytes)
    metrics.gauge(
        "microx_store_lost",
        "1 when the embedded store's directory was deleted or replaced while running.",
        lambda: int(batcher.store_lost),
    )
    metrics.gauge(
        "microx_spool_unread_rows",
        "Rows in the spool not yet read for insert.",
        lambda: spool.unread_rows,
    )

    async def readyz(request: Request) -> Response:
        # Store down but spool with room is "degraded" and still 200: taking every
        # collector out of rotation during a store outage would lose the very traffic
        # the spool exists to keep. A spool that cannot be written is 503: ingest
        # refuses everything then.
        try:
            up = await asyncio.wait_for(batcher.ping(), READY_TIMEOUT_S)
        except TimeoutError:
            up = False
        metrics.store_up.set(int(up and batcher.insert_error is None))
        room = spool.has_room(settings.max_body_bytes)  # room for the largest request
        unwritable = await asyncio.to_thread(spool.unwritable, settings.max_body_bytes)
        if batcher.store_lost:
            store = "lost"
        elif not up:
            store = "down"
        else:
            store = "failing" if batcher.insert_error else "up"
        healthy = store == "up" and batcher.sink_error is None
        if unwritable:
            status = "spool_error"
        else:
            status = "ok" if healthy and room else ("degraded" if room else "full")
        body: dict[str, object] = {
            "status": status,
            "store": store,
            "spool_bytes": spool.used_bytes,
            "spool_max_bytes": spool.max_bytes,
        }
        if unwritable:
            body["spool_error"] = unwritable
        if batcher.insert_error:
            body["store_error"] = batcher.insert_error
        if batcher.sink_error:
            body["sink_error"] = batcher.sink_error
        return JSONResponse(body, 200 if room and not unwritable else 503)

    async def prometheus(request: Request) -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await batcher.start(visitors.resume)
        log.info("store %s ready", describe_url(settings.clickhouse_url))
        log.info(
            "analysts' queries: %d at once, %d waiting, %d s, %d MiB each",
            query_limits.concurrency,
            query_limits.queue,
            round(query_limits.timeout_s),
            query_limits.max_memory_bytes >> 20,
        )
        # What start-up made (the engine's client, the schema, compiled validators) lives as
        # long as the process. Left to the collector, every full collection walks it all
        # while holding the GIL, and requests wait: tens of milliseconds each time.
        gc.freeze()
        summaries = asyncio.create_task(summarise_periodically())
        try:
            yield
        finally:
            summaries.cancel()
            await queries.close()
            await batcher.stop(settings.shutdown_timeout_s)
            throttle.summarise()
            log.info("stopped; pending rows flushed")

    routes = [
        # POST to both ingest paths is answered in front of the router (``IngestRoute``).
        Route("/v1/events", ingest.preflight, methods=["OPTIONS"]),
        Route("/v1/annotations", annotations.post, methods=["POST"]),
        Route("/v1/visitors/{visitor}", visitors.export, methods=["GET"]),
        Route("/v1/visitors/{visitor}/forget", visitors.forget, methods=["POST"]),
        Route("/sdk.js", Snippet(snippet_path()).serve, methods=["GET", "HEAD"]),
        Route(f"/{VITALS_FILE}", Snippet(snippet_path(VITALS_FILE)).serve, methods=["GET", "HEAD"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", prometheus),
        Route("/clickhouse", queries.clickhouse, methods=["GET", "POST"]),
        Route("/clickhouse/", queries.clickhouse, methods=["GET", "POST"]),
        Route("/clickhouse/ping", queries.ping),
        # The report inlines plotly.js: a few hundred KiB once compressed, megabytes if not.
        Route("/report", report.serve, middleware=[Middleware(GZipMiddleware)]),
        Route("/report/examples", report.examples, middleware=[Middleware(GZipMiddleware)]),
        Route("/report/session", report.session, middleware=[Middleware(GZipMiddleware)]),
        Route("/", demo_page),
        Mount("/demo", StaticFiles(directory=DEMO_DIR), name="demo"),
    ]
    endpoints = {"/v1/events": ingest.browser, "/v1/server-events": ingest.server}

    def outermost(stack: ASGIApp) -> ASGIApp:
        lean = route.wrap(stack, endpoints)
        if not settings.query_port:
            return lean
        # The query port answers SQL only: it is told apart before the ingest route.
        sql_only = Starlette(
            routes=[
                Route("/", queries.clickhouse, methods=["GET", "POST"]),
                Route("/ping", queries.ping),
            ],
            middleware=[Middleware(RequestId)],
        )
        return ByPort(lean, ports={settings.query_port: sql_only})

    app = _Collector(
        outermost, routes=routes, lifespan=lifespan, middleware=[Middleware(RequestId)]
    )
    app.state.metrics = metrics  # the server's connection guard counts into it too
    return app
