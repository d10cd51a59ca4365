"""The journey map: declared in a file, shown and set by ``microx journey``, opening the report."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import pytest

from collector.read.analysis import analyse, summary
from collector.read.journey import JourneyError, load_journeys, parse_journeys
from collector.read.report import render_html
from collector.tools import journeys
from tests.conftest import ROOT, Collector, open_store

TRUTH = journeys.Truth()
MAP = f"""
[shop]
pre-purchase = ["/", "{TRUTH.spinner}", "{TRUTH.dead_button}"]
purchase = ["{journeys.FORM}", "checkout / payment"]
post-purchase = ["checkout", "support chat"]
"""


def test_a_map_keeps_its_phases_in_order_and_says_what_is_wrong() -> None:
    (phases,) = parse_journeys(MAP).values()
    assert [p for p, _ in phases] == ["pre-purchase", "purchase", "post-purchase"]
    assert phases[0][1] == ("/", TRUTH.spinner, TRUTH.dead_button)
    for text, why in [
        ("[shop\n", "journey file"),
        ("[shop]\n", "needs phases"),
        ("[shop]\na = []\n", "at least one"),
        ('[shop]\na = ["x"]\nb = ["x"]\n', "twice"),
        ("[shop]\na = [1]\n", "not a moment"),
        ("[shop]\na = [" + ", ".join(f'"m{i}"' for i in range(21)) + "]\n", "at most 20"),
    ]:
        with pytest.raises(JourneyError, match=why):
            parse_journeys(text)


def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MICROX_DATA_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-m", "collector.cli", "journey", *args],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )


def test_microx_journey_sets_and_shows_a_sites_map(tmp_path: Path) -> None:
    assert "no journey map for 'shop'" in _cli(tmp_path, "--site", "shop").stdout
    done = _cli(
        tmp_path,
        "--site",
        "shop",
        "--phase",
        f"pre-purchase=/, {TRUTH.spinner}",
        "--phase",
        f"purchase={journeys.FORM}",
    )
    assert done.returncode == 0, done.stderr
    assert "journey map of 'shop' written to" in done.stdout
    shown = _cli(tmp_path, "--site", "shop").stdout.splitlines()
    assert shown == ["pre-purchase", "  /", f"  {TRUTH.spinner}", "purchase", f"  {journeys.FORM}"]
    _cli(tmp_path, "--site", "blog", "--phase", "read=/posts")
    assert set(load_journeys(tmp_path / "journey.toml")) == {"shop", "blog"}
    twice = _cli(tmp_path, "--site", "shop", "--phase", "a=/,/")
    assert twice.returncode == 2 and "twice" in twice.stderr
    assert _cli(tmp_path, "--site", "blog", "--clear").returncode == 0
    assert set(load_journeys(tmp_path / "journey.toml")) == {"shop"}


def test_the_report_opens_with_the_journey_map(tmp_path: Path) -> None:
    now = dt.datetime.now(dt.UTC)
    (phases,) = parse_journeys(MAP).values()
    with open_store(f"chdb://{tmp_path / 'ch'}") as store:
        store.migrate()
        journeys.store_envelopes(store, journeys.envelopes(400, seed=8))
        analysis = analyse(store.query, "shop", now - dt.timedelta(days=30), now, (), phases)
        window = "site = 'shop', since = '2000-01-01', until = '2100-01-01'"
        _, peaks = store.query(
            f"SELECT peak_moment, count() FROM microx.session_peak_end({window})"
            " WHERE peak > 0 GROUP BY peak_moment"
        )
    by = {k.moment: k for k in analysis.journey}
    assert [k.phase for k in analysis.journey] == ["pre-purchase"] * 3 + ["purchase"] * 2 + [
        "post-purchase"
    ] * 2
    spinner = by[TRUTH.spinner]
    assert spinner.hurt_rate is not None and 0.4 < spinner.hurt_rate < 0.6
    assert by["support chat"].sessions == 0
    # The key moment most often a session's peak is marked as the typical peak.
    counts = {m: n for m, n in peaks if m in by}
    typical = max(counts, key=lambda m: counts[m])
    text = summary(analysis)
    assert text.index("Journey map") < text.index("What changed")
    line = next(x for x in text.splitlines() if x.startswith(f"    {typical}:"))
    assert "PEAK" in line
    assert "    support chat: not reached in this window" in text
    page = render_html(analysis)
    assert page.index("<h2>Journey map</h2>") < page.index("<h2>What changed")


def test_a_collector_refuses_to_start_on_a_broken_map(tmp_path: Path) -> None:
    (tmp_path / "journey.toml").write_text('[shop]\nbuy = ["x", "x"]\n')
    with pytest.raises(RuntimeError, match=r"MICROX_JOURNEY_FILE: .* twice"):
        Collector(tmp_path)
