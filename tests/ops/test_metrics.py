"""Every metric the docs name is exported from the start, counters at zero: an alert
built on the rise of a counter cannot wait for a series that appears only with its first
event."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import orjson

from collector.ingest import validate
from collector.ops import metrics
from tests.conftest import ROOT, Collector, free_port, make_envelope, make_event, series
from tests.ops.test_alerts import promtool

DOCUMENTED_IN = (ROOT / "README.md", ROOT / "docs" / "operations.md")
_SAMPLE = re.compile(r"^(\w+)(?:\{(\w+)=\"([^\"]*)\"\})? (\S+)$")
_NAME = re.compile(r"^`(microx_\w+)(?:\{(\w+)\})?`$")
_VALUE = re.compile(r"`([a-z][a-z_]*)`")


def documented(path: Path) -> dict[tuple[str, str | None], set[str]]:
    """The metrics table under ``## Metrics``: each metric with its label and the label
    values its row names."""
    section = path.read_text().split("\n## Metrics\n", 1)[1].split("\n## ", 1)[0]
    found: dict[tuple[str, str | None], set[str]] = {}
    for row in section.splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if not row.startswith("| `microx_"):
            continue
        text = " ".join(cells[1:])
        for name in cells[0].split(", "):
            match = _NAME.match(name)
            assert match, f"{path.name}: cannot read {name!r}"
            label = match[2]
            values = set(_VALUE.findall(text)) - {label} if label else set()
            found[(match[1], label)] = values
    assert found, f"{path.name}: no metrics table"
    return found


def scrape(base: str) -> tuple[dict[str, str], dict[tuple[str, str | None, str | None], float]]:
    """Each metric family's type, and each sample's value by name, label and label value."""
    types: dict[str, str] = {}
    samples: dict[tuple[str, str | None, str | None], float] = {}
    for line in httpx.get(f"{base}/metrics", timeout=10).text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            types[name] = kind
        elif line and not line.startswith("#") and "_bucket{" not in line:
            match = _SAMPLE.match(line)
            assert match, f"unreadable sample {line!r}"
            samples[(match[1], match[2], match[3])] = float(match[4])
    return types, samples


def test_fresh_collector_exports_every_documented_metric(collector: Collector) -> None:
    types, samples = scrape(collector.base)
    for path in DOCUMENTED_IN:
        for (name, label), values in documented(path).items():
            where = f"{name} ({path.name})"
            assert name in types, f"{where} is not exported"
            assert label is None or types[name] == "counter", f"{where}: labelled, not a counter"
            if types[name] == "histogram":
                assert samples[(f"{name}_count", None, None)] == 0, where
            elif types[name] == "counter":
                series = {k: v for k, v in samples.items() if k[0] == name}
                if label is None:
                    assert series == {(name, None, None): 0}, where
                    continue
                assert series, f"{where}: no series before its first event"
                assert {k[1] for k in series} == {label}, where
                assert set(series.values()) == {0}, where
                missing = values - {k[2] for k in series}
                assert not missing, f"{where}: no series for {sorted(missing)}"
    undocumented = set(types) - {n for p in DOCUMENTED_IN for n, _ in documented(p)}
    assert not undocumented, f"exported but in no metrics table: {sorted(undocumented)}"


def test_every_validation_code_is_exported_at_zero() -> None:
    codes = set(validate.SCHEMA_REASONS.values())
    assert codes <= set(metrics.REJECTION_REASONS) | set(metrics.REFUSAL_REASONS)


def test_a_real_collectors_exposition_passes_promtool(collector: Collector) -> None:
    body = make_envelope(make_event(), make_event(t="x"))
    sent = httpx.post(f"{collector.base}/v1/events", content=orjson.dumps(body), timeout=10)
    assert sent.status_code == 202
    scrape = httpx.get(f"{collector.base}/metrics", timeout=10)
    assert scrape.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert series(scrape.text, "ingest_seconds_count") == 1
    done = promtool("check", "metrics", stdin=scrape.text)
    # Lint findings (exit 3) are printed as well as errors: none of either.
    assert (done.returncode, done.stdout + done.stderr) == (0, "")


def test_each_app_counts_in_a_registry_of_its_own() -> None:
    first, second = metrics.Metrics(), metrics.Metrics()
    first.events_accepted.inc(3)
    first.requests_refused.inc("spool_full")
    assert series(first.render().decode(), "events_accepted_total") == 3
    assert series(second.render().decode(), "events_accepted_total") == 0
    assert series(second.render().decode(), 'requests_refused_total{reason="spool_full"}') == 0


def test_a_label_value_not_known_in_advance_gets_a_series_of_its_own() -> None:
    m = metrics.Metrics()
    m.requests_refused.inc("not_listed", 2)
    m.requests_refused.inc("not_listed")
    text = m.render().decode()
    assert series(text, 'requests_refused_total{reason="not_listed"}') == 3
    assert series(text, 'requests_refused_total{reason="spool_full"}') == 0


def test_prometheus_multiprocess_mode_is_refused_at_start(tmp_path: Path) -> None:
    """The variable switches prometheus-client to per-process files when it is imported;
    the collector says so and stops before it writes any."""
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {**os.environ, "MICROX_DATA_DIR": str(tmp_path / "var"), "MICROX_PORT": str(free_port())}
    done = subprocess.run(
        [sys.executable, "-m", "collector.cli", "serve"],
        env={**env, "PROMETHEUS_MULTIPROC_DIR": str(shared)},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 2, done.stderr
    assert "microx: PROMETHEUS_MULTIPROC_DIR is set" in done.stderr
    assert list(shared.iterdir()) == []
