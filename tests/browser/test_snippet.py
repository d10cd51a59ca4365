"""The snippet in headless Chromium: each capture from real behaviour, under a strict CSP."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal

import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

from collector.ingest.validate import judge
from tests.beacons import CSP, Answer, Beacons, serve
from tests.conftest import BROWSER_UA, CHROMIUM, CHROMIUM_ARGS, Collector, open_store

pytestmark = pytest.mark.browser

# Installed before any page script: records CSP violations, page errors and frustration.
WATCH = """
window.__violations = [];
window.__frustrations = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__violations.push(e.violatedDirective + ' ' + e.blockedURI));
document.addEventListener('microx:frustration', (e) => window.__frustrations.push(e.detail));
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, f"--user-agent={BROWSER_UA}"]
        )
        yield b
        b.close()


@pytest.fixture
def lab() -> Iterator[tuple[str, Beacons]]:
    with serve() as served:
        yield served


# The snippet has started on the page; the keys of the batches it saved for a later page.
STARTED = "window.microx && window.microx.version"
SAVED_KEYS = "Object.keys(localStorage).filter((k) => k.startsWith('microx_q'))"


def goto_lab(
    page: Page,
    base: str,
    path: str = "/lab",
    wait_until: Literal["load", "domcontentloaded"] = "load",
) -> Page:
    """Go to a lab page and wait until the snippet has started on it."""
    page.goto(base + path, wait_until=wait_until)
    page.wait_for_function(STARTED)
    return page


def open_lab(browser: Browser, base: str, path: str = "/lab", init: str = "") -> Page:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.add_init_script(WATCH + init)
    goto_lab(page, base, path)
    page.errors = errors  # type: ignore[attr-defined]
    return page


