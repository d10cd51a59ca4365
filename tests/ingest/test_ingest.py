"""POST /v1/events and the other endpoints, against the app on the real embedded engine."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from starlette.testclient import TestClient

from collector.app import create_app
from collector.contract import event_types
from collector.settings import Settings
from tests.conftest import make_envelope, make_event, open_store, post, series

OWN = "http://127.0.0.1:8000"
SHOP = "https://shop.example"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(
        {
            "MICROX_DATA_DIR": str(tmp_path),
            "MICROX_MAX_BODY_BYTES": "20000",
            "MICROX_SITES": f"shop={SHOP}",
        }
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(settings)) as c:
        yield c


def stored(settings: Settings, sql: str) -> list[tuple[object, ...]]:
    with open_store(settings.clickhouse_url) as store:
        return store.query(sql)[1]


def test_mixed_batch_stores_good_events_and_rejections(settings: Settings) -> None:
    good = [make_event(q=0), make_event(q=1, t="step", n="checkout", tg="cart")]
    with TestClient(create_app(settings)) as client:
        r = post(client, make_envelope(*good, make_event(q=2, t="teleport")), origin=OWN)
        assert r.status_code == 202
        assert r.json()["accepted"] == 2 and r.json()["rejected"] == 1
        # The message names the types the contract allows, so the sender can fix its event.
        assert r.json()["errors"] == [
            {
                "index": 2,
                "reason": "invalid_value",
                "field": "e[2].t",
                "message": f"t must be one of {list(event_types())}",
            }
        ]
        assert r.headers["access-control-allow-origin"] == OWN
    # Leaving the block shut the app down, which flushed its batch.
    ids = stored(settings, "SELECT toString(event_id) FROM microx.events ORDER BY seq")
    assert [i[0] for i in ids] == [e["id"] for e in good]
    assert stored(
        settings,
        "SELECT site, reason, field_path, event_index, contract_version"
        " FROM microx.rejected_events",
    ) == [("demo", "invalid_value", "e[2].t", 2, 1)]


def test_the_language_comes_from_accept_language_unless_the_page_says_it(
    settings: Settings,
) -> None:
    batches = {
        "fr-CH": (make_envelope(make_event()), "fr-CH, fr;q=0.9, en;q=0.8"),
        "de-DE": (make_envelope(make_event(), c={"lang": "de-DE"}), "fr-CH"),
        "": (make_envelope(make_event(), c={"tz": "UTC"}), "*"),
        "x" * 35: (make_envelope(make_event()), "x" * 50 + ";q=1"),
    }
    with TestClient(create_app(settings)) as client:
        for envelope, header in batches.values():
            assert (
                post(client, envelope, **{"accept-language": header}, origin=OWN).status_code == 202
            )
    got = {
        sid: lang
        for sid, lang in stored(settings, "SELECT toString(session_id), lang FROM microx.events")
    }
    assert [got[envelope["sid"]] for envelope, _ in batches.values()] == list(batches)


def test_batch_with_nothing_valid_is_400_naming_index_and_field(client: TestClient) -> None:
    r = post(
        client,
        make_envelope(make_event(), make_event(ts="soon"))
        | {"e": [make_event(d=-1), make_event(ts="soon")]},
    )
    assert r.status_code == 400
    body = r.json()
    assert body["accepted"] == 0
    assert [(e["index"], e["field"]) for e in body["errors"]] == [(0, "e[0].d"), (1, "e[1].ts")]


def test_broken_envelopes_are_400_and_recorded(settings: Settings) -> None:
    with TestClient(create_app(settings)) as client:
        r = post(client, b"{not json", origin=OWN)
        assert r.status_code == 400 and r.json()["rejected"][0]["reason"] == "invalid_json"
        r = post(client, make_envelope(make_event(), v=9), origin=OWN)
        assert r.status_code == 400
        assert r.json()["rejected"][0] | {"message": ""} == {
            "index": -1,
            "reason": "unsupported_version",
            "field": "v",
            "message": "",
        }
    assert sorted(stored(settings, "SELECT reason FROM microx.rejected_events")) == [
        ("invalid_json",),
        ("unsupported_version",),
    ]


def test_refused_input_no_site_vouches_for_is_counted_not_stored(settings: Settings) -> None:
    evil = "https://evil.example"
    with TestClient(create_app(settings)) as client:
        for i in range(150):
            invalid = make_envelope(make_event(), v=9, s=f"nosuchsite{i}")
            assert post(client, invalid, origin=evil).status_code == 400
        assert post(client, b"{not json", origin=evil).status_code == 400
        assert post(client, b"{not json").status_code == 400
        assert (
            post(client, make_envelope(make_event(), v=9, s="shop"), origin=evil).status_code == 400
        )
        # What a configured site's page sends is kept, broken or not.
        assert (
            post(client, make_envelope(make_event(), v=9, s="shop"), origin=SHOP).status_code == 400
        )
        assert post(client, b"{not json", origin=SHOP).status_code == 400
        text = client.get("/metrics").text
    assert series(text, 'rejections_not_stored_total{reason="unknown_site"}') == 150
    assert series(text, 'rejections_not_stored_total{reason="no_site"}') == 2
    assert series(text, 'rejections_not_stored_total{reason="origin_not_allowed"}') == 1
    assert series(text, 'requests_refused_total{reason="unsupported_version"}') == 152
    assert sorted(stored(settings, "SELECT site, reason FROM microx.rejected_events")) == [
        ("shop", "invalid_json"),
        ("shop", "unsupported_version"),
    ]


def test_body_size_is_capped_before_and_while_reading(client: TestClient) -> None:
    big = make_envelope(*[make_event(q=i, l="x" * 90) for i in range(200)])
    r = post(client, big, origin=OWN)
    assert r.status_code == 413 and r.json()["reason"] == "body_too_large"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the cap applies while streaming
        yield b'{"v":1,'
        for _ in range(100):
            yield b" " * 1000

    r = client.post("/v1/events", content=chunks(), headers={"content-type": "text/plain"})
    assert r.status_code == 413


def test_gzip_is_inflated_and_bombs_are_refused(client: TestClient) -> None:
    r = post(
        client,
        gzip.compress(orjson.dumps(make_envelope(make_event()))),
        **{"content-encoding": "gzip"},
    )
    assert r.status_code == 202
    bomb = gzip.compress(b'{"v":1,"pad":"' + b"a" * 5_000_000 + b'"}')
    assert len(bomb) < 20_000
    r = post(client, bomb, origin=OWN, **{"content-encoding": "gzip"})
    assert r.status_code == 413
    r = post(client, b"\x1f\x8bnot really gzip", origin=OWN, **{"content-encoding": "gzip"})
    assert r.status_code == 400 and r.json()["reason"] == "bad_gzip"


def test_sites_and_origins(client: TestClient) -> None:
    envelope = make_envelope(make_event())
    assert post(client, envelope, origin=SHOP).status_code == 403  # demo is not shop's
    r = post(client, envelope | {"s": "shop"}, origin=SHOP)
    assert r.status_code == 202 and r.headers["access-control-allow-origin"] == SHOP
    r = post(client, envelope | {"s": "nosuchsite"}, origin=OWN)
    assert r.status_code == 403 and r.json()["reason"] == "unknown_site"
    r = post(client, envelope, origin="https://evil.example")
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers
    assert post(client, envelope).status_code == 202  # not from a browser
    r = client.post(
        "/v1/events", content=b"a=1", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert r.status_code == 415


def test_cors_preflight_only_for_configured_origins(client: TestClient) -> None:
    ask = {
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
    }
    r = client.options("/v1/events", headers={"origin": SHOP, **ask})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == SHOP
    assert "access-control-allow-credentials" not in r.headers
    r = client.options("/v1/events", headers={"origin": "https://evil.example", **ask})
    assert r.status_code == 403 and "access-control-allow-origin" not in r.headers


def test_snippet_is_served_cacheable(client: TestClient) -> None:
    r = client.get("/sdk.js", headers={"accept-encoding": "gzip"})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.headers["content-encoding"] == "gzip"
    assert "max-age" in r.headers["cache-control"]
    built = Path(__file__).resolve().parents[2] / "sdk_js" / "dist" / "microx.js"
    assert r.content == built.read_bytes()  # the client inflated the gzip
    again = client.get("/sdk.js", headers={"if-none-match": r.headers["etag"]})
    assert again.status_code == 304


def test_demo_page_embeds_the_snippet_as_documented(client: TestClient) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    tag = '<script src="/sdk.js" data-site="demo" async></script>'
    assert tag in client.get("/").text
    assert 'data-site="demo" async></script>' in readme


def test_health_readiness_and_metrics(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["store"] == "up"
    post(client, make_envelope(make_event(), *(make_event(t="x") for _ in range(3))), origin=OWN)
    scrape = client.get("/metrics")
    assert scrape.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert series(scrape.text, "events_received_total") == 4
    assert series(scrape.text, "events_accepted_total") == 1
    assert series(scrape.text, 'events_rejected_total{reason="invalid_value"}') == 3
    assert series(scrape.text, "ingest_seconds_count") == 1
