"""The engine builds the same rows from the spool's records as the Python rules did
(``rows.enrich``): the same records are stored both ways and compared column by column,
and each SQL rule is held to its Python counterpart over generated input."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.ingest.validate import judge
from collector.rows.columns import EVENT_COLUMNS, REJECTED_COLUMNS
from collector.rows.enrich import _path, _prop_value, language, scrub_url
from collector.rows.record import Accepted, Refusal, decode
from collector.rows.rejection import Rejection
from collector.rows.useragent import classify
from collector.sink.blocks import insert_rows
from collector.sink.copies import Found
from collector.sink.records import EVENTS, REJECTED, Erasure, index
from collector.sink.store import Store
from tests.conftest import BROWSER_UA, make_envelope, make_event, now_ms, open_store

IPHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
URLS = [
    "https://shop.example/",
    "https://shop.example/checkout/pay?step=2#top",
    "https://shop.example/reset/abcdef0123456789abcdef/done",
    "https://shop.example/u/jane.doe@example.com/orders",
    "https://shop.example/u/jane%40example.com",
    "http://[::1]:8080/a/b",
    "http://[::1/a",
    "http://[127.0.0.1]/x",
    "//cdn.example/lib.js",
    "/relative/path?x=1",
    "",
    "https://grüße.example/straße/ÄÖÜäöü-langer-name-über",
    "https://shop.example/\u0663\u0664\u0665\u0666\u0667\u0668\u0669aaaaaaaaaaaa",
    " \t https://shop.example/a\tb\nc",
    "mailto:someone@example.com",
    "https://ex\u2100ample.com/",
    "https://shop.example/\u017fsssssssssssssss1",
]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(f"chdb://{tmp_path / 'ch'}") as store:
        store.migrate()
        yield store


def envelopes() -> list[tuple[dict[str, Any], str, str]]:
    """Envelopes with every field the rows are made of, each with the User-Agent and
    Accept-Language it was sent with."""
    sent = now_ms()
    out: list[tuple[dict[str, Any], str, str]] = []
    props: dict[str, Any] = {
        "s": 'text with "quotes", \\ and é',
        "i": 42,
        "neg": -7,
        "f": 1.5,
        "tiny": 1e-05,
        "small": 0.0001,
        "big": 1e20,
        "wide": 1234567890123456.8,
        "zero": -0.0,
        "whole": 100.0,
        "t": True,
        "no": False,
    }
    for n, url in enumerate(URLS):
        at = sent - 60_000 * n
        events = [
            make_event(q=0, t="page", d=1200.5, ts=at - 900.0),
            make_event(
                q=1, t="click", tg="button#buy", l="Buy", val=-3, p=props, x={"e": "b"}, ts=at
            ),
            make_event(q=2, t="step", n="pay", tg="card", u=URLS[(n + 3) % len(URLS)], ts=at),
            make_event(q=3, t="rage_click", df="rage@1:3/1000ms/30px", ts=at - 5_000),
            make_event(q=4, t="vital", n="CLS", val=0.05, p={}, ts=at - 1),
        ]
        context: dict[str, Any] = {"vw": 390 + n, "vh": 844, "tz": "Europe/Berlin", "sdk": "0.1"}
        if n % 2:
            context |= {"lang": "de-DE", "cs": ["measure", "visitor"], "sr": 0.25}
        fields: dict[str, Any] = {"u": url, "at": at, "c": context}
        if n % 3:
            fields |= {"r": URLS[(n + 1) % len(URLS)], "vid": str(uuid.uuid4()).upper()}
        languages = ["", "*", " fr-CH , fr;q=0.9", "en-US;q=1", "\xa0pt-BR\x85,", "x" * 50]
        agent = [BROWSER_UA, IPHONE_UA, "", "curl/8.0"][n % 4]
        out.append((make_envelope(*events, **fields), agent, languages[n % len(languages)]))
    # A client clock far behind: the corrected time is held at the epoch.
    out.append((make_envelope(make_event(ts=1_000), at=2_000), BROWSER_UA, ""))
    return out


def records(received_ms: int) -> list[bytes]:
    out: list[bytes] = []
    for envelope, agent, accept_language in envelopes():
        verdict = judge(envelope)
        assert verdict.rejected == []
        out.append(
            Accepted(
                received_ms, verdict.envelope, verdict.accepted, [], agent, accept_language
            ).encode()
        )
    refused = [
        Rejection("bad_type", "e[0].d", "not a number", 0, '{"d": "slow"}'),
        Rejection("body_not_json", "", "the body is not JSON", -1, "\u00e9\x00\\"),
    ]
    out.append(Refusal(received_ms, "demo", refused).encode())
    owned = judge(make_envelope(make_event(), vid=str(uuid.uuid4()))).envelope
    out.append(Refusal(received_ms, "demo", refused[:1], owned).encode())
    return out


def stored(store: Store, table: str, columns: tuple[str, ...]) -> list[tuple[Any, ...]]:
    _, rows = store.query(f"SELECT {', '.join(columns)} FROM microx.{table}")
    store.command(f"TRUNCATE TABLE microx.{table}")
    return sorted(rows, key=repr)


def test_the_engine_builds_the_rows_python_built(store: Store) -> None:
    payloads = records(now_ms())
    python = decode(payloads)
    insert_rows(store, "events", EVENT_COLUMNS, python.events)
    insert_rows(store, "rejected_events", REJECTED_COLUMNS, python.rejected)
    before = (
        stored(store, "events", EVENT_COLUMNS),
        stored(store, "rejected_events", REJECTED_COLUMNS),
    )
    block = index(payloads)
    store.insert_records(EVENTS, block.events)
    store.insert_records(REJECTED, block.rejected)
    after = (
        stored(store, "events", EVENT_COLUMNS),
        stored(store, "rejected_events", REJECTED_COLUMNS),
    )
    assert len(before[0]) == len(python.events) > 80 and len(before[1]) == 3
    for table, columns, old, new in zip(
        ("events", "rejected_events"), (EVENT_COLUMNS, REJECTED_COLUMNS), before, after, strict=True
    ):
        assert len(new) == len(old), table
        for old_row, new_row in zip(old, new, strict=True):
            differ = {
                c: (o, n) for c, o, n in zip(columns, old_row, new_row, strict=True) if o != n
            }
            assert differ == {}, table


def test_a_record_from_before_ingest_classified_agents_gets_its_classes(store: Store) -> None:
    envelope = judge(make_envelope(make_event())).envelope
    record = orjson.loads(Accepted(now_ms(), envelope, envelope["e"], [], IPHONE_UA).encode())
    del record["uc"]
    block = index([orjson.dumps(record)])
    store.insert_records(EVENTS, block.events)
    _, rows = store.query("SELECT browser, os, device FROM microx.events")
    assert rows == [classify(IPHONE_UA)] == [("Safari", "iOS", "mobile")]


def test_repeats_stored_rows_and_erased_rows_are_left_out_of_the_records(store: Store) -> None:
    received = now_ms()
    first, second, third = (make_event(q=j) for j in range(3))
    envelope = judge(make_envelope(first, second, {**first, "q": 5}, third)).envelope
    payload = Accepted(received, envelope, envelope["e"], [], BROWSER_UA).encode()
    block = index(
        [payload, payload],
        stored=Found(frozenset({second["id"]})),
        erasure=Erasure(frozenset({third["id"]})),
    )
    assert block.ids == (first["id"],)
    assert (block.duplicates, block.erased) == (5, 2)
    store.insert_records(EVENTS, block.events)
    _, rows = store.query("SELECT toString(event_id), seq FROM microx.events")
    assert rows == [(first["id"], 0)]


# -- each rule against its Python counterpart ------------------------------------------

URL_TEXT = st.text(
    alphabet=st.sampled_from(
        list("abgzAGZ019/:?#&=@%.-_[]v \u00e9\u017fK\u212a\u0663\t\n\x01\u2100")
    )
    | st.characters(codec="utf-8"),
    max_size=40,
)
URL_LIKE = st.builds(
    lambda scheme, host, rest: f"{scheme}{host}{rest}",
    st.sampled_from(["https://", "http://", "//", "", "a+b.c:", "1x:", " https://"]),
    st.sampled_from(
        ["shop.example", "[::1]", "[v1.x]", "[1.2.3.4]", "[::1", "ex\u2100.com", "u@h:1"]
    ),
    URL_TEXT,
)
RELAXED = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def engine(store: Store, expression: str, values: list[str]) -> list[str]:
    _, rows = store.query(
        f"SELECT arrayMap(x -> {expression}, {{values:Array(String)}})",
        parameters={"values": values},
    )
    return list(rows[0][0])


@RELAXED
@given(urls=st.lists(URL_TEXT | URL_LIKE, min_size=1, max_size=40))
def test_urls_are_scrubbed_and_split_as_python_does(store: Store, urls: list[str]) -> None:
    assert engine(store, "microx_scrub_url(x)", urls) == [scrub_url(u) for u in urls]
    scrubbed = [scrub_url(u) for u in urls]
    assert engine(store, "microx_url_path(x)", scrubbed) == [_path(u) for u in scrubbed]


# URLs that reach every branch of the slow rules, each read more than once in them: a
# netloc with one bracket or a bracketed host of each kind, a host NFKC turns into a
# delimiter, leading controls and tabs, a scheme alone, an email and a token after the
# origin, an origin with no path.
HOSTILE_URLS = [
    "https://[::1]/a?b#c",
    "https://[::1%25eth0]/p",
    "https://[::1%25]/p",
    "https://[1.2.3.4]/p",
    "https://[v1.fe]/p",
    "https://[v1]/p",
    "https://[::1/p",
    "https://::1]/p",
    "https://ex\u2100.com/p",
    "https://ex\uff03.com/p",
    "https://\u00e9x.com/caf\u00e9",
    "\x01\x02 https://shop.example/\tp\n/q",
    "a+b.c://h/p",
    "mailto:someone@example.com",
    "https://u@h:1/p/a@b.c/x",
    "https://shop.example/reset/a1b2c3d4e5f6a7b8c9d0?t=0123456789abcdefg#x",
    "https://shop.example",
    "//shop.example?q",
    "",
]


def test_hostile_urls_are_scrubbed_and_split_as_python_does(store: Store) -> None:
    assert engine(store, "microx_scrub_url(x)", HOSTILE_URLS) == [
        scrub_url(u) for u in HOSTILE_URLS
    ]
    paths = [_path(u) for u in HOSTILE_URLS]
    assert "" in paths and "/" in paths
    assert engine(store, "microx_url_path(x)", HOSTILE_URLS) == paths


@RELAXED
@given(headers=st.lists(st.text(st.characters(codec="latin-1"), max_size=50), min_size=1))
def test_the_first_language_is_read_as_python_does(store: Store, headers: list[str]) -> None:
    assert engine(store, "microx_first_language(x)", headers) == [language({}, h) for h in headers]


@RELAXED
@given(
    values=st.lists(
        st.floats(allow_nan=False, allow_infinity=False)
        | st.integers(-(2**63), 2**64 - 1)
        | st.booleans()
        | st.text(max_size=10),
        min_size=1,
        max_size=30,
    )
)
def test_properties_are_written_as_python_does(store: Store, values: list[Any]) -> None:
    received = now_ms()
    events = [make_event(q=j, p={"k": v, "k2": v}, ts=received) for j, v in enumerate(values)]
    envelope = judge(make_envelope(*events, at=received)).envelope
    payload = Accepted(received, envelope, envelope["e"], [], BROWSER_UA).encode()
    store.insert_records(EVENTS, index([payload]).events)
    _, rows = store.query("SELECT seq, props FROM microx.events ORDER BY seq")
    store.command("TRUNCATE TABLE microx.events")
    expected = [(j, {"k": _prop_value(v), "k2": _prop_value(v)}) for j, v in enumerate(values)]
    assert rows == expected
