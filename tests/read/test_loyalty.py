"""Loyalty on confounded journeys: regulars meet more friction and come back more anyway."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest

from collector.sink.store import Store
from collector.tools import journeys
from tests.conftest import open_store

UNTIL = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
DAYS = 2
TRUTH = journeys.Regulars()


class Account(NamedTuple):
    impact: dict[str, dict[str, Any]]
    facts: dict[str, journeys.RegularVisit]


@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Account]:
    url = f"chdb://{tmp_path_factory.mktemp('loyalty') / 'clickhouse'}"
    facts: dict[str, journeys.RegularVisit] = {}
    with open_store(url) as store:
        store.migrate()
        journeys.store_envelopes(store, journeys.regulars(4000, seed=5, until=UNTIL, facts=facts))
        yield Account(_impact(store), facts)


def _impact(store: Store) -> dict[str, dict[str, Any]]:
    since = (UNTIL - dt.timedelta(days=30)).strftime("%Y-%m-%d %H:%M:%S")
    until = UNTIL.strftime("%Y-%m-%d %H:%M:%S")
    columns, values = store.query(
        "SELECT * FROM microx.loyalty_impact(site = 'account', "
        f"since = '{since}', until = '{until}', days = {DAYS})"
    )
    return {r[0]: dict(zip(columns, r, strict=True)) for r in values}


def _judged(facts: dict[str, journeys.RegularVisit]) -> list[journeys.RegularVisit]:
    """The visits whose follow-up ended before the window did (their last event is within
    seconds of their start)."""
    horizon = (UNTIL - dt.timedelta(days=DAYS)).timestamp() * 1000 - 60_000
    return [v for v in facts.values() if v.start_ms < horizon]


def _crude(visits: list[journeys.RegularVisit], moment: str) -> float:
    met = [v.returned for v in visits if moment in v.met]
    other = [v.returned for v in visits if moment not in v.met]
    return sum(met) / len(met) - sum(other) / len(other)


def test_a_harmless_moment_met_by_regulars_is_not_credited_with_their_returns(
    account: Account,
) -> None:
    orders = account.impact[TRUTH.orders]
    # The data is confounded: crudely, meeting the slow order history goes with coming back.
    crude = orders["return_rate_met"] - orders["return_rate_not_met"]
    assert crude > 0.15
    assert crude == pytest.approx(_crude(_judged(account.facts), TRUTH.orders), abs=0.01)
    assert orders["crude_difference"] == pytest.approx(crude, abs=1e-3)
    # Within visitors of the same prior engagement it changes nothing.
    assert abs(orders["difference"]) < 0.05 and not orders["significant"]
    assert orders["ci_low"] < 0 < orders["ci_high"]
    assert orders["confounded"]


def test_a_harmful_moment_met_by_regulars_shows_its_cost_not_their_loyalty(
    account: Account,
) -> None:
    wishlist = account.impact[TRUTH.wishlist]
    crude = wishlist["return_rate_met"] - wishlist["return_rate_not_met"]
    assert crude > -0.05  # the crude sign says friction is harmless, or even good
    assert wishlist["significant"]
    assert wishlist["ci_low"] < -TRUTH.wishlist_cost < wishlist["ci_high"] < -0.05
    assert wishlist["confounded"]


def test_a_recent_harmless_change_is_judged_only_on_visits_followed_long_enough(
    account: Account,
) -> None:
    search = account.impact[TRUTH.search]
    judged = _judged(account.facts)
    met = [v for v in judged if TRUTH.search in v.met]
    assert search["sessions_met"] == len(met) > 50
    assert not search["significant"] and search["ci_low"] < 0 < search["ci_high"]


def test_one_session_met_gives_an_interval_as_wide_as_one_session_allows(
    account: Account,
) -> None:
    gift = account.impact[TRUTH.gift]
    assert gift["sessions_met"] == 1
    # A visit that came back, or did not: either is compatible with most return rates.
    assert gift["ci_high"] - gift["ci_low"] > 0.6
    assert not gift["significant"]
