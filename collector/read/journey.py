"""The journey map: a site's phases and the key moments in each, in the visitor's order.

A site declares them in a TOML file (``MICROX_JOURNEY_FILE``, by default ``journey.toml``
in the data directory), one table per site, one array of moments per phase, in order::

    [shop]
    pre-purchase = ["/", "div.spinner @ /product"]
    purchase = ["checkout-address", "checkout / payment"]
    post-purchase = ["checkout"]

Moments are named as ``microx.friction_by_moment`` names them. ``microx journey`` shows
and edits the file; the report opens with the map, read afresh each time it is made.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

Phase = tuple[str, tuple[str, ...]]

MAX_MOMENTS = 20
_NAME = re.compile(r"^[\w .:/@#\[\]()-]{1,64}$")


class JourneyError(ValueError):
    pass


def parse_journeys(text: str, source: str = "journey file") -> dict[str, tuple[Phase, ...]]:
    """Every site's phases, in the file's order; :class:`JourneyError` says what is wrong."""
    try:
        found = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise JourneyError(f"{source}: {exc}") from None
    journeys: dict[str, tuple[Phase, ...]] = {}
    for site, phases in found.items():
        if not isinstance(phases, dict) or not phases:
            raise JourneyError(f"{source}: [{site}] needs phases: name = [moments]")
        journeys[site] = check(site, list(phases.items()), source)
    return journeys


def check(site: str, phases: list[tuple[str, object]], source: str) -> tuple[Phase, ...]:
    checked: list[Phase] = []
    seen: set[str] = set()
    for phase, moments in phases:
        if not _NAME.match(phase):
            raise JourneyError(f"{source}: [{site}] phase {phase!r}: a name of 1-64 characters")
        if not isinstance(moments, list) or not moments:
            raise JourneyError(f"{source}: [{site}] {phase}: a list of moments, at least one")
        for m in moments:
            if not isinstance(m, str) or not 0 < len(m) <= 300:
                raise JourneyError(f"{source}: [{site}] {phase}: {m!r} is not a moment's name")
            if m in seen:
                raise JourneyError(f"{source}: [{site}] {m!r} is in the map twice")
            seen.add(m)
        checked.append((phase, tuple(moments)))
    if len(seen) > MAX_MOMENTS:
        raise JourneyError(
            f"{source}: [{site}] has {len(seen)} key moments; a map keeps at most {MAX_MOMENTS}"
        )
    return tuple(checked)


def load_journeys(path: Path) -> dict[str, tuple[Phase, ...]]:
    """The map file's journeys; none when there is no file."""
    if not path.exists():
        return {}
    return parse_journeys(path.read_text(encoding="utf-8"), str(path))


def render_journeys(journeys: dict[str, tuple[Phase, ...]]) -> str:
    """The file's text (TOML basic strings are JSON strings)."""
    parts = []
    for site, phases in journeys.items():
        lines = [f"[{json.dumps(site)}]"]
        lines += [
            f"{json.dumps(phase)} = [{', '.join(json.dumps(m) for m in moments)}]"
            for phase, moments in phases
        ]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def save_journey(path: Path, site: str, phases: tuple[Phase, ...]) -> None:
    """Replace one site's map in the file, keeping the others; written whole, then moved."""
    journeys = load_journeys(path)
    if phases:
        journeys[site] = phases
    else:
        journeys.pop(site, None)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".toml.partial")
    partial.write_text(render_journeys(journeys), encoding="utf-8")
    partial.replace(path)
