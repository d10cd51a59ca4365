"""What the snippet costs the page's main thread, in Chromium: per click, per form input
and per route change, on the React Router app of the browser tests (tests/apps/router),
loaded with the snippet and without it in the same run.

For each interaction it reads Chromium's own count of main-thread task time (the
``TaskDuration`` of ``Performance.getMetrics``) before it and once the page is quiet
again, so the snippet's timers (a click's feedback wait, a route's settling) are counted
too; the difference of the two pages' figures is the snippet's share, the app's work
being the same. A third pass, with the snippet and a CPU profile of each interaction,
gives the time spent in the snippet's own functions (its two files), sampled every 50 µs
(as asked: a busy machine takes samples further apart), and the same with no sample
counted for more than twice the median interval (time the machine gave other processes
otherwise counts for the function it interrupted). Long tasks (over 50 ms) are counted
on each page, and the longest run of the snippet's own files in a long animation frame
(start-up included) is printed. It measures, it asserts nothing::

    python -m loadtests.snippet_cost --n 40
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from playwright.sync_api import CDPSession, Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
APP = ROOT / "tests" / "apps" / "router" / "dist"
CHROMIUM = "/usr/bin/chromium"
TAG = b'<script src="/microx.js" data-site="lab"></script>'
ADA, ALAN = "16odw8b", "x7k2m9p"
# Long enough for what an interaction sets off to have run: a click's feedback wait
# (1 s), a route's settling (100 ms quiet after its last change).
CLICK_QUIET_S = 1.2
ROUTE_QUIET_S = 0.6
INPUT_QUIET_S = 0.05
# Installed before any page script: long tasks counted, and of the long animation frames
# (which name the scripts that ran in them) the longest run of the snippet's own files,
# from the page's start-up on.
LONG_TASKS = """
window.__long = 0;
window.__ours = 0;
new PerformanceObserver((l) => { window.__long += l.getEntries().length; })
  .observe({ type: "longtask", buffered: true });
