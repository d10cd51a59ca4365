"""How well the User-Agent classes match device-detector's labelled agents.

    .venv/bin/pip install -e '.[bench]'   # device-detector, whose test agents are used
    .venv/bin/python -m loadtests.bot_accuracy

Matomo's device-detector (the Python port) ships some 38,000 User-Agents labelled by hand
as test fixtures: bots, and browsers on phones, tablets, desktops and TVs. Prints how many
of its bots :func:`collector.rows.useragent.classify` calls bots and how many of its
browsers and apps' web views it takes for bots, the same for monperrus' list as published,
the list's entries that match a browser or a web view (candidates for ``BOT_EXCLUSIONS``
after a new release), and how often phones, tablets and desktops get their class.
Measures; asserts nothing.
"""

from __future__ import annotations

import collections
import importlib.util
from pathlib import Path
from typing import Any

import crawleruseragents
import yaml_rs

from collector.rows.useragent import classify

# device-detector's form factors and the device class each one is.
FORM_FACTORS = {
    "smartphone": "mobile",
    "phablet": "mobile",
    "feature phone": "mobile",
    "tablet": "tablet",
    "desktop": "desktop",
}


def fixtures() -> Path:
    spec = importlib.util.find_spec("device_detector")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("device-detector is not installed: pip install -e '.[bench]'")
    return Path(next(iter(spec.submodule_search_locations))) / "tests/fixtures/upstream"


def agents(directory: Path) -> list[dict[str, Any]]:
    """Every labelled agent but the client-hint cases, whose answer needs more headers."""
    found: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.yml")):
        if not path.name.startswith("clienthints"):
            entries = yaml_rs.loads(path.read_text()) or []
            assert isinstance(entries, list), path  # each file is a list of cases
            found += [e for e in entries if e.get("user_agent")]
    return found


def main() -> None:
    labelled = agents(fixtures())
    bots = [str(e["user_agent"]) for e in labelled if "bot" in e]
    # Browsers, and apps' web views (they say Mozilla/5.0): what can run the snippet.
    people = [
        str(e["user_agent"])
        for e in labelled
        if "bot" not in e
        and (
            (e.get("client") or {}).get("type") == "browser"
            or str(e["user_agent"]).startswith("Mozilla/5.0")
        )
    ]
    print(f"{len(labelled)} agents: {len(bots)} bots, {len(people)} browsers and web views")
    for name, is_bot in (
        ("collector", lambda ua: classify(ua)[2] == "bot"),
        ("the list as published", crawleruseragents.is_crawler),
    ):
        caught = sum(map(is_bot, bots))
        wrong = sum(map(is_bot, people))
        print(
            f"{name}: {caught} bots of {len(bots)}, {wrong} browsers and web views taken for bots"
        )
    entries: collections.Counter[str] = collections.Counter()
    for ua in people:
        for i in crawleruseragents.matching_crawlers(ua):
            entries[crawleruseragents.CRAWLER_USER_AGENTS_DATA[i]["pattern"]] += 1
    for pattern, count in entries.most_common():
        print(f"  list entry {pattern!r} matches {count}")
    for form, expected in FORM_FACTORS.items():
        uas = [
            str(e["user_agent"])
            for e in labelled
            if "bot" not in e and (e.get("device") or {}).get("type") == form
        ]
        classes = collections.Counter(classify(ua)[2] for ua in uas)
        share = classes[expected] / len(uas) if uas else 0.0
        print(f"{form}: {share:.1%} {expected} of {len(uas)} ({dict(classes.most_common())})")


if __name__ == "__main__":
    main()
