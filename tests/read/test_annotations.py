"""Change annotations: recorded by back ends and the CLI, set against friction in the report."""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from collector.ops.secrets import new_secret
from collector.read.analysis import analyse, summary
from collector.read.annotations import BadAnnotation, annotation, store_annotation
from collector.read.report import render_html
from collector.tools import journeys
from tests.conftest import ROOT, Collector, open_store

KEY = new_secret()
NOW = dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)


def test_an_annotation_says_what_changed_and_when() -> None:
    note = annotation("shop", " New spinner ", "2026-02-28T10:00:00+01:00", "div.spinner", NOW)
    assert (note.text, note.moment, note.at) == (
        "New spinner",
        "div.spinner",
        dt.datetime(2026, 2, 28, 9, tzinfo=dt.UTC),
    )
    assert note.id == annotation("shop", "New spinner", "2026-02-28T09:00", "div.spinner").id
    assert note.id != annotation("blog", "New spinner", "2026-02-28T09:00", "div.spinner").id
    assert annotation("shop", "x", now=NOW).at == NOW
    for text, at, moment, why in [
        ("", None, "", "'text'"),
        ("x" * 501, None, "", "'text'"),
        ("a\x00b", None, "", "'text'"),
        (3, None, "", "'text'"),
        ("x", "yesterday", "", "'at'"),
        ("x", "2024-01-01", "", "'at'"),
        ("x", "2026-03-03", "", "'at'"),
        ("x", 1700000000, "", "'at'"),
        ("x", None, "m" * 301, "'moment'"),
        ("x", None, ["m"], "'moment'"),
    ]:
        with pytest.raises(BadAnnotation, match=why):
            annotation("shop", text, at, moment, NOW)


@pytest.fixture(scope="module")
def collector(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Collector]:
    c = Collector(tmp_path_factory.mktemp("annotations"), MICROX_SERVER_KEYS=f"shop={KEY}")
    try:
        yield c
    finally:
        c.stop()


def _post(c: Collector, body: object, **headers: str) -> httpx.Response:
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    return httpx.post(
        f"{c.base}/v1/annotations",
        content=content,
        headers={"authorization": f"Bearer {KEY}", "content-type": "application/json", **headers},
        timeout=30,
    )


def test_a_back_end_records_a_change_once(collector: Collector) -> None:
    body = {"text": "Checkout button copy", "at": "2026-11-30T09:00:00Z", "moment": "checkout"}
    first, again = _post(collector, body), _post(collector, body)
    assert first.status_code == again.status_code == 201, first.text
    assert first.json()["id"] == again.json()["id"]
    got = collector.sql(
        "SELECT site, text, moment, toString(at) FROM microx.annotations FINAL"
        " WHERE text = 'Checkout button copy'"
    )
    assert got.split("\t") == [
        "shop",
        "Checkout button copy",
        "checkout",
        "2026-11-30 09:00:00.000",
    ]


def test_an_annotation_needs_the_sites_key_and_a_clear_body(collector: Collector) -> None:
    refused = 'requests_refused_total{reason="bad_annotation"}'
    before = collector.metric(refused)
    assert _post(collector, {"text": "x"}, authorization="Bearer nope").status_code == 401
    from_browser = _post(collector, {"text": "x"}, origin="https://shop.example")
    assert from_browser.status_code == 403
    bad_json = _post(collector, b"{text")
    assert (bad_json.status_code, bad_json.json()["reason"]) == (400, "invalid_json")
    bodies: list[object] = [
        {"text": ""},
        {"text": "x", "at": "soon"},
        {"text": "x", "site": "b"},
        [],
    ]
    for body in bodies:
        answer = _post(collector, body)
        assert (answer.status_code, answer.json()["reason"]) == (400, "bad_annotation"), body
    assert collector.metric(refused) == before + 4
    big = _post(collector, {"text": "x", "moment": "m" * 5000})
    assert big.status_code == 413


def _cli(c: Collector, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "collector.cli", *args],
        env=c.env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_microx_annotate_through_the_running_collector_and_without_it(
    tmp_path: Path,
) -> None:
    c = Collector(tmp_path / "c", MICROX_SERVER_KEYS=f"shop={KEY}")
    try:
        done = _cli(c, "annotate", "--site", "shop", "Faster search", "--at", "2h")
        assert done.returncode == 0, done.stderr
        assert "annotated 'shop' at" in done.stdout
        assert c.sql("SELECT text FROM microx.annotations FINAL") == "Faster search"
        wrong = _cli(c, "annotate", "--site", "shop", "x", "--at", "in a while")
        assert wrong.returncode == 2 and "--at" in wrong.stderr
        keyless = _cli(c, "annotate", "--site", "blog", "x")
        assert keyless.returncode == 2 and "server key for site 'blog'" in keyless.stderr
    finally:
        c.stop()
    done = _cli(c, "annotate", "--site", "shop", "Reviews lazy-loaded", "--moment", "reviews")
    assert done.returncode == 0, done.stderr
    with open_store(c.store_url) as store:
        _, rows = store.query("SELECT text, moment FROM microx.annotations FINAL ORDER BY at")
    assert rows == [("Faster search", ""), ("Reviews lazy-loaded", "reviews")]


def test_the_report_sets_each_change_against_the_days_around_it(tmp_path: Path) -> None:
    """The spinner was fast, then slow from the day the change was recorded."""
    truth = journeys.Truth()
    until = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    change = until - dt.timedelta(days=7)
    fast = dataclasses.replace(truth, spinner_slow_ms=700.0)
    with open_store(f"chdb://{tmp_path / 'ch'}") as store:
        store.migrate()
        for t, start, seed in ((fast, change - dt.timedelta(days=7), 3), (truth, change, 4)):
            journeys.store_envelopes(
                store, journeys.envelopes(800, seed=seed, truth=t, start=start)
            )
        named = annotation("shop", "New basket spinner", change.isoformat(), truth.spinner, until)
        store_annotation(store, named)
        store_annotation(store, annotation("shop", "Footer links", change.isoformat(), now=until))
        store_annotation(store, annotation("shop", "Long ago", "2026-01-01", now=until))
        analysis = analyse(store.query, "shop", change - dt.timedelta(days=7), until)
    by_text = {a.text: a for a in analysis.annotations}
    assert set(by_text) == {"New basket spinner", "Footer links"}
    spinner = by_text["New basket spinner"]
    assert spinner.span == dt.timedelta(days=7)
    ((row),) = spinner.changes.dicts()
    assert row["moment"] == truth.spinner and row["verdict"] == "regression"
    assert row["hurt_rate_before"] < 0.05 < 0.4 < row["hurt_rate"]
    # Without a moment: the costliest moments of the window, the spinner among them.
    footer = [r["moment"] for r in by_text["Footer links"].changes.dicts()]
    assert truth.spinner in footer and len(footer) > 1
    text = summary(analysis)
    assert "change recorded 2026-02-22 00:00: 'New basket spinner'" in text
    assert f"    {truth.spinner}: hurt " in text and ": regression" in text
    page = render_html(analysis)
    assert "Change recorded 2026-02-22 00:00 UTC: New basket spinner" in page
