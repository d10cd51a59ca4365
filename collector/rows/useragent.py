"""User-Agent classes: browser family, OS family, device class.

Browser and OS come from uap-core's rules (``ua-parser`` with its native engine), mapped onto
the few families analysts slice friction by; versions and models would only add cardinality.
A bot is an agent matching monperrus' crawler list (``crawler-user-agents``) less
:data:`BOT_EXCLUSIONS`, or one of :data:`BOT_ADDITIONS`: docs/operations.md, "Bots and
User-Agent classes", says which and why.
Results are cached because a site's traffic repeats a few thousand agents.
"""

from __future__ import annotations

import functools

import crawleruseragents
from ua_parser import Device, Domain, load_lazy_builtins
from ua_parser.core import Matcher
from ua_parser.lazy import DeviceMatcher

# The native engine, named rather than left to ua-parser's choice: the pure-Python
# fallback is tens of times slower, and without ua-parser-rs this import fails at start.
from ua_parser.regex import Resolver

# No browser sends a longer User-Agent; the bound keeps a hostile header's cost and the
# cache's keys small (the rules take milliseconds over a 32 kB header, microseconds over 1 kB).
UA_MAX_CHARS = 1024
CACHE_SIZE = 4096

# The list's entries that match real browsers, most replaced below by a narrower form.
BOT_EXCLUSIONS = frozenset(
    {
        r"AP3A\.240617\.008",  # an Android 15 build id that millions of phones send
        r"008\/",  # also inside device names ("TS1008/1.0")
        "Sogou",  # also Sogou's mobile browser
        "Sonic",  # also ViewSonic and Cherry Sonic phones
        "Butterfly",  # also HTC Butterfly phones
        "Fever",  # also Wiko Fever phones
        "Expanse",  # also a phone model of that name
        "Fluid",  # a site-specific browser for Mac, used by people
        "Viber",  # also the Viber app's web view, where people open the links they get
        r"Notion\/",  # also Notion's desktop app, an Electron browser that shows embeds
    }
)
BOT_ADDITIONS = (
    # Headless Chromium drives scrapers, monitors and test runs; no visitor browses with it.
    "HeadlessChrome",
    # Crawlers missing from the list that name themselves: "ExampleBot/1.0",
    # "(compatible; ExampleBot)", or a contact address "+https://…" no browser carries.
    r"(?i)(?:bot|crawler|spider)/\d",
    r"(?i)compatible; ?[^;)]*(?:bot|crawler|spider)\b",
    r"\+https?://",
    # The excluded entries, narrowed to the crawlers they were meant for.
    r"\b008/",
    r"Sogou[-\w ]*[Ss]pider",
    r"\bSonic/|RankSonic",
    "Butterfly/",
    "Fever/",
    "^Expanse",
    "^Viber",
    "^Notion/",
)

_BOT = "bot"
# uap-core names a brand's variants after it: "Chrome Mobile iOS", "Firefox iOS", "Opera Mini".
_BRANDS = frozenset({"Chrome", "Edge", "Firefox", "Opera"})
_BROWSERS = {
    "Chromium": "Chrome",
    "HeadlessChrome": "Chrome",
    "Safari": "Safari",
    "Mobile Safari": "Safari",
    # An app's web view on iOS: no brand of its own, Safari's engine.
    "Mobile Safari UI/WKWebView": "Safari",
    "Samsung Internet": "Samsung Internet",
}
_LINUX = (
    "Linux",
    "Ubuntu",
    "Kubuntu",
    "Lubuntu",
    "Debian",
    "Fedora",
    "Red Hat",
    "Linux Mint",
    "Mandriva",
    "Arch Linux",
    "CentOS",
    "Slackware",
    "Gentoo",
    "openSUSE",
    "SUSE",
    "PCLinuxOS",
    "Mageia",
    "Puppy",
)
_SYSTEMS = {
    "iOS": "iOS",
    "Android": "Android",
    "Chrome OS": "ChromeOS",
    "Windows": "Windows",
    "Mac OS X": "macOS",
    **dict.fromkeys(_LINUX, "Linux"),
}


def _resolver() -> Resolver:
    agents, systems, _ = load_lazy_builtins()
    # uap-core's device rules give models, which are not stored; the bot list takes their
    # place, so one pass of the engine answers all three questions.
    patterns = [
        entry["pattern"]
        for entry in crawleruseragents.CRAWLER_USER_AGENTS_DATA
        if entry["pattern"] not in BOT_EXCLUSIONS
    ]
    bots: list[Matcher[Device]] = [
        DeviceMatcher(p, family=_BOT) for p in (*patterns, *BOT_ADDITIONS)
    ]
    return Resolver((agents, systems, bots))


_RESOLVER = _resolver()


def _browser(family: str) -> str:
    if family in _BROWSERS:
        return _BROWSERS[family]
    brand = family.split(" ", 1)[0]
    return brand if brand in _BRANDS else "Other"


def classify(user_agent: str) -> tuple[str, str, str]:
    """Return ``(browser, os, device)``; device is desktop, mobile, tablet, bot, or unknown
    (no agent, or one naming neither a known browser nor a known system)."""
    return _classify(user_agent[:UA_MAX_CHARS])


@functools.lru_cache(maxsize=CACHE_SIZE)
def _classify(user_agent: str) -> tuple[str, str, str]:
    if not user_agent:
        return ("", "", "unknown")
    found = _RESOLVER(user_agent, Domain.ALL)
    browser = _browser(found.user_agent.family) if found.user_agent else "Other"
    os_name = _SYSTEMS.get(found.os.family, "Other") if found.os else "Other"
    # The form factor follows the platforms' own conventions: Android phones say "Mobile"
    # and tablets do not; other mobile browsers say "Mobi" (MDN's advice).
    if found.device is not None:
        device = _BOT
    elif os_name == "iOS":
        device = "tablet" if "iPad" in user_agent else "mobile"
    elif os_name == "Android":
        device = "mobile" if "Mobile" in user_agent else "tablet"
    elif "Mobi" in user_agent:
        device = "mobile"
    elif found.user_agent is None and found.os is None:
        device = "unknown"
    else:
        device = "desktop"
    return (browser, os_name, device)
