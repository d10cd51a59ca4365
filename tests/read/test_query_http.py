"""Analysts query a running collector: ClickHouse's HTTP protocol, read-only, behind a token;
the report in a real browser; ``microx sql`` and ``microx report`` with and without it."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import clickhouse_connect
import httpx
import orjson
import pytest
from playwright.sync_api import Browser

from collector.tools import journeys
from tests.conftest import ROOT, Collector, post, wait_for

TOKEN = "test-query-token-0123456789"
VISITORS = 150
ARTIFACTS = ROOT / "tests" / "artifacts"


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Collector, int]]:
    """A collector that has stored a generated shop's visits, sent as browsers send them."""
    c = Collector(
        tmp_path_factory.mktemp("query"),
        MICROX_SITES=f"shop={journeys.ORIGIN}",
        MICROX_QUERY_TOKEN=TOKEN,
        MICROX_RATE_SITE_EVENTS_PER_S="1000000",
    )
    sent = 0
    try:
        with httpx.Client(base_url=c.base, timeout=10) as client:
            for envelope in journeys.envelopes(VISITORS, seed=5):
                envelope["at"] = int(time.time() * 1000)  # sent now, for the collector's clock
                answer = post(client, envelope, origin=journeys.ORIGIN)
                assert answer.status_code == 202, answer.text
                sent += len(envelope["e"])
        stored = 'insert_rows_total{table="events"}'
        wait_for(lambda: c.metric(stored) >= sent, 30, why="the events stored")
        yield c, sent
    finally:
        c.stop()


def test_clickhouse_connect_reads_through_the_collector(running: tuple[Collector, int]) -> None:
    c, sent = running
    client = clickhouse_connect.get_client(
        host="127.0.0.1", port=c.port, proxy_path="/clickhouse", username="x", password=TOKEN
    )
    assert client.command("SELECT count() FROM microx.events") == sent
    result = client.query(
        "SELECT moment, score FROM microx.friction_by_moment(site = {site:String},"
        " since = {since:DateTime('UTC')}, until = {until:DateTime('UTC')})",
        parameters={"site": "shop", "since": "2000-01-01 00:00:00", "until": "2100-01-01"},
    )
    # The four moments the generator made hurt come first, as on the embedded store.
    truth = journeys.Truth()
    injected = {truth.spinner, truth.dead_button, journeys.FORM, truth.long_wait}
    assert {r[0] for r in result.result_rows[:4]} == injected
    # Typed columns come back typed (Native format), as from a ClickHouse server.
    (row,) = client.query(
        "SELECT toUUID(session_id), event_time FROM microx.events LIMIT 1"
    ).result_rows
    assert str(row[0]).count("-") == 4 and row[1].year >= 2026
    for statement in (
        "INSERT INTO microx.events (site) VALUES ('x')",
        "DROP TABLE microx.events",
        "SELECT * FROM file('/etc/passwd', 'LineAsString')",
        "SELECT 1 SETTINGS readonly = 0",
    ):
        with pytest.raises(Exception, match=r"(?i)readonly|refused"):
            client.command(statement)
    assert client.command("SELECT count() FROM microx.events") == sent
    client.close()


