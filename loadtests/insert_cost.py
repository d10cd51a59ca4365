"""Where the fixed CPU of one small insert of spool records goes (``sink.records``).

A fresh embedded store gets scratch copies of ``microx.events``: one without the
materialized views, one with each view alone, a ``Null`` table; the events ``SELECT`` is
inserted into each, whole, without the URL rules or the language, and as a trivial
``SELECT`` of two columns. Every variant runs once per round, the rounds interleaved, after
a warm-up (the engine compiles an expression it has seen three times, once). Printed per
variant: the process CPU (engine threads included), median and least, and the medians of
the engine's own counters of the insert (``system.events``): analysis, plan building, plan
optimisation, pipeline building, in ms.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable

from collector.rows.columns import EVENT_COLUMNS
from collector.sink.migrations import DATABASE
from collector.sink.records import EVENTS, EVENTS_INPUT, Statement, events_select, index
from collector.sink.store import Store
from loadtests.bench_records import records

COUNTERS = {
    "analysis": "QueryAnalysisMicroseconds",
    "plan": "QueryPlanBuildMicroseconds",
    "optimise": "QueryPlanOptimizeMicroseconds",
    "pipeline": "QueryPipelineBuildMicroseconds",
}
WARM_UP = 4


def _without(**replaced: str) -> Callable[[str], str]:
    def select(source: str) -> str:
        sql = events_select(source)
        for old, new in replaced.items():
            if old not in sql:
                raise SystemExit(f"the events SELECT no longer holds {old!r}")
            sql = sql.replace(old, new)
        return sql

    return select


def _trivial(source: str) -> str:
    return f"\nSELECT env.s, toUUID(ev.id) FROM {source} ARRAY JOIN e AS ev"


NO_URLS = {"u -> microx_scrub_url(u)": "u -> u", "u -> microx_url_path(u)": "u -> u"}
NO_LANGUAGE = {"microx_first_language(al)": "al"}


def scratch(store: Store) -> dict[str, Statement]:
    """The variants, each a statement into a scratch table of ``store``."""
    views = dict(
        store.query(
            "SELECT name, as_select FROM system.tables WHERE database = {db:String}"
            " AND engine = 'MaterializedView'",
            parameters={"db": DATABASE},
        )[1]
    )
    targets = {"moment_hourly_mv": "moment_hourly", "session_hourly_mv": "session_hourly"}
    if set(views) != set(targets):
        raise SystemExit(f"the store's materialized views are {sorted(views)}")
    store.command(f"CREATE TABLE {DATABASE}.cost_bare AS {DATABASE}.events")
    store.command(f"CREATE TABLE {DATABASE}.cost_null AS {DATABASE}.events ENGINE = Null")
    for view, target in targets.items():
        source = f"cost_{target}_events"
        store.command(f"CREATE TABLE {DATABASE}.{source} AS {DATABASE}.events")
        store.command(f"CREATE TABLE {DATABASE}.cost_{target} AS {DATABASE}.{target}")
        select = str(views[view]).replace(f"{DATABASE}.events", f"{DATABASE}.{source}")
        store.command(
            f"CREATE MATERIALIZED VIEW {DATABASE}.cost_{view} TO {DATABASE}.cost_{target}"
            f" AS {select}"
        )

    def into(table: str, select: Callable[[str], str] = events_select) -> Statement:
        return Statement(table, EVENT_COLUMNS, EVENTS_INPUT, select)

    return {
        "events (both views)": EVENTS,
        "no views": into("cost_bare"),
        "moment view alone": into("cost_moment_hourly_events"),
        "session view alone": into("cost_session_hourly_events"),
        "Null table": into("cost_null"),
        "Null, no URL rules": into("cost_null", _without(**NO_URLS)),
        "Null, no language": into("cost_null", _without(**NO_LANGUAGE)),
        "Null, neither": into("cost_null", _without(**NO_URLS, **NO_LANGUAGE)),
        "Null, trivial SELECT": Statement(
            "cost_null", ("site", "event_id"), EVENTS_INPUT, _trivial
        ),
        "no views, trivial SELECT": Statement(
            "cost_bare", ("site", "event_id"), EVENTS_INPUT, _trivial
        ),
    }


def counters(store: Store) -> dict[str, int]:
    return {str(k): int(v) for k, v in store.query("SELECT name, value FROM system.events")[1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=20, help="events per insert")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="microx-insert-cost-") as work:
        store = Store(f"chdb://{work}/ch")
        store.migrate()
        variants = scratch(store)
        data = index(records(args.size)).events
        cpu: dict[str, list[float]] = {name: [] for name in variants}
        spent: dict[str, dict[str, list[float]]] = {
            name: {c: [] for c in COUNTERS} for name in variants
        }
        for round_ in range(WARM_UP + args.rounds):
            for name, statement in variants.items():
                before = counters(store)
                t0 = time.process_time()
                store.insert_records(statement, data, token=uuid.uuid4().hex)
                took = time.process_time() - t0
                after = counters(store)
                if round_ < WARM_UP:
                    continue
                cpu[name].append(took * 1e3)
                for c, event in COUNTERS.items():
                    spent[name][c].append((after.get(event, 0) - before.get(event, 0)) / 1e3)
        store.close()
    print(f"{args.size} events per insert, {args.rounds} rounds; ms of CPU")
    print(f"{'variant':26} {'median':>7} {'least':>6} " + " ".join(f"{c:>8}" for c in COUNTERS))
    for name in variants:
        print(
            f"{name:26} {statistics.median(cpu[name]):7.1f} {min(cpu[name]):6.1f} "
            + " ".join(f"{statistics.median(spent[name][c]):8.1f}" for c in COUNTERS)
        )


if __name__ == "__main__":
    main()
