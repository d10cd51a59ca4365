"""Segments: the views over one device, browser, route, visit, variant or traffic source,
checked against what was sent and against the views over everyone."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from typing import Any, NamedTuple

import pytest

from collector.sink.store import Store
from collector.tools import journeys
from tests.conftest import open_store

START = dt.datetime(2026, 2, 20, tzinfo=dt.UTC)
# Part hours at both ends: a segment reads every hour from the rows, everyone's view the
# whole hours from the aggregate.
SINCE = dt.datetime(2026, 2, 21, 10, 30, tzinfo=dt.UTC)
UNTIL = dt.datetime(2026, 2, 25, 16, 15, tzinfo=dt.UTC)
VISITORS = 500
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1"
)
TRUTH = journeys.Truth()
SPINNER = "div.spinner"


def _share(sid: str) -> int:
    """0-5 from the session id: which user agent and source its pages get."""
    return hashlib.sha256(sid.encode()).digest()[0] % 6


def _mobile(envelope: dict[str, Any]) -> bool:
    return _share(envelope["sid"]) < 2


class Sent(NamedTuple):
    # Session id -> what its envelopes say: mobile, source, visitor, and the times of its
    # events (ms, as stored: the generator's envelopes arrive 40 ms after they are sent).
    mobile: dict[str, bool]
    source: dict[str, str]
    visitor: dict[str, str | None]
    times: dict[str, list[int]]
    # Per session: the spinner's longest wait in the window, and its variant.
    spinner: dict[str, float]
    variant: dict[str, str]
    # Each visitor's first session.
    first_of_visitor: set[str]
    # When each page of a product by its id was shown.
    id_pages: list[int]


class Shop(NamedTuple):
    store: Store
    sent: Sent


def _in_window(ms: int) -> bool:
    return SINCE.timestamp() * 1000 <= ms < UNTIL.timestamp() * 1000


@pytest.fixture(scope="module")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    """A shop's visitors over a week: a third of the sessions on an iPhone; a sixth come
    from a search engine, a sixth from a newsletter's utm_source, the rest direct."""
    url = f"chdb://{tmp_path_factory.mktemp('segments') / 'clickhouse'}"
    sent = Sent({}, {}, {}, {}, {}, {}, set(), [])
    envelopes = []
    seen_visitors: set[str] = set()
    for envelope in journeys.envelopes(VISITORS, seed=11, start=START, truth=TRUTH):
        sid = envelope["sid"]
        first = sid not in sent.mobile
        share = _share(sid)
        if first:
            sent.mobile[sid] = share < 2
            sent.source[sid] = {2: "google.com", 3: "newsletter"}.get(share, "direct")
            sent.visitor[sid] = envelope.get("vid")
            vid = envelope.get("vid")
            if vid and vid not in seen_visitors:
                seen_visitors.add(vid)
                sent.first_of_visitor.add(sid)
            if share == 2:
                envelope = {**envelope, "r": "https://www.google.com/search"}
            elif share == 3:
                envelope = {**envelope, "u": envelope["u"] + "?utm_source=Newsletter"}
        else:
            # Later pages were reached from the shop itself.
            envelope = {**envelope, "r": journeys.ORIGIN + "/"}
        if share == 4 and envelope["u"] == journeys.ORIGIN + "/product":
            # A product by its id, as a shop's router names it: /product/:id.
            envelope = {**envelope, "u": f"{journeys.ORIGIN}/product/{sum(map(ord, sid))}"}
        for e in envelope["e"]:
            ms = int(e["ts"]) + 40
            sent.times.setdefault(sid, []).append(ms)
            variant = (e.get("x") or {}).get(TRUTH.spinner_experiment)
            if variant:
                sent.variant[sid] = variant
            if e["t"] == "page" and "/product/" in envelope["u"]:
                sent.id_pages.append(ms)
            if e["t"] == "loading" and e.get("tg") == SPINNER and _in_window(ms):
                sent.spinner[sid] = max(sent.spinner.get(sid, 0.0), float(e["d"]))
        envelopes.append(envelope)
    with open_store(url) as store:
        store.migrate()
        journeys.store_envelopes(
            store, envelopes, lambda e: IPHONE if _mobile(e) else journeys.USER_AGENT
        )
        yield Shop(store, sent)


