"""What one User-Agent classification costs, cold and cached.

    .venv/bin/python -m loadtests.bench_useragent

Builds a seeded mix of a few hundred distinct User-Agents shaped like a shop's traffic
(Chrome, Safari, Edge, Firefox and Samsung Internet on desktops, phones and tablets, many
versions and Android models, a few in-app browsers, one agent in twenty a crawler or a
script), then takes the CPU time of :func:`collector.rows.useragent.classify`: once per
distinct agent with an empty cache (cold: what a new agent costs), over a 50,000-request
stream drawn from the same mix with the cache warm (cached: what a request costs), and for
two hostile headers as long as the collector admits. Measures, never asserts a time.
"""

from __future__ import annotations

import argparse
import random
import statistics
import string
import time
from collections.abc import Callable

CHROME_VERSIONS = range(118, 132)
ANDROID_MODELS = (
    "K",  # Chrome's reduced User-Agent on Android names no model
    "Pixel 7",
    "Pixel 8 Pro",
    "SM-S918B",
    "SM-A546B",
    "SM-G991B",
    "Redmi Note 12",
    "moto g54 5G",
    "CPH2451",
    "2201117TY",
)
ANDROID_TABLETS = ("SM-X710", "SM-T870", "Lenovo TB-X606F", "Pixel Tablet")
IOS_VERSIONS = ("15_8", "16_6", "16_7", "17_0", "17_4", "17_5", "17_6", "18_0", "18_1")
MAC_VERSIONS = ("10_15_7", "14_5", "14_6")
SAFARI_VERSIONS = ("16.6", "17.0", "17.4", "17.5", "17.6", "18.0", "18.1")
BOTS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, "
    "like Gecko) Chrome/{v}.0.0.0 Mobile Safari/537.36 (compatible; Googlebot/2.1; "
    "+http://www.google.com/bot.html)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; "
    "+http://www.bing.com/bingbot.htm) Chrome/{v}.0.0.0 Safari/537.36",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "HeadlessChrome/{v}.0.0.0 Safari/537.36",
    "curl/8.{v}.0",
    "python-requests/2.{v}.0",
)


def _browsers(rng: random.Random) -> str:
    v = rng.choice(CHROME_VERSIONS)
    ios = rng.choice(IOS_VERSIONS)
    ios_dot = ios.replace("_", ".")
    model = rng.choice(ANDROID_MODELS)
    webkit = "AppleWebKit/537.36 (KHTML, like Gecko)"
    ios_webkit = "AppleWebKit/605.1.15 (KHTML, like Gecko)"
    return rng.choices(
        (
            f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {webkit} Chrome/{v}.0.0.0 Safari/537.36",
            f"Mozilla/5.0 (Macintosh; Intel Mac OS X {rng.choice(MAC_VERSIONS)}) {webkit} "
            f"Chrome/{v}.0.0.0 Safari/537.36",
            f"Mozilla/5.0 (X11; Linux x86_64) {webkit} Chrome/{v}.0.0.0 Safari/537.36",
            f"Mozilla/5.0 (Linux; Android {rng.randint(10, 14)}; {model}) {webkit} "
            f"Chrome/{v}.0.0.0 Mobile Safari/537.36",
            f"Mozilla/5.0 (iPhone; CPU iPhone OS {ios} like Mac OS X) {ios_webkit} "
            f"Version/{ios_dot} Mobile/15E148 Safari/604.1",
            f"Mozilla/5.0 (iPad; CPU OS {ios} like Mac OS X) {ios_webkit} "
            f"Version/{ios_dot} Mobile/15E148 Safari/604.1",
            f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {ios_webkit} "
            f"Version/{rng.choice(SAFARI_VERSIONS)} Safari/605.1.15",
            f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {webkit} Chrome/{v}.0.0.0 "
            f"Safari/537.36 Edg/{v}.0.{rng.randint(2000, 2900)}.{rng.randint(10, 99)}",
            f"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:{v}.0) Gecko/20100101 Firefox/{v}.0",
            f"Mozilla/5.0 (Linux; Android {rng.randint(12, 14)}; SAMSUNG {model}) {webkit} "
            f"SamsungBrowser/{rng.randint(22, 26)}.0 Chrome/{v}.0.0.0 Mobile Safari/537.36",
            f"Mozilla/5.0 (Linux; Android {rng.randint(11, 14)}; "
            f"{rng.choice(ANDROID_TABLETS)}) {webkit} Chrome/{v}.0.0.0 Safari/537.36",
            f"Mozilla/5.0 (iPhone; CPU iPhone OS {ios} like Mac OS X) {ios_webkit} "
            f"CriOS/{v}.0.{rng.randint(6000, 6800)}.{rng.randint(10, 200)} Mobile/15E148 "
            "Safari/604.1",
            f"Mozilla/5.0 (iPhone; CPU iPhone OS {ios} like Mac OS X) {ios_webkit} "
            f"Mobile/21F90 [FBAN/FBIOS;FBAV/{rng.randint(440, 480)}.0.0.40.96;FBBV/"
            f"{rng.randint(500000000, 600000000)};FBDV/iPhone15,2;FBMD/iPhone;FBSN/iOS;"
            f"FBSV/{ios_dot};FBSS/3;FBCR/;FBID/phone;FBLC/en_US;FBOP/5]",
            f"Mozilla/5.0 (Android {rng.randint(12, 14)}; Mobile; rv:{v}.0) Gecko/{v}.0 "
            f"Firefox/{v}.0",
        ),
        weights=(22, 8, 2, 20, 18, 4, 5, 6, 4, 4, 1, 2, 2, 1),
    )[0]


