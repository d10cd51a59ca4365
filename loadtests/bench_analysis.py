"""How fast the report's queries answer over many events, on the embedded engine.

    .venv/bin/python -m loadtests.bench_analysis --events 10000000

Generates visitors with the journey generator (validated and enriched by the collector's
own code), then multiplies them inside ClickHouse into copies with their own session,
visitor and event ids, spread over 30 days, until ``--events`` rows are stored (the
hourly aggregate fills as they go in, as it does under real ingestion). Then it times
each report query and the whole report (``microx report``: every query, the summary and
the HTML page), best and median of ``--runs``, wall time and the CPU time of this process
(the embedded engine runs in it; CPU time is steadier than wall time on a shared machine).

With ``--before REF`` it also creates the functions and views of git revision REF under
names of their own (``microx.<view>__before``, ``microx_before_<function>``) over the same
stored data, and times each query with them too, and the report with them and REF's own
report code (``collector/read/analysis.py`` and ``report.py``: which queries it asks and
how it draws them), interleaved run by run with today's, so load from elsewhere on the
machine falls on both alike. Measures, never asserts a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import shutil
import statistics
import subprocess
import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

from collector.read import analysis, report
from collector.sink.migrations import split_statements
from collector.sink.store import Store
from collector.tools import journeys

BASE_VISITORS = 4_000
WINDOW = "site = {site:String}, since = {since:DateTime('UTC')}, until = {until:DateTime('UTC')}"
# The same views over part of the visitors (schema/views/audience.sql): a variant (half the
# sessions, rows of their own), every session's device (each row read from the raw rows, none
# left out), new visitors and a source (sessions looked up first).
_VARIANT = f"{WINDOW}, segment = 'variant=basket-spinner/A'"
_DEVICE = f"{WINDOW}, segment = 'device=desktop'"
_NEW = f"{WINDOW}, segment = 'visit=new'"
_SOURCE = f"{WINDOW}, segment = 'source=direct'"
_BEFORE = "{before:DateTime('UTC')}"
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
    # The review: trends and this period against the one before.
    "moment trend (daily)": f"SELECT * FROM microx.moment_trend({WINDOW}, bucket = 'day')",
    "moment changes": f"SELECT * FROM microx.moment_changes({WINDOW}, before = {_BEFORE})",
    "goal trend (daily)": f"SELECT * FROM microx.goal_trend({WINDOW}, bucket = 'day', {_PURCHASE})",
    "goal changes": f"SELECT * FROM microx.goal_changes({WINDOW}, before = {_BEFORE}, {_PURCHASE})",
    "return trend (daily)": f"SELECT * FROM microx.return_trend({WINDOW}, bucket = 'day')",
    "paths": f"SELECT * FROM microx.paths({WINDOW})",
    # Segments.
    "ranked moments, a variant": f"SELECT * FROM microx.friction_by_moment_in({_VARIANT})",
    "ranked moments, a device": f"SELECT * FROM microx.friction_by_moment_in({_DEVICE})",
    "ranked moments, new visitors": f"SELECT * FROM microx.friction_by_moment_in({_NEW})",
    "moment trend, a device": f"SELECT * FROM microx.moment_trend_in({_DEVICE}, bucket = 'day')",
    "moment changes, a variant": f"SELECT * FROM microx.moment_changes_in({_VARIANT},"
    f" before = {_BEFORE})",
    "goal changes, a source": f"SELECT * FROM microx.goal_changes_in({_SOURCE},"
    f" before = {_BEFORE}, {_PURCHASE})",
    "goal trend, new visitors": f"SELECT * FROM microx.goal_trend_in({_NEW}, bucket = 'day',"
    f" {_PURCHASE})",
}
SEGMENTED_REPORT = "whole report, a variant"
REPORT_SEGMENT = "variant=basket-spinner/A"
# Each copy gets ids of its own (a keyed hash of the original and the copy number) and is
# moved back by whole days, so sessions stay whole and the data covers a month; and a
# client of its own (3 devices, 4 browsers, 5 systems: up to 60 together, as a site's
# visitors come with many), so a moment has a row per hour and client in the aggregate
# per client, as it would.
_COPY = """
INSERT INTO microx.events
SELECT * REPLACE (
    ['desktop', 'mobile', 'tablet'][{copy:UInt32} % 3 + 1] AS device,
    ['Chrome', 'Safari', 'Firefox', 'Edge'][{copy:UInt32} % 4 + 1] AS browser,
    ['Windows', 'iOS', 'Android', 'macOS', 'Linux'][{copy:UInt32} % 5 + 1] AS os,
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


REPORT = "whole report (microx report)"
BEFORE = "__before"
Timing = tuple[int, list[float], list[float]]  # result rows, wall times, CPU times
Run = Callable[[], int]
_FUNCTION = re.compile(r"CREATE\s+(OR\s+REPLACE\s+)?FUNCTION\b", re.IGNORECASE)


def definitions_at(ref: str) -> tuple[list[str], Callable[[str], str]]:
    """The function and view statements of ``schema/views`` at git revision ``ref``, renamed
    so they sit beside today's, and the renaming itself (for the report's queries)."""
    root = Path(__file__).resolve().parent.parent
    listed = subprocess.run(
        ["git", "-C", str(root), "ls-tree", "--name-only", f"{ref}:schema/views"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    texts = [
        subprocess.run(
            ["git", "-C", str(root), "show", f"{ref}:schema/views/{name}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        for name in sorted(listed)
        if name.endswith(".sql")
    ]
    statements = [st for text in texts for st in split_statements(text)]
    views = {m[1] for st in statements for m in [re.search(r"VIEW microx\.(\w+)", st)] if m}

    def rename(sql: str) -> str:
        sql = re.sub(r"\bmicrox_(?=\w)", "microx_before_", sql)
        return re.sub(
            r"\bmicrox\.(\w+)\b",
            lambda m: f"microx.{m[1]}{BEFORE}" if m[1] in views else m[0],
            sql,
        )

    # Functions first: a view copies the functions it uses when it is created.
    ordered = sorted(statements, key=lambda st: _FUNCTION.match(st) is None)
    return [rename(st) for st in ordered], rename


def report_code_at(ref: str) -> tuple[Any, Any]:
    """The report's modules (analysis, report) as they were at git revision ``ref``."""
    root = Path(__file__).resolve().parent.parent
    loaded = []
    for name in ("analysis", "report"):
        text = subprocess.run(
            ["git", "-C", str(root), "show", f"{ref}:collector/read/{name}.py"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        module = types.ModuleType(f"microx_before_{name}")
        # report.py imports the analysis it draws: REF's, not today's.
        sys.modules[module.__name__] = module
        text = text.replace(
            "from collector.read.analysis import", "from microx_before_analysis import"
        )
        exec(compile(text, f"{ref}:collector/read/{name}.py", "exec"), module.__dict__)
        loaded.append(module)
    return loaded[0], loaded[1]


def _query(store: Store, sql: str, params: dict[str, Any]) -> Run:
    return lambda: len(store.query(sql, params)[1])


def _report(
    store: Store,
    params: dict[str, Any],
    rename: Callable[[str], str],
    code: tuple[Any, Any],
    segment: str = "",
) -> Run:
    analysis_module, report_module = code
    # A revision without segments is asked for everyone's report only.
    more = {"segment": segment} if segment else {}

    def run() -> int:
        found = analysis_module.analyse(
            lambda sql, p: store.query(rename(sql), p),
            params["site"],
            params["since"],
            params["until"],
            **more,
        )
        report_module.render_html(found)
        return len(analysis_module.summary(found).splitlines())

    return run


def time_all(runs: int, named: dict[str, Run]) -> dict[str, Timing]:
    """Each of ``named`` ``runs`` times, one after the other within each round."""
    times: dict[str, Timing] = {name: (0, [], []) for name in named}
    for _ in range(runs):
        for name, run in named.items():
            t0, c0 = time.perf_counter(), time.process_time()
            rows = run()
            wall, cpu = time.perf_counter() - t0, time.process_time() - c0
            _, walls, cpus = times[name]
            times[name] = (rows, [*walls, wall], [*cpus, cpu])
    return times


def _defined(store: Store, sql: str, params: dict[str, Any]) -> bool:
    """Whether the revision compared with has what ``sql`` reads (a view added since has
    nothing to compare with)."""
    try:
        store.query(f"EXPLAIN {sql}", params)
    except Exception:  # noqa: BLE001 - the engine's error for a missing view or function
        return False
    return True


def measure(
    store: Store,
    params: dict[str, Any],
    runs: int,
    rename: Callable[[str], str] | None,
    code: tuple[Any, Any] | None = None,
) -> dict[str, Timing]:
    named: dict[str, Run] = {}
    for name, sql in QUERIES.items():
        named[name] = _query(store, sql, params)
        if rename is not None and _defined(store, rename(sql), params):
            named[name + BEFORE] = _query(store, rename(sql), params)
    named[REPORT] = _report(store, params, lambda sql: sql, (analysis, report))
    named[SEGMENTED_REPORT] = _report(
        store, params, lambda sql: sql, (analysis, report), REPORT_SEGMENT
    )
    if rename is not None:
        named[REPORT + BEFORE] = _report(store, params, rename, code or (analysis, report))
    return time_all(runs, named)


def show(title: str, timed: dict[str, Timing]) -> None:
    compared = any(name.endswith(BEFORE) for name in timed)
    head = f"{'best s':>8} {'median s':>8} {'cpu s':>7}"
    print(f"\n{title}: wall time best and median, CPU time median")
    print(f"{'query':<33} {'rows':>6} {head}" + (f" | before: {head}" if compared else ""))
    for name, (rows, walls, cpus) in timed.items():
        if name.endswith(BEFORE):
            continue
        line = f"{name:<33} {rows:>6} " + _figures(walls, cpus)
        if compared:
            if name + BEFORE not in timed:
                print(line + " | (new)")
                continue
            _, walls2, cpus2 = timed[name + BEFORE]
            line += " |         " + _figures(walls2, cpus2)
        print(line)


def _figures(walls: list[float], cpus: list[float]) -> str:
    return f"{min(walls):>8.3f} {statistics.median(walls):>8.3f} {statistics.median(cpus):>7.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=Path("var/bench-analysis"))
    parser.add_argument("--before", metavar="REF", help="also time the views of this revision")
    parser.add_argument(
        "--stored", action="store_true", help="time the store left in --dir as it is, once"
    )
    args = parser.parse_args()
    if not args.stored:
        shutil.rmtree(args.dir, ignore_errors=True)
    store = Store(f"chdb://{args.dir.resolve()}")
    try:
        took = 0.0
        if args.stored:
            store.migrate()
        else:
            print(f"loading about {args.events:,} events into {args.dir} ...", flush=True)
            _, took = load(store, args.events)
        _, ((stored, aggregated, sessions),) = store.query(
            "SELECT (SELECT count() FROM microx.events),"
            " (SELECT count() FROM microx.moment_hourly),"
            " (SELECT count() FROM microx.session_hourly)"
        )
        print(
            f"stored {stored:,} events in {took:.0f} s; hourly aggregate: {aggregated:,} rows;"
            f" sessions per hour: {sessions:,} rows"
        )
        rename = None
        code = None
        if args.before:
            statements, rename = definitions_at(args.before)
            for statement in statements:
                store.command(statement)
            code = report_code_at(args.before)
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        params = {
            "site": journeys.SITE,
            "since": now - dt.timedelta(days=31),
            "until": now,
            "before": now - dt.timedelta(days=62),
        }
        if args.stored:
            show("as stored", measure(store, params, args.runs, rename, code))
            return
        show("just loaded", measure(store, params, args.runs, rename, code))
        # Background merges get here within minutes; OPTIMIZE gets there now.
        t0 = time.perf_counter()
        for table in ("moment_hourly", "session_hourly", "events"):
            store.command(f"OPTIMIZE TABLE microx.{table} FINAL")
        print(f"\nmerged the parts in {time.perf_counter() - t0:.0f} s")
        show("parts merged", measure(store, params, args.runs, rename, code))
    finally:
        store.close()


if __name__ == "__main__":
    main()