def _window(**more: Any) -> dict[str, Any]:
    return {"site": journeys.SITE, "since": SINCE, "until": UNTIL, **more}


def _moments(store: Store, segment: str) -> dict[str, dict[str, Any]]:
    columns, rows = store.query(
        "SELECT * FROM microx.friction_by_moment_in(site = {site:String},"
        " since = {since:DateTime('UTC')}, until = {until:DateTime('UTC')},"
        " segment = {segment:String})",
        _window(segment=segment),
    )
    return {r[1]: dict(zip(columns, r, strict=True)) for r in rows}


def _sessions(store: Store, segment: str) -> set[str]:
    _, rows = store.query(
        "SELECT toString(session_id) FROM microx.segment_sessions(site = {site:String},"
        " since = {since:DateTime('UTC')}, until = {until:DateTime('UTC')},"
        " segment = {segment:String}, whole = 1)",
        _window(segment=segment),
    )
    return {r[0] for r in rows}


def _active(sent: Sent) -> set[str]:
    """The sessions with an event in the window."""
    return {sid for sid, times in sent.times.items() if any(_in_window(t) for t in times)}


def test_devices_split_every_moment_of_everyone(shop: Shop) -> None:
    """Each moment's counts on iPhones and on desktops add up to everyone's, whose whole
    hours come from the hourly aggregate; and the iPhones' are those of the rows sent."""
    everyone = _moments(shop.store, "")
    mobile = _moments(shop.store, "device=mobile")
    desktop = _moments(shop.store, "device=Desktop")
    assert mobile and desktop and set(mobile) | set(desktop) == set(everyone)
    for name, row in everyone.items():
        for column in ("occurrences", "timed", "slow", "clicks", "rage_clicks", "form_abandons"):
            parts = mobile.get(name, {}).get(column, 0) + desktop.get(name, {}).get(column, 0)
            assert parts == row[column], (name, column)
    sent_mobile = sum(
        sum(_in_window(t) for t in times)
        for sid, times in shop.sent.times.items()
        if shop.sent.mobile[sid]
    )
    assert sum(m["occurrences"] for m in mobile.values()) == sent_mobile
    # The same visitors named by their browser and system, in any case.
    # (Counts: quantiles merged in another order may differ in their last digits.)
    counted = ("occurrences", "sessions", "hurt_sessions", "slow", "form_abandons")
    same = _moments(shop.store, "browser=safari&os=IOS")
    assert {n: [m[c] for c in counted] for n, m in same.items()} == {
        n: [m[c] for c in counted] for n, m in mobile.items()
    }
    assert _moments(shop.store, "device=mobile&browser=Chrome") == {}
    # A third of the sessions: not everyone, not no one.
    assert 0.2 < sent_mobile / sum(m["occurrences"] for m in everyone.values()) < 0.45


def test_a_variant_sees_its_own_spinner(shop: Shop) -> None:
    """The spinner is slow in variant A only: its sessions kept waiting past the budget are
    those of A that waited, as sent; B's are those of B."""
    rates = {}
    for arm in ("A", "B"):
        # The spinner on a product's page, by its id or not: a session sees one of them.
        rows = [
            m
            for name, m in _moments(shop.store, f"variant={TRUTH.spinner_experiment}/{arm}").items()
            if name.startswith(SPINNER + " @ ")
        ]
        waits = {s: d for s, d in shop.sent.spinner.items() if shop.sent.variant.get(s) == arm}
        assert len(rows) == 2 and sum(m["sessions"] for m in rows) == len(waits)
        hurt = sum(m["hurt_sessions"] for m in rows)
        assert hurt == sum(d > 1000 for d in waits.values())
        rates[arm] = hurt / len(waits)
    assert rates["A"] > 2 * rates["B"]


