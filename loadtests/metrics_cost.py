"""What one metric update costs on the ingest path, and one scrape.

    .venv/bin/python -m loadtests.metrics_cost

Best of ``--repeat`` runs of ``--number`` calls each, in nanoseconds per call. An accepted
browser request makes three updates (events received, events accepted, the latency
histogram); a refused one makes one or two. Measures, never asserts a time.
"""

from __future__ import annotations

import argparse
import timeit

from collector.ops.metrics import Metrics

CASES = {
    "counter +n": "m.events_accepted.inc(3)",
    "labelled counter +1": "m.requests_refused.inc('spool_full')",
    "histogram observe": "m.ingest_seconds.observe(0.003)",
    "gauge set": "m.store_up.set(1)",
    "accepted request (3 updates)": (
        "m.events_received.inc(3); m.events_accepted.inc(3); m.ingest_seconds.observe(0.003)"
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--number", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    m = Metrics()
    m.gauge("microx_spool_bytes", "Spool bytes not yet stored.", lambda: 0)
    for name, stmt in CASES.items():
        runs = timeit.repeat(stmt, globals={"m": m}, number=args.number, repeat=args.repeat)
        print(f"{name:30} {min(runs) / args.number * 1e9:8.0f} ns")
    scrapes = timeit.repeat(m.render, number=200, repeat=args.repeat)
    print(f"{'scrape (render /metrics)':30} {min(scrapes) / 200 * 1e6:8.0f} us")


if __name__ == "__main__":
    main()
