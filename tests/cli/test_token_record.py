"""A SoftHSM2 token record emptied by a kill, met by a real command (decision 81): the
command restores it from its good copy, goes on, and the audit log says so."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from tests.distribute.homes import make_home, tldsec
from tldsec.hsm.softhsm_record import GOOD_COPY


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