def test_new_and_returning_visitors(shop: Shop) -> None:
    """A visitor's first session is new, their later ones returning; a session without a
    visitor id is neither."""
    active = _active(shop.sent)
    with_id = {s for s in active if shop.sent.visitor[s]}
    new = _sessions(shop.store, "visit=new")
    returning = _sessions(shop.store, "visit=returning")
    assert new == with_id & shop.sent.first_of_visitor
    assert returning == with_id - shop.sent.first_of_visitor
    assert new and returning and len(with_id) < len(active)


def test_traffic_source_of_the_first_page(shop: Shop) -> None:
    """The first page's utm_source, else its referrer's domain, else direct: later pages
    referred by the shop itself change nothing."""
    active = _active(shop.sent)
    for source in ("google.com", "newsletter", "direct"):
        expected = {s for s in active if shop.sent.source[s] == source}
        assert expected and _sessions(shop.store, f"source={source}") == expected


def test_a_session_segment_filters_the_moments(shop: Shop) -> None:
    """Moments of returning visitors from search: each moment's occurrences are those of
    the rows of the sessions in the segment."""
    segment = "visit=returning&source=google.com"
    sessions = _sessions(shop.store, segment)
    _, rows = shop.store.query(
        "SELECT count() FROM microx.events WHERE site = {site:String}"
        " AND event_time >= {since:DateTime('UTC')} AND event_time < {until:DateTime('UTC')}"
        " AND toString(session_id) IN {sessions:Array(String)}",
        _window(sessions=sorted(sessions)),
    )
    moments = _moments(shop.store, segment)
    assert sessions and sum(m["occurrences"] for m in moments.values()) == rows[0][0]


def test_a_route_keeps_the_moments_on_it(shop: Shop) -> None:
    """A route template holds the pages of every id, and only the moments on them."""
    everyone = _moments(shop.store, "")
    route = "/product/:id"
    on_route = _moments(shop.store, f"route={route}")
    assert route in on_route and on_route[route]["occurrences"] > 1
    for name, row in on_route.items():
        if row["kind"] in ("page", "click", "loading", "vital"):
            assert name == route or name.endswith(" @ " + route), name
            assert row["occurrences"] == everyone[name]["occurrences"], name
    assert on_route[route]["occurrences"] == sum(map(_in_window, shop.sent.id_pages))


def test_trends_and_changes_take_the_segment(shop: Shop) -> None:
    segment = f"variant={TRUTH.spinner_experiment}/A"
    moment = f"{SPINNER} @ /product"
    ranked = _moments(shop.store, segment)[moment]
    _, days = shop.store.query(
        "SELECT sum(sessions) FROM microx.moment_trend_in(site = {site:String},"
        " since = {since:DateTime('UTC')}, until = {until:DateTime('UTC')}, bucket = 'hour',"
        " segment = {segment:String}) WHERE moment = {moment:String}",
        _window(segment=segment, moment=moment),
    )
    # A session's spinner waits all fall within an hour of one another, mostly in one.
    assert ranked["sessions"] <= days[0][0] <= ranked["sessions"] * 1.2
    columns, rows = shop.store.query(
        "SELECT * FROM microx.moment_changes_in(site = {site:String},"
        " since = {since:DateTime('UTC')}, until = {until:DateTime('UTC')},"
        " before = {before:DateTime('UTC')}, segment = {segment:String})"
        " WHERE moment = {moment:String}",
        _window(segment=segment, moment=moment, before=START),
    )
    (change,) = [dict(zip(columns, r, strict=True)) for r in rows]
    assert change["sessions"] == ranked["sessions"]
    assert change["hurt_sessions"] == ranked["hurt_sessions"]


@pytest.mark.parametrize(
    ("segment", "says"),
    [
        ("devise=mobile", "the keys device, browser"),
        ("visit=old", "new or returning"),
        ("variant=basket-spinner", "EXPERIMENT/VARIANT"),
    ],
)
def test_an_unknown_segment_is_refused(shop: Shop, segment: str, says: str) -> None:
    with pytest.raises(Exception, match=says):
        _moments(shop.store, segment)