def user_agents(distinct: int, seed: int = 1) -> list[str]:
    """``distinct`` different agents, about one in twenty a crawler or a script."""
    rng = random.Random(seed)
    seen: dict[str, None] = {}
    while len(seen) < distinct:
        if rng.random() < 0.05:
            ua = rng.choice(BOTS).format(v=rng.choice(CHROME_VERSIONS))
        else:
            ua = _browsers(rng)
        seen[ua] = None
    return list(seen)


def _per_call_us(fn: Callable[[str], object], agents: list[str]) -> float:
    # CPU time, not wall time: the figure stays put when other processes share the cores.
    started = time.process_time()
    for ua in agents:
        fn(ua)
    return (time.process_time() - started) / len(agents) * 1e6


def hostile(seed: int = 1) -> dict[str, str]:
    rng = random.Random(seed)
    return {
        "32 kB of random text": "".join(rng.choices(string.ascii_letters + " ;/()._-", k=32_768)),
        "32 kB of 'Android '": "Android " * 4096,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--distinct", type=int, default=400)
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=9)
    args = parser.parse_args()
    agents = user_agents(args.distinct)
    # Traffic is skewed: a few agents (this month's Chrome and iOS Safari) carry most of it.
    stream = random.Random(2).choices(
        agents, weights=[1 / (i + 1) for i in range(len(agents))], k=args.requests
    )
    started = time.process_time()
    from collector.rows import useragent
    from collector.rows.useragent import classify

    classify("")  # the first call builds whatever the classifier loads lazily
    first_ms = (time.process_time() - started) * 1000
    colds, cached = [], []
    for _ in range(args.runs):
        useragent._classify.cache_clear()
        colds.append(_per_call_us(classify, agents))
        cached.append(_per_call_us(classify, stream))
    long_ms = {}
    for name, ua in hostile().items():
        runs = []
        for _ in range(args.runs):
            useragent._classify.cache_clear()
            runs.append(_per_call_us(classify, [ua]) / 1000)
        long_ms[name] = statistics.median(runs)
    bots = sum(classify(ua)[2] == "bot" for ua in agents)
    print(f"{len(agents)} distinct agents ({bots} bots), stream of {len(stream)} requests")
    print(f"import and first call: {first_ms:.1f} ms")
    # The first pass also warms the engine's own caches, as the first minutes after a start do.
    print(f"cold, first pass after start: {colds[0]:8.2f} µs/call")
    for name, runs in (("cold", colds), ("cached", cached)):
        best, median = min(runs), statistics.median(runs)
        print(f"{name + ':':8s}{best:8.2f} µs/call best, {median:8.2f} median of {args.runs}")
    for name, ms in long_ms.items():
        print(f"cold, {name}: {ms:.2f} ms (median)")


if __name__ == "__main__":
    main()
