"""The alert rules in ops/alerts.yml: valid, tested with promtool's own rule tests (one
case or more per alert that fires), and the ones the docs name exist."""

from __future__ import annotations

import re
import shutil
import subprocess

from tests.conftest import ROOT

RULES = ROOT / "ops" / "alerts.yml"
RULE_TESTS = ROOT / "ops" / "alerts.test.yml"
OPERATIONS = ROOT / "docs" / "operations.md"


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    path = shutil.which("promtool")
    assert path, "promtool is missing: `make test` installs it (Debian package prometheus)"
    return subprocess.run(
        [path, *args], input=stdin, capture_output=True, text=True, timeout=120, cwd=RULES.parent
    )


def alerts() -> set[str]:
    return set(re.findall(r"^\s*- alert: (\w+)$", RULES.read_text(), re.MULTILINE))


def test_rules_are_valid() -> None:
    done = promtool("check", "rules", RULES.name)
    assert done.returncode == 0, done.stdout + done.stderr


def test_rules_pass_their_tests() -> None:
    done = promtool("test", "rules", RULE_TESTS.name)
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_has_a_case_where_it_fires() -> None:
    firing = set(re.findall(r"alertname: (\w+)\s+exp_alerts:\s+- ", RULE_TESTS.read_text()))
    assert alerts(), "no alert rules"
    assert alerts() - firing == set()


def test_every_alert_the_docs_name_exists() -> None:
    text = OPERATIONS.read_text()
    assert "```yaml\ngroups:" not in text, "the rules live in ops/alerts.yml, not in the docs"
    assert "ops/alerts.yml" in text
    named = set(re.findall(r"\bMicrox[A-Z]\w+", text))
    assert named, "docs/operations.md names no alert"
    assert named - alerts() == set()
