"""Static answers: the snippet at ``/sdk.js`` and its web-vitals file, the demo shop at
``/``, health probes."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, PlainTextResponse, Response

_HERE = Path(__file__).resolve().parent
_PACKAGE = _HERE.parent
SNIPPET_FILE = "microx.js"
# The snippet fetches this from beside itself after starting (web-vitals, attribution build).
VITALS_FILE = "microx-vitals.js"
DEMO_DIR = _HERE / "demo"


def snippet_path(name: str = SNIPPET_FILE) -> Path | None:
    """A file of the script build in a checkout (``make build`` writes them)."""
    path = _PACKAGE.parent / "sdk_js" / "dist" / name
    return path if path.is_file() else None


class Snippet:
    """Serves a built script from memory, gzipped when the browser accepts it."""

    def __init__(self, path: Path | None) -> None:
        self._raw = path.read_bytes() if path else b""
        self._gzipped = gzip.compress(self._raw, 9)
        self._etag = '"' + hashlib.sha256(self._raw).hexdigest()[:20] + '"'

    async def serve(self, request: Request) -> Response:
        if not self._raw:
            return PlainTextResponse("the snippet is not built: run `make build`", 503)
        headers = {
            "etag": self._etag,
            "cache-control": "public, max-age=3600",
            "vary": "accept-encoding",
            "access-control-allow-origin": "*",
        }
        if request.headers.get("if-none-match") == self._etag:
            return Response(status_code=304, headers=headers)
        body = self._raw
        if "gzip" in request.headers.get("accept-encoding", ""):
            body = self._gzipped
            headers["content-encoding"] = "gzip"
        return Response(body, 200, headers, media_type="text/javascript")


async def demo_page(request: Request) -> Response:
    return FileResponse(DEMO_DIR / "index.html", headers={"cache-control": "no-cache"})


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})
