"""A SoftHSM2 token record emptied by a kill, met by a real command or by serve's
login (decision 81): it is restored from its good copy, the work goes on, and the audit
log says so."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

from tests.distribute.homes import make_home, tldsec
from tldsec.clock import SystemClock
from tldsec.distribute.config import load_distribute_settings
from tldsec.hsm.softhsm_record import GOOD_COPY
from tldsec.service.supervisor import Service
from tldsec.settings import load_settings


def restorations(home: Path) -> list[dict[str, str]]:
    with sqlite3.connect(home / "audit.db") as conn:
        rows = conn.execute(
            "SELECT level, details FROM audit_entries "
            "WHERE event = 'hsm.token_record_restored' ORDER BY seq"
        ).fetchall()
    assert all(level == "warning" for level, _ in rows)
    return [json.loads(details) for _, details in rows]


def test_hsm_check_and_the_cycle_restore_an_emptied_token_record(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home", keystore="pkcs11", extra="[verify]\nexternal = []\n")
    (record,) = (home / "tokens").glob("*/token.object")
    assert record.with_name(GOOD_COPY).exists()  # init and db upgrade logged in

    record.write_bytes(b"")  # what a SIGKILL during SoftHSM2's rewrite leaves
    checked = tldsec("hsm", "check", "--home", str(home), check=False)
    assert checked.returncode == 0, checked.stderr
    assert "every key proven" in checked.stdout
    (first,) = restorations(home)
    assert first["token_directory"] == str(record.parent)
    assert first["copy_time"]

    record.unlink()
    cycled = tldsec("cycle", "--home", str(home), check=False)
    assert cycled.returncode == 0, cycled.stderr
    assert [r["token_directory"] for r in restorations(home)] == [str(record.parent)] * 2
    assert tldsec("audit", "verify", "--home", str(home), check=False).returncode == 0


def test_serve_restores_an_emptied_token_record_at_its_stored_pin_login(tmp_path: Path) -> None:
    home = make_home(tmp_path / "home", keystore="pkcs11", extra="[verify]\nexternal = []\n")
    (record,) = (home / "tokens").glob("*/token.object")
    record.write_bytes(b"")  # killed during a login before serve started
    settings = load_settings(home)
    service = Service(settings, SystemClock(), load_distribute_settings(settings), [])

    async def scenario() -> None:
        assert await service._activate_stored()  # a demo home: its stored PIN
        try:
            assert service.activation is not None and service.activation.active
        finally:
            await service._deactivate_on_exit()

    asyncio.run(scenario())
    assert [r["token_directory"] for r in restorations(home)] == [str(record.parent)]
    shown = tldsec("audit", "show", "--home", str(home), "--event", "hsm.activated")
    assert "hsm.activated" in shown.stdout
