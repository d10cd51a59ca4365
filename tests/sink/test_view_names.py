"""The materialized views as migration 0015 made them again, each row's route, budget,
measure and pain named once, fill their tables with the rows those of 0014 made."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from collector.ingest.validate import judge
from collector.rows.record import Accepted
from collector.sink.migrations import load_migrations
from collector.sink.records import EVENTS, index
from collector.sink.store import Store
from tests.conftest import BROWSER_UA, make_envelope, make_event, now_ms, open_store

BEFORE = 14
# Each table and the rows it holds at least: a moment an hour, a session an hour.
TABLES = {"moment_hourly": 20, "session_hourly": 3}
# What migration 0016 added to the per-session table, which the views of 0014 never filled
# (tests/read/test_segments.py checks what they hold).
ADDED = {"last_seen", "device", "browser", "os", "source_state"}
PATHS = ["/", "/contacts/16odw8b", "/p/123/edit", "/reset/a1b2c3d4e5f6a7b8c9d0", "/a@b.c"]


def varied() -> list[dict[str, Any]]:
    """An event of every kind, timed within and beyond its budget, on paths a route
    template changes, twice in the same millisecond."""
    kinds: list[dict[str, Any]] = [
        {"t": "page", "d": 900.0},
        {"t": "page", "d": 7000.0},
        {"t": "route", "d": 1500.0},
        {"t": "click", "tg": "button#buy", "d": 250.0},
        {"t": "rage_click", "tg": "button#buy"},
        {"t": "dead_click", "tg": "a.more"},
        {"t": "error_click", "tg": "button#pay"},
        {"t": "loading", "n": "busy", "tg": "div.spinner", "d": 1800.0, "p": {"by": "click"}},
        {"t": "loading", "n": "cart", "tg": "div.spinner", "d": 300.0},
        {"t": "form_start", "n": "signup"},
        {"t": "form_invalid", "n": "signup"},
        {"t": "form_abandon", "n": "signup"},
        {"t": "form_submit", "n": "signup"},
        {"t": "step", "n": "checkout", "tg": "payment"},
        {"t": "moment", "n": "newsletter", "d": 40.0},
        {"t": "feedback", "n": "checkout", "val": 4.0},
        {"t": "vital", "n": "LCP", "val": 4100.0},
        {"t": "vital", "n": "CLS", "val": 0.3},
        {"t": "vital", "n": "INP", "val": 120.0},
        {"t": "error", "l": "TypeError"},
        {"t": "long_task", "d": 180.0},
        {"t": "signal", "n": "visible"},
        {"t": "form_field", "n": "signup", "tg": "email", "d": 3000.0},
    ]
    at = now_ms()
    return [
        make_event(q=q, ts=at - 1000 * (q // 2), u=f"https://shop.example{PATHS[q % 5]}", **k)
        for q, k in enumerate(kinds + kinds)
    ]


def rows(store: Store, table: str) -> list[tuple[Any, ...]]:
    _, described = store.query(
        "SELECT name, type FROM system.columns WHERE database = 'microx' AND table = {t:String}"
        " ORDER BY position",
        parameters={"t": table},
    )
    described = [(n, t) for n, t in described if n not in ADDED]
    keys = [n for n, t in described if "Aggregate" not in t]
    read = [
        f"toString(finalizeAggregation({n}))"
        if t.startswith("AggregateFunction")
        else f"toString(arraySort({n}))"
        if "Array" in t
        else n
        for n, t in described
    ]
    _, found = store.query(
        f"SELECT {', '.join(read)} FROM microx.{table} ORDER BY {', '.join(keys)}"
    )
    return found


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"chdb://{tmp_path / 'ch'}") as store:
        store.migrate()
        yield store


def test_the_views_make_the_rows_the_views_before_them_made(store: Store) -> None:
    before = next(m for m in load_migrations() if m.version == BEFORE)
    views = [s for s in before.statements() if "CREATE MATERIALIZED VIEW" in s]
    assert len(views) == len(TABLES)
    store.command("CREATE TABLE microx.before_events AS microx.events")
    for table, view in zip(TABLES, views, strict=True):
        store.command(f"CREATE TABLE microx.before_{table} AS microx.{table}")
        store.command(
            view.replace(
                f"microx.{table}_mv TO microx.{table}", f"microx.b_{table} TO microx.before_{table}"
            ).replace("FROM microx.events", "FROM microx.before_events")
        )
    payloads = []
    for _ in range(3):
        verdict = judge(make_envelope(*varied()))
        assert len(verdict.accepted) == 2 * 23
        payloads.append(
            Accepted(now_ms(), verdict.envelope, verdict.accepted, [], BROWSER_UA, "en").encode()
        )
    records = index(payloads).events
    store.insert_records(EVENTS, records)
    # The same records in the same order: a sum of floats or a tie depends on it.
    store.insert_records(dataclasses.replace(EVENTS, table="before_events"), records)
    for table, least in TABLES.items():
        now, then = rows(store, table), rows(store, f"before_{table}")
        assert len(now) >= least, table
        assert now == then, table
