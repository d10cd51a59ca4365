"""A goal over time: its rate per day, repeats by the same visitor, and this period
against the one before."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from collector.read.analysis import analyse, summary
from collector.read.goals import Goal
from collector.read.report import render_html
from collector.sink.store import Store
from collector.tools import journeys
from tests.conftest import open_store

DAY1 = dt.datetime(2026, 3, 1, 9, tzinfo=dt.UTC)
DAY2 = DAY1 + dt.timedelta(days=1)
PURCHASE = "goal = 'moment', name = 'purchase', target = '', days = 0, rating = 0"


def _visit(vid: str | None, at: dt.datetime, bought: bool, site: str = "shop") -> dict[str, Any]:
    ms = int(at.timestamp() * 1000)
    events: list[dict[str, Any]] = [
        {"id": str(uuid.uuid4()), "t": "page", "ts": ms, "q": 0, "d": 900.0}
    ]
    if bought:
        events.append(
            {"id": str(uuid.uuid4()), "t": "moment", "ts": ms + 5_000, "q": 1, "n": "purchase"}
        )
    envelope: dict[str, Any] = {
        "v": 1,
        "s": site,
        "sid": str(uuid.uuid4()),
        "at": ms + 60_000,
        "u": f"{journeys.ORIGIN}/done",
        "c": {"sdk": "0.2.0", "cs": ["measure", "visitor"]},
        "e": events,
    }
    if vid:
        envelope["vid"] = vid
    return envelope


def _dropped() -> list[dict[str, Any]]:
    """Two weeks of a shop, site "fell", whose purchases fell from 40 % to 24 % of visits in
    the second: regulars buy more, and there are fewer of them in the second week (a change
    of mix the goal rate is not adjusted for: it is what the shop lost either way)."""
    rng = random.Random(7)
    regulars = [str(uuid.uuid4()) for _ in range(60)]
    visits = []
    for day in range(14):
        late = day >= 7
        start = DAY1 + dt.timedelta(days=day)
        for i in range(80):
            at = start + dt.timedelta(minutes=10 * i)
            regular = rng.random() < (0.3 if late else 0.5)
            vid = rng.choice(regulars) if regular else str(uuid.uuid4())
            rate = (0.55 if regular else 0.25) - (0.1 if late else 0.0)
            visits.append(_visit(vid, at, rng.random() < rate, site="fell"))
    return visits


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    a, b, c, d = (str(uuid.uuid4()) for _ in range(4))
    hour = dt.timedelta(hours=1)
    visits = [
        # Day 1: a buys twice (the second a repeat), b once, c not, and a visitor without
        # an id buys.
        _visit(a, DAY1, True),
        _visit(a, DAY1 + 2 * hour, True),
        _visit(b, DAY1 + hour, True),
        _visit(c, DAY1, False),
        _visit(None, DAY1, True),
        # Day 2: a buys again (a repeat of day 1), b does not, d buys for the first time.
        _visit(a, DAY2, True),
        _visit(b, DAY2, False),
        _visit(d, DAY2 + hour, True),
    ]
    with open_store(f"chdb://{tmp_path_factory.mktemp('goals') / 'clickhouse'}") as s:
        s.migrate()
        journeys.store_envelopes(s, [*visits, *_dropped()])
        yield s


def _rows(store: Store, sql: str) -> list[dict[str, Any]]:
    columns, rows = store.query(sql)
    return [dict(zip(columns, r, strict=True)) for r in rows]


def test_a_goal_per_day_with_the_repeats_of_visitors_who_met_it_before(store: Store) -> None:
    days = _rows(
        store,
        "SELECT * FROM microx.goal_trend(site = 'shop', since = '2026-03-01 00:00:00',"
        f" until = '2026-03-03 00:00:00', bucket = 'day', {PURCHASE})",
    )
    got = [
        (
            d["judged_sessions"],
            d["met_sessions"],
            d["met_by_visitors"],
            d["repeat_sessions"],
            d["visitors_met"],
        )
        for d in days
    ]
    assert got == [(5, 4, 3, 1, 2), (3, 2, 2, 1, 2)]
    assert (days[0]["goal_rate"], days[0]["goals_per_visitor"]) == (0.8, 1.5)
    assert days[1]["repeat_share"] == 0.5
    # A window that starts at day 2 does not see day 1: a's purchase there is a first one.
    (alone,) = _rows(
        store,
        "SELECT * FROM microx.goal_trend(site = 'shop', since = '2026-03-02 00:00:00',"
        f" until = '2026-03-03 00:00:00', bucket = 'day', {PURCHASE})",
    )
    assert alone["repeat_sessions"] == 0


def test_a_period_too_small_to_tell_is_steady(store: Store) -> None:
    (change,) = _rows(
        store,
        "SELECT * FROM microx.goal_changes(site = 'shop', since = '2026-03-02 00:00:00',"
        f" until = '2026-03-03 00:00:00', before = '2026-03-01 00:00:00', {PURCHASE})",
    )
    assert (change["judged_sessions"], change["judged_sessions_before"]) == (3, 5)
    assert change["change"] == pytest.approx(2 / 3 - 4 / 5, abs=1e-4)
    assert change["ci_low"] < change["change"] < change["ci_high"]
    assert change["p_value"] > 0.05 and change["verdict"] == "steady"
    # Each period is counted as it would be alone, so the two compare alike: day 2 does not
    # see a's purchases of day 1, and a's purchase there is a first one.
    assert (change["repeat_share"], change["repeat_share_before"]) == (0.0, round(1 / 3, 4))


def test_a_goal_that_fell_is_a_regression_with_an_interval_around_the_fall(
    store: Store,
) -> None:
    (change,) = _rows(
        store,
        "SELECT * FROM microx.goal_changes(site = 'fell', since = '2026-03-08 00:00:00',"
        f" until = '2026-03-15 00:00:00', before = '2026-03-01 00:00:00', {PURCHASE})",
    )
    assert (change["judged_sessions"], change["judged_sessions_before"]) == (560, 560)
    assert change["verdict"] == "regression" and change["p_value"] < 0.001
    # The rates as generated, counted from the visits themselves.
    bought = [any(e["t"] == "moment" for e in v["e"]) for v in _dropped()]
    before, after = sum(bought[:560]) / 560, sum(bought[560:]) / 560
    assert change["change"] == pytest.approx(after - before, abs=1e-4)
    assert change["ci_low"] < after - before < change["ci_high"] < -0.1
    # Repeats: regulars come back and buy again in both weeks.
    assert change["repeat_share_before"] > 0.3 and change["repeat_share"] > 0.1


def test_the_review_opens_with_the_goal_that_fell(store: Store) -> None:
    until = dt.datetime(2026, 3, 15, tzinfo=dt.UTC)
    purchase = Goal("purchase", "moment", "purchase")
    analysis = analyse(store.query, "fell", until - dt.timedelta(days=7), until, goals=(purchase,))
    (goal,) = analysis.goals
    assert goal.change["verdict"] == "regression"
    assert len(goal.trend.rows) == 14
    text = summary(analysis)
    changed = text[text.index("What changed") :]
    assert "REGRESSION: goal 'purchase'" in changed.split("\n\n")[0]
    page = render_html(analysis)
    assert "<h3>Goals</h3>" in page and 'id="goal-0"' in page
