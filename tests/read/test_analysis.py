"""The analysis finds what the journey generator injected, on the embedded engine."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest

from collector.read.analysis import analyse, parse_since, summary
from collector.read.report import render_html
from collector.sink.store import Store
from collector.tools import journeys
from tests.conftest import open_store

VISITORS = 1200
SINCE = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
UNTIL = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)
WINDOW = "site = 'shop', since = '2000-01-01 00:00:00', until = '2100-01-01 00:00:00'"


def _load(
    store: Store, truth: journeys.Truth, seed: int, site: str = journeys.SITE
) -> list[dict[str, Any]]:
    store.migrate()
    sent = list(journeys.envelopes(VISITORS, seed=seed, truth=truth, site=site))
    journeys.store_envelopes(store, sent)
    # Each event with the session it was sent in.
    return [{**e, "sid": envelope["sid"]} for envelope in sent for e in envelope["e"]]


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Store, list[dict[str, Any]]]]:
    url = f"chdb://{tmp_path_factory.mktemp('analysis') / 'clickhouse'}"
    with open_store(url) as store:
        yield store, _load(store, journeys.Truth(), seed=11)


def rows(store: Store, sql: str) -> list[dict[str, Any]]:
    columns, values = store.query(sql)
    return [dict(zip(columns, r, strict=True)) for r in values]


def test_the_injected_slow_spinner_ranks_first(shop: tuple[Store, list[dict[str, Any]]]) -> None:
    store, _ = shop
    ranked = rows(store, f"SELECT * FROM microx.friction_by_moment({WINDOW})")
    truth = journeys.Truth()
    assert ranked[0]["moment"] == truth.spinner
    assert ranked[0]["kind"] == "loading"
    # Half the sessions (variant A) waited 5 s against a 1 s budget; B was within it.
    assert 0.4 < ranked[0]["hurt_sessions"] / ranked[0]["sessions"] < 0.6
    assert ranked[0]["p95"] > 4000
    scores = [r["score"] for r in ranked]
    assert scores == sorted(scores, reverse=True)
    cues = rows(store, f"SELECT * FROM microx.slowest_loading_cues({WINDOW})")
    assert [c["cue"] for c in cues] == [truth.spinner]
    assert cues[0]["started_by"] == ["button#add"]


def test_without_the_slow_spinner_it_is_not_ranked(
    shop: tuple[Store, list[dict[str, Any]]],
) -> None:
    store, _ = shop
    fast = dataclasses.replace(journeys.Truth(), spinner_slow_ms=700.0)
    _load(store, fast, seed=11, site="calm")
    window = WINDOW.replace("'shop'", "'calm'")
    ranked = rows(store, f"SELECT moment, score FROM microx.friction_by_moment({window})")
    scores = {r["moment"]: r["score"] for r in ranked}
    assert scores[fast.spinner] == 0
    assert ranked[0]["moment"] != fast.spinner


def test_the_hourly_aggregate_agrees_with_the_raw_rows(
    shop: tuple[Store, list[dict[str, Any]]],
) -> None:
    store, sent = shop
    by_moment = {
        r["moment"]: r for r in rows(store, f"SELECT * FROM microx.friction_by_moment({WINDOW})")
    }
    clicks = Counter(e["tg"] for e in sent if e["t"] == "click")
    dead = Counter(e["tg"] for e in sent if e["t"] == "dead_click")
    rage = Counter(e["tg"] for e in sent if e["t"] == "rage_click")
    coupon = by_moment[journeys.Truth().dead_button]
    assert coupon["clicks"] == clicks["button#coupon"]
    assert coupon["dead_clicks"] == dead["button#coupon"]
    assert coupon["rage_clicks"] == rage["button#coupon"] > 0
    assert sum(r["occurrences"] for r in by_moment.values()) == len(sent)


def test_the_dead_button_tops_the_click_targets(shop: tuple[Store, list[dict[str, Any]]]) -> None:
    store, _ = shop
    targets = rows(store, f"SELECT * FROM microx.click_targets({WINDOW})")
    assert targets[0]["target"] == journeys.Truth().dead_button
    assert targets[0]["frustration_rate"] == 1
    assert all(t["dead_clicks"] == 0 for t in targets[1:])


def test_the_abandonment_field_is_named(shop: tuple[Store, list[dict[str, Any]]]) -> None:
    store, sent = shop
    fields = rows(store, f"SELECT * FROM microx.form_abandonment({WINDOW})")
    top = fields[0]
    assert (top["form"], top["field"]) == (journeys.FORM, journeys.Truth().abandon_field)
    assert top["share_of_abandons"] == 1
    # 40 % of those who reached the field left there.
    assert top["abandon_rate"] == pytest.approx(0.4, abs=0.04)
    assert top["abandons"] == sum(1 for e in sent if e["t"] == "form_abandon")
    assert top["median_hesitation_ms"] > 2 * fields[1]["median_hesitation_ms"]


def test_repeated_views_are_counted_per_visit(shop: tuple[Store, list[dict[str, Any]]]) -> None:
    store, _ = shop
    truth = journeys.Truth()
    # What was sent, per visit: views and basket quantity of the item.
    views: Counter[str] = Counter()
    basket: Counter[str] = Counter()
    visitor: dict[str, str | None] = {}
    for envelope in journeys.envelopes(VISITORS, seed=11, truth=truth):
        sid = envelope["sid"]
        visitor[sid] = envelope.get("vid")
        for e in envelope["e"]:
            if e["t"] == "signal" and e["tg"] == truth.item:
                views[sid] += e["n"] == "view"
                basket[sid] += e.get("val", 0) if e["n"] == "basket" else 0
    got = rows(store, f"SELECT * FROM microx.customer_signals({WINDOW})")
    assert len(got) == len(views) > VISITORS
    by_session = {str(r["session_id"]): r for r in got}
    for sid, n in views.items():
        r = by_session[sid]
        assert (r["item"], r["views"], r["repeated_view"]) == (truth.item, n, n >= 2)
        assert r["basket_quantity"] == basket[sid] and r["basket_changes"] == 1
        assert (str(r["visitor_id"]) if r["visitor_id"] else None) == visitor[sid]
    repeated = sum(1 for r in got if r["repeated_view"])
    # About half the visits came back to the item (session ids starting 0-7).
    assert 0.4 < repeated / len(got) < 0.6
    assert [r["views"] for r in got] == sorted((r["views"] for r in got), reverse=True)


def test_funnel_steps_come_in_order_and_only_shrink(
    shop: tuple[Store, list[dict[str, Any]]],
) -> None:
    store, sent = shop
    steps = rows(store, f"SELECT * FROM microx.funnel_steps({WINDOW})")
    assert [s["step"] for s in steps] == list(journeys.FUNNEL_STEPS)
    reached = Counter(e["tg"] for e in sent if e["t"] == "step")
    assert [s["sessions"] for s in steps] == [reached[s] for s in journeys.FUNNEL_STEPS]
    # The address form loses 40 %: the biggest drop is before payment.
    drops = {s["step"]: s["drop_off"] for s in steps}
    assert max(drops, key=lambda k: drops[k]) == "payment"
    order = "['basket', 'address', 'payment', 'done']"
    levels = rows(
        store,
        f"SELECT * FROM microx.funnel({WINDOW}, funnel = 'checkout', steps = {order},"
        " window_s = 86400)",
    )
    assert [lv["sessions"] for lv in levels] == [s["sessions"] for s in steps]
    # Out of order, nobody gets past the first step.
    backwards = rows(
        store,
        f"SELECT * FROM microx.funnel({WINDOW}, funnel = 'checkout',"
        " steps = ['done', 'basket'], window_s = 86400)",
    )
    assert backwards[1]["sessions"] == 0


def test_peak_end_takes_the_worst_and_the_last_moment(
    shop: tuple[Store, list[dict[str, Any]]],
) -> None:
    store, sent = shop
    sessions = rows(store, f"SELECT * FROM microx.session_peak_end({WINDOW})")
    abandoned = [s for s in sessions if s["end_moment"] == journeys.FORM]
    assert len(abandoned) == sum(1 for e in sent if e["t"] == "form_abandon")
    assert all(s["peak"] == 1 and s["peak_end"] == 1 for s in abandoned)
    finished = [s for s in sessions if s["end_moment"] == "checkout"]  # their feedback
    assert finished and all(s["end_pain"] == 0 for s in finished)
    assert all(s["peak_end"] == pytest.approx(s["peak"] / 2, abs=1e-4) for s in finished)


def test_friction_lowers_the_return_rate(shop: tuple[Store, list[dict[str, Any]]]) -> None:
    store, _ = shop
    impact = {r["moment"]: r for r in rows(store, f"SELECT * FROM microx.loyalty_impact({WINDOW})")}
    spinner = impact[journeys.Truth().spinner]
    # Injected: 30 % come back after the slow spinner, 60 % otherwise.
    assert spinner["return_rate_met"] == pytest.approx(0.3, abs=0.06)
    assert spinner["return_rate_not_met"] == pytest.approx(0.6, abs=0.06)
    assert spinner["significant"] and spinner["ci_high"] < 0
    assert spinner["ci_low"] < spinner["difference"] < spinner["ci_high"]
    # The coupon button changes nothing about coming back.
    assert not impact[journeys.Truth().dead_button]["significant"]


def test_experiments_flag_the_real_difference_and_not_the_null(
    shop: tuple[Store, list[dict[str, Any]]],
) -> None:
    store, _ = shop
    truth = journeys.Truth()
    result = {
        r["experiment"]: r
        for r in rows(store, f"SELECT * FROM microx.experiment_comparison({WINDOW})")
    }
    spinner = result[truth.spinner_experiment]
    assert (spinner["control"], spinner["variant"]) == ("A", "B")
    assert spinner["significant"] and spinner["friction_p_value"] < 0.001
    assert spinner["variant_friction"] < spinner["control_friction"]
    assert spinner["variant_hurt_rate"] < spinner["control_hurt_rate"]
    null = result[truth.null_experiment]
    assert not null["significant"] and null["friction_p_value"] > 0.05


def test_rage_and_dead_clicks_recomputed_with_other_thresholds(
    shop: tuple[Store, list[dict[str, Any]]],
) -> None:
    store, sent = shop
    coupon = journeys.Truth().dead_button
    default = rows(
        store, f"SELECT * FROM microx.rage_clicks_with({WINDOW}, clicks = 3, ms = 1000, px = 30)"
    )
    assert default == [
        {
            "target": coupon,
            "bursts": sum(1 for e in sent if e["t"] == "rage_click"),
            "sessions": len({e["sid"] for e in sent if e["t"] == "rage_click"}),
            "avg_clicks": 4.0,
        }
    ]
    # Bursts are four presses about 200 ms apart: a stricter count or gap finds none.
    assert (
        rows(
            store,
            f"SELECT * FROM microx.rage_clicks_with({WINDOW}, clicks = 5, ms = 1000, px = 30)",
        )
        == []
    )
    assert (
        rows(
            store, f"SELECT * FROM microx.rage_clicks_with({WINDOW}, clicks = 3, ms = 100, px = 30)"
        )
        == []
    )
    dead = {
        r["target"]: r
        for r in rows(store, f"SELECT * FROM microx.dead_clicks_with({WINDOW}, ms = 100)")
    }
    slow_cards = sum(
        1 for e in sent if e["t"] == "click" and e["tg"] == "a.product-card" and e["d"] > 100
    )
    assert dead["a.product-card @ /"]["dead_clicks"] == slow_cards
    assert dead[coupon]["dead_rate"] == 1


def test_the_report_and_its_summary_say_it(shop: tuple[Store, list[dict[str, Any]]]) -> None:
    store, _ = shop
    truth = journeys.Truth()
    analysis = analyse(store.query, journeys.SITE, SINCE, UNTIL)
    text = summary(analysis)
    first = text.split("Moments to fix first")[1].splitlines()[1]
    assert truth.spinner in first
    assert f"at field {truth.abandon_field!r}" in text
    assert f"Experiment {truth.spinner_experiment!r}: B vs A" in text
    assert "no significant difference" in text.split(truth.null_experiment)[1]
    page = render_html(analysis)
    for chart in ("ranked", "funnel-0", "forms", "loading", "peak-end", "loyalty", "experiments"):
        assert f'data-chart="{chart}"' in page
    assert "<script>" in page and "cdn" not in page.split("<body>")[1].lower()


def test_since_accepts_spans_and_dates() -> None:
    now = dt.datetime(2026, 11, 25, 12, tzinfo=dt.UTC)
    assert parse_since("7d", now) == now - dt.timedelta(days=7)
    assert parse_since("36h", now) == now - dt.timedelta(hours=36)
    assert parse_since("2026-11-01", now) == dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match="--since"):
        parse_since("last week", now)