def test_curl_speaks_the_clickhouse_http_protocol(running: tuple[Collector, int]) -> None:
    c, sent = running
    url = f"{c.base}/clickhouse/"

    def curl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["curl", "-sS", "-w", "\n%{http_code}", *args], capture_output=True, text=True
        )

    ok = curl("-u", f"analyst:{TOKEN}", "--data-binary", "SELECT count() FROM microx.events", url)
    assert ok.stdout.split() == [str(sent), "200"]
    as_json = curl(
        "-H",
        f"X-ClickHouse-Key: {TOKEN}",
        "--data-binary",
        "SELECT type, count() AS n FROM microx.events GROUP BY type FORMAT JSON",
        url,
    )
    body, status = as_json.stdout.rsplit("\n", 1)
    assert status == "200" and sum(int(r["n"]) for r in orjson.loads(body)["data"]) == sent
    by_get = curl("-G", "--data-urlencode", "query=SELECT 1 + 1", "-u", f"a:{TOKEN}", url)
    assert by_get.stdout.split() == ["2", "200"]
    refused = curl("-u", "analyst:wrong", "--data-binary", "SELECT 1", url)
    assert refused.stdout.endswith("401") and "AUTHENTICATION_FAILED" in refused.stdout
    assert curl("--data-binary", "SELECT 1", url).stdout.endswith("401")
    write = curl("-u", f"a:{TOKEN}", "--data-binary", "TRUNCATE TABLE microx.events", url)
    assert write.stdout.endswith("403") and "Code: 164" in write.stdout
    broken = curl("-u", f"a:{TOKEN}", "--data-binary", "SELEC 1", url)
    assert broken.stdout.endswith("400") and "Code: 62" in broken.stdout
    assert c.metric('queries_total{outcome="refused"}') == 2  # the two requests above


def _cli(collector: Collector, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**collector.env, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "collector.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_microx_sql_and_report_while_it_runs(
    running: tuple[Collector, int], tmp_path: Path
) -> None:
    c, sent = running
    answer = _cli(c, "sql", "SELECT count() AS n FROM microx.events", "--format", "tsv")
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.split() == ["n", str(sent)]
    out = tmp_path / "report.html"
    report = _cli(c, "report", "--site", "shop", "--since", "30d", "--out", str(out))
    assert report.returncode == 0, report.stderr
    ranked = report.stdout.split("Moments to fix first")[1].splitlines()[1:5]
    assert journeys.Truth().spinner in "\n".join(ranked)
    assert out.stat().st_size > 1_000_000  # plotly.js is inside: the file stands alone


# (The segment's tests come before those that send requests without the token: a client
# that keeps failing to give it is made to wait, token or not.)
def _sessions(summary: str) -> int:
    """The sessions the summary's first line counts."""
    return int(summary.split(" sessions, ")[0].rsplit(" ", 1)[1])


def _ranked_cost(summary: str, moment: str) -> float:
    """The cost of ``moment`` among the summary's moments to fix first, 0 when not there."""
    ranked = summary.split("Moments to fix first")[1].split("\n\n")[0]
    for line in ranked.splitlines():
        if f"] {moment}: cost " in line:
            return float(line.split(": cost ")[1].split(" s ")[0].replace(",", ""))
    return 0.0


def test_the_served_report_shows_a_segment(
    running: tuple[Collector, int], browser: Browser
) -> None:
    """An analyst picks the visitors from the report's own form: variant A of the spinner's
    experiment ranks the spinner high, variant B (a fast spinner) does not; the iPhones this
    shop never had leave an empty report; a malformed segment is refused."""
    c, _ = running
    spinner = journeys.Truth().spinner
    experiment = journeys.Truth().spinner_experiment
    for bad in ({"visit": "old"}, {"variant": "no-arm"}, {"device": "a&b"}):
        refused = httpx.get(
            f"{c.base}/report", params={"since": "30d", **bad}, auth=("a", TOKEN), timeout=120
        )
        assert refused.status_code == 400, refused.text
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(
        http_credentials={"username": "analyst", "password": TOKEN},
        viewport={"width": 1280, "height": 900},
    )
    context.set_default_timeout(120_000)
    errors: list[str] = []
    costs, counts = {}, {}
    try:
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        answer = page.goto(f"{c.base}/report?site=shop&since=30d")
        assert answer is not None and answer.status == 200
        everyone = page.locator("pre.summary").text_content() or ""
        for arm in ("A", "B"):
            page.locator("form.window input[name=variant]").fill(f"{experiment}/{arm}")
            page.locator("form.window button").click()
            page.wait_for_load_state()
            text = page.locator("pre.summary").text_content() or ""
            assert f"segment variant={experiment}/{arm}" in text
            assert page.locator("form.window input[name=variant]").input_value().endswith(arm)
            costs[arm] = _ranked_cost(text, spinner)
            counts[arm] = _sessions(text)
            if arm == "A":
                page.screenshot(path=str(ARTIFACTS / "report-segment.png"), full_page=True)
        page.locator("form.window input[name=variant]").fill("")
        page.locator("form.window select[name=device]").select_option("mobile")
        page.locator("form.window button").click()
        page.wait_for_load_state()
        assert "No events in this window." in (page.locator("pre.summary").text_content() or "")
        assert "device=mobile" in page.url
    finally:
        context.close()
    assert errors == []
    assert costs["A"] > 0 and costs["B"] < costs["A"] / 3
    # Every session ran under one of the two variants.
    assert counts["A"] and counts["B"] and counts["A"] + counts["B"] == _sessions(everyone)


