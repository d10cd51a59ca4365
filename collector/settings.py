"""Settings, read once from ``MICROX_*`` environment variables.

Each field's environment variable is its name upper-cased with the ``MICROX_`` prefix;
the README's table lists them. Bad values fail at start-up with a message naming the
variable, never later on a request.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

from collector.ingest.sites import Site, parse_server_keys, parse_sites
from collector.read.goals import Goal, parse_goals
from collector.sink.tombstones import DEFAULT_MAX_ENTRIES as DEFAULT_TOMBSTONES_MAX
from collector.spool.log import DEFAULT_SEGMENT_BYTES, MIN_SEGMENT_BYTES

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_DATA_DIR = "./var"
# The snippet sends at most 64 KiB (the browser's keepalive budget); a server-side
# client may send more, but one request is never a bulk import.
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
# ClickHouse prefers few large inserts: thousands of rows about once a second.
DEFAULT_BATCH_MAX_ROWS = 50_000
DEFAULT_BATCH_MAX_AGE_MS = 1_000
DEFAULT_SHUTDOWN_TIMEOUT_S = 10.0
# Room to ride out a store outage: at ~300 bytes an event, 1 GiB is ~3.5 million events.
DEFAULT_SPOOL_MAX_BYTES = 1024 * 1024 * 1024
# A client that has not sent its whole body by then is holding a connection for nothing.
DEFAULT_BODY_TIMEOUT_S = 10.0
# A browser sends well under one request a second; an office behind one address has many
# browsers. Sites are limited in events, the unit that costs storage.
DEFAULT_RATE_IP_PER_S = 20.0
DEFAULT_RATE_IP_BURST = 200.0
DEFAULT_RATE_SITE_EVENTS_PER_S = 10_000.0
DEFAULT_RATE_SITE_BURST = 100_000.0
# Ingest requests handled at once; more get 503 at once instead of queueing, which bounds
# the memory held by bodies in flight (at most this many times MICROX_MAX_BODY_BYTES).
DEFAULT_MAX_INFLIGHT = 256
# An analyst's query that runs longer is stopped; the report's queries take well under 1 s.
DEFAULT_QUERY_TIMEOUT_S = 60.0
# Analysts' queries running at once (each on a thread and a connection of its own) and
# waiting for a slot; more get 429. Two cores serve two heavy queries at full speed.
DEFAULT_QUERY_CONCURRENCY = 2
DEFAULT_QUERY_QUEUE = 8
# A result is held whole in the collector before it is sent.
DEFAULT_QUERY_MAX_RESULT_ROWS = 1_000_000
DEFAULT_QUERY_MAX_RESULT_BYTES = 100_000_000
# A browser's request line and headers, cookies of the site's domain included, stay well
# under this; reading a longer head would only let one client stall the event loop.
DEFAULT_MAX_HEADER_BYTES = 32 * 1024
# A browser sends its head in one packet; a connection that has not by then is idle or
# a slow sender holding a descriptor.
DEFAULT_HEADER_TIMEOUT_S = 10.0
DEFAULT_KEEPALIVE_TIMEOUT_S = 5.0
# 0: as many as the descriptor limit leaves room for (see collector.ingest.connections).
DEFAULT_MAX_CONNECTIONS = 0


class SettingsError(ValueError):
    """A ``MICROX_*`` variable has a value the collector cannot run with."""


@dataclasses.dataclass(frozen=True)
class Settings:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    # 0: off. Else a port serving only the read-only SQL interface, at ``/``, for clients
    # that cannot add a path to a server's address.
    query_port: int = 0
    data_dir: Path = Path(DEFAULT_DATA_DIR)
    clickhouse_url: str = ""
    sites: tuple[Site, ...] = ()
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    batch_max_rows: int = DEFAULT_BATCH_MAX_ROWS
    batch_max_age_ms: int = DEFAULT_BATCH_MAX_AGE_MS
    shutdown_timeout_s: float = DEFAULT_SHUTDOWN_TIMEOUT_S
    spool_max_bytes: int = DEFAULT_SPOOL_MAX_BYTES
    spool_segment_bytes: int = DEFAULT_SEGMENT_BYTES
    body_timeout_s: float = DEFAULT_BODY_TIMEOUT_S
    server_keys: dict[str, str] = dataclasses.field(default_factory=dict)
    rate_ip_per_s: float = DEFAULT_RATE_IP_PER_S
    rate_ip_burst: float = DEFAULT_RATE_IP_BURST
    rate_site_events_per_s: float = DEFAULT_RATE_SITE_EVENTS_PER_S
    rate_site_burst: float = DEFAULT_RATE_SITE_BURST
    trusted_proxy_hops: int = 0
    drop_bots: bool = True
    log_level: str = "info"
    log_format: str = "json"
    max_inflight: int = DEFAULT_MAX_INFLIGHT
    # Empty: a token is made and kept in the data directory (file query_token).
    query_token: str = ""
    query_timeout_s: float = DEFAULT_QUERY_TIMEOUT_S
    query_concurrency: int = DEFAULT_QUERY_CONCURRENCY
    query_queue: int = DEFAULT_QUERY_QUEUE
    # 0: a share of the machine's or cgroup's memory (collector.read.query.default_query_memory).
    query_max_memory_bytes: int = 0
    query_max_result_rows: int = DEFAULT_QUERY_MAX_RESULT_ROWS
    query_max_result_bytes: int = DEFAULT_QUERY_MAX_RESULT_BYTES
    # The kernel keeps the process to its spool, store and port (collector.ops.confine).
    confine: bool = True
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    header_timeout_s: float = DEFAULT_HEADER_TIMEOUT_S
    keepalive_timeout_s: float = DEFAULT_KEEPALIVE_TIMEOUT_S
    max_connections: int = DEFAULT_MAX_CONNECTIONS
    tombstones_max: int = DEFAULT_TOMBSTONES_MAX
    # What each site's visits are for, judged in the report (collector.read.goals).
    goals: dict[str, tuple[Goal, ...]] = dataclasses.field(default_factory=dict)
    # Each site's phases and key moments (collector.read.journey); "" = journey.toml in the
    # data directory.
    journey_file: str = ""

    @property
    def journey_path(self) -> Path:
        return Path(self.journey_file) if self.journey_file else self.data_dir / "journey.toml"

    def __post_init__(self) -> None:
        if not 0 < self.port < 65536:
            raise SettingsError(f"MICROX_PORT must be 1-65535, got {self.port}")
        if not 0 <= self.query_port < 65536:
            raise SettingsError(
                f"MICROX_QUERY_PORT must be 0 (off) or 1-65535, got {self.query_port}"
            )
        if self.query_port == self.port:
            raise SettingsError(
                f"MICROX_QUERY_PORT must differ from MICROX_PORT ({self.port}): it is a port "
                "of its own for the read-only SQL interface"
            )
        if self.max_body_bytes < 1024:
            raise SettingsError("MICROX_MAX_BODY_BYTES must be at least 1024")
        if self.batch_max_rows < 1:
            raise SettingsError("MICROX_BATCH_MAX_ROWS must be at least 1")
        if self.batch_max_age_ms < 1:
            raise SettingsError("MICROX_BATCH_MAX_AGE_MS must be at least 1")
        if self.spool_max_bytes < self.max_body_bytes:
            raise SettingsError("MICROX_SPOOL_MAX_BYTES must be at least MICROX_MAX_BODY_BYTES")
        if self.spool_segment_bytes < MIN_SEGMENT_BYTES:
            raise SettingsError(f"MICROX_SPOOL_SEGMENT_BYTES must be at least {MIN_SEGMENT_BYTES}")
        if self.body_timeout_s <= 0:
            raise SettingsError("MICROX_BODY_TIMEOUT_S must be positive")
        for name in ("rate_ip_per_s", "rate_ip_burst", "rate_site_events_per_s", "rate_site_burst"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"MICROX_{name.upper()} must be positive")
        if self.log_level not in ("debug", "info", "warning", "error"):
            raise SettingsError("MICROX_LOG_LEVEL must be debug, info, warning or error")
        if self.log_format not in ("json", "text"):
            raise SettingsError("MICROX_LOG_FORMAT must be json or text")
        if self.query_token and len(self.query_token) < 16:
            raise SettingsError("MICROX_QUERY_TOKEN must be at least 16 characters")
        if self.max_inflight < 1:
            raise SettingsError("MICROX_MAX_INFLIGHT must be at least 1")
        if self.query_timeout_s <= 0:
            raise SettingsError("MICROX_QUERY_TIMEOUT_S must be positive")
        if self.query_concurrency < 1:
            raise SettingsError("MICROX_QUERY_CONCURRENCY must be at least 1")
        if self.query_queue < 0:
            raise SettingsError("MICROX_QUERY_QUEUE must be 0 or more")
        if self.query_max_memory_bytes < 0 or 0 < self.query_max_memory_bytes < 16 << 20:
            raise SettingsError("MICROX_QUERY_MAX_MEMORY_BYTES must be 0 (derived) or >= 16 MiB")
        if self.query_max_result_rows < 1 or self.query_max_result_bytes < 1024:
            raise SettingsError(
                "MICROX_QUERY_MAX_RESULT_ROWS must be at least 1 and "
                "MICROX_QUERY_MAX_RESULT_BYTES at least 1024"
            )
        if self.trusted_proxy_hops < 0:
            raise SettingsError("MICROX_TRUSTED_PROXY_HOPS must be 0 or more")
        if self.max_header_bytes < 1024:
            raise SettingsError("MICROX_MAX_HEADER_BYTES must be at least 1024")
        for name in ("header_timeout_s", "keepalive_timeout_s"):
            if getattr(self, name) <= 0:
                raise SettingsError(f"MICROX_{name.upper()} must be positive")
        if self.max_connections < 0:
            raise SettingsError(
                "MICROX_MAX_CONNECTIONS must be 0 (from the descriptor limit) or more"
            )
        if self.tombstones_max < 1:
            raise SettingsError("MICROX_TOMBSTONES_MAX must be at least 1")
        url = self.clickhouse_url or self.default_clickhouse_url()
        if not url.startswith(("chdb://", "http://", "https://")):
            raise SettingsError(
                "MICROX_CLICKHOUSE_URL must start with chdb://, http:// or https://, "
                f"got {url.split('://')[0]!r}"
            )
        object.__setattr__(self, "clickhouse_url", url)

    def default_clickhouse_url(self) -> str:
        return f"chdb://{(self.data_dir / 'clickhouse').resolve()}"

    @property
    def public_origins(self) -> tuple[str, ...]:
        """Origins the collector itself is reached at; the demo site allows them."""
        names = (
            {self.host, "127.0.0.1", "localhost"}
            if self.host in ("127.0.0.1", "localhost", "0.0.0.0")
            else {self.host}
        )
        return tuple(sorted(f"http://{name}:{self.port}" for name in names))

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ

        def get(name: str, default: str) -> str:
            return env.get(f"MICROX_{name}", default).strip() or default

        def get_int(name: str, default: int) -> int:
            raw = get(name, str(default))
            try:
                return int(raw)
            except ValueError:
                raise SettingsError(f"MICROX_{name} must be an integer, got {raw!r}") from None

        def get_float(name: str, default: float) -> float:
            raw = get(name, str(default))
            try:
                return float(raw)
            except ValueError:
                raise SettingsError(f"MICROX_{name} must be a number, got {raw!r}") from None

        def get_bool(name: str, default: bool) -> bool:
            raw = get(name, "true" if default else "false").lower()
            if raw not in ("true", "false", "1", "0", "yes", "no"):
                raise SettingsError(f"MICROX_{name} must be true or false, got {raw!r}")
            return raw in ("true", "1", "yes")

        try:
            sites = parse_sites(get("SITES", ""))
        except ValueError as exc:
            raise SettingsError(f"MICROX_SITES: {exc}") from None
        try:
            server_keys = parse_server_keys(get("SERVER_KEYS", ""))
        except ValueError as exc:
            raise SettingsError(f"MICROX_SERVER_KEYS: {exc}") from None
        try:
            goals = parse_goals(get("GOALS", ""))
        except ValueError as exc:
            raise SettingsError(f"MICROX_GOALS: {exc}") from None
        return cls(
            host=get("HOST", DEFAULT_HOST),
            port=get_int("PORT", DEFAULT_PORT),
            query_port=get_int("QUERY_PORT", 0),
            data_dir=Path(get("DATA_DIR", DEFAULT_DATA_DIR)),
            journey_file=get("JOURNEY_FILE", ""),
            clickhouse_url=get("CLICKHOUSE_URL", ""),
            sites=sites,
            max_body_bytes=get_int("MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
            batch_max_rows=get_int("BATCH_MAX_ROWS", DEFAULT_BATCH_MAX_ROWS),
            batch_max_age_ms=get_int("BATCH_MAX_AGE_MS", DEFAULT_BATCH_MAX_AGE_MS),
            shutdown_timeout_s=get_float("SHUTDOWN_TIMEOUT_S", DEFAULT_SHUTDOWN_TIMEOUT_S),
            spool_max_bytes=get_int("SPOOL_MAX_BYTES", DEFAULT_SPOOL_MAX_BYTES),
            spool_segment_bytes=get_int("SPOOL_SEGMENT_BYTES", DEFAULT_SEGMENT_BYTES),
            body_timeout_s=get_float("BODY_TIMEOUT_S", DEFAULT_BODY_TIMEOUT_S),
            server_keys=server_keys,
            rate_ip_per_s=get_float("RATE_IP_PER_S", DEFAULT_RATE_IP_PER_S),
            rate_ip_burst=get_float("RATE_IP_BURST", DEFAULT_RATE_IP_BURST),
            rate_site_events_per_s=get_float(
                "RATE_SITE_EVENTS_PER_S", DEFAULT_RATE_SITE_EVENTS_PER_S
            ),
            rate_site_burst=get_float("RATE_SITE_BURST", DEFAULT_RATE_SITE_BURST),
            trusted_proxy_hops=get_int("TRUSTED_PROXY_HOPS", 0),
            drop_bots=get_bool("DROP_BOTS", True),
            log_level=get("LOG_LEVEL", "info").lower(),
            log_format=get("LOG_FORMAT", "json").lower(),
            max_inflight=get_int("MAX_INFLIGHT", DEFAULT_MAX_INFLIGHT),
            query_token=get("QUERY_TOKEN", ""),
            query_timeout_s=get_float("QUERY_TIMEOUT_S", DEFAULT_QUERY_TIMEOUT_S),
            confine=get_bool("CONFINE", True),
            query_concurrency=get_int("QUERY_CONCURRENCY", DEFAULT_QUERY_CONCURRENCY),
            query_queue=get_int("QUERY_QUEUE", DEFAULT_QUERY_QUEUE),
            query_max_memory_bytes=get_int("QUERY_MAX_MEMORY_BYTES", 0),
            query_max_result_rows=get_int("QUERY_MAX_RESULT_ROWS", DEFAULT_QUERY_MAX_RESULT_ROWS),
            query_max_result_bytes=get_int(
                "QUERY_MAX_RESULT_BYTES", DEFAULT_QUERY_MAX_RESULT_BYTES
            ),
            max_header_bytes=get_int("MAX_HEADER_BYTES", DEFAULT_MAX_HEADER_BYTES),
            header_timeout_s=get_float("HEADER_TIMEOUT_S", DEFAULT_HEADER_TIMEOUT_S),
            keepalive_timeout_s=get_float("KEEPALIVE_TIMEOUT_S", DEFAULT_KEEPALIVE_TIMEOUT_S),
            max_connections=get_int("MAX_CONNECTIONS", DEFAULT_MAX_CONNECTIONS),
            tombstones_max=get_int("TOMBSTONES_MAX", DEFAULT_TOMBSTONES_MAX),
            goals=goals,
        )
