"""Clicks and their feedback: rage, dead and answered clicks, and the thresholds a site sets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser

from collector.tools import journeys
from tests.beacons import Beacons
from tests.browser.lab import flushed, open_lab
from tests.conftest import open_store, wait_for

pytestmark = pytest.mark.browser


def test_five_quick_clicks_are_rage_and_a_triple_click_selecting_text_is_not(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    page = open_lab(browser, base)
    page.click("#prose", click_count=3)
    assert page.evaluate("String(getSelection()).length") > 20
    page.wait_for_timeout(1200)
    page.click("#noop", click_count=5, delay=20)
    (rage,) = flushed(page, beacons, "rage_click")
    assert rage["tg"] == "button#noop" and rage["val"] == 5
    assert rage["df"] == "rage@1:3/1000ms/30px"
    assert {"x", "y"} <= rage["p"].keys()
    clicks = flushed(page, beacons, "click", 8)
    prose = [c for c in clicks if c["tg"] == "p#prose"]
    assert [c["p"]["det"] for c in prose] == [1, 2, 3]
    # The second and third clicks selected text: kept as such for re-deriving rage.
    assert [c["p"].get("ex") for c in prose] == ["plain", "select", "select"]
    frustrations = page.evaluate("window.__frustrations")
    assert [f["type"] for f in frustrations if f["type"] == "rage"] == ["rage"]
    assert not [r for r in beacons.events("rage_click") if r["tg"] == "p#prose"]


def test_rage_clicks_recomputed_from_the_clicks_are_the_snippets(
    browser: Browser, lab: tuple[str, Beacons], tmp_path: Path
) -> None:
    """The view's rule is the snippet's: each press within the time of the burst's last
    and the distance of its first. A pointer sliding 16 px a press is no burst at 30 px."""
    base, beacons = lab
    page = open_lab(browser, base)
    box = page.locator("#noop").bounding_box()
    assert box is not None and box["width"] > 60
    x, y = box["x"] + 4, box["y"] + box["height"] / 2
    for slide in (0, 16):
        for i in range(4):
            page.mouse.click(x + slide * i, y)
            page.wait_for_timeout(150)
        page.wait_for_timeout(1300)
    clicks = flushed(page, beacons, "click", 8, unique=True)
    assert len([c for c in clicks if c["tg"] == "button#noop"]) == 8
    stored = [r for r in beacons.events("rage_click", unique=True) if r["tg"] == "button#noop"]
    assert [r["val"] for r in stored] == [4]
    with open_store(f"chdb://{tmp_path / 'ch'}") as store:
        store.migrate()
        journeys.store_envelopes(store, beacons.envelopes())
        window = "site = 'lab', since = '2000-01-01', until = '2100-01-01'"

        def bursts(px: int) -> list[tuple[Any, ...]]:
            sql = f"SELECT target, bursts, avg_clicks FROM microx.rage_clicks_with({window},"
            return store.query(sql + f" clicks = 3, ms = 1000, px = {px})")[1]

        assert bursts(30) == [("button#noop @ /lab", len(stored), 4.0)]
        assert bursts(60) == [("button#noop @ /lab", 2, 4.0)]


def test_a_burst_on_a_clickable_text_is_rage_and_a_second_click_shares_the_answer(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    page = open_lab(browser, base)
    page.evaluate(
        """() => {
        const d = document.createElement('div');
        d.id = 'pay'; d.setAttribute('role', 'button'); d.textContent = 'Continue to payment';
        const b = document.createElement('button');
        b.id = 'save'; b.textContent = 'Save';
        b.onclick = () => setTimeout(() => (b.textContent = 'Saved'), 300);
        document.body.append(d, b);
      }"""
    )
    # Double-clicking a working button whose answer takes 300 ms: neither click is dead.
    page.dblclick("#save")
    page.wait_for_timeout(1200)
    # Five quick clicks on a text-bearing control select its words, and are rage.
    page.click("#pay", click_count=5, delay=20)
    (rage,) = flushed(page, beacons, "rage_click")
    assert rage["tg"] == "div#pay" and rage["val"] == 5
    saves = [c for c in flushed(page, beacons, "click", 7) if c["tg"] == "button#save"]
    assert [c["p"]["fb"] for c in saves] == ["dom", "dom"]
    page.wait_for_timeout(1200)
    page.evaluate("microx.flush()")
    page.wait_for_timeout(300)
    assert {d["tg"] for d in beacons.events("dead_click")} == {"div#pay"}
    # The page hears of the burst once as dead (its first click) and once as rage.
    kinds = [f["type"] for f in page.evaluate("window.__frustrations")]
    assert sorted(kinds) == ["dead", "rage"]


def test_a_link_to_a_slow_page_is_not_a_dead_click(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    """The next page takes 2 s to answer: the click's feedback is the navigation it
    started (Navigation API), not nothing."""
    base, beacons = lab
    page = open_lab(browser, base)
    page.evaluate(
        """() => {
        const a = document.createElement('a');
        a.id = 'away'; a.href = '/slow'; a.textContent = 'Orders';
        document.body.append(a);
      }"""
    )
    page.click("#away", no_wait_after=True)
    page.wait_for_url("**/slow", timeout=10_000)
    (click,) = wait_for(lambda: beacons.events("click"), page=page)
    assert click["tg"] == "a#away" and click["p"]["fb"] == "nav"
    assert beacons.events("dead_click") == []


def test_dead_clicks_only_where_nothing_answered(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    page = open_lab(browser, base, init="window.__cb = []; ")
    page.evaluate("microx.on('frustration', (d) => window.__cb.push(d.type))")
    for sel in ("#noop", "#works", "#fetches", "#optout"):
        page.click(sel)
        page.wait_for_timeout(50)
    with page.expect_popup() as popup:
        page.click("#newtab")
    popup.value.close()
    with page.expect_download():
        page.click("#download")
    clicks = flushed(page, beacons, "click", 5)
    feedback = {c["tg"]: (c["p"]["fb"], c["p"].get("ex")) for c in clicks}
    assert feedback["button#noop"] == ("none", None)
    assert feedback["button#works"][0] == "dom"
    assert feedback["button#fetches"][0] == "req"
    assert feedback["a#newtab"][1] == "newtab" and feedback["a#download"][1] == "newtab"
    assert "button#optout" not in feedback  # opted out with data-microx-ignore
    works = next(c for c in clicks if c["tg"] == "button#works")
    assert 0 <= works["d"] < 500 and works["l"] == "Shows a message"
    dead = beacons.events("dead_click")
    assert [d["tg"] for d in dead] == ["button#noop"]
    assert dead[0]["df"] == "dead@1:1000ms"
    assert page.evaluate("window.__cb") == ["dead"]


def test_a_button_whose_handler_does_nothing_is_dead(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    page = open_lab(browser, base, init="window.__cb = []; ")
    page.evaluate("microx.on('frustration', (d) => window.__cb.push(d.type))")
    # The handler runs, and nothing on the page answers: no DOM change, request or scroll.
    page.evaluate("document.querySelector('#noop').addEventListener('click', () => 1 + 1)")
    page.click("#noop")
    (dead,) = flushed(page, beacons, "dead_click")
    assert dead["tg"] == "button#noop" and dead["l"] == "Does nothing"
    (click,) = beacons.events("click")
    assert click["p"]["fb"] == "none" and "d" not in click
    assert page.evaluate("window.__cb") == ["dead"]


def test_thresholds_set_in_data_options_decide_and_name_the_signals(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    beacons.attrs = """data-options='{"rage": {"count": 6, "ms": 500}, "deadMs": 1500}'"""
    page = open_lab(browser, base)
    # Answers after 1.2 s: dead by the default wait (1 s), not by this site's 1.5 s.
    page.evaluate(
        """() => {
        const b = document.createElement('button');
        b.id = 'late'; b.textContent = 'Answers late';
        b.onclick = () => setTimeout(() => (b.textContent = 'answered'), 1200);
        document.body.append(b);
      }"""
    )
    page.click("#noop", click_count=5, delay=20)  # five: not rage for this site
    page.wait_for_timeout(800)
    page.click("#noop", click_count=6, delay=20)
    (rage,) = flushed(page, beacons, "rage_click")
    assert rage["val"] == 6 and rage["df"] == "rage@1:6/500ms/30px"
    # No other click while #late waits: a new click ends the wait of the ones before it.
    page.wait_for_timeout(1600)
    page.click("#late")
    page.wait_for_timeout(1600)
    dead = flushed(page, beacons, "dead_click", 11)
    assert {d["tg"] for d in dead} == {"button#noop"}
    assert {d["df"] for d in dead} == {"dead@1:1500ms"}
    (late,) = [c for c in flushed(page, beacons, "click", 12) if c["tg"] == "button#late"]
    assert late["p"]["fb"] == "dom" and 1100 <= late["d"] < 1500
