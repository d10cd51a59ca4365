from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.beacons import Beacons, serve
from tests.conftest import BROWSER_UA, CHROMIUM, CHROMIUM_ARGS


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    with sync_playwright() as p:
        # The whole browser must say it is an ordinary Chrome: a per-page override does
        # not reach sendBeacon, and the collector drops what calls itself HeadlessChrome.
        args = [*CHROMIUM_ARGS, f"--user-agent={BROWSER_UA}"]
        b = p.chromium.launch(executable_path=CHROMIUM, args=args)
        yield b
        b.close()


@pytest.fixture
def lab() -> Iterator[tuple[str, Beacons]]:
    """The test server's address and what it logs of the snippet's beacons."""
    with serve() as served:
        yield served
