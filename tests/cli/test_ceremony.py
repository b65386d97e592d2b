"""``tldsec ceremony`` as three trusted people run it (DPS 5.1, 5.2.2): a home that
requires a ceremony for making the Storage Master Key refuses to make it without one,
and with one only once three people, one per role, have approved exactly that run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.test_init_sign import audit_events
from tldsec.cli.main import main


@pytest.fixture
def home(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    home = tmp_path / "home"
    assert main(["init", "--home", str(home), "--origin", "example"]) == 0
    with open(home / "tldsec.toml", "a", encoding="utf-8") as f:
        f.write('\n[ceremony]\nrequired = ["backup.smk-create"]\n')
    for person, role in (("ann", "sa"), ("bob", "so"), ("cho", "wi")):
        key = tmp_path / f"{person}.pem"
        assert main(["ceremony", "enrol", person, "--role", role, "--key-out", str(key),
                     "--home", str(home)]) == 0  # fmt: skip
    capsys.readouterr()
    return home


def start(home: Path, capsys: pytest.CaptureFixture[str], *params: str) -> str:
    argv = ["ceremony", "start", "backup.smk-create", "--home", str(home)]
    for p in params:
        argv += ["--param", p]
    assert main(argv) == 0
    return capsys.readouterr().out.split()[1].rstrip(":")


def approve(home: Path, ceremony: str, person: str) -> int:
    key = home.parent / f"{person}.pem"
    return main(["ceremony", "approve", ceremony, "--person", person, "--key", str(key),
                 "--home", str(home)])  # fmt: skip


def smk_create(home: Path, out: str, *extra: str) -> int:
    holders = [f"--holder={p}={home.parent / f'{out}-{p}.json'}" for p in ("ann", "bob", "cho")]
    return main(["backup", "smk-create", "--home", str(home), *holders, "--threshold", "3",
                 "--so-pin-source", "file:so-pin", *extra])  # fmt: skip


def test_the_smk_is_made_only_under_a_ceremony_three_people_approved(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert smk_create(home, "shares") == 1
    assert "runs only under a key ceremony" in capsys.readouterr().err

    ceremony = start(home, capsys, "holders=ann,bob,cho", "threshold=3")
    assert approve(home, ceremony, "ann") == 0 and approve(home, ceremony, "bob") == 0
    capsys.readouterr()
    assert smk_create(home, "shares", "--ceremony", ceremony) == 1
    assert "lacks an approval by WI" in capsys.readouterr().err
    assert approve(home, ceremony, "cho") == 0
    capsys.readouterr()
    assert approve(home, ceremony, "cho") == 1  # one person, one approval
    assert "cho already approved" in capsys.readouterr().err
    assert smk_create(home, "shares", "--ceremony", ceremony, "--threshold", "2") == 1
    assert "not {'holders': 'ann,bob,cho', 'threshold': '2'}" in capsys.readouterr().err
    ceremony = start(home, capsys, "holders=ann,bob,cho", "threshold=3")
    for person in ("ann", "bob", "cho"):
        assert approve(home, ceremony, person) == 0
    capsys.readouterr()
    assert smk_create(home, "shares", "--ceremony", ceremony) == 0
    assert smk_create(home, "shares-again", "--ceremony", ceremony) == 1
    assert "already used" in capsys.readouterr().err

    (completed,) = audit_events(home, home.parent, "ceremony.completed")
    details = completed["details"]
    assert isinstance(details, dict)
    assert details["people"] == ["ann (SA)", "bob (SO)", "cho (WI)"]
    assert len(audit_events(home, home.parent, "ceremony.approved")) == 6
    assert len(audit_events(home, home.parent, "ceremony.aborted")) == 3


def test_only_people_on_the_roster_with_their_own_key_approve(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ceremony = start(home, capsys)
    key = home.parent / "ann.pem"
    assert main(["ceremony", "approve", ceremony, "--person", "bob", "--key", str(key),
                 "--home", str(home)]) == 1  # fmt: skip
    assert "is not the key of bob" in capsys.readouterr().err
    assert main(["ceremony", "approve", ceremony, "--person", "eve", "--key", str(key),
                 "--home", str(home)]) == 1  # fmt: skip
    assert "'eve' is not on the ceremony roster" in capsys.readouterr().err
    assert main(["ceremony", "enrol", "ann", "--role", "wi", "--key-out",
                 str(home.parent / "ann2.pem"), "--home", str(home)]) == 1  # fmt: skip
    assert "already on the ceremony roster" in capsys.readouterr().err
    assert not (home.parent / "ann2.pem").exists()  # no key left for a refused enrolment


def test_a_rollover_the_home_requires_a_ceremony_for_runs_only_under_one(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = home / "tldsec.toml"
    config.write_text(config.read_text().replace('"backup.smk-create"', '"keys.rollover"'))
    rollover = ["keys", "rollover", "--zsk", "--reason", "scheduled", "--home", str(home)]
    assert main(rollover) == 1
    assert "keys.rollover runs only under a key ceremony" in capsys.readouterr().err
    argv = ["ceremony", "start", "keys.rollover", "--home", str(home)]
    assert main([*argv, "--param", "role=zsk", "--param", "emergency=no"]) == 0
    ceremony = capsys.readouterr().out.split()[1].rstrip(":")
    for person in ("ann", "bob", "cho"):
        assert approve(home, ceremony, person) == 0
    capsys.readouterr()
    assert main([*rollover[:2], "--ksk", *rollover[3:], "--ceremony", ceremony]) == 1
    assert "not {'emergency': 'no', 'role': 'ksk'}" in capsys.readouterr().err
    assert main([*rollover, "--ceremony", ceremony]) == 0
