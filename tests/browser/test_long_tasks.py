"""Long tasks tied to the interaction they delayed.

Whether the snippet itself ever runs long is a question of speed, so it is measured, not
asserted: ``python -m loadtests.snippet_cost`` prints the longest run of the snippet's files
in a long animation frame, start-up included.
"""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser

from tests.beacons import Beacons
from tests.browser.lab import open_lab
from tests.conftest import wait_for

pytestmark = pytest.mark.browser


def test_long_animation_frame_is_tied_to_the_click(
    browser: Browser, lab: tuple[str, Beacons]
) -> None:
    base, beacons = lab
    page = open_lab(browser, base)
    page.click("#slow")

    def near() -> list[dict[str, Any]]:
        page.evaluate("microx.flush()")
        return [t for t in beacons.events("long_task") if t["p"].get("ia") == "button#slow"]

    (task,) = wait_for(near, page=page)
    assert task["d"] >= 140 and task["n"] in ("loaf", "longtask")
