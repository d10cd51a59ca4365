"""The bare endpoint with only the store's work added: after every ``FLOOR_INSERT_ROWS``
events received it asks the engine process (``loadtests.floor``) for one insert of that
many rows, by a byte on the pipe ``FLOOR_FD``. It parses nothing, checks nothing, spools
nothing and builds no row: a lower bound on what any collector that stores its events pays
here, used by ``python -m loadtests.floor``."""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

BATCH = int(os.environ.get("FLOOR_BATCH", "20"))
EVERY = int(os.environ.get("FLOOR_INSERT_ROWS", "50000"))
PIPE = int(os.environ.get("FLOOR_FD", "-1"))
_received = 0


def received(events: int) -> None:
    """Count ``events`` in, and ask for an insert each time another ``EVERY`` are in."""
    global _received
    _received += events
    if _received >= EVERY:
        _received -= EVERY
        os.write(PIPE, b"i")


async def ingest(request: Request) -> Response:
    await request.body()
    received(BATCH)
    return Response(status_code=204)


app = Starlette(routes=[Route("/v1/events", ingest, methods=["POST"])])
