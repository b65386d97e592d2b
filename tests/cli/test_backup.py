"""``tldsec backup`` as operators run it: the SMK made by the security officer in one
registry's HSM and sealed to five holders on the ceremony roster, each share in that
holder's own file; installed into a second HSM from three of them; the first HSM's keys
backed up and restored there (DPS 5.2.4, 5.2.7), each step in the audit log; a tampered
archive and a share of another SMK refused with one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_init_sign import audit_events
from tldsec.cli.main import main
from tldsec.hsm.open import open_keystore
from tldsec.settings import load_settings

PEOPLE = (("ann", "sa"), ("bob", "so"), ("cho", "wi"), ("dan", "so"), ("eve", "wi"))
SO_PIN = ["--so-pin-source", "file:so-pin"]


def init(home: Path, capsys: pytest.CaptureFixture[str], keystore: str = "pkcs11") -> None:
    assert main(["init", "--home", str(home), "--origin", "example", "--keystore", keystore]) == 0
    capsys.readouterr()


def enrol(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for person, role in PEOPLE:
        key = home.parent / f"{person}.pem"
        argv = ["ceremony", "enrol", person, "--role", role, "--key-out", str(key)]
        if role == "wi":
            argv.append("--independent")  # DPS 4.2.4
        assert main([*argv, "--home", str(home)]) == 0
    capsys.readouterr()


def smk_create(home: Path, shares: Path, *extra: str) -> int:
    holders = [f"--holder={p}={shares / p / 'smk-share.json'}" for p, _ in PEOPLE]
    return main(["backup", "smk-create", "--home", str(home), *holders, *SO_PIN, *extra])


def smk_install(home: Path, shares: Path, people: list[str]) -> int:
    argv = ["backup", "smk-install", "--home", str(home), *SO_PIN]
    for person in people:
        argv += ["--share", str(shares / person / "smk-share.json")]
        argv += ["--key", str(home.parent / f"{person}.pem")]
    return main(argv)


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
    enrol(first, capsys)
    shares = tmp_path / "holders"
    for person, _ in PEOPLE:
        (shares / person).mkdir(parents=True)
    assert smk_create(first, shares) == 0
    out = capsys.readouterr().out
    check = out.split()[1]
    files = sorted(shares.glob("*/smk-share.json"))
    assert len(files) == 5 and all(f.stat().st_mode & 0o077 == 0 for f in files)
    share = json.loads(files[0].read_text())
    assert share["smk_check"] == check and share["holder"] == "ann"
    assert set(share) == {"format", "smk_check", "holder", "threshold", "shares", "sealed"}

    assert main(["backup", "share-words", "--home", str(first), str(files[0]),
                 "--key", str(tmp_path / "ann.pem")]) == 0  # fmt: skip
    words = capsys.readouterr().out.splitlines()[1]
    assert len(words.split()) == 33 and words not in files[0].read_text()

    moved = public_keys(first)  # what tldsec init made: the KSK and ZSKs
    archive = tmp_path / "keys.json"
    assert main(["keys", "list", "--json", "--home", str(first)]) == 0
    assert {k["backed_up"] for k in json.loads(capsys.readouterr().out)} == {None}
    assert main(["backup", "keys", "--home", str(first), "--smk", check, "-o", str(archive)]) == 0
    out = capsys.readouterr().out
    assert f"{len(moved)} keys wrapped" in out and f"{len(moved)} backed up for the first" in out
    assert main(["keys", "list", "--json", "--home", str(first)]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {k["key_id"] for k in listed} == set(moved) and all(k["backed_up"] for k in listed)
    again = tmp_path / "keys-again.json"
    assert main(["backup", "keys", "--home", str(first), "--smk", check, "-o", str(again)]) == 0
    assert "for the first time" not in capsys.readouterr().out

    assert main(["backup", "restore", "--home", str(second), str(archive)]) == 1
    assert f"holds no Storage Master Key {check}" in capsys.readouterr().err
    assert smk_install(second, shares, ["ann", "cho", "eve"]) == 0
    capsys.readouterr()

    # The attack of issue 14: the algorithm edited from 8 to 10; refused, nothing made.
    data = json.loads(archive.read_text())
    data["keys"][0]["algorithm"] = 10
    tampered = tmp_path / "tampered.json"
    tampered.write_text(json.dumps(data))
    assert main(["backup", "restore", "--home", str(second), str(tampered)]) == 1
    err = capsys.readouterr().err
    assert "does not verify under SMK" in err and len(err.strip().splitlines()) == 1
    assert not moved.keys() & public_keys(second).keys()

    assert main(["backup", "restore", "--home", str(second), str(archive)]) == 0
    assert f"{len(moved)} keys restored" in capsys.readouterr().out
    assert moved.items() <= public_keys(second).items()
    assert main(["backup", "restore", "--home", str(second), str(archive)]) == 0
    assert "nothing left to do" in capsys.readouterr().out
    backed_up = audit_events(first, tmp_path, "key.backed_up")
    recovered = audit_events(second, tmp_path, "key.recovered")
    assert len(backed_up) == 2 * len(moved)  # one entry per key and archive
    assert {e["details"]["key_id"] for e in backed_up} == set(moved)  # type: ignore[index]
    assert {e["details"]["key_id"] for e in recovered} == set(moved)  # type: ignore[index]


def test_bad_shares_and_pins_are_refused_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, other = tmp_path / "site-a", tmp_path / "site-x"
    init(first, capsys)
    init(other, capsys)
    enrol(first, capsys)
    shares = tmp_path / "holders"
    assert smk_create(first, shares) == 1
    assert "holders/ann is not a directory: where does ann's share go?" in capsys.readouterr().err
    for person, _ in PEOPLE:
        (shares / person).mkdir(parents=True)
    assert smk_create(first, shares, "--holder", "zed=x.json") == 1
    assert "zed: not on the ceremony roster" in capsys.readouterr().err
    assert smk_create(first, shares) == 0
    capsys.readouterr()
    assert smk_create(first, shares) == 1
    assert "exists: a share is written to a new file" in capsys.readouterr().err

    assert smk_install(other, shares, ["ann", "bob"]) == 1
    assert "2 distinct shares given; SMK" in capsys.readouterr().err
    assert smk_install(first, shares, ["ann", "bob", "cho"]) == 1  # the SMK is there already
    assert "already holds the Storage Master Key" in capsys.readouterr().err
    argv = ["backup", "smk-install", "--home", str(other), *SO_PIN]
    mixed = [*argv, "--share", str(shares / "ann" / "smk-share.json"),
             "--key", str(tmp_path / "ann.pem"),
             "--share", str(shares / "bob" / "smk-share.json"),
             "--key", str(tmp_path / "cho.pem")]  # fmt: skip
    assert main(mixed) == 1
    assert "cho.pem cannot open the share of bob" in capsys.readouterr().err
    (other / "so-pin").write_text("wrong-pin\n")
    assert smk_install(other, shares, ["ann", "bob", "cho"]) == 1
    err = capsys.readouterr().err
    assert "wrong PIN" in err and "security officer" in err

    plain = tmp_path / "plain"
    init(plain, capsys, keystore="file")
    assert smk_create(plain, tmp_path / "x") == 1
    assert "needs an HSM" in capsys.readouterr().err