def wait_for(page: Page, what: Callable[[], Any], timeout_s: float = 10.0) -> Any:
    """Poll `what` until truthy, letting the page run in between."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        got = what()
        if got:
            return got
        page.wait_for_timeout(100)
    raise AssertionError(f"not seen in {timeout_s} s: {what.__doc__ or what}")


def flushed(page: Page, beacons: Beacons, type_: str, n: int = 1) -> list[dict[str, Any]]:
    """Flush the snippet until `n` events of `type_` have arrived; return them."""

    def seen() -> list[dict[str, Any]]:
        page.evaluate("microx.flush()")
        got = beacons.events(type_)
        return got if len(got) >= n else []

    return wait_for(page, seen)  # type: ignore[no-any-return]


def test_page_load_vitals_with_attribution_and_no_csp_violation(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    page = open_lab(browser, base)
    page.click("#works")
    page.click("#slow")  # its handler blocks for 150 ms: the page's INP
    # Its timing entry reaches web-vitals some time after the next paint; one made just
    # before the page is hidden can be missed (as in the field).
    page.wait_for_timeout(2000)
    page.goto("about:blank")  # hiding the page reports the final vitals
    vitals = wait_for(page, lambda: len({e["n"] for e in beacons.events("vital")}) >= 5)
    assert vitals
    by_name = {e["n"]: e for e in beacons.events("vital")}
    assert {"FCP", "TTFB", "LCP", "CLS", "INP"} <= by_name.keys()
    inp = by_name["INP"]
    assert inp["val"] >= 150 and "slow" in inp["tg"]
    assert {"input", "proc", "pres", "type"} <= inp["p"].keys() and inp["p"]["proc"] >= 140
    assert by_name["LCP"]["tg"]  # the attribution build names the LCP element
    assert {"ttfb", "delay", "load", "render", "rating"} <= by_name["LCP"]["p"].keys()
    assert {"wait", "dns", "conn", "req"} <= by_name["TTFB"]["p"].keys()
    (load,) = beacons.events("page")
    assert 0 < load["d"] < 30_000 and load["p"]["nav"] == "navigate"
    env = beacons.envelopes()[0]
    assert env["s"] == "lab" and env["u"].endswith("/lab") and env["c"]["cs"] == ["measure"]
    assert page.evaluate("window.__violations") == []
    assert page.errors == []  # type: ignore[attr-defined]


def test_spa_routes_and_hash_routes_are_moments(browser: Browser, lab: tuple[str, Beacons]) -> None:
    base, beacons = lab
    page = open_lab(browser, base)
    page.click("#go")
    page.wait_for_timeout(300)
    page.click("#hashgo")
    routes = flushed(page, beacons, "route", 2)
    assert [r["u"].removeprefix(base) for r in routes] == ["/app/next", "/app/next#/cart"]
    assert "p" not in routes[0]  # where it came from: the previous event's URL
    assert all(r["d"] >= 0 for r in routes)
    # A click carries the page it was made on, though reported after the route it caused.
    clicks = {c["tg"]: c for c in flushed(page, beacons, "click", 2)}
    assert "u" not in clicks["button#go"] and clicks["button#go"]["_env"]["u"] == base + "/lab"
    assert clicks["button#hashgo"]["u"] == base + "/app/next"
    # Vitals, reported as the page is hidden, are about the page as loaded.
    page.goto("about:blank")
    vitals = wait_for(page, lambda: beacons.events("vital"))
    assert vitals and all("u" not in v and v["_env"]["u"] == base + "/lab" for v in vitals)
    # Events after the route carry the new URL; the query string never leaves the page.
    assert all("secret" not in b for b in beacons.bodies)


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
    (click,) = wait_for(page, lambda: beacons.events("click"))
    assert click["tg"] == "a#away" and click["p"]["fb"] == "nav"
    assert beacons.events("dead_click") == []


def test_typed_text_of_an_editable_area_never_names_a_click(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    page = open_lab(browser, base)
    page.evaluate(
        """() => {
        const box = document.createElement('div');
        box.id = 'note'; box.setAttribute('role', 'button');
        box.innerHTML = '<p>Notes</p><div contenteditable="true"></div>';
        document.body.append(box);
      }"""
    )
    # The click is meant for the box around the editable area: named by attributes only.
    page.click("#note [contenteditable]")
    page.keyboard.type("my secret diagnosis, call 0123 456 789")
    page.click("#note [contenteditable]")
    clicks = flushed(page, beacons, "click", 2)
    assert {c["tg"] for c in clicks} == {"div#note"}
    assert all("secret" not in b and "0123" not in b for b in beacons.bodies)


def test_a_funnel_or_field_named_like_an_object_method_is_recorded(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    page = open_lab(browser, base)
    page.evaluate(
        """() => {
        microx.step('toString', 'one');
        microx.step('__proto__', 'one');
        const s = document.createElement('p');
        s.dataset.microxStep = 'constructor:shown';
        const f = document.createElement('form');
        f.name = 'odd';
        f.innerHTML = '<input name="constructor"><input name="__proto__">';
        document.body.append(s, f);
      }"""
    )
    page.fill("form[name=odd] input[name=constructor]", "x")
    page.fill("form[name=odd] input[name=__proto__]", "y")
    steps = flushed(page, beacons, "step", 3)
    assert sorted((s["n"], s["p"]["i"]) for s in steps) == [
        ("__proto__", 1),
        ("constructor", 1),
        ("toString", 1),
    ]
    fields = flushed(page, beacons, "form_field", 1)
    assert fields[0]["n"] == "odd" and fields[0]["tg"] == "constructor"
    assert page.errors == []  # type: ignore[attr-defined]


def test_the_visitor_id_lasts_when_consent_is_given_on_every_page(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    """A consent manager grants "visitor" after the snippet starts, on each page: the
    id stays the same. Withdrawing it deletes the id."""
    base, beacons = lab
    context = browser.new_context()
    try:
        page = context.new_page()
        ids: list[str] = []
        for _ in range(2):
            goto_lab(page, base)
            page.evaluate("microx.consent({visitor: true}); microx.feedback('here', 1)")
            seen = len(ids)
            (last,) = flushed(page, beacons, "feedback", seen + 1)[seen:]
            ids.append(last["_env"]["vid"])
        assert ids[0] == ids[1]
        page.evaluate("microx.consent({visitor: false})")
        assert page.evaluate("localStorage.getItem('microx_vid')") is None
    finally:
        context.close()


def test_a_nonce_based_csp_lets_the_second_file_in(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    beacons.csp = CSP.replace("script-src 'self'", "script-src 'nonce-n0nce'")
    beacons.attrs = 'nonce="n0nce"'
    page = open_lab(browser, base)
    # The page-load timing comes from the second file: it was let in.
    (load,) = flushed(page, beacons, "page")
    assert load["d"] > 0
    # The page's own script, which has no nonce, is the one refused.
    refused = page.evaluate("window.__violations")
    assert refused and all(v.endswith("/pages/lab.js") for v in refused)


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


def test_error_click_and_uncaught_error(browser: Browser, lab: tuple[str, Beacons]) -> None:
    base, beacons = lab
    page = open_lab(browser, base)
    page.click("#boom")
    (err_click,) = flushed(page, beacons, "error_click")
    assert err_click["tg"] == "button#boom" and "checkout exploded" in err_click["n"]
    (error,) = flushed(page, beacons, "error")
    assert "checkout exploded" in error["n"] and error["p"]["src"].endswith("/pages/lab.js")
    assert [f["type"] for f in page.evaluate("window.__frustrations")] == ["error"]


def test_spinner_time_is_measured_and_tied_to_its_click(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    page = open_lab(browser, base)
    page.evaluate("document.body.dataset.spinMs = '800'")
    page.click("#spin")
    (cue,) = flushed(page, beacons, "loading")
    assert cue["n"] == "busy" and cue["tg"] == "div#spinner"
    shown = page.evaluate("document.body.dataset.hiddenAt - document.body.dataset.shownAt")
    assert shown > 0
    # Seen within a couple of frames of the DOM change, at both ends.
    assert abs(cue["d"] - shown) <= 200, (cue, shown)
    assert cue["p"]["by"] == "button#spin"
    # The wait from the click to the cue: the two events' times.
    (click,) = [c for c in flushed(page, beacons, "click") if c["tg"] == "button#spin"]
    assert 0 <= cue["ts"] - click["ts"] < 400


def test_long_animation_frame_is_tied_to_the_click(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    page = open_lab(browser, base)
    page.click("#slow")

    def near() -> list[dict[str, Any]]:
        page.evaluate("microx.flush()")
        return [t for t in beacons.events("long_task") if t["p"].get("ia") == "button#slow"]

    (task,) = wait_for(page, near)
    assert task["d"] >= 140 and task["n"] in ("loaf", "longtask")


def test_the_second_file_misses_nothing_that_happened_before_it_arrived(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    """Page-load timing and long frames are read from the browser's buffers, late."""
    base, beacons = lab
    beacons.second_file_delay_s = 2.0
    page = browser.new_page()
    # The file being fetched holds the load event back: do not wait for it.
    goto_lab(page, base, wait_until="domcontentloaded")
    page.click("#slow")  # a long frame, while the second file is still on its way
    clicked_at = page.evaluate("performance.now()")

    def late() -> list[dict[str, Any]]:
        page.evaluate("microx.flush()")
        tasks = [t for t in beacons.events("long_task") if t["p"].get("ia") == "button#slow"]
        return tasks if tasks and beacons.events("page") else []

    (task,) = wait_for(page, late)
    arrived = page.evaluate(
        "performance.getEntriesByType('resource')"
        ".find((r) => r.name.endsWith('/microx-vitals.js')).responseEnd"
    )
    assert arrived > clicked_at + 1000, (arrived, clicked_at)
    assert task["d"] >= 140
    (load,) = beacons.events("page")
    assert load["d"] > 0 and load["p"]["ttfb"] >= 0 and load["p"]["nav"] == "navigate"


