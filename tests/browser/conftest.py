from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.beacons import Beacons, serve


@pytest.fixture
def lab() -> Iterator[tuple[str, Beacons]]:
    """The test server's address and what it logs of the snippet's beacons."""
    with serve() as served:
        yield served
