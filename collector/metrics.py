"""Prometheus metrics in the text exposition format, without a client library.

The collector has a dozen series; a small explicit class keeps each one visible and
typed instead of hiding them in a global registry.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable


class Metrics:
    def __init__(self) -> None:
        self.events_received = 0
        self.events_accepted = 0
        self.events_duplicate = 0
        self.events_rejected: Counter[str] = Counter()
        self.requests_refused: Counter[str] = Counter()
        self.insert_batches: Counter[str] = Counter()
        self.insert_rows: Counter[str] = Counter()
        self.insert_errors: Counter[str] = Counter()
        self.insert_seconds_sum = 0.0
        self.store_up = 0
        # Gauges read from their owner at scrape time, so they can never go stale.
        self.gauges: dict[str, tuple[str, Callable[[], float]]] = {}

    def render(self) -> str:
        out: list[str] = []

        def metric(
            name: str, kind: str, help_text: str, values: dict[str, float] | float, label: str = ""
        ) -> None:
            out.append(f"# HELP microx_{name} {help_text}")
            out.append(f"# TYPE microx_{name} {kind}")
            if isinstance(values, dict):
                for key, value in sorted(values.items()):
                    out.append(f'microx_{name}{{{label}="{key}"}} {value}')
            else:
                out.append(f"microx_{name} {values}")

        metric(
            "events_received_total",
            "counter",
            "Events received in valid envelopes.",
            self.events_received,
        )
        metric(
            "events_accepted_total",
            "counter",
            "Events that passed validation.",
            self.events_accepted,
        )
        metric(
            "events_rejected_total",
            "counter",
            "Events refused by validation, by reason.",
            dict(self.events_rejected),
            "reason",
        )
        metric(
            "requests_refused_total",
            "counter",
            "Requests refused whole, by reason.",
            dict(self.requests_refused),
            "reason",
        )
        metric(
            "insert_batches_total",
            "counter",
            "Batches inserted, by table.",
            dict(self.insert_batches),
            "table",
        )
        metric(
            "insert_rows_total",
            "counter",
            "Rows inserted, by table.",
            dict(self.insert_rows),
            "table",
        )
        metric(
            "insert_errors_total",
            "counter",
            "Failed insert attempts, by table.",
            dict(self.insert_errors),
            "table",
        )
        metric("insert_seconds_total", "counter", "Time spent in inserts.", self.insert_seconds_sum)
        metric(
            "events_duplicate_total",
            "counter",
            "Events not inserted because the same event id was already stored.",
            self.events_duplicate,
        )
        metric("store_up", "gauge", "1 when the last store operation succeeded.", self.store_up)
        for name, (help_text, read) in sorted(self.gauges.items()):
            metric(name, "gauge", help_text, read())
        return "\n".join(out) + "\n"
