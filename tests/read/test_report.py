"""The report served by a running collector shows what pages sent as text, never as markup."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser

from tests.conftest import Collector, wait_for

TOKEN = "test-report-token-0123456789"
ORIGIN = "https://shop.example"
LINK = '<a href="https://evil.example/phish">pay now</a>'
BOLD = "<b>loud</b>"
BREAK = "first<br>second"
# Where plotly.py writes each figure into the page: its id, data, layout and config follow.
NEW_PLOT = re.compile(r"Plotly\.newPlot\(\s*")
COMMA = re.compile(r"\s*,\s*")


def _events(now: int) -> list[dict[str, Any]]:
    def event(t: str, **fields: Any) -> dict[str, Any]:
        return {"id": str(uuid.uuid4()), "t": t, "ts": now, "q": 0, **fields}

    return [
        # A slow loading cue, named by the page: a ranked moment and a loading-cue box.
        *(event("loading", n=LINK, tg="div.spin", d=4000 + i) for i in range(5)),
        event("form_start", n=BOLD, tg=BREAK),
        event("form_abandon", n=BOLD, tg=BREAK, d=1200, p={"how": "page"}),
        event("step", n=BOLD, tg=LINK, p={"i": 1}),
        event("step", n=BOLD, tg=BREAK, d=500, p={"i": 2}),
    ]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Collector, str]]:
    c = Collector(
        tmp_path_factory.mktemp("report"),
        MICROX_SITES=f"shop={ORIGIN}",
        MICROX_QUERY_TOKEN=TOKEN,
    )
    try:
        now = int(time.time() * 1000)
        # A few seconds ago: the report's window ends at the current second.
        events = _events(now - 5000)
        envelope = {"v": 1, "s": "shop", "sid": str(uuid.uuid4()), "at": now}
        envelope |= {"u": f"{ORIGIN}/checkout", "e": events}
        answer = c.post(envelope, origin=ORIGIN)
        assert answer.status_code == 202, answer.text
        stored = 'insert_rows_total{table="events"}'
        wait_for(lambda: c.metric(stored) >= len(events), 30, why="the events stored")
        page = httpx.get(
            f"{c.base}/report",
            params={"site": "shop", "since": "1d"},
            auth=("a", TOKEN),
            timeout=120,  # every view of the report, on a machine that may be busy
        )
        assert page.status_code == 200
        yield c, page.text
    finally:
        c.stop()


def _figures(page: str) -> list[Any]:
    """The data and layout of every figure in the page, read as JSON."""
    decoder = json.JSONDecoder()
    figures = []
    for start in NEW_PLOT.finditer(page):
        at, values = start.end(), []
        for _ in range(3):  # id, data, layout
            value, at = decoder.raw_decode(page, at)
            values.append(value)
            comma = COMMA.match(page, at)
            assert comma, page[at : at + 80]
            at = comma.end()
        figures.append(values[1:])
    return figures


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            if k != "hovertemplate":  # the report's own markup
                yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def test_page_text_in_figures_is_escaped_for_plotly(served: tuple[Collector, str]) -> None:
    _, page = served
    figures = _figures(page)
    assert len(figures) >= 5
    strings = list(_strings(figures))
    # Nothing the pages sent reaches a figure as a tag plotly would read...
    assert not [s for s in strings if re.search(r"<\s*(a|b|br)\b", s, re.I)]
    # ...and all of it is there, escaped, where each chart shows it.
    shown = "\n".join(strings)
    for text in (LINK, BOLD, BREAK):
        assert text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") in shown


def test_the_drawn_report_has_no_page_link_and_reads_the_text(
    served: tuple[Collector, str], browser: Browser
) -> None:
    c, _ = served
    context = browser.new_context(http_credentials={"username": "a", "password": TOKEN})
    try:
        page = context.new_page()
        page.goto(f"{c.base}/report?site=shop&since=1d")
        page.wait_for_function(
            "[...document.querySelectorAll('div.chart')]"
            ".every(c => c.querySelector('svg.main-svg'))",
            timeout=30_000,
        )
        links = page.evaluate(
            "[...document.querySelectorAll('div.chart a')].map(a => a.getAttribute('href')"
            " || a.getAttribute('xlink:href'))"
        )
        bold = page.evaluate("document.querySelectorAll('div.chart svg [font-weight=bold]').length")
        text = page.evaluate(
            "[...document.querySelectorAll('div.chart svg text')].map(t => t.textContent)"
        )
    finally:
        context.close()
    assert not [h for h in links if h and "evil.example" in h]
    assert bold == 0
    # A person reads the characters the page sent (ticks may cut long labels).
    shown = "\n".join(text)
    assert '<a href="https://evil.example/phish">' in shown
    assert BOLD in shown and BREAK in shown