new PerformanceObserver((l) => {
  for (const f of l.getEntries())
    for (const s of f.scripts)
      if (/\\/microx(-vitals)?\\.js/.test(s.sourceURL))
        window.__ours = Math.max(window.__ours, s.duration);
}).observe({ type: "long-animation-frame", buffered: true });
"""


@contextmanager
def serve(with_snippet: bool) -> Iterator[str]:
    """The built app, every path that is no file of it being its index; the events the
    snippet sends are answered 204 and dropped."""

    class Handler(SimpleHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            file = (APP / path.lstrip("/")).resolve()
            if not (file.is_file() and file.is_relative_to(APP)):
                file = APP / "index.html"
            body = file.read_bytes()
            if file.suffix == ".html" and not with_snippet:
                body = body.replace(TAG, b"")
            kind = {".js": "text/javascript", ".css": "text/css"}.get(file.suffix, "text/html")
            self.send_response(200)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(APP)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def task_ms(cdp: CDPSession) -> float:
    metrics = cdp.send("Performance.getMetrics")["metrics"]
    return 1000 * float(next(m["value"] for m in metrics if m["name"] == "TaskDuration"))


# Self time sampled in each of the snippet's functions, over every profiled interaction.
HOT: Counter[str] = Counter()
# A sample stands for the time since the one before, up to this (a longer gap is the
# sampler's, not the function's).
MAX_SAMPLE_US = 1000


# Intervals between samples, over every profile: the sampler, on a busy machine, takes
# them further apart than asked.
INTERVALS: list[float] = []


def snippet_ms(profile: dict[str, Any]) -> tuple[float, float]:
    """Time sampled in the snippet's own functions (its files' self time), and the same
    with no sample counted for more than twice the profile's median interval.

    A sample stands for the time since the one before, and the main thread takes the
    next sample only once it runs again: time the machine gave other processes counts
    for whatever function was interrupted. The second figure leaves out most of that."""
    nodes = {n["id"]: n for n in profile["nodes"]}
    deltas = profile["timeDeltas"]
    INTERVALS.extend(deltas[1:])
    usual = 2 * statistics.median(deltas[1:] or [MAX_SAMPLE_US])
    total = capped = 0
    for sample, delta in zip(profile["samples"], deltas, strict=True):
        frame = nodes[sample]["callFrame"]
        if "/microx" in frame["url"]:
            where = (
                f"{frame['url'].rsplit('/', 1)[-1]}:{frame['lineNumber']}:{frame['columnNumber']}"
            )
            HOT[f"{frame['functionName'] or '(anonymous)'} {where}"] += min(delta, MAX_SAMPLE_US)
            total += min(delta, MAX_SAMPLE_US)
            capped += min(delta, usual)
    return total / 1000, capped / 1000


def measure(
    page: Page, cdp: CDPSession, act: Callable[[], None], quiet_s: float, profile: bool
) -> tuple[float, float, float]:
    if profile:
        cdp.send("Profiler.start")
    before = task_ms(cdp)
    act()
    time.sleep(quiet_s)
    after = task_ms(cdp)
    ours, capped = snippet_ms(cdp.send("Profiler.stop")["profile"]) if profile else (0.0, 0.0)
    return after - before, ours, capped


def run(base: str, n: int, profile: bool) -> dict[str, Any]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page()
        page.add_init_script(LONG_TASKS)
        cdp = page.context.new_cdp_session(page)
        cdp.send("Performance.enable")
        cdp.send("Profiler.enable")
        cdp.send("Profiler.setSamplingInterval", {"interval": 50})
        page.goto(f"{base}/contacts/{ADA}")
        page.wait_for_selector("#sidebar")
        time.sleep(1)
        out: dict[str, Any] = {}
        # A click on a control that changes no route: the link of the contact shown.
        out["click"] = [
            measure(
                page,
                cdp,
                lambda: page.click(f"#results a[href='/contacts/{ADA}']"),
                CLICK_QUIET_S,
                profile,
            )
            for _ in range(n)
        ]
        # A route change: from one contact to the other and back, by their links.
        routes = []
        for i in range(n):
            target = ALAN if i % 2 == 0 else ADA
            link = f"#results a[href='/contacts/{target}']"
            go = partial(page.click, link)
            routes.append(measure(page, cdp, go, ROUTE_QUIET_S, profile))
            page.wait_for_function(f"location.pathname == '/contacts/{target}'")
        out["route"] = routes
        # A form input: one character typed into the edit form's first field.
        page.goto(f"{base}/contacts/{ADA}/edit")
        page.wait_for_selector("#contact-form input")
        page.click("#contact-form input[name=first]")
        time.sleep(1.2)
        out["input"] = [
            measure(page, cdp, lambda: page.keyboard.type("a"), INPUT_QUIET_S, profile)
            for _ in range(n)
        ]
        out["long"] = page.evaluate("window.__long")
        out["ours"] = page.evaluate("window.__ours")
        browser.close()
        return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=40, help="interactions of each kind")
    args = parser.parse_args()
    if not (APP / "index.html").is_file():
        raise SystemExit(f"{APP} is missing: make tests/apps/router/dist/index.html")
    # Task time without and with the snippet, then the snippet's own time in a third pass
    # (profiling slows the page, so it is not the pass whose task time is compared).
    results = {}
    for with_snippet in (False, True):
        with serve(with_snippet) as base:
            results[with_snippet] = run(base, args.n, profile=False)
    with serve(True) as base:
        profiled = run(base, args.n, profile=True)
    print(f"main-thread ms per interaction, {args.n} of each (Chromium, {APP.name})")
    print(
        f"{'':8} {'without p50':>11} {'p95':>6} {'with p50':>9} {'p95':>6}"
        f" {'diff p50':>9} {'p95':>6} {'snippet p50':>12} {'p95':>6} {'mean':>6}"
        f" {'capped p95':>11}"
    )
    for kind in ("click", "input", "route"):
        bare = [t for t, _, _ in results[False][kind]]
        full = [t for t, _, _ in results[True][kind]]
        ours = [o for _, o, _ in profiled[kind]]
        capped = [c for _, _, c in profiled[kind]]
        print(
            f"{kind:8} {pct(bare, 0.5):11.2f} {pct(bare, 0.95):6.2f}"
            f" {pct(full, 0.5):9.2f} {pct(full, 0.95):6.2f}"
            f" {pct(full, 0.5) - pct(bare, 0.5):9.2f} {pct(full, 0.95) - pct(bare, 0.95):6.2f}"
            f" {pct(ours, 0.5):12.3f} {pct(ours, 0.95):6.3f} {statistics.fmean(ours):6.3f}"
            f" {pct(capped, 0.95):11.3f}"
        )
    print(
        f"sampling: asked every 50 µs, taken every {statistics.median(INTERVALS):.0f} µs"
        f" (median), {pct(INTERVALS, 0.99):.0f} µs at p99"
    )
    print(f"long tasks: without {results[False]['long']}, with {results[True]['long']}")
    print(
        "longest run of the snippet's files in a long animation frame, start-up included:"
        f" {results[True]['ours']:.1f} ms (0: none in any long frame)"
    )
    print("the snippet's hottest functions (minified build's file:line:column), ms in all:")
    for where, us in HOT.most_common(8):
        print(f"  {where:48} {us / 1000:7.2f}")


if __name__ == "__main__":
    main()
