"""intent: the sink's durable record of the insert in flight.

Before a batch is inserted, its spool range and deduplication token are written to
``intent.json`` in the sink's own directory (a temporary file, fsynced, renamed over the
old one, the directory fsynced); once the rows are stored the spool's checkpoint moves past
the range. The record is never cleared: the next batch's replaces it, and one that ends at
or before the spool's checkpoint is of a batch stored already. So at start, with the
spool's checkpoint and durable end in hand:

- a batch ending at or before the checkpoint was stored (the stop came after the spool's
  commit): nothing to replay;
- a batch starting at the checkpoint is replayed exactly as it was, under its token, and
  ClickHouse drops whatever of it had landed;
- anything else cannot be trusted: the file is missing (lost, or left by a release that
  kept the intent elsewhere), damaged, or names a range that does not fit the spool (whose
  checkpoint was rebuilt). Then every row unread at start may be stored already and is
  looked up before insert (``copies``); the range is kept in the file until the sink has
  stored past it, so a second crash does not lose it.

The spool knows nothing of this file: it keeps only its own checkpoint.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

import orjson

from collector.spool.log import Position

FILE = "intent.json"

log = logging.getLogger("microx.batch")


@dataclasses.dataclass(frozen=True)
class Intent:
    """A batch read from ``start`` to ``end`` that is being inserted under ``token``."""

    start: Position
    end: Position
    token: str


def _intent(value: object) -> Intent | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get("token"), str):
        raise ValueError(f"batch {value!r}")
    return Intent(Position.parse(value["start"]), Position.parse(value["end"]), value["token"])


class IntentFile:
    """The sink's ``intent.json``. Used on the sink thread only."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.path = directory / FILE
        # Rows before this spool position may be stored already: the record was lost.
        self._verify_until = Position(0, 0)

    def open(self, checkpoint: Position, end: Position) -> Intent | None:
        """The batch to replay, read from what the last run left, given the spool's
        ``checkpoint`` and durable ``end``; None when there is none to replay."""
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            saved = orjson.loads(self.path.read_bytes())
            if not isinstance(saved, dict):
                raise ValueError(f"record {saved!r}")
            batch = _intent(saved.get("batch"))
            if saved.get("verify_until") is not None:
                self._verify_until = Position.parse(saved["verify_until"])
        except FileNotFoundError:
            if checkpoint < end:
                self._distrust("missing", checkpoint, end, logging.WARNING)
            return None
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            self._distrust(f"damaged ({exc})", checkpoint, end, logging.ERROR)
            return None
        if batch is None or batch.end <= checkpoint:
            return None
        if batch.start == checkpoint and batch.end <= end:
            return batch
        self._distrust(
            f"naming spool range {batch.start} to {batch.end}, which does not fit the "
            f"spool's checkpoint {checkpoint} and end {end}",
            checkpoint,
            end,
            logging.WARNING,
        )
        return None

    def _distrust(self, problem: str, checkpoint: Position, end: Position, level: int) -> None:
        self._verify_until = max(self._verify_until, end)
        log.log(
            level,
            "sink: the record of the insert in flight is %s; the spool's rows from %s to %s "
            "are checked against the store before insert, so that none is stored twice",
            problem,
            checkpoint,
            end,
        )
        self._save(None)

    def needs_verify(self, start: Position) -> bool:
        """Whether a batch read from ``start`` may be stored already (the record of the
        insert in flight was lost) and must be looked up before insert."""
        return start < self._verify_until

    def record(self, intent: Intent) -> None:
        """Durably, before any of the batch is inserted: what is about to be inserted."""
        self._save(intent)

    def _save(self, intent: Intent | None) -> None:
        body: dict[str, object] = {"batch": None}
        if intent is not None:
            body["batch"] = {
                "start": intent.start.listed(),
                "end": intent.end.listed(),
                "token": intent.token,
            }
        # Everything before a batch's start is stored: once past the range, it is forgotten.
        if (Position(0, 0) if intent is None else intent.start) < self._verify_until:
            body["verify_until"] = self._verify_until.listed()
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("wb") as f:
            f.write(orjson.dumps(body))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
