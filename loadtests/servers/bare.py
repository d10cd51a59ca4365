"""The ceiling of the stack: Starlette on uvicorn that reads the body and answers 204."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def ingest(request: Request) -> Response:
    await request.body()
    return Response(status_code=204)


app = Starlette(routes=[Route("/v1/events", ingest, methods=["POST"])])
