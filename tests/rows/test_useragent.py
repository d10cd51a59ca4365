from __future__ import annotations

import importlib.metadata
import random
import re
import string
from pathlib import Path

import crawleruseragents
import pytest

from collector.rows.useragent import BOT_EXCLUSIONS, UA_MAX_CHARS, classify
from tests.conftest import BROWSER_UA

ROOT = Path(__file__).resolve().parents[2]
WEBKIT = "AppleWebKit/537.36 (KHTML, like Gecko)"
IOS_WEBKIT = "AppleWebKit/605.1.15 (KHTML, like Gecko)"
GARBAGE = "".join(random.Random(7).choices(string.ascii_letters + " ;/()", k=10_240))

# What each agent is, from what its vendor documents it sends; never from classify itself.
AGENTS = {
    "Chrome, Windows": (
        f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {WEBKIT} Chrome/131.0.0.0 Safari/537.36",
        ("Chrome", "Windows", "desktop"),
    ),
    "Chrome, macOS": (
        f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {WEBKIT} Chrome/131.0.0.0 Safari/537.36",
        ("Chrome", "macOS", "desktop"),
    ),
    "Chrome, Linux": (BROWSER_UA, ("Chrome", "Linux", "desktop")),
    "Chrome, ChromeOS": (
        f"Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) {WEBKIT} Chrome/131.0.0.0 Safari/537.36",
        ("Chrome", "ChromeOS", "desktop"),
    ),
    "Firefox, Windows": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
        ("Firefox", "Windows", "desktop"),
    ),
    "Firefox, Ubuntu": (
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
        ("Firefox", "Linux", "desktop"),
    ),
    "Safari, macOS": (
        f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {IOS_WEBKIT} Version/18.1 "
        "Safari/605.1.15",
        ("Safari", "macOS", "desktop"),
    ),
    "Edge, Windows": (
        f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {WEBKIT} Chrome/131.0.0.0 Safari/537.36 "
        "Edg/131.0.2903.70",
        ("Edge", "Windows", "desktop"),
    ),
    "Edge, macOS": (
        f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {WEBKIT} Chrome/130.0.0.0 "
        "Safari/537.36 Edg/130.0.0.0",
        ("Edge", "macOS", "desktop"),
    ),
    "Opera, Windows": (
        f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {WEBKIT} Chrome/130.0.0.0 Safari/537.36 "
        "OPR/115.0.0.0",
        ("Opera", "Windows", "desktop"),
    ),
    "Safari, iPhone": (
        f"Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) {IOS_WEBKIT} Version/18.1 "
        "Mobile/15E148 Safari/604.1",
        ("Safari", "iOS", "mobile"),
    ),
    "Chrome, iPhone": (
        f"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) {IOS_WEBKIT} "
        "CriOS/131.0.6778.73 Mobile/15E148 Safari/604.1",
        ("Chrome", "iOS", "mobile"),
    ),
    "Firefox, iPhone": (
        f"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) {IOS_WEBKIT} FxiOS/133.0 "
        "Mobile/15E148 Safari/605.1.15",
        ("Firefox", "iOS", "mobile"),
    ),
    "Edge, iPhone": (
        f"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) {IOS_WEBKIT} Version/17.0 "
        "EdgiOS/131.0.2903.68 Mobile/15E148 Safari/605.1.15",
        ("Edge", "iOS", "mobile"),
    ),
    # An app's web view: no Safari token, Safari's engine.
    "web view, iPhone": (
        f"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) {IOS_WEBKIT} Mobile/15E148",
        ("Safari", "iOS", "mobile"),
    ),
    "Safari, iPad": (
        f"Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) {IOS_WEBKIT} Version/17.0 "
        "Mobile/15E148 Safari/604.1",
        ("Safari", "iOS", "tablet"),
    ),
    "Chrome, iPad": (
        f"Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) {IOS_WEBKIT} CriOS/131.0.6778.73 "
        "Mobile/15E148 Safari/604.1",
        ("Chrome", "iOS", "tablet"),
    ),
    # Chrome's reduced User-Agent names neither the Android version nor the model.
    "Chrome, Android, reduced": (
        f"Mozilla/5.0 (Linux; Android 10; K) {WEBKIT} Chrome/131.0.0.0 Mobile Safari/537.36",
        ("Chrome", "Android", "mobile"),
    ),
    "Chrome, Pixel 8": (
        f"Mozilla/5.0 (Linux; Android 14; Pixel 8) {WEBKIT} Chrome/130.0.0.0 Mobile Safari/537.36",
        ("Chrome", "Android", "mobile"),
    ),
    "web view, Android": (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8 Build/AP2A.240805.005; wv) "
        f"{WEBKIT} Version/4.0 Chrome/130.0.6723.86 Mobile Safari/537.36",
        ("Chrome", "Android", "mobile"),
    ),
    "Edge, Android": (
        f"Mozilla/5.0 (Linux; Android 10; K) {WEBKIT} Chrome/131.0.0.0 Mobile Safari/537.36 "
        "EdgA/131.0.0.0",
        ("Edge", "Android", "mobile"),
    ),
    "Firefox, Android phone": (
        "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0",
        ("Firefox", "Android", "mobile"),
    ),
    "Samsung Internet, Galaxy S23": (
        f"Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S911B) {WEBKIT} SamsungBrowser/26.0 "
        "Chrome/122.0.0.0 Mobile Safari/537.36",
        ("Samsung Internet", "Android", "mobile"),
    ),
    # Android tablets leave "Mobile" out.
    "Samsung Internet, Galaxy Tab S9": (
        f"Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-X710) {WEBKIT} SamsungBrowser/26.0 "
        "Chrome/122.0.0.0 Safari/537.36",
        ("Samsung Internet", "Android", "tablet"),
    ),
    "Chrome, Pixel Tablet": (
        f"Mozilla/5.0 (Linux; Android 14; Pixel Tablet) {WEBKIT} Chrome/131.0.0.0 Safari/537.36",
        ("Chrome", "Android", "tablet"),
    ),
    "Firefox, Android tablet": (
        "Mozilla/5.0 (Android 14; Tablet; rv:133.0) Gecko/133.0 Firefox/133.0",
        ("Firefox", "Android", "tablet"),
    ),
    "Silk, Fire HD 10": (
        f"Mozilla/5.0 (Linux; Android 9; KFTRWI) {WEBKIT} Silk/126.5.3 like "
        "Chrome/126.0.6478.186 Safari/537.36",
        ("Other", "Android", "tablet"),
    ),
    # People whose phones an earlier rule or the bot list took for bots.
    "Chrome, Cubot phone": (
        f"Mozilla/5.0 (Linux; Android 10; CUBOT J9) {WEBKIT} Chrome/88.0.4324.152 "
        "Mobile Safari/537.36",
        ("Chrome", "Android", "mobile"),
    ),
    "Chrome, HTC Butterfly": (
        f"Mozilla/5.0 (Linux; Android 4.2.2; HTC Butterfly Build/JDQ39) {WEBKIT} "
        "Chrome/31.0.1650.59 Mobile Safari/537.36",
        ("Chrome", "Android", "mobile"),
    ),
    "Instagram, Android 15 build AP3A.240617.008": (
        "Mozilla/5.0 (Linux; Android 15; CPH2557 Build/AP3A.240617.008; wv) "
        f"{WEBKIT} Version/4.0 Chrome/142.0.7444.142 Mobile Safari/537.36 Instagram "
        "406.0.0.58.159 Android (35/15; 480dpi; 1080x2400; OPPO; CPH2557; OP573DL1; mt6833; "
        "en_MY; 822918295; IABMV/1)",
        ("Other", "Android", "mobile"),
    ),
    "Viber's web view": (
        "Mozilla/5.0 (Linux; Android 16; SM-F966N; BP2A.250605.031.A3; wv) "
        f"{WEBKIT} Version/4.0 Chrome/145.0.7632.120 Mobile Safari/537.36 Viber/27.4.0.0",
        ("Chrome", "Android", "mobile"),
    ),
    # Slack's desktop app says "Sonic", the name of a crawler on the list.
    "Slack, macOS": (
        f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {WEBKIT} Slack/4.39.95 "
        "Chrome/126.0.6478.183 Electron/31.3.0 Safari/537.36 Sonic Slack_SSB/4.39.95",
        ("Other", "macOS", "desktop"),
    ),
    "Googlebot": (
        "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
        ("Other", "Other", "bot"),
    ),
    "Googlebot, smartphone": (
        f"Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) {WEBKIT} "
        "Chrome/131.0.6778.69 Mobile Safari/537.36 (compatible; Googlebot/2.1; "
        "+http://www.google.com/bot.html)",
        ("Other", "Android", "bot"),
    ),
    "bingbot": (
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; "
        "+http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36",
        ("Other", "Other", "bot"),
    ),
    "Lighthouse": (
        f"Mozilla/5.0 (Linux; Android 11; moto g power (2022)) {WEBKIT} Chrome/131.0.0.0 "
        "Mobile Safari/537.36 Chrome-Lighthouse",
        ("Chrome", "Android", "bot"),
    ),
    "a crawler the list lacks": (
        "Mozilla/5.0 (compatible; ExampleBot/1.0; +https://example.com/bot)",
        ("Other", "Other", "bot"),
    ),
    "curl": ("curl/8.5.0", ("Other", "Other", "bot")),
    "python-requests": ("python-requests/2.32.3", ("Other", "Other", "bot")),
    "HeadlessChrome": (
        f"Mozilla/5.0 (X11; Linux x86_64) {WEBKIT} HeadlessChrome/131.0.0.0 Safari/537.36",
        ("Chrome", "Linux", "bot"),
    ),
    "empty": ("", ("", "", "unknown")),
    "10 kB of garbage": (GARBAGE, ("Other", "Other", "unknown")),
}


