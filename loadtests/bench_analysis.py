"""How fast the report's queries answer over many events, on the embedded engine.

    .venv/bin/python -m loadtests.bench_analysis --events 10000000

Generates visitors with the journey generator (validated and enriched by the collector's
own code), then multiplies them inside ClickHouse into copies with their own session,
visitor and event ids, spread over 30 days, until ``--events`` rows are stored (the
hourly aggregate fills as they go in, as it does under real ingestion). Then it times
each report query, best and median of ``--runs``. Measures, never asserts a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import statistics
import time
from pathlib import Path

from collector.read.analysis import WINDOW
from collector.sink.store import Store
from collector.tools import journeys

BASE_VISITORS = 4_000
_PURCHASE = "goal = 'step', name = 'checkout', target = 'done', days = 0, rating = 0"
QUERIES = {
    "ranked moments": f"SELECT * FROM microx.friction_by_moment({WINDOW})",
    "slowest loading cues": f"SELECT * FROM microx.slowest_loading_cues({WINDOW})",
    "click targets": f"SELECT * FROM microx.click_targets({WINDOW})",
    "form abandonment": f"SELECT * FROM microx.form_abandonment({WINDOW})",
    "funnel steps": f"SELECT * FROM microx.funnel_steps({WINDOW})",
    "funnel (windowFunnel)": f"SELECT * FROM microx.funnel({WINDOW}, funnel = 'checkout',"
    " steps = ['basket', 'address', 'payment', 'done'], window_s = 86400)",
    "peak-end distribution": "SELECT round(peak_end, 1) AS b, count() FROM"
    f" microx.session_peak_end({WINDOW}) GROUP BY b",
    "loyalty impact": f"SELECT * FROM microx.loyalty_impact({WINDOW}, days = 7)",
    "goal impact": f"SELECT * FROM microx.goal_impact({WINDOW}, {_PURCHASE})",
    "experiment results": f"SELECT * FROM microx.experiment_results({WINDOW}, {_PURCHASE})",
    "customer signals": f"SELECT * FROM microx.customer_signals({WINDOW}) LIMIT 100",
    "rage clicks re-derived": f"SELECT * FROM microx.rage_clicks_with({WINDOW}, clicks = 3,"
    " ms = 1000, px = 30)",
    "dead clicks re-derived": f"SELECT * FROM microx.dead_clicks_with({WINDOW}, ms = 100)",
}
# Each copy gets ids of its own (a keyed hash of the original and the copy number) and is
# moved back by whole days, so sessions stay whole and the data covers a month.
_COPY = """
INSERT INTO microx.events
SELECT * REPLACE (
    reinterpretAsUUID(sipHash128(event_id, {copy:UInt32})) AS event_id,
    reinterpretAsUUID(sipHash128(session_id, {copy:UInt32})) AS session_id,
    if(isNull(visitor_id), NULL,
       reinterpretAsUUID(sipHash128(assumeNotNull(visitor_id), {copy:UInt32}))) AS visitor_id,
    event_time - toIntervalDay({copy:UInt32} % 24) AS event_time,
    client_time - toIntervalDay({copy:UInt32} % 24) AS client_time,
    received_at - toIntervalDay({copy:UInt32} % 24) AS received_at,
    sent_at - toIntervalDay({copy:UInt32} % 24) AS sent_at
)
FROM microx.bench_base
SETTINGS insert_deduplicate = 0
"""


def load(store: Store, events: int) -> tuple[int, float]:
    started = time.perf_counter()
    store.migrate()
    base = journeys.store_envelopes(store, journeys.envelopes(BASE_VISITORS, seed=3))
    store.command("CREATE TABLE microx.bench_base AS microx.events")
    store.command("INSERT INTO microx.bench_base SELECT * FROM microx.events")
    copy = 1
    while copy * base < events:
        store.command(_COPY, {"copy": copy})
        copy += 1
        if copy % 10 == 0:
            print(f"  {copy * base:>11,} rows", flush=True)
    store.command("DROP TABLE microx.bench_base")
    return copy * base, time.perf_counter() - started


def time_queries(
    store: Store, params: dict[str, object], runs: int
) -> dict[str, tuple[int, float, float]]:
    """Each query's result size, best and median time."""
    timed: dict[str, tuple[int, float, float]] = {}
    for name, sql in QUERIES.items():
        times: list[float] = []
        result: list[tuple[object, ...]] = []
        for _ in range(runs):
            t0 = time.perf_counter()
            _, result = store.query(sql, params)
            times.append(time.perf_counter() - t0)
        timed[name] = (len(result), min(times), statistics.median(times))
    return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=Path("var/bench-analysis"))
    args = parser.parse_args()
    shutil.rmtree(args.dir, ignore_errors=True)
    store = Store(f"chdb://{args.dir.resolve()}")
    try:
        print(f"loading about {args.events:,} events into {args.dir} ...", flush=True)
        _, took = load(store, args.events)
        _, ((stored, aggregated),) = store.query(
            "SELECT (SELECT count() FROM microx.events), (SELECT count() FROM microx.moment_hourly)"
        )
        print(f"stored {stored:,} events in {took:.0f} s; hourly aggregate: {aggregated:,} rows")
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        params = {"site": journeys.SITE, "since": now - dt.timedelta(days=31), "until": now}
        fresh = time_queries(store, params, args.runs)
        # Background merges get here within minutes; OPTIMIZE gets there now.
        t0 = time.perf_counter()
        store.command("OPTIMIZE TABLE microx.moment_hourly FINAL")
        store.command("OPTIMIZE TABLE microx.events FINAL")
        print(f"merged the parts in {time.perf_counter() - t0:.0f} s")
        merged = time_queries(store, params, args.runs)
        print(f"\n{'':<33} {'just loaded':^19} {'parts merged':^19}")
        print(f"{'report query':<26} {'rows':>6}" + f" {'best s':>9} {'median s':>9}" * 2)
        for name, (rows, best, median) in fresh.items():
            _, best2, median2 = merged[name]
            print(f"{name:<26} {rows:>6} {best:>9.3f} {median:>9.3f} {best2:>9.3f} {median2:>9.3f}")
    finally:
        store.close()


if __name__ == "__main__":
    main()
