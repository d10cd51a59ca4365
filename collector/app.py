"""The app factory: the pipeline's stages, wired in the order a request meets them.

receive -> validate -> enrich -> batch -> sink (ClickHouse). Health, readiness,
metrics, the snippet and the demo page sit beside the pipeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from collector.batch import Batcher
from collector.metrics import Metrics
from collector.pages import DEMO_DIR, Snippet, demo_page, healthz, snippet_path
from collector.receive import Ingest
from collector.settings import Settings
from collector.sites import SiteRegistry
from collector.store import describe_url

READY_TIMEOUT_S = 2.0
log = logging.getLogger("microx")


def create_app(settings: Settings) -> Starlette:
    metrics = Metrics()
    sites = SiteRegistry(settings.sites, settings.public_origins)
    batcher = Batcher(
        settings.clickhouse_url,
        max_rows=settings.batch_max_rows,
        max_age_ms=settings.batch_max_age_ms,
        metrics=metrics,
    )
    ingest = Ingest(sites, batcher, metrics, settings.max_body_bytes)

    async def readyz(request: Request) -> Response:
        try:
            up = await asyncio.wait_for(batcher.call(lambda s: s.ping()), READY_TIMEOUT_S)
        except (TimeoutError, RuntimeError):
            up = False
        metrics.store_up = int(up)
        status = {"store": "up" if up else "down", "pending_rows": metrics.pending_rows}
        return JSONResponse({"ready": up, **status}, 200 if up else 503)

    async def prometheus(request: Request) -> Response:
        return PlainTextResponse(
            metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await batcher.start()
        log.info("store %s ready", describe_url(settings.clickhouse_url))
        try:
            yield
        finally:
            await batcher.stop(settings.shutdown_timeout_s)
            log.info("stopped; pending rows flushed")

    routes = [
        Route("/v1/events", ingest.receive, methods=["POST"]),
        Route("/v1/events", ingest.preflight, methods=["OPTIONS"]),
        Route("/sdk.js", Snippet(snippet_path()).serve, methods=["GET", "HEAD"]),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", prometheus),
        Route("/", demo_page),
        Mount("/demo", StaticFiles(directory=DEMO_DIR), name="demo"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan)
    app.state.metrics = metrics
    app.state.batcher = batcher
    return app