@pytest.mark.parametrize(("user_agent", "expected"), AGENTS.values(), ids=AGENTS.keys())
def test_each_agent_gets_its_browser_os_and_device(
    user_agent: str, expected: tuple[str, str, str]
) -> None:
    assert classify(user_agent) == expected


def test_every_example_of_the_bot_list_is_a_bot() -> None:
    # The native engine reads the list's patterns, written for other engines: an entry it
    # read differently would miss the agents the list gives for it.
    examples = [
        (entry["pattern"], ua)
        for entry in crawleruseragents.CRAWLER_USER_AGENTS_DATA
        if entry["pattern"] not in BOT_EXCLUSIONS
        for ua in entry["instances"]
    ]
    assert len(examples) > 1000
    assert [(p, ua) for p, ua in examples if classify(ua)[2] != "bot"] == []


def test_every_exclusion_is_an_entry_of_the_list() -> None:
    patterns = {entry["pattern"] for entry in crawleruseragents.CRAWLER_USER_AGENTS_DATA}
    assert BOT_EXCLUSIONS - patterns == set()


def test_an_agent_is_judged_on_its_first_kilobyte() -> None:
    assert classify("Googlebot/2.1 " + GARBAGE)[2] == "bot"
    assert classify(GARBAGE[:UA_MAX_CHARS] + " Googlebot/2.1")[2] == "unknown"


def test_the_documented_rule_versions_are_the_installed_ones() -> None:
    operations = (ROOT / "docs/operations.md").read_text()
    for package in ("crawler-user-agents", "ua-parser-builtins"):
        version = importlib.metadata.version(package)
        assert re.search(rf"`{re.escape(package)}` {re.escape(version)}\b", operations), package
