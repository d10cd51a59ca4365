"""A real single-page app in every engine: React Router's data router (tests/apps/router),
with the built snippet added by its one tag.

Real apps differ from the lab page in ways the snippet does not measure right yet; each
such case has a test of what the right rows are, marked xfail with what the snippet does
today. Their preconditions (the app did what the case needs, the snippet saw it) fail
with ``pytest.fail`` or a timeout, not an assertion, so such a test cannot pass as an
expected failure because the app or the engine broke.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.engines.driver import Browser, Page, flushed, open_page, wait_for
from tests.engines.server import ROUTER_APP, Lab, serve

pytestmark = pytest.mark.browser

# The app's known round-trip times (tests/apps/router/src/contacts.js).
CREATE_MS = 1500
SEARCH_MS = 800
# How much later than the round trip the new view may show on a loaded machine.
RENDER_SLACK_MS = 2000
ADA = "16odw8b"
GRACE = "9c1f2e04-7b3d-4a51-8e6f-2d0c5b7a9e13"
ALAN = "x7k2m9p"
EDIT = "#contact form:first-child button"
DELETE = "#contact form:last-child button"
BUSY = "document.querySelector('#results').getAttribute('aria-busy')"


@pytest.fixture
def app() -> Iterator[tuple[str, Lab]]:
    if not (ROUTER_APP / "index.html").is_file():
        pytest.fail(f"{ROUTER_APP} is missing: `make test` builds it")
    with serve(app=ROUTER_APP) as served:
        yield served


def open_app(browser: Browser, base: str, path: str) -> Page:
    page = open_page(browser, base + path)
    wait_for(lambda: page.evaluate("!!document.querySelector('#sidebar')"))
    return page


def at(page: Page, path: str) -> None:
    """Wait until the app shows ``path`` (a regular expression for the pathname)."""
    wait_for(lambda: re.fullmatch(path, page.evaluate("location.pathname")))


def require(what: object, why: str) -> None:
    if not what:
        pytest.fail(f"precondition: {why}")


def one(events: list[dict[str, Any]], why: str) -> dict[str, Any]:
    require(len(events) == 1, f"{why}: {events}")
    return events[0]


def test_the_router_app_runs_and_is_measured(browser: Browser, app: tuple[str, Lab]) -> None:
    """What the cases below stand on, in each engine: the app waits for its action
    before it changes the URL, and the snippet sees its clicks, routes and fields."""
    base, beacons = app
    page = open_app(browser, base, f"/contacts/{ADA}")
    page.click("#new")
    # The action runs first: the URL is the old one for its 1.5 s.
    assert page.evaluate("location.pathname") == f"/contacts/{ADA}"
    at(page, "/contacts/[0-9a-f-]{36}/edit")
    page.click("#q")
    page.type("lov")
    wait_for(lambda: page.evaluate("location.search") == "?q=lov")
    routes = flushed(page, beacons, "route", 2)
    # The query string never leaves the page (no data-query).
    assert routes[0]["u"].endswith("/edit") and routes[1]["u"] == base + "/"
    clicks = {c["tg"]: c for c in flushed(page, beacons, "click", 2)}
    # The button's pending state ("Creating…") answers the click at once.
    assert clicks["button#new"]["p"]["fb"] == "dom" and beacons.events("dead_click") == []
    assert [f["n"] for f in beacons.events("form_start")] == ["search-form"]
    assert page.evaluate("[window.__errors, window.__violations]") == [[], []]


def test_the_wait_for_an_action_is_recorded_on_the_click_and_the_route(
    browser: Browser, app: tuple[str, Lab]
) -> None:
    """Clicking "New" waits for the action (1.5 s) before the new view shows: that wait
    is the route's duration, and the click's `view` prop, with the route naming the
    click (`by`)."""
    base, beacons = app
    page = open_app(browser, base, f"/contacts/{ADA}")
    page.click("#new")
    at(page, "/contacts/[0-9a-f-]{36}/edit")
    time.sleep(0.5)  # the view settles
    route = one([r for r in flushed(page, beacons, "route") if "/edit" in r["u"]], "one route")
    click = one([c for c in flushed(page, beacons, "click") if c["l"] == "New"], "one click")
    assert CREATE_MS <= route["d"] < CREATE_MS + RENDER_SLACK_MS
    assert route.get("p", {}).get("by") == "button#new"
    assert CREATE_MS <= click["p"].get("view", 0) < CREATE_MS + RENDER_SLACK_MS


def test_searching_as_you_type_abandons_no_form(browser: Browser, app: tuple[str, Lab]) -> None:
    base, beacons = app
    page = open_app(browser, base, f"/contacts/{ADA}")
    page.click("#q")
    page.type("lov")
    wait_for(lambda: page.evaluate("location.pathname + location.search") == "/?q=lov")
    wait_for(lambda: page.evaluate(BUSY) == "false")
    one(flushed(page, beacons, "form_start"), "the search form was started")
    route = one(flushed(page, beacons, "route"), "the search changed the route")
    require(route["u"] == base + "/", f"from the contact to the list: {route}")
    page.evaluate("microx.flush()")
    time.sleep(0.5)
    assert beacons.events("form_abandon") == []


def test_route_paths_are_grouped_into_templates(browser: Browser, app: tuple[str, Lab]) -> None:
    base, beacons = app
    page = open_app(browser, base, f"/contacts/{ADA}")
    for contact in (GRACE, ALAN):
        page.click(f"#results a[href='/contacts/{contact}']")
        at(page, f"/contacts/{contact}")
    routes = flushed(page, beacons, "route", 2)
    require(len(routes) == 2, f"two routes: {routes}")
    # The page as loaded (the envelope's URL) and each route: one template.
    paths = [r["u"].removeprefix(base) for r in routes]
    paths.append(routes[0]["_env"]["u"].removeprefix(base))
    assert paths == ["/contacts/:id"] * 3
    for contact in (ADA, GRACE, ALAN):
        assert all(contact not in b for b in beacons.bodies)


def test_edit_and_delete_are_different_click_targets(
    browser: Browser, app: tuple[str, Lab]
) -> None:
    base, beacons = app
    page = open_app(browser, base, f"/contacts/{ADA}")
    page.click(EDIT)
    at(page, f"/contacts/{ADA}/edit")
    page.click(f"#results a[href='/contacts/{ADA}']")
    at(page, f"/contacts/{ADA}")
    page.click(DELETE)
    at(page, "/")
    clicks = flushed(page, beacons, "click", 3)
    edit = one([c for c in clicks if c["l"] == "Edit"], "one click on Edit")
    delete = one([c for c in clicks if c["l"] == "Delete"], "one click on Delete")
    assert edit["tg"] != delete["tg"]


def test_a_loading_cue_is_never_named_by_its_text(browser: Browser, app: tuple[str, Lab]) -> None:
    """The search results are marked aria-busy while the search runs; they show what the
    visitor typed, and the contacts found."""
    base, beacons = app
    page = open_app(browser, base, "/")
    # Cues are watched by the second file: the page load it reports says it runs, so the
    # busy region that follows is seen from its start.
    flushed(page, beacons, "page")
    page.click("#q")
    page.type("lov")
    region = "document.querySelector('#results').textContent"

    def searching() -> str | None:
        # On a loaded machine the keys come slowly, each starting a search of its own: the
        # one for everything typed.
        text = str(page.evaluate(region))
        return text if page.evaluate(BUSY) == "true" and "lov" in text else None

    while_busy = wait_for(searching, timeout_s=SEARCH_MS / 1000 + 10)
    wait_for(lambda: page.evaluate(BUSY) == "false", timeout_s=SEARCH_MS / 1000 + 10)
    after = page.evaluate(region)
    require("Lovelace" in after, f"the region: {while_busy!r}, {after!r}")
    cues = flushed(page, beacons, "loading")
    require(all(c["tg"] == "section#results" for c in cues), f"the cue is the region: {cues}")
    words = set(re.findall(r"\w{3,}", while_busy + " " + after))
    assert [w for c in cues for w in words if w in c.get("l", "")] == []
