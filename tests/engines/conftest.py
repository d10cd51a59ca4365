from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import CHROMIUM
from tests.engines.chromium import Chromium
from tests.engines.driver import Browser
from tests.engines.firefox import FIREFOX, Firefox
from tests.engines.server import Lab, serve
from tests.engines.webkit import DRIVER, XVFB, WebKit

# What `make test` installs for each engine (Debian's packages).
NEEDS = {
    "chromium": ([CHROMIUM], "chromium"),
    "firefox": ([FIREFOX], "firefox-esr"),
    "webkit": ([DRIVER, XVFB], "webkit2gtk-driver and xvfb"),
}
ENGINES: dict[str, Callable[[], Browser]] = {
    "chromium": Chromium,
    "firefox": Firefox,
    "webkit": WebKit,
}


@pytest.fixture(scope="package", params=list(ENGINES))
def browser(request: pytest.FixtureRequest) -> Iterator[Browser]:
    """One browser per engine for these tests: pytest groups them by engine, so one runs
    at a time, and the last is closed when they are done."""
    name: str = request.param
    files, package = NEEDS[name]
    for file in files:
        if not Path(file).exists():
            pytest.fail(f"{file} is missing: `make test` installs Debian's {package}")
    b = ENGINES[name]()
    try:
        yield b
    finally:
        b.close()


@pytest.fixture
def lab() -> Iterator[tuple[str, Lab]]:
    with serve() as served:
        yield served
