"""A signer config approval in a home whose zones follow different policies (DPS 4.2.2,
decision 80): the approval's ``policy_sha256`` names every policy of the home as the
audit log's records do (``default=HASH, long=HASH``, decision 79), ``tldsec config
approve`` works under a ``signer.config`` ceremony, and an edit of EITHER policy file
stops the cycle and ``tldsec sign`` of EVERY zone until a new approval: what is approved
is the home's signer configuration as a whole. The home is founded with one zone, as a
production home is, then gets shop. following a policy of its own."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_ceremony import Room, found
from tests.cli.test_init_sign import ZONE
from tests.service.twozones import follow_long_policy, two_zone_config
from tldsec.ceremony.signerconfig import current_hashes
from tldsec.cli.main import main
from tldsec.settings import load_settings

CYCLE = ("cycle", "--force", "--workers", "1", "--zone")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _policies(home: Path) -> str:
    return f"default={_sha256(home / 'policy.toml')}, long={_sha256(home / 'long.toml')}"


def _approve(room: Room, people: tuple[str, str]) -> str:
    """A signer.config ceremony for the files as they are now, approved by ``people``
    (no SA twice in a row: DPS 4.3.4) and used."""
    config, policies = _sha256(room.home / "tldsec.toml"), _policies(room.home)
    ceremony = room.ceremony("signer.config", people, f"config_sha256={config}",
                             f"policy_sha256={policies}")  # fmt: skip
    out = room.ok("config", "approve", "--ceremony", ceremony)
    assert f"approved policy_sha256 {policies}" in out
    return policies


@pytest.fixture
def room(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Room]:
    """Founded with example. alone; then shop. (policy ``long``) in tldsec.toml, approved
    by a signer.config ceremony, and added under a keys.generate one."""
    home = tmp_path / "home"
    assert main(["init", "--home", str(home), "--origin", "example.", "--keystore", "file"]) == 0
    with open(home / "tldsec.toml", "a", encoding="utf-8") as f:
        f.write('\n[ceremony]\nrequired = "all"\n')
    room = Room(home, capsys)
    found(room)
    two_zone_config(home)
    follow_long_policy(home)
    yield room


def test_an_approval_names_each_policy_and_any_policy_edit_stops_every_zone(
    room: Room,
) -> None:
    home = room.home
    # The founding approved one policy; the home now has two and a new tldsec.toml.
    rc, out, _ = room.run(*CYCLE, "example.")
    assert rc == 1 and "changed since the last approval" in out.splitlines()[0], out
    show = room.ok("config", "show")
    assert f"policy_sha256 {_policies(home)}" in show and "approved: no" in show
    # The start command quotes the parameter that has a space in it.
    assert f"--param 'policy_sha256={_policies(home)}'" in show

    policies = _approve(room, ("ann", "cho"))
    approved = room.events("config.approved")[-1]["details"]
    assert approved["policy_sha256"] == policies  # type: ignore[index]
    assert "approved: yes" in room.ok("config", "show")
    keys = room.ceremony("keys.generate", ("amy", "ben", "cy"), "zone=shop.")  # DPS 4.3.4
    room.ok("zone", "add", "shop", "--ceremony", keys)
    for zone in ("example.", "shop."):
        rc, out, _ = room.run(*CYCLE, zone)
        assert rc == 0, out
    # Narrowed to one zone (as a cycle is), the hashes are still the home's.
    settings = load_settings(home)
    assert current_hashes(settings.for_zone("example.")) == current_hashes(settings)

    # shop.'s policy edited: neither zone signs until a new approval.
    long = home / "long.toml"
    old = _sha256(long)
    with open(long, "a", encoding="utf-8") as f:
        f.write("\n# edited by one person with shell access\n")
    for zone in ("example.", "shop."):
        rc, out, _ = room.run(*CYCLE, zone)
        changed = out.splitlines()[0].split("refused: ")[1].split(" changed since")[0]
        assert rc == 1 and changed == f"policy long {long} {old[:12]}... -> {_sha256(long)[:12]}..."
    zone = home.parent / "hand.zone"
    zone.write_text(ZONE)
    err = room.refused("sign", str(zone), "-o", f"{zone}.signed", "--workers", "1",
                       "--zone", "example.")  # fmt: skip
    assert "tldsec sign refused" in err and "policy long" in err

    _approve(room, ("amy", "cy"))
    for zone in ("example.", "shop."):
        rc, out, _ = room.run(*CYCLE, zone)
        assert rc == 0, out
    # example.'s policy edited: shop.'s cycle stops too.
    with open(home / "policy.toml", "a", encoding="utf-8") as f:
        f.write("\n# edited\n")
    rc, out, _ = room.run(*CYCLE, "shop.")
    assert rc == 1 and f"policy default {home / 'policy.toml'}" in out.splitlines()[0], out
