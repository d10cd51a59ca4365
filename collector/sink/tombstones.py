"""Tombstones: which visitors and sessions were erased, and when, kept in the spool.

An erasure deletes rows from the store, but the spool may still hold records of the same
visitor (not yet stored, or replayed after a crash), and a browser may resend events it
saved before the erasure. The sink looks every row up here before inserting it: a row of
an erased visitor or session from before the erasure is dropped and counted.

Only hashes of the site and id are kept, with the erasure time and where the spool ended
then, and, until the store's deletion is complete, the erasure each belongs to (its
visitor's hash): a crash in between leaves it to be finished at the next start. Nothing
else about the visitor. The list is bounded: an entry goes once it is older
than :data:`KEEP_S` and the spool has stored everything it held at the erasure.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import time
from collections.abc import Iterable
from pathlib import Path

import orjson

from collector.spool.log import Position

FILE = "tombstones.json"
DEFAULT_MAX_ENTRIES = 100_000
# The contract refuses events dated more than 7 days before their batch was sent: after
# that (and a day's margin for clocks) no resent event from before an erasure gets in.
KEEP_S = 8 * 24 * 3600.0


class TombstonesFull(Exception):
    """Too many recent erasures to remember another one safely."""


class TombstonesDamaged(Exception):
    """The tombstone file cannot be read: replaying the spool could restore erased rows."""


def subject(kind: str, site: str, ident: str) -> str:
    """The hash an erased visitor (``kind`` "v") or session ("s") is remembered by."""
    text = f"{kind}\0{site}\0{ident.lower()}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclasses.dataclass(frozen=True)
class Tombstone:
    erased_ms: int
    # The end of the spool at the erasure: records before it may be of the erased visitor.
    spool_end: Position
    # The visitor hash of an erasure whose deletion from the store has not completed.
    pending: str | None = None


class Tombstones:
    def __init__(self, directory: Path, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self.path = directory / FILE
        self.max_entries = max_entries
        self._entries: dict[str, Tombstone] = {}
        try:
            saved = orjson.loads(self.path.read_bytes())
            for h, erased_ms, segment, offset, *pending in saved["entries"]:
                self._entries[str(h)] = Tombstone(
                    int(erased_ms), Position(segment, offset), str(pending[0]) if pending else None
                )
        except FileNotFoundError:
            pass
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise TombstonesDamaged(
                f"{self.path} cannot be read ({exc}); it lists erased visitors, without it "
                "the spool could bring their rows back: restore it from a backup"
            ) from None

    def __len__(self) -> int:
        return len(self._entries)

    def erased(self, h: str, at_ms: int) -> bool:
        """Whether a row of subject ``h`` dated ``at_ms`` predates its erasure."""
        entry = self._entries.get(h)
        return entry is not None and at_ms < entry.erased_ms

    def add(
        self,
        hashes: Iterable[str],
        erased_ms: int,
        spool_end: Position,
        pending: str | None = None,
    ) -> None:
        """Remember ``hashes`` as erased at ``erased_ms``, durably, before anything is
        deleted: a crash after this cannot let the spool restore them. ``pending`` names
        the erasure (its visitor's hash) until :meth:`done` says its deletion completed."""
        entries = dict(self._entries)
        for h in hashes:
            entries[h] = Tombstone(erased_ms, spool_end, pending)
        if len(entries) > self.max_entries:
            raise TombstonesFull(
                f"{len(entries)} erased visitors and sessions to remember, more than "
                f"MICROX_TOMBSTONES_MAX ({self.max_entries}); retry once older ones expire"
            )
        self._save(entries)
        self._entries = entries

    def done(self, erasure: str) -> None:
        """Record, durably, that the erasure ``erasure`` is deleted from the store."""
        entries = {
            h: dataclasses.replace(t, pending=None) if t.pending == erasure else t
            for h, t in self._entries.items()
        }
        if entries != self._entries:
            self._save(entries)
            self._entries = entries

    def pending(self) -> dict[str, tuple[set[str], int]]:
        """Erasures not yet complete in the store: each one's hashes and erasure time."""
        out: dict[str, tuple[set[str], int]] = {}
        for h, t in self._entries.items():
            if t.pending is not None:
                hashes, erased_ms = out.setdefault(t.pending, (set(), t.erased_ms))
                hashes.add(h)
                out[t.pending] = (hashes, max(erased_ms, t.erased_ms))
        return out

    def prune(self, checkpoint: Position, now_ms: int | None = None) -> int:
        """Forget entries no row can need any more; returns how many went."""
        now_ms = int(time.time() * 1000) if now_ms is None else now_ms
        keep = {
            h: t
            for h, t in self._entries.items()
            if now_ms - t.erased_ms < KEEP_S * 1000
            or checkpoint < t.spool_end
            or t.pending is not None
        }
        gone = len(self._entries) - len(keep)
        if gone:
            self._save(keep)
            self._entries = keep
        return gone

    def _save(self, entries: dict[str, Tombstone]) -> None:
        rows = [
            [h, t.erased_ms, t.spool_end.segment, t.spool_end.offset]
            + ([t.pending] if t.pending is not None else [])
            for h, t in entries.items()
        ]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        with tmp.open("wb") as f:
            f.write(orjson.dumps({"entries": rows}))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        fd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
