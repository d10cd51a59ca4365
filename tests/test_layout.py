"""The package reads as the pipeline: each stage imports only what comes before it or
what it shares, never a later stage or the read side, so an event's way never steps back."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "collector"

# What each part may use. ``contract`` (the wire contract) and ``ops`` (logs, metrics,
# secrets, confinement) are shared by all; the pipeline runs ingest -> spool -> sink with
# ``rows`` (the row contract) between ingest and sink; the read side and visitors' rights
# sit beside it; ``tools`` and the top (settings, app, cli) wire everything.
ALLOWED = {
    "contract": set(),
    "ops": set(),
    "web": set(),
    "rows": {"contract"},
    "spool": {"ops"},
    "ingest": {"contract", "ops", "rows", "spool"},
    "sink": {"contract", "ops", "rows", "spool"},
    "rights": {"contract", "ops", "rows", "spool", "ingest", "sink"},
    "read": {"contract", "ops", "ingest", "sink"},
    "tools": {"contract", "ops", "rows", "ingest", "sink"},
    "settings": {"ops", "ingest", "spool", "sink", "read"},
}
TOP = {"app", "cli", "__init__"}


def _part(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0]


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = node.module.split(".")
            if names[0] == "collector":
                found |= {names[1]} if len(names) > 1 else {a.name for a in node.names}
        elif isinstance(node, ast.Import):
            for alias in node.names:
                names = alias.name.split(".")
                if names[0] == "collector" and len(names) > 1:
                    found.add(names[1])
    return found


def test_every_part_imports_only_what_comes_before_it() -> None:
    wrong: list[str] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        part = _part(path)
        if part in TOP:
            continue
        assert part in ALLOWED, f"{path.relative_to(ROOT)}: a new part; say what it may use"
        for used in sorted(_imports(path) - {part}):
            if used not in ALLOWED[part]:
                wrong.append(f"{path.relative_to(ROOT)} imports collector.{used}")
    assert wrong == []


def test_the_allowed_uses_have_no_cycle() -> None:
    done: set[str] = set()

    def visit(part: str, trail: tuple[str, ...]) -> None:
        assert part not in trail, " -> ".join((*trail, part))
        if part in done:
            return
        for used in ALLOWED.get(part, set()):
            visit(used, (*trail, part))
        done.add(part)

    for part in ALLOWED:
        visit(part, ())
