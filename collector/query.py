"""Read-only SQL for analysts while the collector runs, over ClickHouse's own HTTP protocol.

The embedded engine belongs to the collector's process, so no other process can open it.
Instead the collector answers ClickHouse's HTTP interface under ``/clickhouse``: curl, the
``clickhouse-connect`` client (``proxy_path="/clickhouse"``) and ``microx sql`` talk to
it as to a ClickHouse server. Queries run on a connection of their own that can only read
and stops each query after ``MICROX_QUERY_TIMEOUT_S``, on a thread of their own, so an
analyst's query never holds up ingestion. Every request needs the query token.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import hmac
import re
import secrets
import uuid
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from collector.metrics import Metrics
from collector.store import Store, StoreUnavailable

MAX_QUERY_BYTES = 1_000_000
TOKEN_FILE = "query_token"
DEFAULT_FORMAT = "TabSeparated"
_FORMAT = re.compile(r"\bFORMAT\s+([A-Za-z0-9_]+)\s*;?\s*$", re.IGNORECASE)
_CODE = re.compile(r"Code:\s*(\d+)")
_MEDIA = {
    "JSON": "application/json",
    "JSONCompact": "application/json",
    "JSONEachRow": "application/x-ndjson",
    "CSV": "text/csv",
    "CSVWithNames": "text/csv",
}
# ClickHouse's own HTTP status for the errors an analyst meets most.
_STATUS = {60: 404, 62: 400, 47: 400, 164: 403, 516: 401}
# The protocol's parameters that are not settings; everything else a client sends is a
# setting, which a read-only connection may not change, so it is ignored (and said so).
_PROTOCOL = {"query", "database", "default_format", "query_id", "user", "password"}

_ESCAPES = {"b": "\b", "f": "\f", "r": "\r", "n": "\n", "t": "\t", "0": "\0", "a": "\a", "v": "\v"}
_ESCAPED = re.compile(r"\\(.)", re.DOTALL)


def _unescape(value: str) -> str:
    """A query parameter as ClickHouse reads it from a URL: backslash escapes resolved."""
    return _ESCAPED.sub(lambda m: _ESCAPES.get(m[1], m[1]), value)


def load_token(configured: str, data_dir: Path) -> str:
    """The configured token, or the one kept in the data directory (made on first use),
    which ``microx sql`` on the same machine reads to reach a running collector."""
    if configured:
        return configured
    path = data_dir / TOKEN_FILE
    try:
        token = path.read_text().strip()
    except FileNotFoundError:
        token = ""
    if not token:
        data_dir.mkdir(parents=True, exist_ok=True)
        token = "mxq_" + secrets.token_urlsafe(24)
        path.touch(mode=0o600)
        path.write_text(token + "\n")
    return token


def presented_token(request: Request) -> str:
    """The token however a ClickHouse client or a browser sends it."""
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            return base64.b64decode(value).decode().partition(":")[2]
        except ValueError:
            return ""
    return (
        request.headers.get("x-clickhouse-key")
        or request.query_params.get("password")
        or request.query_params.get("token")
        or ""
    )


def authorized(request: Request, token: str) -> bool:
    return hmac.compare_digest(presented_token(request).encode(), token.encode())


def clickhouse_error(code: int, message: str, status: int | None = None) -> Response:
    """An error as ClickHouse's HTTP interface reports it, so clients show it as such."""
    body = message if message.startswith("Code:") else f"Code: {code}. DB::Exception: {message}"
    return PlainTextResponse(
        body.rstrip() + "\n",
        status or _STATUS.get(code, 500),
        headers={"x-clickhouse-exception-code": str(code)},
    )


def unauthorized() -> Response:
    response = clickhouse_error(
        516, "microx: wrong or missing query token (AUTHENTICATION_FAILED)", 401
    )
    response.headers["www-authenticate"] = 'Basic realm="microx", charset="UTF-8"'
    return response


class QueryService:
    """The analysts' read-only connection and the thread its queries run on."""

    def __init__(self, store_url: str, token: str, timeout_s: float, metrics: Metrics) -> None:
        self._url = store_url
        self.token = token
        self._timeout_s = timeout_s
        self._metrics = metrics
        self._executor = concurrent.futures.ThreadPoolExecutor(1, "microx-query")
        self._store: Store | None = None

    async def call(self, fn: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn)

    def open(self) -> Store:
        """The read-only connection; call it on the query thread only."""
        if self._store is None:
            self._store = Store(self._url, readonly_timeout_s=self._timeout_s)
        return self._store

    async def query(
        self, sql: str, parameters: dict[str, Any] | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Rows of one read-only query (the report uses this)."""
        result: tuple[list[str], list[tuple[Any, ...]]] = await self.call(
            lambda: self.open().query(sql, parameters)
        )
        return result

    async def close(self) -> None:
        store = self._store
        if store is not None:
            await self.call(store.close)
        self._executor.shutdown(wait=False)

    async def clickhouse(self, request: Request) -> Response:
        """``GET|POST /clickhouse/``: ClickHouse's HTTP query interface, read-only."""
        if not authorized(request, self.token):
            self._metrics.queries["refused"] += 1
            return unauthorized()
        body = b""
        if request.method == "POST":
            async for chunk in request.stream():
                body += chunk
                if len(body) > MAX_QUERY_BYTES:
                    return clickhouse_error(
                        62, f"query longer than {MAX_QUERY_BYTES} bytes (QUERY_IS_TOO_LARGE)", 413
                    )
        params = request.query_params
        try:
            sql = " ".join(p for p in (params.get("query", ""), body.decode()) if p.strip())
        except UnicodeDecodeError:
            return clickhouse_error(62, "the query is not valid UTF-8 (SYNTAX_ERROR)")
        if not sql.strip():
            return clickhouse_error(62, "empty query (SYNTAX_ERROR)")
        bound = {k[6:]: _unescape(v) for k, v in params.items() if k.startswith("param_")}
        ignored = sorted(k for k in params if k not in _PROTOCOL and not k.startswith("param_"))
        match = _FORMAT.search(sql)
        fmt = match[1] if match else params.get("default_format", DEFAULT_FORMAT)
        database = params.get("database")
        try:
            data: bytes = await self.call(
                lambda: self.open().raw(sql, bound, None if match else fmt, database)
            )
        except StoreUnavailable as exc:
            return clickhouse_error(210, str(exc), 503)
        except Exception as exc:  # noqa: BLE001 - the engine's own errors go back to the client
            text = str(exc).strip()
            code = _CODE.search(text)
            self._metrics.queries["failed"] += 1
            return clickhouse_error(int(code[1]) if code else 1001, text)
        self._metrics.queries["ok"] += 1
        headers = {
            "x-clickhouse-format": fmt,
            "x-clickhouse-timezone": "UTC",
            "x-clickhouse-server-display-name": "microx",
            "x-clickhouse-query-id": params.get("query_id") or str(uuid.uuid4()),
        }
        if ignored:
            headers["x-microx-ignored-settings"] = ",".join(ignored)[:512]
        media = _MEDIA.get(fmt, "text/plain; charset=utf-8" if "Separated" in fmt else None)
        return Response(data, 200, headers, media_type=media or "application/octet-stream")

    async def ping(self, request: Request) -> Response:
        return PlainTextResponse("Ok.\n")
