"""What changed since the period before: regressions, improvements, and the trend per day."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest

from collector.read.analysis import analyse, parse_window, summary
from collector.read.report import render_html
from collector.sink.store import Store
from collector.tools import journeys
from tests.conftest import open_store

UNTIL = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
SINCE = UNTIL - dt.timedelta(days=7)
BEFORE = SINCE - dt.timedelta(days=7)
VISITORS = 1000
TRUTH = journeys.Truth()
FAST = dataclasses.replace(TRUTH, spinner_slow_ms=700.0)


class Period(NamedTuple):
    sessions: int
    hurt: int


class Shops(NamedTuple):
    store: Store
    # Per site and period ("before", "now"): the sessions that met the spinner, and those
    # it kept waiting past its 1 s budget, counted from what was sent.
    spinner: dict[tuple[str, str], Period]


def _spinner(sent: list[dict[str, Any]]) -> Period:
    waits: dict[str, float] = {}
    for envelope in sent:
        for e in envelope["e"]:
            if e["t"] == "loading" and e["tg"] == "div.spinner":
                waits[envelope["sid"]] = max(waits.get(envelope["sid"], 0.0), float(e["d"]))
    return Period(len(waits), sum(d > 1000 for d in waits.values()))


@pytest.fixture(scope="module")
def shops(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shops]:
    """``worse``: the spinner was fast for everyone, then slow in variant A; ``better``: the
    other way round; ``same``: no change. Every other moment is the same in both periods."""
    url = f"chdb://{tmp_path_factory.mktemp('changes') / 'clickhouse'}"
    spinner = {}
    with open_store(url) as store:
        store.migrate()
        sites = (("worse", FAST, TRUTH), ("better", TRUTH, FAST), ("same", TRUTH, TRUTH))
        for site, first, then in sites:
            for period, truth, start, seed in (
                ("before", first, BEFORE, 3),
                ("now", then, SINCE, 4),
            ):
                sent = list(
                    journeys.envelopes(VISITORS, seed=seed, truth=truth, start=start, site=site)
                )
                journeys.store_envelopes(store, sent)
                spinner[site, period] = _spinner(sent)
        yield Shops(store, spinner)


def _changes(store: Store, site: str) -> dict[str, dict[str, Any]]:
    columns, rows = store.query(
        "SELECT * FROM microx.moment_changes(site = {site:String},"
        " since = {since:DateTime('UTC')}, until = {until:DateTime('UTC')},"
        " before = {before:DateTime('UTC')})",
        {"site": site, "since": SINCE, "until": UNTIL, "before": BEFORE},
    )
    return {r[1]: dict(zip(columns, r, strict=True)) for r in rows}


@pytest.mark.parametrize(("site", "verdict"), [("worse", "regression"), ("better", "improvement")])
def test_the_spinner_change_is_found_and_nothing_else(
    shops: Shops, site: str, verdict: str
) -> None:
    changes = _changes(shops.store, site)
    spinner = changes[TRUTH.spinner]
    before, now = shops.spinner[site, "before"], shops.spinner[site, "now"]
    assert (spinner["sessions"], spinner["hurt_sessions"]) == (now.sessions, now.hurt)
    assert (spinner["sessions_before"], spinner["hurt_sessions_before"]) == (
        before.sessions,
        before.hurt,
    )
    change = now.hurt / now.sessions - before.hurt / before.sessions
    assert spinner["change"] == pytest.approx(change, abs=1e-4)
    # Variant A's sessions: half the visitors, fewer of the sessions (who met the slow
    # spinner came back less).
    assert 0.3 < abs(change) < 0.5
    assert spinner["ci_low"] < change < spinner["ci_high"]
    assert spinner["verdict"] == verdict
    # The same shop otherwise, with other visitors: no other moment is news.
    others = {m: r["verdict"] for m, r in changes.items() if m != TRUTH.spinner}
    assert set(others.values()) == {"steady"}, others


def test_the_trend_shows_the_day_the_spinner_changed(shops: Shops) -> None:
    columns, rows = shops.store.query(
        "SELECT * FROM microx.moment_trend(site = 'worse', since = {before:DateTime('UTC')},"
        " until = {until:DateTime('UTC')}, bucket = 'day') WHERE moment = {m:String}",
        {"before": BEFORE, "until": UNTIL, "m": TRUTH.spinner},
    )
    days = [dict(zip(columns, r, strict=True)) for r in rows]
    early = [d for d in days if d["bucket"] < SINCE.replace(tzinfo=None)]
    late = [d for d in days if d["bucket"] >= SINCE.replace(tzinfo=None)]
    assert early and late
    assert sum(d["sessions"] for d in early) == shops.spinner["worse", "before"].sessions
    assert sum(d["hurt_sessions"] for d in late) == shops.spinner["worse", "now"].hurt
    assert all(d["hurt_rate"] < 0.05 for d in early)
    # The first day after the change is mostly first visits, half of them in variant A;
    # later days are more and more return visits, fewer in A (who met the slow spinner came
    # back less), so its share falls, and still stands far above the days before.
    assert 0.35 < late[0]["hurt_rate"] < 0.65
    assert all(d["hurt_rate"] > 0.2 for d in late if d["sessions"] >= 200)
    # Hourly buckets add up to the days.
    _, hours = shops.store.query(
        "SELECT sum(sessions) FROM microx.moment_trend(site = 'worse',"
        " since = {before:DateTime('UTC')}, until = {until:DateTime('UTC')}, bucket = 'hour')"
        " WHERE moment = {m:String}",
        {"before": BEFORE, "until": UNTIL, "m": TRUTH.spinner},
    )
    assert hours[0][0] >= sum(d["sessions"] for d in days)


def test_the_report_opens_with_what_changed(shops: Shops) -> None:
    analysis = analyse(shops.store.query, "worse", SINCE, UNTIL)
    assert analysis.before == BEFORE
    text = summary(analysis)
    changed = text.index("What changed since the period before (2026-02-15 00:00 to 2026-02-22")
    assert changed < text.index("Moments to fix first")
    line = next(x for x in text.splitlines() if "REGRESSION" in x)
    assert f"[loading] {TRUTH.spinner} hurt" in line
    assert {r["moment"] for r in analysis.trend.dicts()} >= {TRUTH.spinner}
    page = render_html(analysis)
    assert page.index("What changed since the period before") < page.index("Moments to fix first")
    # Tables a reader takes as they are: headers in words, values with units, no nan,
    # None or exponents.
    body = page[page.index("</pre>") :]
    headers = re.findall(r"<th>(.*?)</th>", body)
    cells = re.findall(r"<td>(.*?)</td>", body)
    assert len(headers) > 50 and len(cells) > 500
    assert not [h for h in headers if "_" in h]
    assert not [c for c in cells if c in ("nan", "None", "NaN", "") or re.search(r"\de[+-]\d", c)]
    assert any(c.endswith(" ms") for c in cells) and any(c.endswith(" %") for c in cells)
    assert any(c.endswith(" pts") for c in cells) and "sessions hurt" in headers
    first = summary(analyse(shops.store.query, "worse", BEFORE, SINCE))
    assert "nothing to compare: no visits in the period before" in first


def test_nothing_is_news_when_nothing_changed(shops: Shops) -> None:
    changes = _changes(shops.store, "same")
    assert changes[TRUTH.spinner]["sessions_before"] > 1000
    assert {r["verdict"] for r in changes.values()} == {"steady"}
    calm = summary(analyse(shops.store.query, "same", SINCE, UNTIL))
    assert "nothing: no moment got significantly better or worse" in calm


def test_a_window_ends_where_until_says() -> None:
    now = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)
    assert parse_window("7d", "", now) == (now - dt.timedelta(days=7), now)
    assert parse_window("7d", "2026-03-01", now) == (BEFORE + dt.timedelta(days=7), UNTIL)
    assert parse_window("2026-02-01", "1d", now) == (
        dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
        now - dt.timedelta(days=1),
    )
    with pytest.raises(ValueError, match="--until: expected a span"):
        parse_window("7d", "yesterday", now)
    with pytest.raises(ValueError, match="must come before"):
        parse_window("2026-03-05", "2026-03-01", now)
