"""``tldsec keys transfer`` (DPS 4.6) under [ceremony] required: import-dnskey refused
without its ceremony and for keys the zone cannot publish (one line, exit 1); export,
status with its computed steps; a handover refused while the gaining operator's DS is
not at the parent (a signed test root on NSD, validated); --cancel before it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_ceremony import Room, found
from tests.distribute.nameservers import nsd_available
from tests.integration.signed_parent import SignedRoot
from tldsec.cli.main import main
from tldsec.clock import SystemClock

pytestmark = pytest.mark.skipif(not nsd_available(), reason="needs NSD (Debian package nsd)")


@pytest.fixture
def room(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Room]:
    home = tmp_path / "home"
    argv = ["init", "--home", str(home), "--origin", "example", "--keystore", "file"]
    assert main(argv) == 0
    with open(home / "tldsec.toml", "a", encoding="utf-8") as f:
        f.write('\n[ceremony]\nrequired = "all"\n')
    room = Room(home, capsys)
    found(room)
    yield room


def keygen(directory: Path, *args: str) -> str:
    """A key of the gaining operator by ldns-keygen; its DNSKEY line."""
    directory.mkdir(exist_ok=True)
    name = subprocess.run(
        ["ldns-keygen", *args, "example."],
        cwd=directory,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return (directory / f"{name}.key").read_text()


def test_transfer_through_the_cli(room: Room, tmp_path: Path) -> None:
    keys = tmp_path / "gaining"
    theirs = tmp_path / "theirs.keys"
    theirs.write_text(
        keygen(keys, "-a", "RSASHA256", "-k", "-b", "2048")
        + keygen(keys, "-a", "RSASHA256", "-b", "1024")
    )
    p256 = tmp_path / "p256.keys"
    p256.write_text(
        keygen(keys, "-a", "ECDSAP256SHA256", "-k") + keygen(keys, "-a", "ECDSAP256SHA256")
    )
    bad = tmp_path / "bad.keys"
    bad.write_text("example. IN DNSKEY 0 3 8 AwEAAQ==\n")
    args = ("keys", "transfer", "import-dnskey")

    err = room.refused(*args, str(theirs), "--operator", "gaining", "--reason", "sale")
    assert "keys.transfer" in err and "ceremony" in err
    for path, refusal in ((bad, "not a zone key"), (p256, "algorithm 13")):
        ceremony = room.ceremony("keys.transfer", ("ann", "cho"), "action=import-dnskey")
        err = room.refused(
            *args, str(path), "--operator", "gaining", "--reason", "sale", "--ceremony", ceremony
        )
        assert refusal in err
    err = room.refused("keys", "transfer", "status")
    assert "no transfer under way" in err

    ceremony = room.ceremony("keys.transfer", ("amy", "cho"), "action=import-dnskey")
    out = room.ok(
        *args, str(theirs), "--operator", "gaining", "--reason", "sale", "--ceremony", ceremony
    )
    assert out.count("imported ") == 2 and "example. 86400 IN DS " in out
    (started,) = room.events("key.transfer_started")
    assert started["details"]["operator"] == "gaining"  # type: ignore[index]

    export = room.ok("keys", "transfer", "export")
    assert export.count(" IN DNSKEY 257 ") == 1 and " IN DNSKEY 256 " in export
    assert " IN DS " in export
    assert theirs.read_text().split()[-1] not in export  # ours only, not theirs
    steps = json.loads(room.ok("keys", "transfer", "status", "--json"))
    assert [s["step"] for s in steps][:6] == [
        "import", "export", "theirs-cached", "peer-ds", "peer-ds-cached", "handover"
    ]  # fmt: skip
    assert steps[2]["due"] is not None and steps[5]["due"] is None
    text = room.ok("keys", "transfer", "status")
    assert "POINT OF NO RETURN" in text
    _, out, _ = room.run("status", "--json")
    report = json.loads(out)["transfer"]
    assert report["operator"] == "gaining" and report["next"]["step"] == "export"
    _, out, _ = room.run("status")
    assert "TRANSFER        to gaining since" in out

    # The parent serves no DS of theirs: the handover is refused, validated.
    root = SignedRoot(tmp_path / "root", "example.", SystemClock().now())
    root.publish([])
    try:
        anchor = tmp_path / "root.key"
        anchor.write_text(root.anchor_text + "\n")
        parent = ("--server", str(root.server), "--trust-anchor", str(anchor), "--timeout", "3")
        rc, out, _ = room.run("keys", "transfer", "check-parent", *parent)
        assert rc == 4 and "not served" in out
        ceremony = room.ceremony("keys.transfer", ("ann", "cy"), "action=handover")
        err = room.refused(
            "keys", "transfer", "handover", "--reason", "today", *parent, "--ceremony", ceremony
        )
        assert "not seen at the parent" in err
        assert room.events("key.transfer_handed_over") == []
    finally:
        root.stop()

    ceremony = room.ceremony("keys.transfer", ("amy", "cy"), "action=cancel")
    out = room.ok(
        "keys", "transfer", "handover", "--cancel", "--reason", "no sale", "--ceremony", ceremony
    )
    assert "cancelled" in out
    assert len(room.events("key.transfer_cancelled")) == 1
    assert "no transfer under way" in room.refused("keys", "transfer", "status")
    _, out, _ = room.run("status", "--json")
    assert json.loads(out)["transfer"] is None
