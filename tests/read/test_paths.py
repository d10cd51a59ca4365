"""Paths: what visitors did before leaving a form or a funnel, and after a frustrated click,
recomputed here from what was sent."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterator
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import pytest

from collector.read.analysis import analyse, summary
from collector.read.report import render_html
from collector.sink.store import Store
from collector.tools import journeys
from tests.conftest import open_store

WINDOW = "site = 'shop', since = '2000-01-01 00:00:00', until = '2100-01-01 00:00:00'"
NOT_ACTIONS = {"vital", "signal", "form_field", "error", "long_task"}
DERIVED = {"rage_click", "dead_click", "error_click", "form_abandon"}


class Shop(NamedTuple):
    store: Store
    sessions: dict[str, list[dict[str, Any]]]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    sessions: dict[str, list[dict[str, Any]]] = {}
    with open_store(f"chdb://{tmp_path_factory.mktemp('paths') / 'clickhouse'}") as store:
        store.migrate()
        sent = list(journeys.envelopes(600, seed=21))
        journeys.store_envelopes(store, sent)
        for envelope in sent:
            path = urlsplit(envelope["u"]).path
            for e in envelope["e"]:
                sessions.setdefault(envelope["sid"], []).append({**e, "path": path})
        yield Shop(store, sessions)


def _moment(e: dict[str, Any]) -> str:
    t = e["t"]
    if t in ("page", "route"):
        return str(e["path"])
    if t in ("click", "rage_click", "dead_click", "error_click"):
        return f"{e['tg']} @ {e['path']}"
    if t == "loading":
        name = e.get("n", "")
        return f"{e['tg'] if name in ('', 'busy', 'progressbar') else name} @ {e['path']}"
    if t == "step":
        return f"{e['n']} / {e['tg']}"
    return str(e.get("n", ""))


def _expected(sessions: dict[str, list[dict[str, Any]]]) -> Counter[tuple[Any, ...]]:
    found: Counter[tuple[Any, ...]] = Counter()
    for events in sessions.values():
        steps = sorted(
            (e for e in events if e["t"] not in NOT_ACTIONS), key=lambda e: (e["ts"], e["q"])
        )
        actions = [e for e in steps if e["t"] not in DERIVED]
        for e in steps:
            if e["t"] not in ("form_abandon", "rage_click", "dead_click"):
                continue
            ended = e["ts"] + (e.get("d", 0) if e["t"] == "rage_click" else 0)
            before = [a for a in actions if (a["ts"], a["q"]) < (e["ts"], e["q"])]
            after = [
                a for a in actions if a["ts"] > ended or (a["ts"] == ended and a["q"] > e["q"])
            ]
            label = [
                f"{a['t']}: {_moment(a)}"
                for a in (before[-3:] if e["t"] == "form_abandon" else after[:2])
            ]
            if e["t"] == "form_abandon":
                outcome = "stayed" if after else "left the site"
            elif not after:
                outcome = "left"
            elif after[0]["t"] == "click" and after[0]["tg"] == e["tg"]:
                outcome = "retried"
            elif re.search("help|support|contact|chat|faq", label[0].lower()):
                outcome = "asked for help"
            else:
                outcome = "went on"
            found[e["t"], _moment(e), tuple(label), outcome] += 1
    return found


def test_the_paths_around_frustration_are_the_visitors_own(shop: Shop) -> None:
    columns, rows = shop.store.query(f"SELECT * FROM microx.paths({WINDOW})")
    got = {
        (r["trigger"], r["subject"], tuple(r["path"]), r["outcome"]): r
        for r in (dict(zip(columns, row, strict=True)) for row in rows)
    }
    expected = _expected(shop.sessions)
    assert {k: r["times"] for k, r in got.items()} == dict(expected)
    # The shop's coupon button never answers: most who pressed it once pressed it again.
    coupon = journeys.Truth().dead_button
    dead = Counter({k[3]: r["times"] for k, r in got.items() if k[:2] == ("dead_click", coupon)})
    assert set(dead) >= {"retried", "went on", "left"}
    assert sum(
        r["share"] for k, r in got.items() if k[:2] == ("dead_click", coupon)
    ) == pytest.approx(1, abs=1e-3)
    # Before leaving the address form, most had only opened it.
    left = [r for k, r in got.items() if k[0] == "form_abandon"]
    top = max(left, key=lambda r: r["times"])
    assert top["path"][-1] == f"form_start: {journeys.FORM}"


def test_visitors_who_never_finished_the_checkout_left_from_where_they_were(shop: Shop) -> None:
    _, rows = shop.store.query(
        f"SELECT * FROM microx.funnel_exit_paths({WINDOW}, funnel = 'checkout', last_step = 'done')"
    )
    got = {tuple(r[0]): r[1] for r in rows}
    expected: Counter[tuple[str, ...]] = Counter()
    for events in shop.sessions.values():
        steps = {e["tg"] for e in events if e["t"] == "step" and e["n"] == journeys.FUNNEL}
        if not steps or "done" in steps:
            continue
        actions = sorted(
            (e for e in events if e["t"] not in NOT_ACTIONS | DERIVED),
            key=lambda e: (e["ts"], e["q"]),
        )
        expected[tuple(f"{a['t']}: {_moment(a)}" for a in actions[-3:])] += 1
    assert got == dict(expected)
    assert sum(got.values()) > 100


def test_the_report_says_what_came_of_frustration(shop: Shop) -> None:
    now = dt.datetime.now(dt.UTC)
    analysis = analyse(shop.store.query, journeys.SITE, now - dt.timedelta(days=30), now)
    text = summary(analysis)
    coupon = journeys.Truth().dead_button
    line = next(x for x in text.splitlines() if f"after a dead click on {coupon}:" in x)
    assert "retried" in line and "left" in line
    assert f"left funnel {journeys.FUNNEL!r} most after" in text
    page = render_html(analysis)
    assert "Paths: before leaving, after a frustrated click" in page
    assert f"form_start: {journeys.FORM}</td>" in page