def test_a_declared_step_is_counted_when_clicked_without_the_second_file(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    """A click happens once: the first file counts the step a button declares, blocked or not."""
    base, beacons = lab
    page = browser.new_page()
    blocked: list[str] = []

    def block(route: Route) -> None:
        blocked.append(route.request.url)
        route.abort()

    page.route("**/microx-vitals.js", block)
    goto_lab(page, base)
    page.click("#buy")  # data-microx-step="checkout:pay"
    (step,) = flushed(page, beacons, "step")
    assert (step["n"], step["tg"], step["p"]["i"]) == ("checkout", "pay", 1)
    assert blocked and not beacons.events("page")  # the second file never ran


def test_abandoned_form_names_the_last_field_and_never_a_value(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    page = open_lab(browser, base)
    page.fill("input[name=fullname]", "Ada Lovelace")
    page.click("input[name=email]")
    page.wait_for_timeout(300)
    page.keyboard.type("ada@example")
    page.keyboard.press("Backspace")
    page.fill("input[name=password]", "hunter2-secret")
    page.fill("input[name=cardnumber]", "4242 4242 4242 4242")
    page.fill("input[name=nickname]", "Countess")
    page.click("input[name=email]")
    page.keyboard.type("x")
    page.goto("about:blank")  # leaves the page without submitting
    (abandon,) = wait_for(page, lambda: beacons.events("form_abandon"))
    assert abandon["n"] == "signup" and abandon["tg"] == "email"
    assert abandon["p"]["how"] == "page"
    assert set(abandon["p"]["fields"].split(",")) == {"fullname", "email", "private"}
    (start,) = beacons.events("form_start")
    assert start["tg"] == "fullname"
    fields = {f["tg"]: f for f in beacons.events("form_field")}
    email = fields["email"]
    assert email["p"]["hes"] >= 250 and email["p"]["dels"] == 1
    assert email["p"]["amends"] == 1 and email["p"]["filled"] is True
    bodies = "\n".join(beacons.bodies)
    for secret in ("Ada", "Lovelace", "ada@example", "hunter2", "4242", "Countess"):
        assert secret not in bodies
    for name in ("password", "cardnumber", "nickname"):
        assert name not in bodies


def test_submitted_form_is_not_abandoned_and_invalid_fields_stall_it(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    page = open_lab(browser, base)
    page.fill("input[name=fullname]", "Ada")
    page.click("#signup-submit")  # email is required: refused
    page.click("#signup-submit")  # refused again: the form is stalled
    invalid = flushed(page, beacons, "form_invalid", 2)
    assert {(i["tg"], i["p"]["why"]) for i in invalid} == {("email", "valueMissing")}
    stalls = [f for f in page.evaluate("window.__frustrations") if f["type"] == "stalled_form"]
    assert stalls and stalls[0]["form"] == "signup" and stalls[0]["why"] == "invalid"
    page.fill("input[name=email]", "a@b.example")
    page.click("#signup-submit")
    (submit,) = flushed(page, beacons, "form_submit")
    assert submit["n"] == "signup" and submit["d"] > 0
    page.goto("about:blank")
    page.wait_for_timeout(500)
    assert beacons.events("form_abandon") == []


def test_an_idle_form_stalls(browser: Browser, lab: tuple[str, Beacons]) -> None:
    base, beacons = lab
    beacons.attrs = """data-options='{"stallMs": 800}'"""
    page = open_lab(browser, base)
    page.fill("input[name=fullname]", "Ada")
    stalls = wait_for(
        page,
        lambda: [f for f in page.evaluate("window.__frustrations") if f["type"] == "stalled_form"],
    )
    assert stalls[0]["field"] == "fullname" and stalls[0]["why"] == "idle"


def test_api_steps_moments_signals_feedback_and_variants(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    beacons.attrs = 'data-consent="measure,signals" data-signals="view,basket,search"'
    page = open_lab(browser, base)
    page.evaluate("microx.step('checkout', 'basket')")
    page.click("#buy")  # data-microx-step="checkout:pay"
    page.evaluate(
        """() => {
        const m = microx.moment('chat-reply').start();
        return new Promise((r) => setTimeout(() => r(m.end({agent: 'bot'})), 300));
      }"""
    )
    page.evaluate(
        """() => {
        microx.signal('view', 'kettle-1'); microx.signal('view', 'kettle-1');
        microx.signal('basket', 'kettle-1', {qty: 2});
        microx.signal('search', 'kettles for ada@example.com call 0123 456 789');
        microx.signal('wishlist', 'not enabled');
        microx.variant('checkout-button', 'B');
        microx.feedback('chat-reply', 4, 'quick, thanks! mail me at ada@example.com');
      }"""
    )
    steps = flushed(page, beacons, "step", 2)
    assert [(s["n"], s["tg"], s["p"]["i"]) for s in steps] == [
        ("checkout", "basket", 1),
        ("checkout", "pay", 2),
    ]
    assert "d" not in steps[0] and steps[1]["d"] >= 0
    (moment,) = flushed(page, beacons, "moment")
    assert moment["n"] == "chat-reply" and 290 <= moment["d"] < 1000
    assert moment["p"] == {"agent": "bot"}
    signals = flushed(page, beacons, "signal", 4)
    assert [(s["n"], s["tg"], s.get("val")) for s in signals] == [
        ("view", "kettle-1", None),  # each view is an event; SQL counts repeats
        ("view", "kettle-1", None),
        ("basket", "kettle-1", 2),
        ("search", "kettles for [email] call #", None),
    ]
    (fb,) = flushed(page, beacons, "feedback")
    assert fb["n"] == "chat-reply" and fb["val"] == 4
    assert fb["p"]["comment"] == "quick, thanks! mail me at [email]"
    assert fb["x"] == {"checkout-button": "B"}
    assert "x" not in steps[0]  # only later events carry the variant


def test_signals_need_consent(browser: Browser, lab: tuple[str, Beacons]) -> None:
    base, beacons = lab
    beacons.attrs = 'data-signals="view"'
    page = open_lab(browser, base)
    page.evaluate("microx.signal('view', 'kettle-1')")
    page.evaluate("microx.consent({signals: true, visitor: true})")
    page.evaluate("microx.signal('view', 'kettle-2')")
    (signal,) = flushed(page, beacons, "signal")
    assert signal["tg"] == "kettle-2"
    env = signal["_env"]
    assert sorted(env["c"]["cs"]) == ["measure", "signals", "visitor"] and env["vid"]
    page.evaluate("microx.consent({visitor: false})")
    page.evaluate("microx.step('f', 's')")
    (step,) = flushed(page, beacons, "step")
    assert "vid" not in step["_env"]
    assert page.evaluate("localStorage.getItem('microx_vid')") is None


@pytest.mark.parametrize(
    "signal", ["Navigator.prototype, 'globalPrivacyControl'", "Navigator.prototype, 'doNotTrack'"]
)
def test_gpc_and_dnt_mean_nothing_is_sent_until_consent(
    browser: Browser, lab: tuple[str, Beacons], signal: str
) -> None:
    base, beacons = lab
    value = "true" if "global" in signal else "'1'"
    page = open_lab(browser, base, init=f"Object.defineProperty({signal}, {{get: () => {value}}});")
    page.click("#noop")
    page.evaluate("microx.flush()")
    page.wait_for_timeout(1500)
    page.evaluate("microx.flush()")
    page.wait_for_timeout(300)
    assert beacons.bodies == []
    page.evaluate("microx.consent({measure: true})")
    page.click("#works")
    assert flushed(page, beacons, "click")


def test_sampled_out_session_sends_nothing_and_query_allowlist(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    beacons.attrs = 'data-sample="0"'
    page = open_lab(browser, base)
    page.click("#works")
    page.wait_for_timeout(1200)
    page.evaluate("microx.flush()")
    page.wait_for_timeout(300)
    assert beacons.bodies == []
    page.close()
    beacons.attrs = 'data-query="utm_source"'
    page = open_lab(browser, base, path="/lab?utm_source=mail&email=ada%40example.com")
    page.click("#works")
    (click,) = flushed(page, beacons, "click")
    assert click["_env"]["u"] == f"{base}/lab?utm_source=mail"
    assert click["_env"]["c"]["sr"] == 1


# What the README documents as `window.microx`.
API = [
    "consent",
    "feedback",
    "flush",
    "init",
    "moment",
    "on",
    "signal",
    "step",
    "variant",
    "version",
]


def test_window_microx_is_the_documented_api_and_nothing_more(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    """The second file gets what it uses of the first on the script element that loads it:
    the page sees the documented API alone, also once the second file has run."""
    base, beacons = lab
    page = open_lab(browser, base)
    flushed(page, beacons, "page")  # recorded by the second file, through the first
    assert page.evaluate("Object.getOwnPropertyNames(microx).sort()") == API
    assert page.evaluate("Object.getOwnPropertySymbols(microx).length") == 0


def test_retry_after_429_resends_the_same_events(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    beacons.plan = [Answer(429, {"retry-after": "2"})]
    page = open_lab(browser, base)
    page.click("#works")
    page.wait_for_timeout(1200)  # a click is reported once its feedback is known
    started = time.monotonic()
    page.evaluate("microx.flush()")
    wait_for(page, lambda: beacons.answered[:1] == [429])
    (click,) = wait_for(page, lambda: beacons.events("click"), timeout_s=15)
    assert time.monotonic() - started >= 1.9  # waited as told
    assert click["a"] == 1
    assert page.errors == []  # type: ignore[attr-defined]


def test_slow_and_failing_collector_never_breaks_the_page(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    beacons.plan = [Answer(503), Answer(202, delay_s=3), Answer(500)]
    page = open_lab(browser, base)
    for _ in range(3):
        page.click("#works")
        page.evaluate("microx.flush()")
        page.wait_for_timeout(200)
    assert page.inner_text("#out").startswith("Done at")
    clicks = wait_for(
        page, lambda: len(beacons.events("click")) >= 3 and beacons.events("click"), 20
    )
    assert len({c["id"] for c in clicks}) == 3
    assert page.errors == []  # type: ignore[attr-defined]


def test_events_queued_while_the_collector_fails_survive_a_reload(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    beacons.plan = [Answer(503)] * 3
    page = open_lab(browser, base)
    page.click("#works")
    page.evaluate("microx.flush()")
    wait_for(page, lambda: beacons.answered[:1] == [503])
    session = page.evaluate("JSON.parse(sessionStorage.getItem('microx_sid'))[0]")
    page.reload()  # leaves with the click unsent: it is kept in localStorage
    page.wait_for_function(STARTED)
    beacons.plan = []
    (click,) = flushed(page, beacons, "click")
    assert click["a"] >= 1 and click["_env"]["sid"] == session
    assert click["u"] == f"{base}/lab"
    assert page.evaluate(SAVED_KEYS) == []


def test_the_offline_queue_keeps_500_events_and_the_next_page_sends_them(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    """A page left while the collector fails keeps at most 500 unsent events in
    localStorage; the next page sends each of them once."""
    base, beacons = lab
    beacons.plan = [Answer(503)] * 50
    page = open_lab(browser, base)
    page.evaluate("for (let i = 0; i < 600; i++) microx.feedback('m' + i, 1)")
    # 30 batches of 20 went out at once; each refusal puts its events back in the queue.
    wait_for(page, lambda: beacons.answered.count(503) == 30)
    page.wait_for_timeout(500)
    page.goto("about:blank")  # leaving while the collector fails: the queue is stored
    beacons.plan = []
    goto_lab(page, base)

    def resent() -> list[dict[str, Any]]:
        page.evaluate("microx.flush()")
        events = [e for e in beacons.events() if e.get("a")]
        return events if len(events) >= 500 else []

    events = wait_for(page, resent)
    # 500 of the page's events, each once: most of the feedback (which ones depends on the
    # order the refused batches came back in) and what the page recorded as it was hidden.
    assert len(events) == len({e["id"] for e in events}) == 500
    names = {e["n"] for e in events if e["t"] == "feedback"}
    assert len(names) >= 490 and "m599" in names
    assert page.evaluate(SAVED_KEYS) == []


# Slows each read of a saved batch in the page, as a busy page or a slow disk would:
# without the Web Lock, two tabs opening at once would then both read a batch before
# either deleted it.
SLOW_SAVED_READS = """
const get = Storage.prototype.getItem;
Storage.prototype.getItem = function (k) {
  if (String(k).startsWith('microx_q.')) {
    const end = performance.now() + 1000;
    while (performance.now() < end);
  }
  return get.call(this, k);
};
"""
NO_LOCKS = "Object.defineProperty(Navigator.prototype, 'locks', {get: () => undefined});"


@pytest.mark.parametrize("locks", [True, False], ids=["web-locks", "no-locks"])
def test_two_tabs_opening_at_once_send_saved_events_once(
    browser: Browser, lab: tuple[str, Beacons], locks: bool
) -> None:
    """Saved events are taken by one tab only. Without Web Locks (plain-http pages, old
    browsers) two tabs may both send them, and the collector's resend check stores them
    once: the second case shows the lock is what keeps them from being sent twice."""
    base, beacons = lab
    context = browser.new_context()
    try:
        beacons.plan = [Answer(503)] * 5
        first = context.new_page()
        goto_lab(first, base)
        first.evaluate("for (let i = 0; i < 30; i++) microx.feedback('m' + i, 1)")
        first.evaluate("microx.flush()")
        wait_for(first, lambda: beacons.answered.count(503) >= 2)
        first.goto("about:blank")  # leaving while the collector fails: the queue is saved
        beacons.plan = []
        tabs = [context.new_page() for _ in range(2)]
        for tab in tabs:
            tab.add_init_script(SLOW_SAVED_READS + ("" if locks else NO_LOCKS))
        for tab in tabs:
            tab.goto(base + "/lab", wait_until="commit")
        for tab in tabs:
            # Polling before the page has loaded would evaluate under its CSP mid-navigation.
            tab.wait_for_load_state("load")
            tab.wait_for_function(STARTED)

        def resent() -> list[str]:
            for tab in tabs:
                tab.evaluate("microx.flush()")
            got = [e["id"] for e in beacons.events("feedback") if e.get("a")]
            return got if len(set(got)) >= 30 else []

        ids = wait_for(tabs[0], resent)
        tabs[0].wait_for_timeout(1500)  # a second copy, if any, has time to arrive
        ids = [e["id"] for e in beacons.events("feedback") if e.get("a")]
        assert len(set(ids)) == 30
        if locks:
            assert len(ids) == 30
        else:
            assert len(ids) == 60  # both tabs read the batch before either deleted it
    finally:
        context.close()


def test_saved_events_whose_resend_fails_keep_their_session(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    """Events an earlier page left go out under that page's session. When that resend
    fails as well, they are saved again and retried a few seconds later, still under
    their own session, not the session of the tab that picked them up."""
    base, beacons = lab
    context = browser.new_context()
    try:
        beacons.plan = [Answer(503)]
        first = context.new_page()
        goto_lab(first, base)
        first.evaluate("microx.feedback('early', 1); microx.flush()")
        wait_for(first, lambda: beacons.answered == [503])
        session = first.evaluate("JSON.parse(sessionStorage.getItem('microx_sid'))[0]")
        first.goto("about:blank")  # left while the collector fails: saved
        beacons.plan = [Answer(503)]  # the other tab's first resend fails too
        second = context.new_page()
        goto_lab(second, base)
        wait_for(second, lambda: beacons.answered[:2] == [503, 503])

        def early() -> list[dict[str, Any]]:
            return [e for e in beacons.events("feedback") if e["n"] == "early"]

        (event,) = wait_for(second, early, 15)
        own = second.evaluate("JSON.parse(sessionStorage.getItem('microx_sid'))[0]")
        assert event["_env"]["sid"] == session != own
        assert event["a"] >= 2
    finally:
        context.close()


def test_events_go_out_on_their_own_after_5_s(browser: Browser, lab: tuple[str, Beacons]) -> None:
    """No flush() here: a batch goes when its oldest event is 5 s old."""
    base, beacons = lab
    page = open_lab(browser, base)
    page.evaluate("microx.feedback('alone', 1)")
    started = time.monotonic()
    (fb,) = wait_for(page, lambda: beacons.events("feedback"), timeout_s=10)
    assert fb["n"] == "alone" and 4.5 <= time.monotonic() - started < 9


def test_a_large_queue_left_behind_arrives_whole(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    """Leaving with about 160 KB queued: beacons take what fits the browser's 64 KiB
    budget, the rest is saved, and the next page sends it. Each event arrives once."""
    base, beacons = lab
    page = open_lab(browser, base)
    page.evaluate(
        """() => {
        const p = {};
        for (let i = 0; i < 32; i++) p['k' + i] = 'x'.repeat(500);
        for (let i = 0; i < 10; i++) microx.moment('big' + i).end(p);
      }"""
    )
    page.goto("about:blank")
    goto_lab(page, base)

    def arrived() -> list[str]:
        page.evaluate("microx.flush()")
        names = [m["n"] for m in beacons.events("moment")]
        return names if len(set(names)) >= 10 else []

    names = wait_for(page, arrived, timeout_s=15)
    assert sorted(names) == sorted(f"big{i}" for i in range(10))
    assert max(len(b.encode()) for b in beacons.bodies) <= 60_000
    # Some went as the page was left, the rest were saved and resent by the next page.
    resent = [m for m in beacons.events("moment") if m.get("a")]
    assert 0 < len(resent) < 10


def test_saved_events_wait_for_consent_and_go_when_it_is_withdrawn(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    """Events an earlier page saved are sent only while the visitor consents to
    measuring; withdrawing that consent deletes them from the device."""
    base, beacons = lab
    context = browser.new_context()
    saved = SAVED_KEYS + ".length"

    def leave_failing(page: Page, name: str) -> None:
        beacons.plan = [Answer(503)]
        page.evaluate(f"microx.feedback('{name}', 1); microx.flush()")
        wait_for(page, lambda: not beacons.plan)
        page.goto("about:blank")

    def fresh_page() -> Page:
        return goto_lab(context.new_page(), base)

    def sent(name: str) -> bool:
        return any(e["n"] == name for e in beacons.events("feedback"))

    try:
        leave_failing(fresh_page(), "first")
        beacons.attrs = 'data-consent="visitor"'  # pages start without consent to measure
        page = fresh_page()
        page.wait_for_timeout(6000)  # more than one look for saved events
        assert not sent("first") and page.evaluate(saved) >= 1
        page.evaluate("microx.consent({measure: true})")
        wait_for(page, lambda: sent("first"))
        leave_failing(page, "second")
        page = fresh_page()
        assert page.evaluate(saved) >= 1
        page.evaluate("microx.consent({measure: false})")
        assert page.evaluate(saved) == 0
        page.evaluate("microx.consent({measure: true})")
        page.wait_for_timeout(6000)
        assert not sent("second")
    finally:
        context.close()


def test_a_large_batch_goes_in_requests_under_60_kb(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    """Each request stays under 60 KB, counted in UTF-8 bytes: 19 moments of about 32 KB
    each (32 props of 500 two-byte characters) go one per request."""
    base, beacons = lab
    page = open_lab(browser, base)
    page.evaluate(
        """() => {
        const p = {};
        for (let i = 0; i < 32; i++) p['k' + i] = '\u00e9'.repeat(500);
        for (let i = 0; i < 19; i++) microx.moment('big' + i).end(p);
        microx.flush();
      }"""
    )
    moments = wait_for(page, lambda: len(beacons.events("moment")) >= 19)
    moments = beacons.events("moment")
    assert sorted(m["n"] for m in moments) == sorted(f"big{i}" for i in range(19))
    sizes = [len(b.encode()) for b in beacons.bodies]
    assert max(sizes) <= 60_000 and len(sizes) >= 19
    assert min(len(m["_env"]["e"]) for m in moments) == 1


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


def test_events_waiting_on_a_failing_collector_survive_leaving(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    """A request still unanswered when the page is left: the browser ends it as the page
    goes, and while the collector is failing its events are kept for the next page like
    unsent ones."""
    base, beacons = lab
    beacons.plan = [Answer(503), Answer(503, delay_s=3)]
    page = open_lab(browser, base)
    page.evaluate("microx.feedback('first', 1); microx.flush()")
    wait_for(page, lambda: beacons.answered == [503])
    page.evaluate("microx.feedback('second', 1)")
    wait_for(page, lambda: not beacons.plan)  # the retry is out, its answer 3 s away
    page.goto("about:blank")
    goto_lab(page, base)

    def resent() -> list[str]:
        page.evaluate("microx.flush()")
        return sorted(e["n"] for e in beacons.events("feedback") if e.get("a"))

    assert wait_for(page, resent) == ["first", "second"]


def test_blocked_storage_and_a_second_copy_of_the_script(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    block = """
    for (const area of ['localStorage', 'sessionStorage']) {
      Object.defineProperty(window, area,
        {get() { throw new DOMException('blocked', 'SecurityError'); }});
    }"""
    page = open_lab(browser, base, init=block)
    page.evaluate(
        """() => new Promise((r) => {
        const s = document.createElement('script');
        s.src = '/sdk.js'; s.dataset.site = 'lab'; s.onload = r;
        document.head.appendChild(s);
      })"""
    )
    page.click("#works")
    page.evaluate("microx.step('f', 'one')")
    clicks = flushed(page, beacons, "click")
    assert len(clicks) == 1
    # One page load, though the script ran twice: the second copy measured nothing.
    (load,) = flushed(page, beacons, "page")
    (step,) = flushed(page, beacons, "step")
    assert step["n"] == "f" and load["_env"]["sid"] == clicks[0]["_env"]["sid"]
    assert page.errors == []  # type: ignore[attr-defined]


def test_a_page_that_breaks_what_the_snippet_uses_sees_no_error(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    """Listeners and timers are guarded like the API: here the page breaks two DOM methods
    the click and loading captures call, and neither the page nor its error handlers see
    anything; the other captures go on."""
    base, beacons = lab
    breaks = """
    const closest = Element.prototype.closest;
    Element.prototype.closest = function (s) {
      if (String(s).includes('data-microx-ignore')) throw new Error('broken by the page');
      return closest.call(this, s);
    };
    Element.prototype.checkVisibility = function () { throw new Error('broken too'); };
    """
    page = open_lab(browser, base, init=breaks)
    page.click("#works")
    page.click("#spin")
    page.wait_for_timeout(1200)
    page.fill("input[name=fullname]", "Ada")
    assert page.inner_text("#out").startswith("Done at")  # the page's own handler ran
    flushed(page, beacons, "form_start")
    assert page.errors == []  # type: ignore[attr-defined]
    assert beacons.events("error") == []


def test_api_misuse_never_throws(browser: Browser, lab: tuple[str, Beacons]) -> None:
    base, _ = lab
    page = open_lab(browser, base)
    result = page.evaluate(
        """() => {
        microx.step(); microx.step(null, {}); microx.signal(); microx.feedback();
        microx.feedback('x', 'bad'); microx.variant(); microx.consent(null); microx.on('x');
        microx.moment().end(); microx.init(); microx.init({site: 'other'});
        microx.on('frustration', () => { throw new Error('page bug'); });
        return 'ok';
      }"""
    )
    assert result == "ok"
    page.click("#noop", click_count=4, delay=10)
    page.wait_for_timeout(1300)
    assert page.errors == []  # type: ignore[attr-defined]


def test_odd_consent_and_variant_names_never_spoil_a_batch(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    page = open_lab(browser, base)
    page.evaluate(
        """() => {
        microx.consent({measure: true, marketing: true, visitor: 1, toString: true});
        microx.variant('checkout button (v2)!', 'B');
        for (let i = 0; i < 20; i++) microx.variant('exp' + i, 'x');
        microx.variant('', 'empty');
        microx.moment('after').end();
        microx.flush();
      }"""
    )
    wait_for(page, lambda: any(e.get("n") == "after" for e in beacons.events("moment")))
    for envelope in beacons.envelopes():
        verdict = judge(envelope)  # raises on an envelope the collector would refuse whole
        assert verdict.rejected == [], verdict.rejected
    (after,) = [e for e in beacons.events("moment") if e.get("n") == "after"]
    assert after["x"]["checkout_button__v2__"] == "B"
    assert len(after["x"]) == 16
    assert beacons.envelopes()[-1]["c"]["cs"] == ["measure", "visitor"]


# Installed before any page script: each long animation frame (a long task, with the
# scripts that ran in it) from the start of the page load.
LONG_FRAMES = """
window.__frames = [];
new PerformanceObserver((list) => {
  for (const f of list.getEntries()) {
    window.__frames.push({duration: f.duration,
      scripts: f.scripts.map((s) => ({src: s.sourceURL, duration: s.duration}))});
  }
}).observe({type: 'long-animation-frame', buffered: true});
"""

# A page that does nothing but load the snippet, so a long frame can only be its own.
QUIET_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>quiet</title>
<script src="/sdk.js" data-site="lab"></script></head>
<body><button id="idle">Nothing happens</button></body></html>"""


def test_the_snippet_causes_no_long_task(browser: Browser, lab: tuple[str, Beacons]) -> None:
    """Its start-up and its handling of a click burst each stay under 50 ms of script.

    Long animation frames name the scripts that ran in them, so the browser's own work
    (parsing, the first layout) on a slow machine does not count against the snippet.
    """
    base, beacons = lab
    page = browser.new_page()
    page.add_init_script(LONG_FRAMES)
    page.route(
        f"{base}/quiet",
        lambda route: route.fulfill(status=200, content_type="text/html", body=QUIET_PAGE),
    )
    page.goto(f"{base}/quiet")
    page.wait_for_function(STARTED)
    assert page.evaluate("PerformanceObserver.supportedEntryTypes.includes('long-animation-frame')")
    page.wait_for_timeout(500)  # the vitals file loads and starts
    page.click("#idle", click_count=5, delay=20)  # a rage burst on a dead button
    (rage,) = flushed(page, beacons, "rage_click")
    assert rage["tg"] == "button#idle"

    snippet = "['/sdk.js', '/microx-vitals.js'].some((f) => s.src.endsWith(f))"
    long_work = page.evaluate(
        f"window.__frames.flatMap((f) => f.scripts).filter((s) => {snippet} && s.duration >= 50)"
    )
    assert long_work == []
    # The observer does see a long frame when there is one: a page task that blocks, then
    # changes what is shown.
    page.evaluate(
        """setTimeout(() => {
        const end = performance.now() + 120;
        while (performance.now() < end);
        document.body.append('.');
      })"""
    )
    wait_for(page, lambda: page.evaluate("window.__frames.some((f) => f.duration >= 100)"))


def test_failing_collector_then_recovery_stores_each_event_once(
    browser: Browser, tmp_path: Path
) -> None:
    """Through the real collector: refused sends are retried and stored exactly once."""
    collector = Collector(tmp_path, MICROX_SITES="lab=")
    try:
        with serve(upstream=collector.base, user_agent=BROWSER_UA) as (base, beacons):
            beacons.plan = [Answer(503, {"retry-after": "1"}), Answer(503)]
            page = open_lab(browser, base)
            for sel in ("#works", "#fetches", "#noop"):
                page.click(sel)
            page.wait_for_timeout(1200)
            page.evaluate("microx.flush()")
            wait_for(page, lambda: beacons.answered.count(202) >= 1, timeout_s=20)
            page.goto("about:blank")
            wait_for(page, lambda: collector.metric("events_accepted_total") >= 5)
            sent = {e["id"] for e in beacons.events()}
        assert collector.stopped_cleanly()
    finally:
        collector.stop()
    with open_store(collector.store_url) as store:
        _, rows = store.query("SELECT toString(event_id), count() FROM microx.events GROUP BY 1")
    stored = {r[0]: r[1] for r in rows}
    assert set(stored) == sent and set(stored.values()) == {1}
    assert json.dumps(sorted(stored)) == json.dumps(sorted(sent))


TYPED = "zanzibar teapot"
EMAIL = "ada.lovelace@example.com"
TOKEN = "9f86d081884c7d659a2feaa0c55ad015"


def test_typed_text_emails_and_tokens_never_reach_the_store(
    browser: Browser, tmp_path: Path
) -> None:
    """Through the real collector: page text that echoes a typed value, an error message
    quoting it, and a URL with an email in its path and query and a token in its route."""
    collector = Collector(tmp_path, MICROX_SITES="lab=")
    try:
        with serve(upstream=collector.base, user_agent=BROWSER_UA) as (base, beacons):
            beacons.attrs = 'data-query="ref"'
            page = open_lab(browser, base, f"/lab/account/{EMAIL}/settings?ref={EMAIL}")
            page.evaluate(
                """() => {
                const q = document.createElement('input');
                q.id = 'q'; q.name = 'q';
                const echo = document.createElement('button');
                echo.id = 'echo'; echo.textContent = 'Search';
                q.addEventListener('input', () => (echo.textContent = `Search for "${q.value}"`));
                const send = document.createElement('button');
                send.id = 'send';
                send.setAttribute('aria-label', 'Send');
                const say = () => send.setAttribute('aria-label', 'Send ' + q.value);
                q.addEventListener('input', say);
                const check = document.createElement('button');
                check.id = 'check'; check.textContent = 'Check';
                const why = () => 'Validation failed for value ' + q.value;
                check.onclick = () => { throw new Error(why()); };
                document.getElementById('lab').append(q, echo, send, check);
              }"""
            )
            page.fill("#q", TYPED)
            for sel in ("#echo", "#send", "#check"):
                page.click(sel)
            page.evaluate(f"location.hash = '#/reset/{TOKEN}'")
            routes = flushed(page, beacons, "route")
            page.wait_for_timeout(1200)
            page.goto("about:blank")
            wait_for(page, lambda: collector.metric("events_accepted_total") >= 8)
            sent = beacons.events()
        assert collector.stopped_cleanly()
    finally:
        collector.stop()
    with open_store(collector.store_url) as store:
        _, rows = store.query("SELECT * FROM microx.events")
        _, named = store.query("SELECT type, name, target, label FROM microx.events")
        _, refused = store.query("SELECT * FROM microx.rejected_events")
    assert len(rows) == len(sent) >= 8 and not refused
    stored = "\n".join(map(str, rows))
    for secret in (TYPED, "zanzibar", EMAIL, "lovelace", TOKEN):
        assert secret not in stored
        assert all(secret not in b for b in beacons.bodies)
    # What the visitor did is still there, named without it.
    labels = {target: label for type_, _, target, label in named if type_ == "click"}
    assert labels["button#echo"] == 'Search for "…"' and labels["button#send"] == "Send …"
    errors = [n for t, n, _, _ in named if t in ("error", "error_click")]
    assert errors and all("Validation failed for value …" in n for n in errors)
    assert routes[0]["u"].endswith("/lab/account/[email]/settings?ref=[email]#/reset/[token]")
