"""``tldsec keys list/plan/simulate/export-ds`` in a home of two zones: ``--zone``
narrows, the default is every zone in one section each (decision 57, "CLI --zone
conventions"), and the plan shows the staggered KSK roll (decision 62)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tldsec.cli.main import main
from tldsec.clock import SystemClock
from tldsec.hsm.memory import MemoryKeyStore
from tldsec.keys.database import open_signer_db
from tldsec.keys.service import KeyManager
from tldsec.settings import load_settings


@pytest.fixture
def home(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    """``tldsec init`` for example., then shop. added by hand as ``zone add`` will: its
    table in tldsec.toml and its first keys as zone 2 of the signer database."""
    path = tmp_path / "home"
    assert main(["init", "--home", str(path), "--origin", "example.", "--keystore", "file"]) == 0
    capsys.readouterr()
    toml = path / "tldsec.toml"
    text = toml.read_text().replace(
        '[zone]\norigin = "example."\n', "[zones.example]\n\n[zones.shop]\n"
    )
    toml.write_text(text)
    settings = load_settings(path)
    engine = open_signer_db(settings.signer_db_url)
    try:
        shop = KeyManager(
            engine, MemoryKeyStore(), settings.policy, SystemClock(), origin="shop", zone_id=2
        )
        shop.bootstrap("zone add shop.")
    finally:
        engine.dispose()
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_every_zone_in_its_section_and_zone_narrows(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "keys", "list", "--home", str(home))
    assert code == 0
    assert out.startswith("== example. ==\n") and "\n\n== shop. ==\n" in out
    code, out, _ = run(capsys, "keys", "list", "--home", str(home), "--json")
    listed = json.loads(out)["zones"]
    assert list(listed) == ["example.", "shop."]
    assert not {k["key_id"] for k in listed["example."]} & {k["key_id"] for k in listed["shop."]}
    code, out, _ = run(capsys, "keys", "list", "--home", str(home), "--zone", "shop", "--json")
    assert list(json.loads(out)["zones"]) == ["shop."]

    code, out, _ = run(capsys, "keys", "export-ds", "--home", str(home), "--zone", "shop.")
    assert code == 0
    assert out.startswith("== shop. ==\nshop. 86400 IN DS ") and "example." not in out

    code, out, _ = run(capsys, "keys", "simulate", "--home", str(home), "--days", "10")
    assert "== example. ==" in out and "== shop. ==" in out

    code, _, err = run(capsys, "keys", "plan", "--home", str(home), "--zone", "org")
    assert code != 0 and "org. is not a zone of this home (it serves example., shop.;" in err


def test_the_plan_shows_the_second_zones_ksk_roll_waiting(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    policy = home / "policy.toml"
    # Below the DPS maximum of 365 days (DPS 6.4): room for the roll to wait.
    policy.write_text(policy.read_text().replace("lifetime_days = 365", "lifetime_days = 350"))
    code, out, _ = run(capsys, "keys", "plan", "--home", str(home), "--json")
    assert code == 0
    plans = json.loads(out)["zones"]
    waits = [
        c
        for s in plans["shop."]
        if s["action"] == "publish" and s["role"] == "ksk"
        for c in s["constraints"]
        if c["name"] == "ksk-stagger"
    ]
    assert len(waits) == 1
    assert waits[0]["description"].startswith("KSK roll of shop. waits until ")
    assert "example.'s DS goes to the parent on" in waits[0]["description"]
    assert not any(c["name"] == "ksk-stagger" for s in plans["example."] for c in s["constraints"])
    code, out, _ = run(capsys, "keys", "plan", "--home", str(home), "--zone", "shop", "--all")
    assert "KSK roll of shop. waits until" in out
