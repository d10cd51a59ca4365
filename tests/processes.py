"""Processes as /proc shows them: a collector's descendants, and whether they still live."""

from __future__ import annotations

import os
from pathlib import Path

# A process is known by its id and start time (field 22 of /proc/<pid>/stat), so an id
# used again by an unrelated process is not mistaken for a survivor.
Process = tuple[int, int]


def stat(pid: int) -> tuple[str, int, int] | None:
    """State, parent id and start time of ``pid``, or None once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name is in parentheses and may hold spaces: split after it.
    fields = text[text.rindex(")") + 2 :].split()
    return fields[0], int(fields[1]), int(fields[19])


def descendants(root: int) -> set[Process]:
    parents: dict[int, list[Process]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (found := stat(int(entry))) is not None:
            parents.setdefault(found[1], []).append((int(entry), found[2]))
    out: set[Process] = set()
    todo = [root]
    while todo:
        for child in parents.get(todo.pop(), []):
            out.add(child)
            todo.append(child[0])
    return out


def alive(process: Process) -> bool:
    found = stat(process[0])
    # A zombie has exited; only its parent (now init) has yet to collect it.
    return found is not None and found[2] == process[1] and found[0] != "Z"