def test_sessions_of_a_segment_are_judged_whole(shop: Shop) -> None:
    """The views of sessions take the segment's sessions whole: peak-end has each iPhone
    session once; and whether one was followed by a return counts the visitor's next
    session on any device."""
    mobile = _sessions(shop.store, "device=mobile")
    assert mobile == {s for s in _active(shop.sent) if shop.sent.mobile[s]}
    _, rows = shop.store.query(
        "SELECT toString(session_id) FROM microx.session_peak_end_in(site = {site:String},"
        " since = {since:DateTime('UTC')}, until = {until:DateTime('UTC')},"
        " segment = 'device=mobile')",
        _window(),
    )
    assert sorted(r[0] for r in rows) == sorted(mobile)
    # Expected from what was sent: each session's start in the window, its visitor's next.
    window_ms = (SINCE.timestamp() * 1000, UNTIL.timestamp() * 1000)
    starts = {
        s: min(t for t in times if _in_window(t))
        for s, times in shop.sent.times.items()
        if any(_in_window(t) for t in times)
    }
    by_visitor: dict[str, list[int]] = {}
    for s, start in starts.items():
        if shop.sent.visitor[s]:
            by_visitor.setdefault(str(shop.sent.visitor[s]), []).append(start)
    day = 86_400_000
    judged = met = across = 0
    for s in mobile:
        vid = shop.sent.visitor[s]
        if not vid or starts[s] + day > window_ms[1]:
            continue
        judged += 1
        later = [t for t in by_visitor[str(vid)] if t > starts[s]]
        if later and min(later) <= starts[s] + day:
            met += 1
            nxt = next(o for o, t in starts.items() if t == min(later))
            across += not shop.sent.mobile[nxt]
    _, ((got_judged, got_met),) = shop.store.query(
        "SELECT countIf(judged), countIf(judged AND met) FROM microx.session_goals_in("
        "site = {site:String}, since = {since:DateTime('UTC')}, until = {until:DateTime('UTC')},"
        " segment = 'device=mobile', goal = 'return', name = '', target = '', days = 1,"
        " rating = 0)",
        _window(),
    )
    assert (got_judged, got_met) == (judged, met)
    # Returns on another device than the iPhone count too.
    assert met and across


@pytest.mark.parametrize(
    ("view", "keys", "columns"),
    [
        (
            f"funnel_in(funnel = '{journeys.FUNNEL}', steps = {list(journeys.FUNNEL_STEPS)},"
            " window_s = 86400, ",
            ("step",),
            ("sessions", "skipped", "strict_sessions"),
        ),
        ("form_abandonment_in(", ("form", "field"), ("abandons", "focus_only", "reached")),
        ("paths_in(", ("trigger", "subject", "path", "outcome"), ("times", "sessions")),
    ],
)
def test_devices_split_funnels_forms_and_paths(
    shop: Shop, view: str, keys: tuple[str, ...], columns: tuple[str, ...]
) -> None:
    """A session is on one device: its funnel steps, form visits and paths count in that
    device's segment and in no other."""

    def counts(segment: str) -> dict[tuple[Any, ...], dict[str, Any]]:
        names, rows = shop.store.query(
            f"SELECT * FROM microx.{view}site = {{site:String}},"
            " since = {since:DateTime('UTC')}, until = {until:DateTime('UTC')},"
            " segment = {segment:String})",
            _window(segment=segment),
        )
        found = [dict(zip(names, r, strict=True)) for r in rows]
        return {tuple(str(r[k]) for k in keys): r for r in found}

    everyone, mobile, desktop = counts(""), counts("device=mobile"), counts("device=desktop")
    assert mobile and desktop and len(everyone) > 1
    for k, row in everyone.items():
        for c in columns:
            assert mobile.get(k, {}).get(c, 0) + desktop.get(k, {}).get(c, 0) == row[c], (k, c)
