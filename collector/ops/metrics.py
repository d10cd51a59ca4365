"""Prometheus metrics in the text exposition format, without a client library.

The collector has a couple of dozen series; a small explicit class keeps each one visible
and typed instead of hiding them in a global registry.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# Label values known in advance, exported at zero from the start: a series that appears
# only with its first error has no increase() to alert on, so a rule combining it with
# another counter would never fire.
TABLES = ("events", "rejected_events")
# One failed attempt writes neither table; it is counted under the first.
INSERT_ERROR_TABLES = ("events",)
QUERY_OUTCOMES = ("ok", "failed", "refused", "throttled", "forbidden", "busy")
# Broken requests counted but not kept, because no configured site vouches for them.
NOT_STORED_REASONS = ("unknown_site", "origin_not_allowed", "no_site", "rate_limited_site")
CONNECTION_CLOSE_REASONS = ("idle", "evicted", "over_limit")
FILTER_REASONS = ("bot",)
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


def zeros(labels: tuple[str, ...]) -> Counter[str]:
    return Counter(dict.fromkeys(labels, 0))


class Histogram:
    def __init__(self, buckets: tuple[float, ...] = LATENCY_BUCKETS_S) -> None:
        self.buckets = buckets
        self.counts = [0] * (len(buckets) + 1)  # the last one is +Inf
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value
        self.count += 1

    def render(self, name: str) -> list[str]:
        lines, running = [], 0
        for bound, n in zip((*self.buckets, float("inf")), self.counts, strict=True):
            running += n
            le = "+Inf" if bound == float("inf") else repr(bound)
            lines.append(f'{name}_bucket{{le="{le}"}} {running}')
        lines += [f"{name}_sum {self.sum}", f"{name}_count {self.count}"]
        return lines


class Metrics:
    def __init__(self) -> None:
        self.events_received = 0
        self.events_accepted = 0
        self.events_duplicate = 0
        self.events_rejected = zeros(REJECTION_REASONS)
        self.events_filtered = zeros(FILTER_REASONS)
        self.requests_refused = zeros(REFUSAL_REASONS)
        self.rejections_not_stored = zeros(NOT_STORED_REASONS)
        self.connections_closed = zeros(CONNECTION_CLOSE_REASONS)
        self.ingest_seconds = Histogram()
        self.insert_batches = zeros(TABLES)
        self.insert_rows = zeros(TABLES)
        self.insert_errors = zeros(INSERT_ERROR_TABLES)
        self.build_errors = 0
        self.sink_restarts = 0
        self.spool_quarantined = 0
        self.insert_seconds = Histogram()
        self.store_up = 0
        self.queries = zeros(QUERY_OUTCOMES)
        self.visitor_requests: Counter[str] = Counter(
            {"export": 0, "forget": 0, "forget_resumed": 0}
        )
        self.visitor_rows_erased: Counter[str] = Counter(
            {"events": 0, "rejected_events": 0, "moment_hourly": 0, "spool": 0}
        )
        self.erased_dropped: Counter[str] = Counter({"events": 0, "rejected_events": 0})
        # Gauges read from their owner at scrape time, so they can never go stale.
        self.gauges: dict[str, tuple[str, Callable[[], float]]] = {}

    def render(self) -> str:
        out: list[str] = []

        def head(name: str, kind: str, help_text: str) -> str:
            out.append(f"# HELP microx_{name} {help_text}")
            out.append(f"# TYPE microx_{name} {kind}")
            return f"microx_{name}"

        def counter(name: str, help_text: str, value: float) -> None:
            out.append(f"{head(name, 'counter', help_text)} {value}")

        def labelled(name: str, help_text: str, values: Counter[str], label: str) -> None:
            full = head(name, "counter", help_text)
            out.extend(f'{full}{{{label}="{k}"}} {v}' for k, v in sorted(values.items()))

        def histogram(name: str, help_text: str, h: Histogram) -> None:
            out.extend(h.render(head(name, "histogram", help_text)))

        counter(
            "events_received_total", "Events received in valid envelopes.", self.events_received
        )
        counter(
            "events_accepted_total",
            "Events acknowledged (durable in the spool).",
            self.events_accepted,
        )
        counter(
            "events_duplicate_total",
            "Events not inserted because the same event id was already stored.",
            self.events_duplicate,
        )
        labelled(
            "events_rejected_total",
            "Events refused by validation, by reason.",
            self.events_rejected,
            "reason",
        )
        labelled(
            "events_filtered_total",
            "Events dropped on purpose, by reason.",
            self.events_filtered,
            "reason",
        )
        labelled(
            "requests_refused_total",
            "Requests refused whole, by reason.",
            self.requests_refused,
            "reason",
        )
        labelled(
            "rejections_not_stored_total",
            "Refused requests not kept in rejected_events (no configured site vouches for "
            "them), by reason.",
            self.rejections_not_stored,
            "reason",
        )
        labelled(
            "connections_closed_total",
            "Connections closed or refused by the collector, by reason.",
            self.connections_closed,
            "reason",
        )
        histogram("ingest_seconds", "Time to answer an ingest request.", self.ingest_seconds)
        labelled(
            "insert_batches_total", "Batches inserted, by table.", self.insert_batches, "table"
        )
        labelled("insert_rows_total", "Rows inserted, by table.", self.insert_rows, "table")
        labelled(
            "insert_errors_total", "Failed insert attempts, by table.", self.insert_errors, "table"
        )
        counter(
            "build_errors_total",
            "Failed attempts to rebuild a batch's rows from the spool (the worker process died).",
            self.build_errors,
        )
        counter(
            "sink_restarts_total",
            "Restarts of the task draining the spool after an unexpected error (see the log).",
            self.sink_restarts,
        )
        counter(
            "spool_quarantined_records_total",
            "Corrupt spool records moved to the quarantine directory instead of being stored.",
            self.spool_quarantined,
        )
        histogram("insert_seconds", "Time per successful batch insert.", self.insert_seconds)
        labelled(
            "queries_total",
            "Analysts' read-only queries and reports, by outcome (ok, failed, refused).",
            self.queries,
            "outcome",
        )
        labelled(
            "visitor_requests_total",
            "A visitor's data exported or erased on request, by request.",
            self.visitor_requests,
            "request",
        )
        labelled(
            "visitor_rows_erased_total",
            "Rows erased on a visitor's request, by table (spool: not yet stored).",
            self.visitor_rows_erased,
            "table",
        )
        labelled(
            "erased_rows_dropped_total",
            "Rows of erased visitors dropped before insert (from the spool or resent), by table.",
            self.erased_dropped,
            "table",
        )
        out.append(
            f"{head('store_up', 'gauge', 'Whether the store answered last time.')} {self.store_up}"
        )
        for name, (help_text, read) in sorted(self.gauges.items()):
            out.append(f"{head(name, 'gauge', help_text)} {read()}")
        return "\n".join(out) + "\n"
