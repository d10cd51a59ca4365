"""The ingest route in front of the framework: what it takes, what it passes on, and the
answers it gives of its own (request id, the in-flight bound, an endpoint's crash)."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.testclient import TestClient

from collector.ingest.route import IngestRoute
from collector.ops.logs import request_id
from collector.ops.metrics import Metrics
from tests.conftest import series

SECRET = "mxsk_" + "a" * 40


def route_app(endpoint: object, max_inflight: int = 4) -> tuple[IngestRoute, Metrics]:
    async def behind(request: Request) -> Response:
        return PlainTextResponse(f"behind {request.method}")

    app = Starlette(routes=[Route("/v1/events", behind, methods=["GET", "OPTIONS", "POST"])])
    metrics = Metrics()
    return IngestRoute(app, {"/v1/events": endpoint}, max_inflight, metrics), metrics  # type: ignore[dict-item]


async def echo_id(request: Request) -> Response:
    return PlainTextResponse(f"id {request_id.get()}", 202)


def test_a_post_is_answered_by_the_endpoint_with_its_request_id() -> None:
    route, _ = route_app(echo_id)
    with TestClient(route) as client:
        given = client.post("/v1/events", headers={"x-request-id": "trace-1"})
        made = client.post("/v1/events", headers={"x-request-id": f"k{SECRET}"})
    assert given.status_code == 202 and given.text == "id trace-1"
    assert given.headers["x-request-id"] == "trace-1"
    assert SECRET not in made.headers["x-request-id"] and len(made.headers["x-request-id"]) == 16
    assert made.text == f"id {made.headers['x-request-id']}"


def test_other_methods_and_paths_go_to_the_app_behind() -> None:
    route, _ = route_app(echo_id)
    with TestClient(route) as client:
        assert client.get("/v1/events").text == "behind GET"
        assert client.options("/v1/events").text == "behind OPTIONS"
        slash = client.post("/v1/events/", follow_redirects=False)
        assert slash.status_code == 307  # Starlette's slash redirect, as before
        assert client.post("/elsewhere").status_code == 404


def test_an_endpoint_that_fails_gets_a_500_and_the_error_is_raised() -> None:
    async def broken(request: Request) -> Response:
        raise RuntimeError("broken endpoint")

    route, _ = route_app(broken)
    with TestClient(route, raise_server_exceptions=False) as client:
        answer = client.post("/v1/events")
    assert answer.status_code == 500 and answer.text == "Internal Server Error"
    with TestClient(route) as client, pytest.raises(RuntimeError, match="broken endpoint"):
        client.post("/v1/events")


def test_past_the_bound_in_flight_a_request_is_refused_at_once() -> None:
    release = asyncio.Event()

    async def held(request: Request) -> Response:
        await release.wait()
        return PlainTextResponse("done", 202)

    route, metrics = route_app(held, max_inflight=1)

    async def scenario() -> tuple[int, int, dict[str, str], str]:
        transport = httpx.ASGITransport(app=route)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            first = asyncio.create_task(client.post("/v1/events"))
            while route.inflight < 1:
                await asyncio.sleep(0.01)
            refused = await client.post("/v1/events")
            release.set()
            done = await first
        return done.status_code, refused.status_code, dict(refused.headers), refused.text

    done, status, headers, body = asyncio.run(scenario())
    assert (done, status) == (202, 503)
    assert headers["retry-after"] == "1" and '"reason":"overloaded"' in body
    assert series(metrics.render().decode(), 'requests_refused_total{reason="overloaded"}') == 1
    assert route.inflight == 0
