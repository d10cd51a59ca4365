"""rejection: a refused event or request, as it is kept in ``rejected_events``."""

from __future__ import annotations

import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class Rejection:
    reason: str
    field: str
    message: str
    index: int = -1  # the event's index in the batch; -1 when the whole request failed
    raw: str = ""

    def as_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "reason": self.reason,
            "field": self.field,
            "message": self.message,
        }
