"""``tldsec backup`` as operators run it: the SMK made in one registry's HSM and split
among five holders, installed into a second HSM from three of them, the first HSM's keys
backed up and restored there (DPS 5.2.4, 5.2.7), each step in the audit log."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_init_sign import audit_events
from tldsec.cli.main import main
from tldsec.hsm.open import open_keystore
from tldsec.settings import load_settings


def init(home: Path, capsys: pytest.CaptureFixture[str], keystore: str = "pkcs11") -> None:
    assert main(["init", "--home", str(home), "--origin", "example", "--keystore", keystore]) == 0
    capsys.readouterr()


def public_keys(home: Path) -> dict[str, bytes]:
    store = open_keystore(load_settings(home).keystore_spec())
    try:
        return {k.key_id: k.public_key for k in store.list_keys()}
    finally:
        store.close()


def test_keys_move_to_a_second_hsm_under_the_smk(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, second = tmp_path / "site-a", tmp_path / "site-b"
    init(first, capsys)
    init(second, capsys)
    shares = tmp_path / "shares"
    assert main(["backup", "smk-create", "--home", str(first), "--out", str(shares)]) == 0
    out = capsys.readouterr().out
    check = out.split()[1]
    files = sorted(shares.iterdir())
    assert len(files) == 5 and all(f.stat().st_mode & 0o077 == 0 for f in files)
    assert json.loads(files[0].read_text())["smk_check"] == check

    moved = public_keys(first)  # what tldsec init made: the KSK and ZSKs
    archive = tmp_path / "keys.json"
    assert main(["backup", "keys", "--home", str(first), "--smk", check, "-o", str(archive)]) == 0
    assert f"{len(moved)} keys wrapped" in capsys.readouterr().out

    assert main(["backup", "restore", "--home", str(second), str(archive)]) == 1
    assert f"holds no Storage Master Key {check}" in capsys.readouterr().err
    chosen = [str(files[0]), str(files[2]), str(files[4])]
    assert main(["backup", "smk-install", "--home", str(second), *chosen]) == 0
    capsys.readouterr()
    assert main(["backup", "restore", "--home", str(second), str(archive)]) == 0
    assert f"{len(moved)} keys restored" in capsys.readouterr().out
    assert moved.items() <= public_keys(second).items()
    backed_up = audit_events(first, tmp_path, "key.backed_up")
    recovered = audit_events(second, tmp_path, "key.recovered")
    assert {e["details"]["key_id"] for e in backed_up} == set(moved)  # type: ignore[index]
    assert {e["details"]["key_id"] for e in recovered} == set(moved)  # type: ignore[index]


def test_two_shares_are_not_enough_and_a_file_key_store_has_no_smk(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = tmp_path / "site-a"
    init(first, capsys)
    shares = tmp_path / "shares"
    assert main(["backup", "smk-create", "--home", str(first), "--out", str(shares)]) == 0
    capsys.readouterr()
    two = [str(p) for p in sorted(shares.iterdir())[:2]]
    assert main(["backup", "smk-install", "--home", str(first), *two]) == 1
    assert "2 shares given; this secret needs 3" in capsys.readouterr().err
    assert main(["backup", "smk-create", "--home", str(first), "--out", str(shares)]) == 1
    assert "exists" in capsys.readouterr().err
    missing = str(tmp_path / "lost-share.json")
    assert main(["backup", "smk-install", "--home", str(first), missing]) == 1
    assert f"cannot read share {missing}" in capsys.readouterr().err

    plain = tmp_path / "plain"
    init(plain, capsys, keystore="file")
    policy_refusal = main(
        ["backup", "smk-create", "--home", str(plain), "--out", str(tmp_path / "x")]
    )
    assert policy_refusal == 1
    assert "pkcs11" in capsys.readouterr().err or "not allowed by policy" in capsys.readouterr().err
