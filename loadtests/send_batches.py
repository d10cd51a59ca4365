"""Send a bounded number of snippet-sized batches to a running collector on loopback.

    .venv/bin/python -m loadtests.send_batches --batches 2000 --events 20 --concurrency 16

Prints events/s and latency percentiles, and checks that the collector counted every
acknowledged event (from its /metrics). Only 127.0.0.1 is ever targeted.

``--mix clicks`` (the default) sends identical clicks, the cheapest events to handle;
``--mix journey`` sends what a shop's visitors send (page loads, vitals, loading cues,
clicks, form fields, checkout steps over a catalogue of pages, several batches per
session, a few browsers), for measuring storage per event.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import statistics
import time
import uuid
from typing import Any

import httpx
import orjson

# Load is sent as browsers send it; the collector drops what calls itself a bot.
BROWSER_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/130.0.0.0 Safari/537.36"
JOURNEY_UAS = (
    BROWSER_UA,
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/130.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:131.0) Gecko/20100101 Firefox/131.0",
)
CLICK_TARGETS = (
    ("button#add-to-cart", "Add to cart"),
    ("a.nav-link", "Shoes"),
    ("a.nav-link", "Sale"),
    ("button.size", "42"),
    ("img.gallery", ""),
    ("button#checkout", "Checkout"),
    ("a.product-card", "Trail runner"),
)
FIELDS = ("email", "name", "street", "city", "postcode", "card", "expiry")


def batch(events: int) -> bytes:
    now = int(time.time() * 1000)
    payload: dict[str, Any] = {
        "v": 1,
        "s": "demo",
        "sid": str(uuid.uuid4()),
        "at": now,
        "u": "http://127.0.0.1/load",
        "c": {"sdk": "load", "vw": 1280, "vh": 800},
        "e": [
            {
                "id": str(uuid.uuid4()),
                "t": "click",
                "ts": now,
                "q": i,
                "tg": "button#buy",
                "l": "Buy",
                "p": {"x": i, "y": 10},
            }
            for i in range(events)
        ],
    }
    return orjson.dumps(payload)


def journey(rng: random.Random, events: int, session: str, page: int) -> bytes:
    """One page's batch from one visit: what the snippet sends from a real shop page."""
    now = int(time.time() * 1000)
    path = rng.choice(("/", "/shoes", "/sale", f"/product/{rng.randrange(5000)}", "/cart"))
    kinds = ["page", "vital", "vital", "vital", "loading"]
    kinds += rng.choices(("click", "form_field", "step"), (6, 2, 1), k=max(0, events - 5))
    out: list[dict[str, Any]] = []
    for q, kind in enumerate(kinds[:events]):
        e: dict[str, Any] = {"id": str(uuid.uuid4()), "t": kind, "ts": now - 5000 + q * 200}
        e["q"] = q
        if kind == "page":
            e["d"] = round(rng.lognormvariate(7, 0.5), 1)
        elif kind == "vital":
            e["n"] = ("LCP", "INP", "CLS")[q - 1]
            if e["n"] == "CLS":
                e["val"] = round(rng.expovariate(10), 4)
            else:
                e["d"] = round(rng.lognormvariate(6 if q == 1 else 4.5, 0.6), 1)
        elif kind == "loading":
            e.update(tg="div.spinner", d=round(rng.lognormvariate(6, 0.8), 1))
        elif kind == "click":
            e["tg"], e["l"] = rng.choice(CLICK_TARGETS)
            e["p"] = {"x": rng.randrange(1400), "y": rng.randrange(900)}
        elif kind == "form_field":
            e.update(n="checkout", tg=rng.choice(FIELDS), d=round(rng.expovariate(1 / 4000)))
        else:
            step = ("cart", "shipping", "payment", "done")[page % 4]
            e.update(n="checkout", tg=step, d=round(rng.expovariate(1 / 20000)))
        out.append(e)
    payload = {
        "v": 1,
        "s": "demo",
        "sid": session,
        "at": now,
        "u": f"https://shop.example{path}",
        "r": rng.choice(("", "https://www.google.com/", "https://shop.example/")),
        "c": {
            "sdk": "0.1.0",
            "vw": rng.choice((390, 412, 1280, 1440, 1920)),
            "vh": rng.choice((844, 915, 800, 900, 1080)),
            "lang": rng.choice(("en-US", "de-DE", "fr-FR", "en-GB")),
            "tz": rng.choice(("Europe/Berlin", "America/New_York", "Europe/London")),
        },
        "e": out,
    }
    return orjson.dumps(payload)


def accepted_total(client: httpx.Client) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("microx_events_accepted_total "):
            return float(line.split()[1])
    return 0.0


async def run(
    port: int, batches: int, events: int, concurrency: int, limit_s: float, mix: str = "clicks"
) -> int:
    base = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=base) as sync:
        before = accepted_total(sync)
    latencies: list[float] = []
    acked = 0
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    rng = random.Random(1)
    sessions = [str(uuid.uuid4()) for _ in range(max(1, batches // 5))]
    for n in range(batches):
        if mix == "journey":
            queue.put_nowait(journey(rng, events, sessions[n % len(sessions)], n // len(sessions)))
        else:
            queue.put_nowait(batch(events))
    agents = itertools.cycle(JOURNEY_UAS if mix == "journey" else (BROWSER_UA,))
    deadline = time.monotonic() + limit_s

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal acked
        while not queue.empty() and time.monotonic() < deadline:
            body = queue.get_nowait()
            started = time.perf_counter()
            r = await client.post(
                "/v1/events",
                content=body,
                headers={"content-type": "text/plain", "user-agent": next(agents)},
            )
            latencies.append(time.perf_counter() - started)
            if r.status_code == 202:
                acked += r.json()["accepted"]

    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    with httpx.Client(base_url=base) as sync:
        counted = accepted_total(sync) - before
    q = statistics.quantiles(latencies, n=100)
    print(
        f"sent {len(latencies)} batches of {events} events in {elapsed:.2f}s: "
        f"{acked / elapsed:,.0f} events/s acknowledged; "
        f"latency p50 {q[49] * 1000:.1f} ms, p99 {q[98] * 1000:.1f} ms"
    )
    print(f"acknowledged {acked}, counted by the collector {counted:.0f}")
    return 0 if counted == acked else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--batches", type=int, default=1000)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--limit-s", type=float, default=60.0, help="stop after this long")
    parser.add_argument("--mix", choices=["clicks", "journey"], default="clicks")
    args = parser.parse_args()
    return asyncio.run(
        run(args.port, args.batches, args.events, args.concurrency, args.limit_s, args.mix)
    )


if __name__ == "__main__":
    raise SystemExit(main())
