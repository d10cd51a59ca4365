"""Prometheus metrics in the text exposition format, without a client library.

The collector has a couple of dozen series; a small explicit class keeps each one visible
and typed instead of hiding them in a global registry.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Callable

LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


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
        self.events_rejected: Counter[str] = Counter()
        self.events_filtered: Counter[str] = Counter()
        self.requests_refused: Counter[str] = Counter()
        self.rejections_not_stored: Counter[str] = Counter()
        self.connections_closed: Counter[str] = Counter()
        self.ingest_seconds = Histogram()
        self.insert_batches: Counter[str] = Counter()
        self.insert_rows: Counter[str] = Counter()
        self.insert_errors: Counter[str] = Counter()
        self.build_errors = 0
        self.sink_restarts = 0
        self.spool_quarantined = 0
        self.insert_seconds = Histogram()
        self.store_up = 0
        self.queries: Counter[str] = Counter()
        self.visitor_requests: Counter[str] = Counter({"export": 0, "forget": 0})
        self.visitor_rows_erased: Counter[str] = Counter(
            {"events": 0, "rejected_events": 0, "spool": 0}
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
