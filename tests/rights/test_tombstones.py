from __future__ import annotations

from pathlib import Path

import pytest

from collector.sink.tombstones import (
    KEEP_S,
    Tombstones,
    TombstonesDamaged,
    TombstonesFull,
    subject,
)
from collector.spool.log import Position


def test_tombstones_are_bounded_durable_and_expire_once_the_spool_is_past(tmp_path: Path) -> None:
    stones = Tombstones(tmp_path, max_entries=3)
    a, b = subject("v", "shop", "A1B2C3D4-0000-4000-8000-000000000000"), subject("s", "shop", "x")
    assert a == subject("v", "shop", "a1b2c3d4-0000-4000-8000-000000000000")
    assert a != subject("v", "blog", "a1b2c3d4-0000-4000-8000-000000000000")
    stones.add([a, b], 1_000, Position(2, 50))
    again = Tombstones(tmp_path, max_entries=3)
    assert again.erased(a, 999) and not again.erased(a, 1_000) and not again.erased("", 0)
    with pytest.raises(TombstonesFull):
        again.add(["c", "d"], 2_000, Position(2, 60))
    late = 1_000 + int(KEEP_S * 1000)
    assert again.prune(Position(2, 40), late) == 0  # the spool still holds rows from before
    assert again.prune(Position(2, 50), late - 1) == 0  # too recent
    assert again.prune(Position(2, 50), late) == 2 and len(Tombstones(tmp_path)) == 0


def test_a_damaged_tombstone_file_stops_the_start(tmp_path: Path) -> None:
    (tmp_path / "tombstones.json").write_text('{"entries": [["h", 1]')
    with pytest.raises(TombstonesDamaged, match=r"tombstones\.json"):
        Tombstones(tmp_path)


def test_an_erasure_stays_pending_until_done_and_is_not_pruned_before(tmp_path: Path) -> None:
    stones = Tombstones(tmp_path)
    v, s = subject("v", "shop", "x"), subject("s", "shop", "y")
    stones.add(["old"], 500, Position(1, 0))  # written complete, as before pending existed
    stones.add([v, s], 1_000, Position(2, 50), pending=v)
    again = Tombstones(tmp_path)
    assert again.pending() == {v: ({v, s}, 1_000)}
    late = 1_000 + int(KEEP_S * 1000)
    assert again.prune(Position(3, 0), late) == 1 and len(again) == 2  # only "old" goes
    again.done(v)
    assert Tombstones(tmp_path).pending() == {}
    assert Tombstones(tmp_path).erased(s, 999)
    assert again.prune(Position(3, 0), late) == 2
