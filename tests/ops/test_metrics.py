"""Every metric the docs name is exported from the start, counters at zero: an alert
built on the rise of a counter cannot wait for a series that appears only with its first
event."""

from __future__ import annotations

import re
from pathlib import Path

import httpx

from collector.ingest import validate
from collector.ops import metrics
from tests.conftest import ROOT, Collector

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
    codes = set(validate._REASONS.values())
    assert codes <= set(metrics.REJECTION_REASONS) | set(metrics.REFUSAL_REASONS)
