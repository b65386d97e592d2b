"""A sealed period export verifies the log first, archives included, against the home's
archive retention (DPS 4.4.3, decision 80): what ``tldsec audit verify`` finds, the
export finds, and it seals nothing. example. follows the built-in 1,095 days archived,
shop. a policy of 1,825 (decision 79: the log keeps the longest); an archive whose
newest entry is 1,290 days old is gone from the disk."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from tests.service.twozones import aged_log, follow_long_policy, two_zone_home
from tldsec.cli.main import main
from tldsec.clock import SystemClock


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_an_archive_gone_within_the_homes_retention_stops_the_export_as_it_fails_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = two_zone_home(tmp_path / "home", capsys)
    follow_long_policy(home)
    aged_log(home, ((1300, "example."), (1290, "shop."), (500, "example."), (490, "shop.")))
    h = ("--home", str(home))
    assert run(capsys, "audit", "archive", *h)[0] == 0
    assert run(capsys, "audit", "purge", *h)[0] == 0
    (archive,) = (home / "audit-archive").iterdir()
    # Past example.'s 1,095 days, within shop.'s 1,825: the home keeps it.
    code, out, _ = run(capsys, "audit", "verify", *h)
    assert code == 0, out
    assert f"archive {archive.name}" in out and ": verified" in out
    archive.unlink()

    code, out, _ = run(capsys, "audit", "verify", *h)
    missing = f"archive {archive} is missing, within the archive retention"
    assert code != 0 and missing in out, out
    now = SystemClock().now()
    since, until = (now - timedelta(days=600)).isoformat(), now.isoformat()
    export = tmp_path / "period.jsonl"
    code, _, err = run(
        capsys, "audit", "export", *h, "--since", since, "--until", until, "-o", str(export)
    )
    assert code == 1 and "does not verify, so the period is not sealed: " in err, err
    assert missing in err
    assert not export.exists() or "seal" not in export.read_text("utf-8")
