"""``tldsec ceremony found`` in a home that serves several zones already (DPS 5.1.1,
decision 82): the founding makes the first keys of EVERY zone, each by its own policy,
in one founding record; and a founding that cannot finish leaves nothing half-founded:
a wrong PIN is refused before anything is recorded (the same ceremony then founds), a
zone whose keys cannot be made stops it before the roster is founded, and a new
ceremony founds it, keeping the keys the first run made.

SoftHSM2 (``init --ceremony``): the home of the founding end-to-end test, made two zones
(``[zones.example]``, ``[zones.shop]`` following the policy ``long``) before founding."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_ceremony import PEOPLE, Room
from tests.cli.test_first_keys_undone import token_keys
from tests.hsm.fulltoken import full_token
from tests.service.twozones import follow_long_policy, two_zone_config
from tldsec.cli.main import main

FOUNDERS = ("ann", "bob", "cho")
AGAIN = ("amy", "ben", "cy")  # no SA or SO twice in a row (DPS 4.3.4)


def _home(tmp_path: Path, capsys: pytest.CaptureFixture[str], *, zones: bool = True) -> Room:
    """``init --ceremony`` (no keys yet), the roster draft enrolled; with ``zones``,
    shop. in tldsec.toml following ``long``, whose KSK is 3072 bits (example.'s 2048)."""
    home = tmp_path / "home"
    assert main(["init", "--home", str(home), "--origin", "example", "--ceremony"]) == 0
    if zones:
        two_zone_config(home)
        follow_long_policy(home)
        _edit(home / "long.toml", "[ksk]", "bits = 2048", "bits = 3072")
    room = Room(home, capsys)
    for person, role in PEOPLE:
        room.enrol(person, role)
    return room


def _edit(path: Path, table: str, old: str, new: str) -> None:
    head, _, tail = path.read_text("utf-8").partition(f"\n{table}")
    assert old in tail
    path.write_text(f"{head}\n{table}{tail.replace(old, new, 1)}", "utf-8")


def _keys(room: Room, origin: str) -> list[dict[str, Any]]:
    shown = json.loads(room.ok("keys", "list", "--zone", origin, "--json"))
    keys: list[dict[str, Any]] = shown["zones"][origin]  # a home of several zones
    return keys


def _founded(room: Room) -> list[dict[str, object]]:
    return room.events("ceremony.founded")


def test_a_home_of_two_zones_is_founded_with_each_zones_first_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    room = _home(tmp_path, capsys)
    ceremony = room.ceremony("ceremony.found", FOUNDERS)
    out = room.ok("ceremony", "found", "--ceremony", ceremony)
    assert len(_founded(room)) == 1 and "roster version 1 founded" in out
    for origin, ksk_bits in (("example.", 2048), ("shop.", 3072)):  # each by its policy
        keys = _keys(room, origin)
        assert sorted(k["role"] for k in keys) == ["ksk", "zsk", "zsk"], keys
        assert [k["bits"] for k in keys if k["role"] == "ksk"] == [ksk_bits]
        assert f"{origin} KSK {ksk_bits}-bit key tag" in out
        assert any(line.startswith(f"DS {origin} ") for line in out.splitlines())
    (record,) = [
        json.loads(p.read_text())["record"] for p in (room.home / "ceremony").glob("*.record.json")
    ]
    assert record["id"] == ceremony
    assert {line.split()[0] for line in record["outcome"]["keys"]} == {"example.", "shop."}
    assert {line.split()[0] for line in record["outcome"]["ds"]} == {"example.", "shop."}


def test_a_wrong_pin_is_refused_before_the_founding_records_anything(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """As in a one-zone home: the key store is opened before the ceremony is used."""
    room = _home(tmp_path, capsys, zones=False)
    ceremony = room.ceremony("ceremony.found", FOUNDERS)
    pin = room.home / "pin"
    right = pin.read_text()
    pin.write_text("999999\n")
    rc, out, err = room.run("ceremony", "found", "--ceremony", ceremony)
    assert rc != 0 and "PIN" in err, (out, err)
    pin.write_text(right)
    assert _founded(room) == [] and room.events("ceremony.completed") == []
    assert room.events("config.approved") == []
    assert "tldsec ceremony start ceremony.found" in room.ok("ceremony", "draft")
    out = room.ok("ceremony", "found", "--ceremony", ceremony)  # the same ceremony
    assert len(_founded(room)) == 1 and "KSK 2048-bit key tag" in out


def test_a_zone_whose_keys_cannot_be_made_stops_the_founding_before_the_roster(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The token is full after example.'s three keys and shop.'s KSK (for real, a tmpfs:
    ``tests/hsm/fulltoken.py``): example.'s keys are made, shop.'s ZSK refused and its KSK
    deleted again (decision 83), and nothing founds; a new ceremony founds the home once
    the token has room, keeping example.'s keys."""
    room = _home(tmp_path, capsys)
    before = token_keys(room.home)
    ceremony = room.ceremony("ceremony.found", FOUNDERS)
    with full_token(room.home, keys=4):
        rc, out, err = room.run("ceremony", "found", "--ceremony", ceremony)
        assert rc == 1, (out, err)
        assert "generate failed" in err and "shop." in err
        assert "nothing is founded" in err and "ceremony.found" in err  # how to go on
        assert _founded(room) == [] and room.events("config.approved") == []
        (aborted,) = room.events("ceremony.aborted")  # the used ceremony's end, with the reason
        assert aborted["details"] == {
            "ceremony": ceremony,
            "reason": err.split("error: ")[1].strip(),
        }
        (failed,) = room.events("key.generation_failed")  # shop.'s KSK, gone again
        assert failed["zone"] == "shop." and failed["details"]["left"] == []  # type: ignore[index]
        (removed,) = failed["details"]["removed"]  # type: ignore[index]
        assert removed.startswith("ksk 3072-bit shop-ksk-")
        assert "tldsec ceremony start ceremony.found" in room.ok("ceremony", "draft")
        example = _keys(room, "example.")
        assert len(example) == 3 and _keys(room, "shop.") == []
        assert token_keys(room.home) - before == {k["key_id"] for k in example}

    again = room.ceremony("ceremony.found", AGAIN)  # the token mended
    out = room.ok("ceremony", "found", "--ceremony", again)
    assert len(_founded(room)) == 1
    assert "example. has keys already" in out and "shop. KSK 3072-bit key tag" in out
    assert _keys(room, "example.") == example
    assert len(_keys(room, "shop.")) == 3
    (approved,) = room.events("config.approved")
    assert str(approved["details"]["policy_sha256"]).startswith("default=")  # type: ignore[index]
