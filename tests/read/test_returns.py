"""Loyalty over time: returning visitors and the net promoter score, per day."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from collector.read.analysis import analyse
from collector.read.report import render_html
from collector.sink.store import Store
from collector.tools import journeys
from tests.conftest import open_store

DAY1 = dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC)
DAY2 = DAY1 + dt.timedelta(days=1)
WINDOW = "site = 'shop', since = '2026-03-01 00:00:00', until = '2026-03-03 00:00:00'"


def _visit(vid: str | None, at: dt.datetime, answers: list[float]) -> dict[str, Any]:
    ms = int(at.timestamp() * 1000)
    events: list[dict[str, Any]] = [
        {"id": str(uuid.uuid4()), "t": "page", "ts": ms, "q": 0, "d": 900.0}
    ]
    for i, score in enumerate(answers, 1):
        events.append(
            {
                "id": str(uuid.uuid4()),
                "t": "feedback",
                "ts": ms + i * 1000,
                "q": i,
                "n": "recommend",
                "val": score,
            }
        )
    envelope: dict[str, Any] = {
        "v": 1,
        "s": "shop",
        "sid": str(uuid.uuid4()),
        "at": ms + 60_000,
        "u": f"{journeys.ORIGIN}/done",
        "c": {"sdk": "0.2.0", "cs": ["measure", "visitor"]},
        "e": events,
    }
    if vid:
        envelope["vid"] = vid
    return envelope


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    a, b, c = (str(uuid.uuid4()) for _ in range(3))
    visits = [
        _visit(a, DAY1, [9]),
        _visit(b, DAY1, [10, 6]),  # changed their mind: the last answer counts
        _visit(a, DAY1 + dt.timedelta(hours=3), [10]),  # a second answer the same day
        _visit(None, DAY1, [8]),
        *(_visit(str(uuid.uuid4()), DAY1, [s]) for s in (10, 9, 7, 3, 0, 11)),
        _visit(a, DAY2, [10]),
        _visit(c, DAY2, []),
    ]
    with open_store(f"chdb://{tmp_path_factory.mktemp('returns') / 'clickhouse'}") as s:
        s.migrate()
        journeys.store_envelopes(s, visits)
        yield s


def _rows(store: Store, sql: str) -> list[dict[str, Any]]:
    columns, rows = store.query(sql)
    return [dict(zip(columns, r, strict=True)) for r in rows]


def test_returning_visitors_per_day(store: Store) -> None:
    days = _rows(store, f"SELECT * FROM microx.return_trend({WINDOW}, bucket = 'day')")
    # Day 1: a (twice), b and six one-time visitors with an id; day 2: a again, c new.
    assert [(d["visitors"], d["returning_visitors"], d["sessions"]) for d in days] == [
        (8, 1, 9),
        (2, 1, 2),
    ]
    assert days[1]["returning_share"] == 0.5


def test_the_net_promoter_score_per_day_with_an_interval_that_holds_at_one_answer(
    store: Store,
) -> None:
    days = _rows(
        store,
        f"SELECT * FROM microx.recommendation_trend({WINDOW}, bucket = 'day', name = 'recommend')",
    )
    first, second = days
    # a: 10 (last of 9, 10), b: 6, no id: 8, and 10, 9, 7, 3, 0 (11 is off the scale).
    assert (first["answers"], first["promoters"], first["passives"], first["detractors"]) == (
        8,
        3,
        2,
        3,
    )
    assert first["nps"] == 0.0
    assert first["nps_low"] < 0 < first["nps_high"]
    assert (second["answers"], second["nps"]) == (1, 100.0)
    assert second["nps_high"] == 100.0 and second["nps_low"] < -20


def test_the_report_charts_loyalty_over_time(store: Store) -> None:
    until = DAY2 + dt.timedelta(hours=12)
    analysis = analyse(store.query, "shop", until - dt.timedelta(days=2), until)
    assert [r["answers"] for r in analysis.recommendation.dicts()] == [8, 1]
    assert sum(r["visitors"] for r in analysis.returns.dicts()) == 10
    page = render_html(analysis)
    assert "<h2>Loyalty over time</h2>" in page and "<th>NPS</th>" in page
