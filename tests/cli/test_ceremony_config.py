"""Issue 15, DPS 4.2.2: "changes to the signer's configuration, policy" are a
signing-components task (SA + (SO or WI)). One person with shell access who edits the
policy file does not get the next zone signed under it: with ``[ceremony] required =
"all"`` the cycle and ``tldsec sign`` refuse until a ``signer.config`` ceremony approved
exactly the files' new SHA-256 (``tldsec config approve``)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.cli.test_ceremony import Room, room  # noqa: F401  (the fixture)
from tests.cli.test_init_sign import ZONE
from tldsec.cli.main import main


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_attack_an_edited_policy_signs_nothing_until_a_quorum_approves_it(
    room: Room,  # noqa: F811
) -> None:
    home = room.home
    config, policy = _sha256(home / "tldsec.toml"), _sha256(home / "policy.toml")
    # The founding approved the files as they were (config.approved, via ceremony.found).
    (founded,) = room.events("config.approved")
    assert founded["details"] == {  # type: ignore[comparison-overlap]
        "ceremony": founded["details"]["ceremony"],  # type: ignore[index]
        "via": "ceremony.found",
        "config_sha256": config,
        "policy_sha256": policy,
    }
    rc, out, _ = room.run("cycle", "--force", "--workers", "1")
    assert rc == 0, out

    # The attack: one person edits the policy; the next cycle would sign under it.
    with open(home / "policy.toml", "a", encoding="utf-8") as f:
        f.write("\n# edited by one person with shell access\n")
    edited = _sha256(home / "policy.toml")
    rc, out, _ = room.run("cycle", "--force", "--workers", "1")
    assert rc == 1
    line = out.splitlines()[0]
    assert f"policy {home / 'policy.toml'} {policy[:12]}... -> {edited[:12]}..." in line
    assert "config " not in line.split("refused:")[1].split("changed")[0]  # only the policy
    assert "(DPS 4.2.2" in line and "tldsec config approve --ceremony ID" in line
    assert (
        f"tldsec ceremony start signer.config --param config_sha256={config} "
        f"--param policy_sha256={edited}" in line
    )
    assert room.events("cycle.failed")[-1]["details"]["stage"] == "config"  # type: ignore[index]
    zone = home.parent / "hand.zone"
    zone.write_text(ZONE)
    err = room.refused("sign", str(zone), "-o", str(zone) + ".signed", "--workers", "1")
    assert "tldsec sign refused" in err and edited[:12] in err

    # A ceremony approved for other bytes (the old policy) does not fit.
    other = room.ceremony("signer.config", ("ann", "cho"), f"config_sha256={config}",
                          f"policy_sha256={policy}")  # fmt: skip
    err = room.refused("config", "approve", "--ceremony", other)
    assert "parameters" in err and policy in err
    # One person cannot approve: SA + (SO or WI).
    right = room.ceremony("signer.config", ("ann",), f"config_sha256={config}",
                          f"policy_sha256={edited}")  # fmt: skip
    err = room.refused("config", "approve", "--ceremony", right)
    assert "SA + (SO or WI)" in err
    rc, out, _ = room.run("cycle", "--force", "--workers", "1")
    assert rc == 1  # still refused: nothing was approved

    room.approve(right, "bob")
    out = room.ok("config", "approve", "--ceremony", right)
    assert f"approved policy_sha256 {edited}" in out
    approved = room.events("config.approved")[-1]["details"]
    assert approved["policy_sha256"] == edited and approved["ceremony"] == right  # type: ignore[index]
    rc, out, _ = room.run("cycle", "--force", "--workers", "1")
    assert rc == 0, out
    assert "approved: yes" in room.ok("config", "show")
    # The ceremony was used: it does not approve a second edit.
    with open(home / "tldsec.toml", "a", encoding="utf-8") as f:
        f.write("\n# another edit\n")
    err = room.refused("config", "approve", "--ceremony", right)
    assert "parameters" in err and config in err
    rc, out, _ = room.run("cycle", "--force", "--workers", "1")
    assert rc == 1 and "config " in out.splitlines()[0]


def test_the_script_of_a_signer_config_ceremony(room: Room) -> None:  # noqa: F811
    out = room.ok("ceremony", "script", "signer.config")
    assert "tldsec config approve --ceremony ID" in out
    assert "--param config_sha256=HASH --param policy_sha256=HASH" in out


def test_without_required_an_edited_policy_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    assert main(["init", "--home", str(home), "--origin", "example"]) == 0
    with open(home / "policy.toml", "a", encoding="utf-8") as f:
        f.write("\n# edited\n")
    capsys.readouterr()
    assert main(["config", "show", "--home", str(home)]) == 0
    assert "not required" in capsys.readouterr().out
    assert main(["cycle", "--force", "--workers", "1", "--home", str(home)]) == 0
