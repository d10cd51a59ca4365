"""The sink's record of the insert in flight, read back at start against the spool."""

from __future__ import annotations

import logging
from pathlib import Path

import orjson
import pytest

from collector.sink.intent import FILE, Intent, IntentFile
from collector.spool.log import Position

CHECKPOINT = Position(3, 4096)
END = Position(4, 100)
BATCH = Intent(CHECKPOINT, Position(3, 9000), "token-1")


def recorded(directory: Path, intent: Intent) -> None:
    record = IntentFile(directory)
    record.open(Position(1, 0), Position(1, 0))
    record.record(intent)


def saved(directory: Path) -> dict[str, object]:
    body: dict[str, object] = orjson.loads((directory / FILE).read_bytes())
    return body


def test_a_batch_starting_at_the_checkpoint_is_replayed(tmp_path: Path) -> None:
    recorded(tmp_path, BATCH)
    record = IntentFile(tmp_path)
    assert record.open(CHECKPOINT, END) == BATCH
    assert not record.needs_verify(CHECKPOINT)


@pytest.mark.parametrize("end", [Position(3, 4096), Position(2, 10)])
def test_a_batch_the_checkpoint_moved_past_is_not_replayed(tmp_path: Path, end: Position) -> None:
    recorded(tmp_path, Intent(Position(2, 0), end, "token-0"))
    record = IntentFile(tmp_path)
    assert record.open(CHECKPOINT, END) is None
    assert not record.needs_verify(CHECKPOINT)


def test_a_fresh_start_has_nothing_to_check(tmp_path: Path) -> None:
    record = IntentFile(tmp_path / "sink")
    assert record.open(Position(1, 0), Position(1, 0)) is None
    assert not record.needs_verify(Position(0, 0))


@pytest.mark.parametrize("damage", ["missing", "truncated", "garbage", "bad_token", "not_json"])
def test_a_lost_record_puts_every_unread_row_to_the_check(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    recorded(tmp_path, BATCH)
    path = tmp_path / FILE
    if damage == "missing":
        path.unlink()
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:20])
    elif damage == "garbage":
        path.write_bytes(b'{"batch": {"start": "here", "end": [3, 9000], "token": "t"}}')
    elif damage == "bad_token":
        path.write_bytes(b'{"batch": {"start": [3, 4096], "end": [3, 9000], "token": 7}}')
    else:
        path.write_bytes(b"\x00" * 64)
    record = IntentFile(tmp_path)
    with caplog.at_level(logging.WARNING, "microx.batch"):
        assert record.open(CHECKPOINT, END) is None
    assert "checked against the store before insert" in caplog.text
    assert record.needs_verify(CHECKPOINT) and record.needs_verify(Position(4, 99))
    assert not record.needs_verify(END)
    # Kept through another crash before anything is stored.
    again = IntentFile(tmp_path)
    assert again.open(CHECKPOINT, END) is None
    assert again.needs_verify(Position(4, 99)) and not again.needs_verify(END)


def test_a_batch_that_does_not_fit_the_spool_is_not_trusted(tmp_path: Path) -> None:
    """The spool's checkpoint was rebuilt (back at its oldest segment): the batch cannot
    be read again as it was."""
    recorded(tmp_path, BATCH)
    record = IntentFile(tmp_path)
    assert record.open(Position(1, 0), END) is None
    assert record.needs_verify(Position(1, 0)) and record.needs_verify(CHECKPOINT)
    assert not record.needs_verify(END)


def test_a_batch_reaching_past_the_spool_end_is_not_trusted(tmp_path: Path) -> None:
    recorded(tmp_path, BATCH)
    record = IntentFile(tmp_path)
    assert record.open(CHECKPOINT, Position(3, 8000)) is None
    assert record.needs_verify(CHECKPOINT)


def test_the_range_to_check_is_kept_until_the_sink_is_past_it(tmp_path: Path) -> None:
    (tmp_path / FILE).write_bytes(b"{")
    record = IntentFile(tmp_path)
    record.open(CHECKPOINT, END)
    record.record(Intent(CHECKPOINT, Position(3, 9000), "a"))
    assert saved(tmp_path)["verify_until"] == END.listed()
    record.record(Intent(Position(3, 9000), END, "b"))
    assert saved(tmp_path)["verify_until"] == END.listed()
    record.record(Intent(END, Position(4, 500), "c"))
    assert "verify_until" not in saved(tmp_path)
    assert saved(tmp_path)["batch"] == {"start": [4, 100], "end": [4, 500], "token": "c"}
    assert IntentFile(tmp_path).open(END, Position(4, 500)) == Intent(END, Position(4, 500), "c")


def test_recording_replaces_the_file_whole(tmp_path: Path) -> None:
    recorded(tmp_path, BATCH)
    assert sorted(p.name for p in tmp_path.iterdir()) == [FILE]
    assert saved(tmp_path) == {"batch": {"start": [3, 4096], "end": [3, 9000], "token": "token-1"}}
