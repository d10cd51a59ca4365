"""Prometheus metrics, on prometheus-client, in one registry per app.

Each series is a typed attribute of ``Metrics``: a plain library ``Counter``, ``Histogram``
or ``Gauge``, or a ``Labelled`` counter whose known label values are exported at zero
from the start. Gauges that belong to another stage are read from it at scrape time.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)

# The text format generate_latest writes. Not the library's CONTENT_TYPE_LATEST: recent
# releases name a newer format with it.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# The variables that switch prometheus-client to its multiprocess mode when it is imported.
MULTIPROCESS_VARIABLES = ("PROMETHEUS_MULTIPROC_DIR", "prometheus_multiproc_dir")

# Label values known in advance, exported at zero from the start: a series that appears
# only with its first error has no increase() to alert on, so a rule combining it with
# another counter would never fire.
TABLES = ("events", "rejected_events")
# One failed attempt writes neither table; it is counted under the first.
INSERT_ERROR_TABLES = ("events",)
QUERY_OUTCOMES = ("ok", "failed", "refused", "throttled", "forbidden", "busy")
# Why a refused browser request was not kept in rejected_events: no configured site
# vouches for it (collector.ingest.policy, Browser.owner).
NOT_STORED_REASONS = ("unknown_site", "origin_not_allowed", "no_site", "rate_limited_site")
CONNECTION_CLOSE_REASONS = ("idle", "evicted", "over_limit")
FILTER_REASONS = ("bot",)
VISITOR_REQUESTS = ("export", "forget", "forget_resumed")
ERASED_TABLES = ("events", "rejected_events", "moment_hourly", "spool")
# The validation codes (collector.ingest.validate) an event can be refused with.
REJECTION_REASONS = (
    "bad_format",
    "bad_prop_name",
    "invalid_value",
    "missing_field",
    "out_of_range",
    "timestamp_out_of_range",
    "too_long",
    "too_many_props",
    "too_short",
    "unknown_field",
    "wrong_type",
)
# Whole requests refused: by the receiver, by the in-flight bound, and by validation of
# the body or its envelope.
REFUSAL_REASONS = (
    "bad_gzip",
    "bad_server_key",
    "bad_annotation",
    "bad_visitor_id",
    "tombstones_full",
    "store_unavailable",
    "headers_too_large",
    "header_timeout",
    "body_timeout",
    "body_too_large",
    "client_disconnected",
    "key_site_mismatch",
    "origin_not_allowed",
    "overloaded",
    "rate_limited_ip",
    "rate_limited_site",
    "rejection_not_kept",
    "secret_key_from_browser",
    "server_endpoint_from_browser",
    "spool_error",
    "spool_full",
    "unknown_site",
    "unsupported_media_type",
    "duplicate_key",
    "invalid_json",
    "missing_field",
    "no_events",
    "too_deep",
    "too_many_events",
    "unsupported_version",
    "wrong_type",
)

# Each counter and histogram would gain a `<name>_created` series the collector never
# exported; the library keeps this switch per process, not per registry.
disable_created_metrics()  # type: ignore[no-untyped-call]  # unannotated upstream


class Labelled:
    """A counter by one label. Each value's child is kept in a plain dict: the library's
    ``labels()`` validates and locks on every call, several times the cost of the
    increment itself."""

    def __init__(
        self,
        registry: CollectorRegistry,
        name: str,
        help_text: str,
        label: str,
        known: Iterable[str],
    ) -> None:
        self._counter = Counter(name, help_text, (label,), registry=registry)
        self._children = {value: self._counter.labels(value) for value in known}

    def inc(self, value: str, amount: float = 1) -> None:
        child = self._children.get(value)
        if child is None:
            child = self._children.setdefault(value, self._counter.labels(value))
        child.inc(amount)


class Metrics:
    def __init__(self) -> None:
        multiprocess = [v for v in MULTIPROCESS_VARIABLES if v in os.environ]
        if multiprocess:
            # Imported with it set, the library keeps each value in a file per process id:
            # an id that repeats (1, in a container) would carry a previous run's counters
            # on, and nothing here adds up other processes' files, as the variable promises.
            raise ValueError(
                f"{multiprocess[0]} is set: the collector exports its metrics from its one "
                "serving process and does not use prometheus-client's multiprocess mode; "
                "unset it (docs/operations.md, Metrics)"
            )
        self.registry = r = CollectorRegistry()

        def labelled(name: str, help_text: str, label: str, known: Iterable[str]) -> Labelled:
            return Labelled(r, name, help_text, label, known)

        self.events_received = Counter(
            "microx_events_received_total", "Events received in valid envelopes.", registry=r
        )
        self.events_accepted = Counter(
            "microx_events_accepted_total",
            "Events acknowledged (durable in the spool).",
            registry=r,
        )
        self.events_duplicate = Counter(
            "microx_events_duplicate_total",
            "Events not inserted because the same event id was already stored.",
            registry=r,
        )
        self.events_rejected = labelled(
            "microx_events_rejected_total",
            "Events refused by validation, by reason.",
            "reason",
            REJECTION_REASONS,
        )
        self.events_filtered = labelled(
            "microx_events_filtered_total",
            "Events dropped on purpose, by reason.",
            "reason",
            FILTER_REASONS,
        )
        self.requests_refused = labelled(
            "microx_requests_refused_total",
            "Requests refused whole, by reason.",
            "reason",
            REFUSAL_REASONS,
        )
        self.rejections_not_stored = labelled(
            "microx_rejections_not_stored_total",
            "Refused requests not kept in rejected_events (no configured site vouches for "
            "them), by reason.",
            "reason",
            NOT_STORED_REASONS,
        )
        self.connections_closed = labelled(
            "microx_connections_closed_total",
            "Connections closed or refused by the collector, by reason.",
            "reason",
            CONNECTION_CLOSE_REASONS,
        )
        self.ingest_seconds = Histogram(
            "microx_ingest_seconds",
            "Time to answer an ingest request.",
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.insert_batches = labelled(
            "microx_insert_batches_total", "Batches inserted, by table.", "table", TABLES
        )
        self.insert_rows = labelled(
            "microx_insert_rows_total", "Rows inserted, by table.", "table", TABLES
        )
        self.insert_errors = labelled(
            "microx_insert_errors_total",
            "Failed insert attempts, by table.",
            "table",
            INSERT_ERROR_TABLES,
        )
        self.build_errors = Counter(
            "microx_build_errors_total",
            "Failed attempts to read a batch's records from the spool for insert.",
            registry=r,
        )
        self.sink_restarts = Counter(
            "microx_sink_restarts_total",
            "Restarts of the task draining the spool after an unexpected error (see the log).",
            registry=r,
        )
        self.spool_quarantined = Counter(
            "microx_spool_quarantined_records_total",
            "Corrupt spool records moved to the quarantine directory instead of being stored.",
            registry=r,
        )
        self.insert_seconds = Histogram(
            "microx_insert_seconds",
            "Time per successful batch insert.",
            buckets=LATENCY_BUCKETS_S,
            registry=r,
        )
        self.queries = labelled(
            "microx_queries_total",
            "Analysts' read-only queries and reports, by outcome (ok, failed, refused).",
            "outcome",
            QUERY_OUTCOMES,
        )
        self.visitor_requests = labelled(
            "microx_visitor_requests_total",
            "A visitor's data exported or erased on request, by request.",
            "request",
            VISITOR_REQUESTS,
        )
        self.visitor_rows_erased = labelled(
            "microx_visitor_rows_erased_total",
            "Rows erased on a visitor's request, by table (spool: not yet stored).",
            "table",
            ERASED_TABLES,
        )
        self.erased_dropped = labelled(
            "microx_erased_rows_dropped_total",
            "Rows of erased visitors dropped before insert (from the spool or resent), by table.",
            "table",
            TABLES,
        )
        self.store_up = Gauge(
            "microx_store_up", "Whether the store answered last time.", registry=r
        )

    def gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        """A gauge read from its owner at scrape time, so it can never go stale."""
        Gauge(name, help_text, registry=self.registry).set_function(read)

    def render(self) -> bytes:
        return generate_latest(self.registry)
