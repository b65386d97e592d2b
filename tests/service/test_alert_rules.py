"""The example alert rules (packaging/prometheus/alerts.yml) pass their unit tests with
promtool (Debian's prometheus package), and a rule with a changed threshold fails
them: the tests pin the rules. That every tldsec_ metric they name is in a real serve's
exposition is checked in test_serve_monitoring.py."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

RULES = Path(__file__).parents[2] / "packaging" / "prometheus"


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    tool = shutil.which("promtool")
    if tool is None:
        pytest.fail("promtool is missing: scripts/install-debian-deps installs prometheus")
    return subprocess.run(
        [tool, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def metric_names(rules: str) -> set[str]:
    """The tldsec_ series the rules' expressions read (a histogram's by its base name)."""
    names = set(re.findall(r"\btldsec_[a-z_]+", rules))
    return {re.sub(r"_(bucket|total|count|sum)$", "", n) for n in names}


def test_the_rules_pass_their_promtool_tests() -> None:
    checked = promtool("check", "rules", "alerts.yml", cwd=RULES)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = promtool("test", "rules", "alerts_test.yml", cwd=RULES)
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_a_changed_threshold_fails_the_rule_tests(tmp_path: Path) -> None:
    for name in ("alerts.yml", "alerts_test.yml"):
        shutil.copy(RULES / name, tmp_path / name)
    rules = (tmp_path / "alerts.yml").read_text()
    slack = rules.replace(
        "tldsec_pending_oldest_age_seconds > 3000", "tldsec_pending_oldest_age_seconds > 9000"
    )
    assert slack != rules
    (tmp_path / "alerts.yml").write_text(slack)
    tested = promtool("test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert tested.returncode != 0 and "TldsecChangesNotPublished" in tested.stdout + tested.stderr


def test_the_rules_name_the_metrics_of_the_docs() -> None:
    names = metric_names((RULES / "alerts.yml").read_text())
    assert {"tldsec_signature_earliest_expiry_seconds", "tldsec_alert_heartbeat_minute"} <= names
    docs = (Path(__file__).parents[2] / "docs" / "operations.md").read_text()
    missing = sorted(n for n in names if n not in docs)
    assert not missing, f"docs/operations.md does not list {missing}"