def test_microx_report_takes_a_segment(running: tuple[Collector, int], tmp_path: Path) -> None:
    c, _ = running
    out = tmp_path / "segment.html"
    segment = f"variant={journeys.Truth().spinner_experiment}/A&device=desktop"
    report = _cli(
        c, "report", "--site", "shop", "--since", "30d", "--segment", segment, "--out", str(out)
    )
    assert report.returncode == 0, report.stderr
    assert "segment device=desktop, variant=" in report.stdout.splitlines()[0]
    assert journeys.Truth().spinner in report.stdout.split("Moments to fix first")[1]
    wrong = _cli(c, "report", "--site", "shop", "--segment", "colour=red")
    assert wrong.returncode != 0 and "unknown segment key 'colour'" in wrong.stderr


def test_the_report_page_renders_its_charts(
    running: tuple[Collector, int], browser: Browser
) -> None:
    c, _ = running
    assert httpx.get(f"{c.base}/report").status_code == 401
    for bad in (
        {"since": "soon"},
        {"until": "soon"},
        {"since": "2026-03-05", "until": "2026-03-01"},
    ):
        refused = httpx.get(f"{c.base}/report", params=bad, auth=("a", TOKEN), timeout=120)
        assert refused.status_code == 400, refused.text
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    context = browser.new_context(
        http_credentials={"username": "analyst", "password": TOKEN},
        viewport={"width": 1280, "height": 900},
    )
    # A whole report on a shared machine can take a minute to build.
    context.set_default_timeout(120_000)
    try:
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.extend([m.text] if m.type == "error" else []))
        answer = page.goto(f"{c.base}/report?site=shop&since=30d")
        assert answer is not None and answer.status == 200
        charts = page.locator("div.chart")
        # The sections with a chart, and one per goal judged (its rate per day): the checkout
        # completed, and a return.
        assert charts.count() == 11
        page.wait_for_function(
            "[...document.querySelectorAll('div.chart')]"
            ".every(c => c.querySelector('svg.main-svg'))",
            timeout=30_000,
        )
        drawn: list[dict[str, Any]] = page.evaluate(
            """() => [...document.querySelectorAll('div.chart')].map(c => ({
                id: c.dataset.chart,
                marks: c.querySelectorAll('.trace, .point, .bars path, .box').length,
                note: [...c.querySelectorAll('.annotation-text')].map(t => t.textContent).join(),
                height: c.getBoundingClientRect().height,
            }))"""
        )
        # It fits the window: nothing wider than 1280 px but a table's own scroll.
        assert page.evaluate("document.documentElement.scrollWidth") <= 1280
        page.screenshot(path=str(ARTIFACTS / "report.png"), full_page=True)
    finally:
        context.close()
    assert errors == []
    for chart in drawn:
        # Events can be at most 7 days old when sent: no 7-day follow-up has ended yet.
        if chart["id"] == "loyalty":
            assert "follow-up has ended in this window yet" in chart["note"], chart
            continue
        assert chart["marks"] > 0 and chart["height"] > 200, chart
    assert os.path.getsize(ARTIFACTS / "report.png") > 50_000


