"""Experiments judged by the unit a site assigns by: the visitor, where there is one.

A visitor's sessions are alike (the same device, the same network, the same habits), so
they are not independent samples: judged session by session, an A/A experiment over
regulars finds differences that are not there far more often than its 5 % promise.
"""

from __future__ import annotations

import datetime as dt
import math
import random
import statistics
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from collector.sink.store import Store
from collector.tools import journeys
from tests.conftest import open_store

START = dt.datetime(2026, 5, 4, 8, tzinfo=dt.UTC)
WINDOW = "site = {site:String}, since = '2026-05-01 00:00:00', until = '2026-06-01 00:00:00'"
GOAL = "goal = 'moment', name = 'purchase', target = '', days = 0, rating = 0"
# An event carries at most 16 variants: 15 experiments on each of three sites.
SITES = ("one", "two", "three")
EXPERIMENTS = 15
VISITORS = 300


def _session(
    site: str,
    vid: str,
    at: dt.datetime,
    variants: dict[str, str],
    slow_share: float,
    rng: random.Random,
) -> dict[str, Any]:
    ms = int(at.timestamp() * 1000)
    events: list[dict[str, Any]] = [
        {"id": str(uuid.uuid4()), "t": "page", "ts": ms, "q": 0, "d": 900.0, "x": variants}
    ]
    # Three waits a session; on a visitor's slow device or network most are over budget.
    for i in range(1, 4):
        wait = 2500.0 if rng.random() < slow_share else 400.0
        events.append(
            {
                "id": str(uuid.uuid4()),
                "t": "loading",
                "ts": ms + i * 3000,
                "q": i,
                "n": "busy",
                "tg": f"div.wait-{i}",
                "d": wait,
                "x": variants,
            }
        )
    return {
        "v": 1,
        "s": site,
        "sid": str(uuid.uuid4()),
        "vid": vid,
        "at": ms + 60_000,
        "u": f"{journeys.ORIGIN}/",
        "c": {"sdk": "0.2.0", "cs": ["measure", "visitor"]},
        "e": events,
    }


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A/A experiments over regulars: each visitor drawn once into each experiment's arm,
    with a device that is slow or fast for all their visits, and 1 to 20 visits."""
    rng = random.Random(5)
    envelopes = []
    for site in SITES:
        for _ in range(VISITORS):
            vid = str(uuid.uuid4())
            variants = {f"aa-{k}": rng.choice(("control", "same")) for k in range(EXPERIMENTS)}
            slow_share = 0.9 if rng.random() < 0.3 else 0.05
            visits = min(20, 1 + int(rng.expovariate(1 / 5)))
            for n in range(visits):
                at = START + dt.timedelta(hours=8 * n, minutes=rng.randrange(60))
                envelopes.append(_session(site, vid, at, variants, slow_share, rng))
    with open_store(f"chdb://{tmp_path_factory.mktemp('units') / 'clickhouse'}") as s:
        s.migrate()
        journeys.store_envelopes(s, envelopes)
        yield s


def _rows(store: Store, sql: str, site: str) -> list[dict[str, Any]]:
    columns, rows = store.query(sql, {"site": site})
    return [dict(zip(columns, r, strict=True)) for r in rows]


def _welch_p(a: list[float], b: list[float]) -> float:
    v = statistics.variance(a) / len(a) + statistics.variance(b) / len(b)
    return math.erfc(abs(statistics.fmean(a) - statistics.fmean(b)) / math.sqrt(v) / math.sqrt(2))


def test_a_visitors_sessions_are_one_unit_so_aa_experiments_stay_calibrated(
    store: Store,
) -> None:
    flagged = naive = 0
    for site in SITES:
        results = _rows(store, f"SELECT * FROM microx.experiment_results({WINDOW}, {GOAL})", site)
        assert all(r["verdict"] == "no difference" for r in results)
        friction = [r for r in results if r["metric"] == "friction"]
        assert len(friction) == EXPERIMENTS
        assert all(r["control_units"] + r["variant_units"] == VISITORS for r in friction)
        assert all(r["mixed_units"] == 0 for r in friction)
        assert all(r["control_sessions"] + r["variant_sessions"] > 3 * VISITORS for r in friction)
        flagged += sum(r["p_value"] < 0.05 for r in friction)
        # Session by session, the same data: each session's friction from the engine, the
        # test run here over sessions as if they were independent.
        sessions = _rows(
            store, f"SELECT variants, friction FROM microx.session_goals({WINDOW}, {GOAL})", site
        )
        for k in range(EXPERIMENTS):
            arms: dict[str, list[float]] = {"control": [], "same": []}
            for s in sessions:
                arms[s["variants"][f"aa-{k}"]].append(s["friction"])
            naive += _welch_p(arms["control"], arms["same"]) < 0.05
    # 5 % of 45 is 2.25; by visitor the count stays near it, by session it is several
    # times that (the case tells the two apart: it would fail a session-level view).
    assert flagged <= 6, flagged
    assert naive >= 3 * max(flagged, 2), (naive, flagged)


def test_a_visitor_seen_under_two_variants_is_counted_and_judged_in_neither(
    store: Store,
) -> None:
    vid = str(uuid.uuid4())
    rng = random.Random(1)
    later = START + dt.timedelta(days=3)
    switched = [
        _session("one", vid, later, {"aa-0": "control"}, 0.0, rng),
        _session("one", vid, later + dt.timedelta(hours=5), {"aa-0": "same"}, 0.0, rng),
    ]
    journeys.store_envelopes(store, switched)
    rows = {
        r["metric"]: r
        for r in _rows(store, f"SELECT * FROM microx.experiment_results({WINDOW}, {GOAL})", "one")
        if r["experiment"] == "aa-0"
    }
    assert rows["friction"]["mixed_units"] == 1
    assert rows["friction"]["control_units"] + rows["friction"]["variant_units"] == VISITORS
