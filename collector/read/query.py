"""Read-only SQL for analysts while the collector runs, over ClickHouse's own HTTP protocol.

The embedded engine belongs to the collector's process, so no other process can open it.
Instead the collector answers ClickHouse's HTTP interface under ``/clickhouse``: curl, the
``clickhouse-connect`` client (``proxy_path="/clickhouse"``) and ``microx sql`` talk to
it as to a ClickHouse server; with ``MICROX_QUERY_PORT`` it also answers at ``/`` of that
port, for clients that take no path. Every request needs the query token; wrong tokens are
throttled per client. Each query is checked on the engine's own parse of it
(``collector.read.sqlguard``) and runs on a read-only connection whose limits the engine
enforces (time, memory, result size), on one of a few threads of its own, so an analyst's
query never holds up ingestion and one heavy query does not hold up the other analysts.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import dataclasses
import hmac
import logging
import re
import secrets
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from collector.ingest.ratelimit import AddressHasher, RateLimiter, retry_after
from collector.ops.metrics import Metrics
from collector.read.params import ParameterError
from collector.read.params import value as params_value
from collector.read.sqlguard import DATABASE, READONLY, FunctionCatalogue, QueryRefused, SqlGuard
from collector.sink.store import Store, StoreUnavailable

T = TypeVar("T")
log = logging.getLogger("microx")

MAX_QUERY_BYTES = 1_000_000
TOKEN_FILE = "query_token"
DEFAULT_FORMAT = "TabSeparated"
# A few wrong tokens are typing mistakes; more from one client is guessing. After the burst,
# one more guess every AUTH_FAILURE_REFILL_S: 300 a hour instead of thousands a second.
AUTH_FAILURE_BURST = 5
AUTH_FAILURE_REFILL_S = 12.0
# The part of the machine's (or cgroup's) memory that analysts' queries may hold together;
# the rest is the collector's own and the engine's caches and inserts.
QUERY_MEMORY_SHARE = 0.4
# ... and at most this each: an answer is held again, several times over, by the collector
# while it is built and sent.
QUERY_MEMORY_CAP = 2 << 30
# Time past the engine's own limit before an answer is given up on (the thread keeps its
# slot until the engine returns, so the bound on running queries holds).
TIMEOUT_GRACE_S = 5.0
BUSY_RETRY_AFTER_S = 2
CLOSE_WAIT_S = 2.0
_CODE = re.compile(r"Code:\s*(\d+)")
_MEDIA = {
    "JSON": "application/json",
    "JSONCompact": "application/json",
    "JSONEachRow": "application/x-ndjson",
    "CSV": "text/csv",
    "CSVWithNames": "text/csv",
}
# ClickHouse's own HTTP status for the errors an analyst meets most.
_STATUS = {60: 404, 62: 400, 47: 400, 164: 403, 516: 401, 241: 507, 396: 413, 159: 504}
# The protocol's parameters that are not settings; everything else a client sends is a
# setting, which a read-only connection may not change, so it is ignored (and said so).
_PROTOCOL = {"query", "database", "default_format", "query_id", "user", "password"}

_PROTOCOL_DATABASES = {"", "default", DATABASE}
_NO_LIMIT = 1 << 60


def memory_limit_bytes(
    meminfo: Path = Path("/proc/meminfo"),
    self_cgroup: Path = Path("/proc/self/cgroup"),
    cgroup_root: Path = Path("/sys/fs/cgroup"),
) -> int:
    """The memory this process may use: the machine's, or its cgroup's if that is less
    (cgroup v2, or v1's memory controller). 0 when nothing can be read."""
    limits = []
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                limits.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        groups = self_cgroup.read_text().splitlines()
    except OSError:
        groups = []
    for line in groups:
        _, controllers, path = line.split(":", 2)
        rel = path.strip().lstrip("/")
        if controllers == "":
            files = [cgroup_root / rel / "memory.max", cgroup_root / "unified" / rel / "memory.max"]
        elif "memory" in controllers.split(","):
            files = [cgroup_root / "memory" / rel / "memory.limit_in_bytes"]
        else:
            continue
        for file in files:
            try:
                text = file.read_text().strip()
            except OSError:
                continue
            if text.isdigit() and int(text) < _NO_LIMIT:
                limits.append(int(text))
    return min(limits) if limits else 0


@dataclasses.dataclass(frozen=True)
class QueryLimits:
    """What the engine holds each analyst's query to, and how many run at once."""

    timeout_s: float
    concurrency: int
    queue: int
    max_memory_bytes: int
    max_result_rows: int
    max_result_bytes: int

    def engine_settings(self) -> dict[str, Any]:
        return {
            "max_execution_time": max(1, round(self.timeout_s)),
            "timeout_overflow_mode": "throw",
            "max_memory_usage": self.max_memory_bytes,
            "max_result_rows": self.max_result_rows,
            "max_result_bytes": self.max_result_bytes,
            "result_overflow_mode": "throw",
            # The endpoint takes queries this long; the engine's own default is 256 KiB.
            "max_query_size": MAX_QUERY_BYTES,
        }


def default_query_memory(concurrency: int) -> int:
    """Each query's share of what analysts may hold together (0 = no limit known)."""
    total = memory_limit_bytes()
    share = int(total * QUERY_MEMORY_SHARE / max(1, concurrency)) if total else 0
    return min(share, QUERY_MEMORY_CAP) if share else QUERY_MEMORY_CAP


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


class QueriesBusy(Exception):
    """Every query slot and every place in the queue is taken."""


class ResultTooLarge(Exception):
    """An answer larger than ``MICROX_QUERY_MAX_RESULT_BYTES``."""


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
    """The analysts' read-only connections, the threads their queries run on, and the door."""

    def __init__(
        self,
        store_url: str,
        token: str,
        limits: QueryLimits,
        metrics: Metrics,
        client_address: Callable[[Request], str] = lambda r: r.client.host if r.client else "",
    ) -> None:
        self._url = store_url
        self.token = token
        self._limits = limits
        self._metrics = metrics
        self._client_address = client_address
        self._executor = concurrent.futures.ThreadPoolExecutor(limits.concurrency, "microx-query")
        self._local = threading.local()
        self._stores: list[Store] = []
        self._lock = threading.RLock()
        self._guard: SqlGuard | None = None
        self._admitted = 0  # running or waiting; touched on the event loop only
        self._slots = asyncio.Semaphore(limits.concurrency)
        self._answering = 0  # bytes of answers not yet sent
        self._failures = RateLimiter(1 / AUTH_FAILURE_REFILL_S, AUTH_FAILURE_BURST)
        self._hash_address = AddressHasher()

    async def call(self, fn: Callable[[], T]) -> T:
        """``fn`` on a query thread once a slot is free; ``QueriesBusy`` when every slot and
        place in the queue is taken. The slot is given back when ``fn`` returns, not when
        the caller gives up: the bound on queries running in the engine holds."""
        if self._admitted >= self._limits.concurrency + self._limits.queue:
            raise QueriesBusy
        self._admitted += 1
        try:
            # A slot held past its limit (a query the engine does not stop) must not make
            # everyone else wait forever.
            await asyncio.wait_for(self._slots.acquire(), self._limits.timeout_s + TIMEOUT_GRACE_S)
        except TimeoutError:
            self._admitted -= 1
            raise QueriesBusy from None
        except BaseException:
            self._admitted -= 1
            raise
        loop = asyncio.get_running_loop()
        future = self._executor.submit(fn)
        future.add_done_callback(lambda _: loop.call_soon_threadsafe(self._finished))
        return await asyncio.wait_for(
            asyncio.shield(asyncio.wrap_future(future)), self._limits.timeout_s + TIMEOUT_GRACE_S
        )

    def _finished(self) -> None:
        self._admitted -= 1
        self._slots.release()

    def open(self) -> Store:
        """This query thread's read-only connection."""
        store: Store | None = getattr(self._local, "store", None)
        if store is None:
            store = Store(self._url, analyst_settings=self._limits.engine_settings())
            self._local.store = store
            with self._lock:
                self._stores.append(store)
        return store

    def guard(self) -> SqlGuard:
        """The checker, with the function list of the engine in use (read once)."""
        with self._lock:
            if self._guard is None:
                # On a connection of its own: the analysts' result limits may be smaller
                # than the catalogue.
                store = Store(self._url)
                try:
                    _, functions = store.query(
                        "SELECT name, categories, alias_to, is_aggregate, case_insensitive"
                        " FROM system.functions"
                    )
                    _, combinators = store.query(
                        "SELECT name FROM system.aggregate_function_combinators"
                    )
                finally:
                    store.close()
                catalogue = FunctionCatalogue.from_rows(functions, [str(r[0]) for r in combinators])
                self._guard = SqlGuard(catalogue)
            return self._guard

    async def query(
        self, sql: str, parameters: dict[str, Any] | None = None
    ) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Rows of one read-only query (the report uses this)."""
        return await self.call(lambda: self.open().query(sql, parameters))

    async def close(self) -> None:
        def close_all() -> None:
            with self._lock:
                stores, self._stores = self._stores, []
            for store in stores:
                store.close()

        # A connection still running a query cannot be closed before the engine returns;
        # shutdown does not wait for that (the process exit ends it).
        closing = threading.Thread(target=close_all, name="microx-query-close", daemon=True)
        closing.start()
        await asyncio.get_running_loop().run_in_executor(None, closing.join, CLOSE_WAIT_S)
        self._executor.shutdown(wait=False, cancel_futures=True)

    def door(self, request: Request) -> Response | None:
        """``None`` when the request carries the token; else the answer to give. A client
        that keeps guessing is told to wait before its next guess is even looked at."""
        key = self._hash_address(self._client_address(request))
        wait = self._failures.wait(key)
        if wait > 0:
            self._metrics.queries.inc("throttled")
            response = clickhouse_error(
                516, "microx: too many wrong query tokens from this client; wait", 429
            )
            response.headers["retry-after"] = retry_after(wait)
            return response
        if authorized(request, self.token):
            return None
        self._metrics.queries.inc("refused")
        self._failures.take(key)
        return unauthorized()

    async def clickhouse(self, request: Request) -> Response:
        """``GET|POST /clickhouse/``: ClickHouse's HTTP query interface, read-only."""
        if request.method in ("GET", "HEAD") and not request.url.query:
            # As ClickHouse answers its bare root: what health checks and clients probe.
            return PlainTextResponse("Ok.\n")
        refused = self.door(request)
        if refused is not None:
            return refused
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
        database = params.get("database", "")
        if database not in _PROTOCOL_DATABASES:
            self._metrics.queries.inc("forbidden")
            return clickhouse_error(
                291, f"microx: only database {DATABASE} is read here (DATABASE_ACCESS_DENIED)", 403
            )
        bound = {k[6:]: v for k, v in params.items() if k.startswith("param_")}
        ignored = sorted(k for k in params if k not in _PROTOCOL and not k.startswith("param_"))
        default_fmt = params.get("default_format", DEFAULT_FORMAT)

        def run() -> tuple[str, bytes]:
            store = self.open()
            checked = self.guard().check(sql, store.parse)
            fmt = checked.format or default_fmt
            if checked.format is None:
                self.guard().check_format(fmt)
            # Only the placeholders the parsed query declares are bound (ClickHouse ignores
            # the rest too); nothing else can reach the text that runs.
            used = {
                name: params_value(text, checked.parameters[name])
                for name, text in bound.items()
                if name in checked.parameters
            }
            data = store.raw(checked.sql, used, None if checked.format else fmt, DATABASE)
            if len(data) > self._limits.max_result_bytes:
                # The engine checks its limit between blocks; one huge row is one block.
                raise ResultTooLarge(len(data))
            return fmt, data

        try:
            fmt, data = await self.call(run)
        except QueryRefused as exc:
            self._metrics.queries.inc("forbidden")
            log.warning("query refused: %s", exc)
            name = "READONLY" if exc.code == READONLY else "ACCESS_DENIED"
            return clickhouse_error(exc.code, f"microx: {exc} ({name})", 403)
        except ResultTooLarge as exc:
            self._metrics.queries.inc("failed")
            return clickhouse_error(
                396,
                f"microx: the answer has {exc.args[0]} bytes, more than"
                f" {self._limits.max_result_bytes} (TOO_MANY_ROWS_OR_BYTES)",
            )
        except QueriesBusy:
            return self._busy("too many queries at once")
        except TimeoutError:
            self._metrics.queries.inc("failed")
            return clickhouse_error(159, "microx: the query took too long (TIMEOUT_EXCEEDED)")
        except StoreUnavailable as exc:
            return clickhouse_error(210, str(exc), 503)
        except ParameterError as exc:
            self._metrics.queries.inc("failed")
            return clickhouse_error(457, f"microx: a query parameter: {exc} (BAD_QUERY_PARAMETER)")
        except Exception as exc:  # noqa: BLE001 - the engine's own errors go back to the client
            text = str(exc).strip()
            code = _CODE.search(text)
            self._metrics.queries.inc("failed")
            return clickhouse_error(int(code[1]) if code else 1001, text)
        if self._answering + len(data) > self._limits.max_result_bytes * self._limits.concurrency:
            # Answers still being sent to slow clients hold memory no slot accounts for.
            return self._busy("too many large answers being sent")
        self._answering += len(data)
        self._metrics.queries.inc("ok")
        headers = {
            "x-clickhouse-format": fmt,
            "x-clickhouse-timezone": "UTC",
            "x-clickhouse-server-display-name": "microx",
            "x-clickhouse-query-id": params.get("query_id") or str(uuid.uuid4()),
        }
        if ignored:
            headers["x-microx-ignored-settings"] = ",".join(ignored)[:512]
        media = _MEDIA.get(fmt, "text/plain; charset=utf-8" if "Separated" in fmt else None)
        size = len(data)

        def sent() -> None:
            self._answering -= size

        return Response(
            data,
            200,
            headers,
            media_type=media or "application/octet-stream",
            background=BackgroundTask(sent),
        )

    def _busy(self, why: str) -> Response:
        self._metrics.queries.inc("busy")
        response = clickhouse_error(
            202, f"microx: {why}; retry (TOO_MANY_SIMULTANEOUS_QUERIES)", 429
        )
        response.headers["retry-after"] = str(BUSY_RETRY_AFTER_S)
        return response

    async def ping(self, request: Request) -> Response:
        return PlainTextResponse("Ok.\n")