def test_the_report_page_is_compressed_for_clients_that_accept_it(
    running: tuple[Collector, int],
) -> None:
    c, _ = running
    url = f"{c.base}/report?site=shop&since=30d"
    plain = httpx.get(url, auth=("a", TOKEN), headers={"accept-encoding": "identity"}, timeout=60)
    assert plain.status_code == 200 and "content-encoding" not in plain.headers
    packed = httpx.get(url, auth=("a", TOKEN), headers={"accept-encoding": "gzip"}, timeout=60)
    assert packed.status_code == 200 and packed.headers["content-encoding"] == "gzip"
    assert packed.headers["vary"] == "Accept-Encoding"
    # About 30 % of the page once compressed (plotly.js is most of it); sent as it is, all.
    assert packed.num_bytes_downloaded < len(plain.content) / 2
    # The same whole page either way (the browser test above counts its charts).
    assert packed.text.count("data-chart=") == plain.text.count("data-chart=") > 0
    assert packed.text.rstrip().endswith("</html>")


def test_the_served_report_changes_its_window_and_opens_a_session(
    running: tuple[Collector, int], browser: Browser
) -> None:
    """An analyst's way through the served report: open an example session of a ranked
    moment, then move the window past the data and see the report empty."""
    c, _ = running
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    context = browser.new_context(
        http_credentials={"username": "analyst", "password": TOKEN},
        viewport={"width": 1280, "height": 900},
    )
    # A whole report on a shared machine can take a minute to build.
    context.set_default_timeout(120_000)
    errors: list[str] = []
    try:
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(f"{c.base}/report?site=shop&since=30d")
        assert page.locator("form.window input[name=site]").input_value() == "shop"
        before = page.locator("div.chart").count()
        assert before >= 6
        first = page.locator("a.examples").first
        moment = first.text_content()
        first.click()
        page.wait_for_load_state()
        assert page.title() == f"Sessions hurt at {moment}"
        sessions = page.locator("a.session")
        assert sessions.count() > 0
        sessions.first.click()
        page.wait_for_function("document.querySelector('div.chart svg.main-svg')", timeout=30_000)
        assert page.title().startswith("Session ")
        lived = page.locator("tbody tr").count()
        assert lived > 3 and moment is not None and moment in page.content()
        page.screenshot(path=str(ARTIFACTS / "report-session.png"), full_page=True)
        page.goto(f"{c.base}/report?site=shop&since=30d")
        until = page.locator("form.window input[name=until]").input_value()
        later = (dt.datetime.fromisoformat(until) + dt.timedelta(hours=1)).isoformat()
        page.locator("form.window input[name=since]").fill(until)
        page.locator("form.window input[name=until]").fill(later)
        page.locator("form.window button").click()
        page.wait_for_load_state()
        assert "No events in this window." in (page.locator("pre.summary").text_content() or "")
        assert page.locator("div.chart").count() == 0
        page.screenshot(path=str(ARTIFACTS / "report-window.png"), full_page=True)
    finally:
        context.close()
    assert errors == []
    bad = httpx.get(
        f"{c.base}/report/session", params={"site": "shop", "session": "x"}, auth=("a", TOKEN)
    )
    assert bad.status_code == 400
    assert httpx.get(f"{c.base}/report/examples", params={"site": "shop"}).status_code == 401


def test_microx_sql_after_it_stopped(running: tuple[Collector, int]) -> None:
    c, sent = running
    assert c.stopped_cleanly()
    answer = _cli(c, "sql", "SELECT count() FROM microx.events", "--format", "tsv")
    assert answer.returncode == 0, answer.stderr
    assert answer.stdout.split()[-1] == str(sent)
