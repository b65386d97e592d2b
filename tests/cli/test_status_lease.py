"""``tldsec status`` shows the publication lease (decision 49, issue 20 item 2): who
holds it, its fencing token, its expiry on the database's clock, and whether this home's
signer is the holder, in text and in ``--json``."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from pathlib import Path

import pytest

from tldsec.cli.main import main
from tldsec.cli.status import _lease_lines, lease_status
from tldsec.cycle.lease import LeaseTimes, PublicationLease
from tldsec.db.base import make_engine
from tldsec.settings import load_settings


@pytest.fixture
def home(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    home = tmp_path / "home"
    assert main(["init", "--home", str(home), "--origin", "example", "--keystore", "file"]) == 0
    config = home / "tldsec.toml"
    config.write_text(config.read_text() + '\n[lease]\nname = "site-a"\n')
    capsys.readouterr()
    return home


def _status(home: Path, capsys: pytest.CaptureFixture[str]) -> tuple[dict, str]:  # type: ignore[type-arg]
    main(["status", "--home", str(home), "--json"])
    report = json.loads(capsys.readouterr().out)
    main(["status", "--home", str(home)])
    return report["lease"], capsys.readouterr().out


def _lease(home: Path, holder: str, ttl: float = 30.0) -> PublicationLease:
    settings = load_settings(home)
    engine = make_engine(settings.registry_db_url)
    times = LeaseTimes(ttl, ttl / 4, ttl / 4)
    return PublicationLease(engine, holder, times, origin=settings.origin)


def test_status_shows_who_holds_the_lease_and_whether_it_is_this_signer(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lease, text = _status(home, capsys)
    assert lease["me"] == "site-a" and lease["holder"] is None
    assert "lease           never taken (this signer would take it as 'site-a')" in text

    mine = _lease(home, "site-a")
    assert mine.try_acquire() is not None
    lease, text = _status(home, capsys)
    assert lease["holder"] == "site-a" and lease["token"] == 1
    assert lease["live"] and lease["held_by_me"]
    assert datetime.fromisoformat(lease["expires"]) > datetime.fromisoformat(
        json.loads(_json(home, capsys))["now"]
    )
    assert "lease           held by THIS signer: 'site-a', token 1, expires " in text

    mine.release()  # a clean stop: expired at once; another signer takes it
    other = _lease(home, "site-b")
    assert other.try_acquire() is not None
    lease, text = _status(home, capsys)
    assert lease["holder"] == "site-b" and lease["token"] == 2
    assert lease["live"] and not lease["held_by_me"]
    assert "held by another signer: 'site-b', token 2" in text
    assert "(this signer: 'site-a')" in text

    other.release()
    lease, text = _status(home, capsys)
    assert not lease["live"] and not lease["held_by_me"]
    assert "EXPIRED: no signer publishes until one takes it: 'site-b', token 2" in text


def _json(home: Path, capsys: pytest.CaptureFixture[str]) -> str:
    main(["status", "--home", str(home), "--json"])
    return capsys.readouterr().out


def test_a_lease_database_that_does_not_answer_is_shown_not_fatal(home: Path) -> None:
    settings = load_settings(home)
    gone = f"sqlite:///{home / 'no-such-directory' / 'registry.db'}"
    lease = lease_status(dataclasses.replace(settings, registry_db_url=gone))
    assert lease["me"] == "site-a" and "unable to open database file" in lease["error"]
    assert _lease_lines(lease)[0].startswith("lease           cannot be read from the registry")
