"""A deliberately small User-Agent classifier: browser family, OS family, device class.

Analysts slice friction by these three; version numbers and models would only add
cardinality. Results are cached because a site's traffic repeats a few thousand UAs.
"""

from __future__ import annotations

import functools
import re

_BOT = re.compile(
    r"bot|crawl|spider|slurp|headlesschrome|lighthouse|pingdom|curl|wget|python-", re.I
)
# Order matters: Edge and Opera also say "Chrome", Chrome also says "Safari".
_BROWSERS = (
    ("Edge", re.compile(r"Edg(e|A|iOS)?/")),
    ("Opera", re.compile(r"OPR/|Opera")),
    ("Samsung Internet", re.compile(r"SamsungBrowser/")),
    ("Firefox", re.compile(r"Firefox/|FxiOS/")),
    ("Chrome", re.compile(r"Chrome/|CriOS/|Chromium/")),
    ("Safari", re.compile(r"Safari/")),
)
_OSES = (
    ("iOS", re.compile(r"iPhone|iPad|iPod")),
    ("Android", re.compile(r"Android")),
    ("ChromeOS", re.compile(r"CrOS")),
    ("Windows", re.compile(r"Windows")),
    ("macOS", re.compile(r"Mac OS X|Macintosh")),
    ("Linux", re.compile(r"Linux|X11")),
)
_TABLET = re.compile(r"iPad|Tablet|Android(?!.*Mobile)")
_MOBILE = re.compile(r"Mobi|iPhone|iPod|Android")


@functools.lru_cache(maxsize=4096)
def classify(user_agent: str) -> tuple[str, str, str]:
    """Return ``(browser, os, device)``; device is desktop, mobile, tablet, bot or unknown."""
    if not user_agent:
        return ("", "", "unknown")
    browser = next((name for name, rx in _BROWSERS if rx.search(user_agent)), "Other")
    os_name = next((name for name, rx in _OSES if rx.search(user_agent)), "Other")
    if _BOT.search(user_agent):
        device = "bot"
    elif _TABLET.search(user_agent):
        device = "tablet"
    elif _MOBILE.search(user_agent):
        device = "mobile"
    else:
        device = "desktop"
    return (browser, os_name, device)
