"""The one audit log of a home of several zones is kept as long as the longest any zone's
policy asks (DPS 4.4.3, decision 79): example. follows the built-in 365/1095 days, shop. a
policy of 730/1825; an entry 500 days old is past example.'s on-line retention but within
shop.'s, so neither serve's housekeeping nor ``tldsec audit archive``/``purge`` moves it,
and ``tldsec status`` and the compliance report say which retention applies and whose."""

from __future__ import annotations

import asyncio
import html
import json
import re
from datetime import timedelta
from pathlib import Path

import pytest

from tests.cli.test_serve_cycle_timeout import registry
from tests.service.twozones import LONG, aged_log, follow_long_policy, two_zone_home
from tldsec.audit.config import open_audit_log
from tldsec.audit.query import EntryFilter, iter_entries, load_archive_records
from tldsec.audit.retention import audit_retention
from tldsec.cli.main import main
from tldsec.clock import SystemClock
from tldsec.settings import load_settings


@pytest.fixture
def home(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """Two zones of different audit retention; entries 800 days old (past both zones'
    on-line retention) and 500 days old (past example.'s only), signed."""
    home = two_zone_home(tmp_path / "home", capsys)
    follow_long_policy(home)
    aged_log(home, ((800, "example."), (790, "shop."), (500, "example."), (490, "shop.")))
    return home


def published_ages(home: Path) -> list[int]:
    """The ``age`` of each ``zone.published`` entry still in the on-line log."""
    settings = load_settings(home)
    log = open_audit_log(settings, SystemClock())
    try:
        entries = iter_entries(log.engine, EntryFilter(events=("zone.published",)))
        return [int(str(e.details["age"])) for e in entries if "age" in e.details]
    finally:
        log.close()


def test_the_home_retention_is_the_longest_of_its_zones_policies(home: Path) -> None:
    retention = audit_retention(load_settings(home))
    assert retention.policy == LONG
    assert retention.online_set_by == ("shop.",) and retention.archive_set_by == ("shop.",)
    # Narrowed to either zone (a zone's command): still the home's, set by shop. (the
    # log is the installation's; decision 83 item 4, which changed decision 79's answer).
    for origin in ("example.", "shop."):
        assert audit_retention(load_settings(home).for_zone(origin)) == retention


def test_serve_housekeeping_archives_and_purges_by_the_longest_retention(home: Path) -> None:
    reg = registry(home, [], timeout=30)
    audit = open_audit_log(reg.settings, reg.clock)
    try:
        asyncio.run(reg.audit_housekeeping(audit))
        (record,) = load_archive_records(audit.engine)
    finally:
        audit.close()
    state = reg.health()["audit"]
    assert isinstance(state, dict) and state.get("error") is None, state
    assert published_ages(home) == [500, 490]  # within shop.'s 730 days: kept on-line
    assert record.newest_time < SystemClock().now() - LONG.online_retention


def test_audit_archive_and_purge_keep_what_a_zone_still_needs(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["audit", "archive", "--home", str(home)]) == 0, capsys.readouterr()
    out = capsys.readouterr().out
    assert out.startswith("archived seq ")
    assert main(["audit", "purge", "--home", str(home), "--expired-archives"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("purged ") and "deleted" not in out
    assert published_ages(home) == [500, 490]
    assert main(["audit", "archive", "--home", str(home)]) == 0
    assert capsys.readouterr().out.startswith("nothing to archive")


def test_status_states_the_retention_and_the_zone_that_sets_it(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["status", "--home", str(home), "--json"])
    audit = json.loads(capsys.readouterr().out)["audit"]
    assert audit["retention"] == {
        "online_days": 730,
        "archive_days": 1825,
        "online_set_by": ["shop."],
        "archive_set_by": ["shop."],
    }
    main(["status", "--home", str(home)])
    out = capsys.readouterr().out
    assert (
        "audit retention 730 days on-line, 1825 days archived "
        "(the longest of the zones' policies: shop.'s)"
    ) in out
    # Narrowed to one zone, the installation's log keeps the home's retention.
    main(["status", "--home", str(home), "--zone", "example.", "--json"])
    assert json.loads(capsys.readouterr().out)["audit"]["retention"]["online_days"] == 730


def test_the_compliance_report_states_the_retention_and_the_zone_that_sets_it(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "report.html"
    now = SystemClock().now()
    period = ["--from", f"{now - timedelta(days=30):%Y-%m-%d}", "--to", f"{now:%Y-%m-%d}"]
    for zone in ("example.", "shop."):
        code = main(
            ["audit", "report", "--home", str(home), *period, "--zone", zone, "-o", str(out)]
        )
        assert code == 0, capsys.readouterr()
        page = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", out.read_text("utf-8"))).split())
        assert (
            "730 days on-line, 1825 days archived (the longest of the zones' policies: shop.'s)"
        ) in page


def test_the_log_opens_and_names_each_policy_of_the_home(home: Path) -> None:
    """Each command opening the log compares the policy files with the last recorded: a
    home of two policies names both (it could not open its log before decision 79)."""
    text = (home / "long.toml").read_text("utf-8")
    (home / "long.toml").write_text(text + "\n# reviewed\n", "utf-8")
    log = open_audit_log(load_settings(home), SystemClock())
    try:
        events = ("audit.initialized", "policy.changed")
        initialized, changed = iter_entries(log.engine, EntryFilter(events=events))
    finally:
        log.close()
    files = f"default={home / 'policy.toml'}, long={home / 'long.toml'}"
    assert initialized.details["policy_file"] == changed.details["previous_file"] == files
    assert changed.details["file"] == files
    before, after = initialized.details["policy_sha256"], changed.details["sha256"]
    assert str(after).startswith("default=") and ", long=" in str(after)
    assert str(before).split(", ")[0] == str(after).split(", ")[0]  # default.'s unchanged
    assert before != after
