"""``tldsec audit report`` of a home whose zones follow two policies (decision 83 item 1):
without ``--zone`` the report covers the home, its key schedule and signature-expiry
parts once per zone, each over that zone's entries and judged by that zone's policy.

example. follows the home's policy (ZSKs every 90 days), shop. the policy ``long`` made
to roll its ZSKs every 60 days; each zone activated a ZSK one lifetime of its own before
its last, so each is on time by its own policy and would be off by the other's."""

from __future__ import annotations

import html
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from tests.service.twozones import follow_long_policy, two_zone_home
from tldsec.audit.config import open_audit_log
from tldsec.cli.main import main
from tldsec.clock import FakeClock, SystemClock
from tldsec.settings import load_settings

# (days ago, zone): each zone's ZSK activations, oldest first in the log.
ACTIVATIONS = ((95, "example."), (65, "shop."), (5, "example."), (5, "shop."))


@pytest.fixture
def home(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    home = two_zone_home(tmp_path / "home", capsys)
    follow_long_policy(home)
    long = home / "long.toml"
    head, _, tail = long.read_text("utf-8").partition("\n[zsk]")
    assert "lifetime_days = 90" in tail
    long.write_text(f"{head}\n[zsk]{tail.replace('lifetime_days = 90', 'lifetime_days = 60', 1)}")
    (home / "audit.db").unlink()  # the log begun again 100 days ago, as aged_log does
    shutil.rmtree(home / "audit-anchors")
    now = SystemClock().now()
    clock = FakeClock(now - timedelta(days=100))
    log = open_audit_log(load_settings(home), clock)
    try:
        for age, zone in ACTIVATIONS:
            clock.set(now - timedelta(days=age))
            log.record("key.activated", actor="component:keys", zone=zone, role="zsk", key_id=zone)
        clock.set(now - timedelta(hours=1))
        log.checkpoint()
    finally:
        log.close()
    return home


def report(home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], *zone: str) -> str:
    """The report of the last 100 days as plain text."""
    out = tmp_path / "report.html"
    now = SystemClock().now()
    period = ["--from", f"{now - timedelta(days=100):%Y-%m-%d}"]
    period += ["--to", f"{now + timedelta(days=1):%Y-%m-%d}"]
    code = main(["audit", "report", "--home", str(home), *period, *zone, "-o", str(out)])
    assert code == 0, capsys.readouterr()
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", out.read_text("utf-8"))).split())


def test_the_report_of_the_home_judges_each_zone_by_its_own_policy(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = report(home, tmp_path, capsys)
    assert "DNSSEC compliance report for example., shop." in page
    for origin, days in (("example.", 90), ("shop.", 60)):
        assert f"Key events against the schedule: {origin}" in page
        assert f"Signature-expiry margin: {origin}" in page
        assert f"{origin}: 2 key events; 0 off the DPS 6.4 schedule (ZSK every {days} days" in page
    assert "LATE" not in page and "EARLY" not in page
    assert page.count("on time") == 2
    # The home's parts once: the retention is the home's (decision 79).
    assert page.count("Retention (DPS 4.4.3)") == 1


def test_the_report_of_one_zone_judges_it_by_its_policy(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    page = report(home, tmp_path, capsys, "--zone", "shop")
    assert "DNSSEC compliance report for shop." in page
    assert "2 key events; 0 off the DPS 6.4 schedule (ZSK every 60 days" in page
    assert "Key events against the schedule: " not in page  # one zone: the parts as before


def test_a_zone_the_home_does_not_serve_is_refused_naming_its_zones(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its entries could be judged by either policy: the refusal says what to name."""
    out = tmp_path / "report.html"
    period = ["--from", "2026-01-01", "--to", "2026-02-01"]
    code = main(["audit", "report", "--home", str(home), *period, "--zone", "gone", "-o", str(out)])
    err = capsys.readouterr().err
    assert code != 0 and "gone. is not a zone of this home" in err, err
    assert "example., shop." in err and not out.exists()
