from __future__ import annotations

from typing import Any, cast

from collector.rows.columns import EVENT_COLUMNS
from collector.rows.enrich import MAX_EPOCH_MS, enrich
from collector.rows.wire import Envelope
from tests.conftest import make_envelope, make_event, rows_of

CHROME_MAC = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36"
)


def row_of(envelope: dict[str, Any], received_ms: int, ua: str = CHROME_MAC) -> dict[str, Any]:
    (row,) = rows_of(envelope, received_ms, ua)
    return dict(zip(EVENT_COLUMNS, row, strict=True))


def test_clock_skew_is_corrected_and_raw_times_are_kept() -> None:
    # The client clock runs 10 minutes slow: it sent at 12:00:00 by its clock, the server
    # received at 12:10:00.250; the click happened 2 s before sending.
    sent = 1_800_000_000_000
    received = sent + 600_250
    event = make_event(ts=sent - 2_000)
    row = row_of(make_envelope(event, at=sent), received)
    assert row["client_time"] == sent - 2_000
    assert row["sent_at"] == sent
    assert row["received_at"] == received
    assert row["clock_skew_ms"] == 600_250
    assert row["event_time"] == received - 2_000


def test_corrected_time_stays_in_storable_range() -> None:
    # Validation refuses such times; a record written before a rule changed is rebuilt
    # without them, so enrich holds the row in range on its own.
    envelope = cast(Envelope, make_envelope(make_event(ts=0), at=MAX_EPOCH_MS))
    (row,) = enrich(envelope, envelope["e"], 1_800_000_000_000, CHROME_MAC)
    assert row[EVENT_COLUMNS.index("event_time")] == 0


def test_fields_map_to_columns() -> None:
    event = make_event(
        t="step",
        n="checkout",
        tg="payment",
        l="Pay",
        d=1500,
        val=0.25,
        q=7,
        p={"a": "x", "n": 2, "f": 1.5, "b": False},
        u="https://shop.example/checkout/pay",
    )
    envelope = make_envelope(
        event,
        u="https://shop.example/checkout",
        r="https://ref.example/",
        c={"vw": 390, "vh": 844, "lang": "de-DE", "tz": "Europe/Berlin", "sdk": "0.1.0"},
    )
    row = row_of(envelope, 1_800_000_000_000)
    assert row["site"] == "demo"
    assert (row["type"], row["name"], row["target"], row["label"]) == (
        "step",
        "checkout",
        "payment",
        "Pay",
    )
    assert (row["duration_ms"], row["value"], row["seq"]) == (1500, 0.25, 7)
    assert row["url"] == "https://shop.example/checkout/pay"
    assert row["path"] == "/checkout/pay"
    assert row["referrer"] == "https://ref.example/"
    assert row["props"] == {"a": "x", "n": "2", "f": "1.5", "b": "false"}
    assert (row["viewport_w"], row["viewport_h"], row["lang"], row["tz"]) == (
        390,
        844,
        "de-DE",
        "Europe/Berlin",
    )
    assert (row["browser"], row["os"], row["device"]) == ("Chrome", "macOS", "desktop")
    assert row["contract_version"] == 1


def test_event_without_optional_fields_uses_page_and_defaults() -> None:
    row = row_of(make_envelope(make_event(), u="https://shop.example/a/b"), 1_800_000_000_000)
    assert (row["url"], row["path"], row["name"], row["duration_ms"], row["value"]) == (
        "https://shop.example/a/b",
        "/a/b",
        "",
        None,
        None,
    )
    assert row["props"] == {}
    assert isinstance(row["event_time"], int)


def test_consent_visitor_sample_rate_variants_and_definition_are_stored() -> None:
    vid = "0b5e3f4c-7a6d-4e1f-9c2b-8a7d6e5f4c3b"
    event = make_event(x={"checkout-button": "B"}, df="rage@1:3/1000ms/30px")
    envelope = make_envelope(event, vid=vid, c={"cs": ["measure", "visitor"], "sr": 0.25})
    row = row_of(envelope, envelope["at"])
    assert row["visitor_id"] == vid
    assert row["consent"] == ["measure", "visitor"] and row["sample_rate"] == 0.25
    assert row["variants"] == {"checkout-button": "B"}
    assert row["definition"] == "rage@1:3/1000ms/30px"
    bare = row_of(make_envelope(make_event()), envelope["at"])
    assert bare["visitor_id"] is None and bare["consent"] == [] and bare["sample_rate"] == 1.0
    assert bare["variants"] == {} and bare["definition"] == ""


def test_emails_and_tokens_in_urls_are_replaced_whatever_the_sender() -> None:
    token = "9f86d081884c7d659a2feaa0c55ad015"
    event = make_event(u=f"https://shop.example/account/ada@example.com/x#/reset/{token}")
    envelope = make_envelope(
        event,
        u="https://shop2-eu.example.com/p/summer-sale-2024?ref=ada%40example.com",
        r=f"https://mail.example/open/{token}",
    )
    row = row_of(envelope, 1_800_000_000_000)
    assert row["url"] == "https://shop.example/account/[email]/x#/reset/[token]"
    assert row["path"] == "/account/[email]/x"
    assert row["referrer"] == "https://mail.example/open/[token]"
    (page,) = rows_of(envelope, 1_800_000_000_000, events=[make_event()])
    assert page[EVENT_COLUMNS.index("url")] == (
        "https://shop2-eu.example.com/p/summer-sale-2024?ref=[email]"
    )
