"""``tldsec serve`` analyses its audit log continuously (DPS 4.4.2): new warnings are
logged at ERROR and shown on the health endpoint; a tampered entry is an alarm there."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.cli.test_serve_cycle_timeout import home, registry
from tldsec.audit.config import open_audit_log
from tldsec.clock import SystemClock
from tldsec.errors import ConfigError
from tldsec.settings import load_settings

__all__ = ["home"]  # the fixture


def test_serve_watches_the_audit_log_and_reports_on_its_health(
    home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    reg = registry(home, [], timeout=30)
    audit = open_audit_log(load_settings(home), SystemClock())

    async def scenario() -> None:
        task = asyncio.create_task(reg.watch_audit(0.05))
        for _ in range(200):  # until the watch has its starting point
            if reg.audit_watch is not None:
                break
            await asyncio.sleep(0.05)
        await asyncio.to_thread(
            audit.record, "system.anomaly", actor="person:ann", what="door alarm"
        )
        for _ in range(200):
            if reg.audit_watch is not None and reg.audit_watch.alerts:
                break
            await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    with caplog.at_level(logging.ERROR, logger="tldsec.serve"):
        asyncio.run(scenario())
    health = reg.health()["audit"]
    assert health["integrity"] == "ok"
    assert any(a["event"] == "system.anomaly" for a in health["alerts"])
    assert any("system.anomaly by person:ann: what=door alarm" in r.message for r in caplog.records)

    # someone with the database file rewrites an entry before the watch has read it
    audit.record("ds.changed", actor="registrar:reg-1", domain="a.example")
    with audit.engine.begin() as conn:
        for (name,) in conn.execute(text("SELECT name FROM sqlite_master WHERE type='trigger'")):
            conn.execute(text(f'DROP TRIGGER "{name}"'))
        conn.execute(text("UPDATE audit_entries SET actor = 'registrar:reg-2' WHERE seq = "
                          "(SELECT max(seq) FROM audit_entries)"))  # fmt: skip
    assert reg.audit_watch is not None
    asyncio.run(reg.check_audit(reg.audit_watch))
    assert reg.health()["audit"]["integrity"] == "ALARM"
    audit.close()


def test_the_watch_interval_is_a_setting_and_a_bad_one_is_named(home: Path) -> None:
    config = home / "tldsec.toml"
    original = config.read_text()
    config.write_text(original + "\n[serve]\naudit_watch_seconds = 2.5\n")
    assert load_settings(home).config.serve.audit_watch_seconds == 2.5
    for bad, reason in (
        ("0", "must be above 0"),
        ("-1", "must be above 0"),
        ('"often"', "must be a number, not 'often'"),
        ("true", "must be a number, not True"),
    ):
        config.write_text(original + f"\n[serve]\naudit_watch_seconds = {bad}\n")
        with pytest.raises(ConfigError, match=rf"\[serve\] audit_watch_seconds .* {reason}"):
            load_settings(home)


def test_an_audit_log_that_cannot_be_opened_is_retried_and_shown(
    home: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    with open(home / "tldsec.toml", "a", encoding="utf-8") as f:
        f.write(f'\n[database]\naudit_url = "sqlite:///{blocker}/audit.db"\n')
    reg = registry(home, [], timeout=30)

    async def scenario() -> None:
        task = asyncio.create_task(reg.watch_audit(0.05))
        for _ in range(200):
            if reg.audit_watch_error:
                break
            await asyncio.sleep(0.05)
        assert not task.done()  # still retrying, serve goes on
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(scenario())
    audit = reg.health()["audit"]
    assert audit["checked_through"] is None and audit["error"]
