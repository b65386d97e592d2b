"""``tldsec ceremony`` as the trusted people run it (DPS 4.2, 4.3.4, 5.2.2), and the
attacks of issue 15 on it: a roster edited by whoever has the home, a ceremony replayed
or used twice at once, gated operations run without a ceremony, two spellings of one
name. Every gated operation of the DPS 4.2.2 table runs only under its class's quorum."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_init_sign import ZONE, audit_events
from tldsec.ceremony.pgpwords import from_words
from tldsec.cli.main import main

PEOPLE = (("ann", "sa"), ("amy", "sa"), ("bob", "so"), ("ben", "so"), ("cho", "wi"),
          ("cy", "wi"), ("aud", "auditor"))  # fmt: skip


@dataclass
class Room:
    """The ceremony room: a home, the people's key files, and the operator's terminal."""

    home: Path
    capsys: pytest.CaptureFixture[str]

    def run(self, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        rc = main([*argv, "--home", str(self.home)])
        out, err = self.capsys.readouterr()
        return rc, out, err

    def ok(self, *argv: str) -> str:
        rc, out, err = self.run(*argv)
        assert rc == 0, err
        return out

    def refused(self, *argv: str) -> str:
        rc, out, err = self.run(*argv)
        assert rc == 1, out
        assert err.count("\n") == 1, err  # one line
        return err

    def key(self, person: str) -> Path:
        return self.home.parent / f"{person}.pem"

    def enrol(self, person: str, role: str) -> str:
        extra = ["--independent"] if role == "wi" else []
        return self.ok("ceremony", "enrol", person, "--role", role, "--key-out",
                       str(self.key(person)), *extra)  # fmt: skip

    def start(self, operation: str, *params: str) -> str:
        argv = ["ceremony", "start", operation]
        for p in params:
            argv += ["--param", p]
        return self.ok(*argv).split()[1].rstrip(":")

    def approve(self, ceremony: str, *people: str) -> None:
        for person in people:
            self.ok("ceremony", "approve", ceremony, "--person", person, "--key",
                    str(self.key(person)))  # fmt: skip

    def ceremony(self, operation: str, people: tuple[str, ...], *params: str) -> str:
        ceremony = self.start(operation, *params)
        self.approve(ceremony, *people)
        return ceremony

    def events(self, event: str) -> list[dict[str, object]]:
        return audit_events(self.home, self.home.parent, event)


def found(room: Room) -> str:
    for person, role in PEOPLE:
        room.enrol(person, role)
    ceremony = room.ceremony("ceremony.found", ("ann", "bob", "cho"))
    return root_of(room.ok("ceremony", "found", "--ceremony", ceremony))


def root_of(out: str) -> str:
    """The founding roster's SHA-256 that 'ceremony found' prints on its own line."""
    lines = out.splitlines()
    return lines[lines.index("founding roster SHA-256 (the trust root; pin it in tldsec.toml):")
                 + 1].strip()  # fmt: skip


@pytest.fixture
def room(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Iterator[Room]:
    home = tmp_path / "home"
    assert main(["init", "--home", str(home), "--origin", "example"]) == 0
    with open(home / "tldsec.toml", "a", encoding="utf-8") as f:
        f.write('\n[ceremony]\nrequired = "all"\n')
    room = Room(home, capsys)
    found(room)
    yield room


def test_the_founding_roster_is_the_trust_root_recorded_in_the_audit_log(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    assert main(["init", "--home", str(home), "--origin", "example"]) == 0
    room = Room(home, capsys)
    for person, role in PEOPLE[:-2]:  # one witness only
        room.enrol(person, role)
    err = room.refused("ceremony", "start", "ceremony.found")
    assert "roster draft version 1 has 1 WI; at least 2" in err and "(DPS 4.2.1)" in err
    room.enrol("cy", "wi")
    ceremony = room.ceremony("ceremony.found", ("ann", "bob"))
    err = room.refused("ceremony", "found", "--ceremony", ceremony)
    assert "needs SA + SO + WI (DPS 4.2.2)" in err
    room.approve(ceremony, "cho")
    root = root_of(room.ok("ceremony", "found", "--ceremony", ceremony))
    (founded,) = room.events("ceremony.founded")
    assert founded["details"]["roster_sha256"] == root  # type: ignore[index]
    assert f"roster version 1  SHA-256 {root}" in room.ok("ceremony", "roster")
    # A second founding, with a new draft, is refused: the roster changes by quorum only.
    room.enrol("eve", "so")
    err = room.refused("ceremony", "start", "ceremony.found")
    assert "founded already" in err
    # The pin in the configuration must name the same root.
    with open(home / "tldsec.toml", "a", encoding="utf-8") as f:
        f.write(f'\n[ceremony]\nroster_root = "{"0" * 64}"\n')
    err = room.refused("ceremony", "roster")
    assert "is not the founding roster the audit log recorded" in err


def test_attack_roster_edit_people_with_anns_key_get_no_quorum(room: Room) -> None:
    """Issue 15: mallory (SO) and ann2 (WI) carrying ann's key; ann approves three times."""
    version = room.home / "ceremony" / "roster" / "0001.json"
    data = json.loads(version.read_text())
    ann = next(p for p in data["roster"]["people"] if p["name"] == "ann")
    # 1. Through the draft: one key is one person.
    err = room.refused("ceremony", "enrol", "mallory", "--role", "so", "--public-key",
                       str(room.key("ann")))  # fmt: skip
    assert "mallory (SO) has the key of ann (SA): one key is one person" in err
    # 2. By editing the signed roster file: it is no longer the founding roster.
    edited = json.loads(version.read_text())
    edited["roster"]["people"] += [
        {**ann, "name": "mallory", "role": "so"},
        {**ann, "name": "ann2", "role": "wi", "independent": True},
    ]
    ceremony = room.ceremony("keys.generate", ("ann",), "role=zsk")
    version.write_text(json.dumps(edited))
    for name in ("mallory", "ann2"):  # ann's one card, under the other names
        err = room.refused("ceremony", "approve", ceremony, "--person", name, "--key",
                           str(room.key("ann")))  # fmt: skip
        assert "roster version 1" in err and "has the key of ann" in err
    # ... and with ann's entries made distinct, the file is not the founding roster.
    for extra, other in zip(edited["roster"]["people"][-2:], ("bob", "cho"), strict=True):
        extra["public_key"] = next(
            p["public_key"] for p in data["roster"]["people"] if p["name"] == other
        )
        extra["name"] += "-x"
    del edited["roster"]["people"][-2:]
    edited["roster"]["change"] = "nothing to see"
    version.write_text(json.dumps(edited))
    err = room.refused("keys", "generate", "--role", "zsk", "--ceremony", ceremony)
    assert "roster version 1" in err and "is not the founding roster" in err
    # 3. A second version nobody of version 1 approved but ann (under three names).
    version.write_text(json.dumps(data))
    mallory = {**ann, "name": "mallory", "role": "so"}
    v2 = {**data["roster"], "version": 2, "previous": _digest(data["roster"]),
          "people": [*data["roster"]["people"], mallory]}  # fmt: skip
    forged = {"roster": v2, "ceremony": {**data["ceremony"], "operation": "ceremony.roster"}}
    (version.parent / "0002.json").write_text(json.dumps(forged))
    err = room.refused("keys", "generate", "--role", "zsk", "--ceremony", ceremony)
    assert "roster version 2" in err
    assert room.events("ceremony.completed") == [room.events("ceremony.completed")[0]]  # founding


def _digest(roster: dict[str, object]) -> str:
    return hashlib.sha256(
        json.dumps(roster, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()


def test_attack_replay_a_ceremony_runs_once_whatever_its_file_says(room: Room) -> None:
    ceremony = room.ceremony("keys.generate", ("amy", "ben", "cho"), "role=zsk")
    room.ok("keys", "generate", "--role", "zsk", "--ceremony", ceremony)
    path = room.home / "ceremony" / f"{ceremony}.json"
    data = json.loads(path.read_text())
    data["used"] = None  # the old flag: it means nothing now
    path.write_text(json.dumps(data))
    err = room.refused("keys", "generate", "--role", "zsk", "--ceremony", ceremony)
    assert f"ceremony {ceremony} was already used (audit seq" in err and "(DPS 5.2.2)" in err
    used = [e for e in room.events("ceremony.completed") if e["details"]["ceremony"] == ceremony]  # type: ignore[index]
    assert len(used) == 1
    # A ceremony file nobody started in the audit log authorises nothing either.
    copy = dict(data, id="20261201-feedbeef")
    (room.home / "ceremony" / "20261201-feedbeef.json").write_text(json.dumps(copy))
    err = room.refused("keys", "generate", "--role", "zsk", "--ceremony", "20261201-feedbeef")
    assert "ceremony 20261201-feedbeef" in err


def test_concurrent_runs_of_one_ceremony_exactly_one_succeeds(room: Room) -> None:
    ceremony = room.ceremony("keys.generate", ("amy", "ben", "cy"), "role=zsk")
    generated = len(room.events("key.generated"))
    argv = [sys.executable, "-c", "import sys; from tldsec.cli.main import main; "
            "sys.exit(main(sys.argv[1:]))", "keys", "generate", "--role", "zsk",
            "--ceremony", ceremony, "--home", str(room.home)]  # fmt: skip
    runs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=os.environ.copy()) for _ in range(2)]  # fmt: skip
    results = [(p.wait(timeout=120), p.stderr.read() if p.stderr else "") for p in runs]
    for p in runs:
        for stream in (p.stdout, p.stderr):
            if stream:
                stream.close()
    assert sorted(rc for rc, _ in results) == [0, 1], results
    assert not any("Traceback" in err for _, err in results), results
    # The property: the ceremony was used exactly once. The loser is normally refused
    # "was already used"; on a loaded machine it can fail on its way to the gate, which
    # is also a refusal, so the audit log is the evidence, not the message.
    used = [e for e in room.events("ceremony.completed") if e["details"]["ceremony"] == ceremony]  # type: ignore[index]
    assert len(used) == 1, (used, results)
    assert len(room.events("key.generated")) == generated + 1, results


def test_with_required_all_every_gated_command_needs_its_ceremony(room: Room) -> None:
    zone = room.home.parent / "example.zone"
    zone.write_text(ZONE)
    for argv, quorum in (
        (("keys", "generate", "--role", "ksk"), "SA + SO + WI"),
        (("keys", "rollover", "--ksk", "--reason", "r"), "SA + SO + WI"),
        (("keys", "ds-seen", "12345"), "SA + (SO or WI)"),
        (("sign", str(zone), "-o", str(zone) + ".signed"), "SA + (SO or WI)"),
        (("backup", "keys", "--smk", "ab", "-o", str(zone) + ".bak"), "(SA or SO) + WI"),
        (
            (
                "backup",
                "smk-create",
                "--holder",
                f"ann={zone}.ann",
                "--so-pin-source",
                "file:so-pin",
            ),
            "SA + SO + WI",
        ),
    ):
        err = room.refused(*argv)
        assert "runs only under a key ceremony" in err and f"DPS 4.2.2: {quorum}" in err, argv
    assert not (zone.parent / "example.zone.signed").exists()
    # A roster change always needs the quorum of the current roster.
    room.enrol("eve", "so")
    err = room.refused("ceremony", "adopt", "--ceremony", "20261201-00000000")
    assert "no ceremony 20261201-00000000" in err
    assert " eve " not in room.ok("ceremony", "roster")


def test_the_quorum_table_per_operation_class(room: Room) -> None:
    # key generation: SA + SO + WI
    ceremony = room.ceremony("keys.generate", ("amy", "ben"), "role=zsk")
    err = room.refused("keys", "generate", "--role", "zsk", "--ceremony", ceremony)
    assert "key-generation (keys.generate) needs SA + SO + WI (DPS 4.2.2)" in err
    room.approve(ceremony, "cy")
    room.ok("keys", "generate", "--role", "zsk", "--ceremony", ceremony)
    # signing components: SA + (SO or WI)
    tag = room.ok("keys", "list").split("\n")[1].split()[0]
    ceremony = room.ceremony("keys.ds-seen", ("bob", "cho"), f"key={tag}")
    err = room.refused("keys", "ds-seen", tag, "--ceremony", ceremony)
    assert "needs SA + (SO or WI)" in err
    ceremony = room.ceremony("keys.ds-seen", ("ann", "cho"), f"key={tag}")
    _, _, err = room.run("keys", "ds-seen", tag, "--ceremony", ceremony)
    assert "ceremony" not in err  # past the gate (the key manager may still refuse)
    # distribution of encrypted key archives: (SA or SO) + WI
    ceremony = room.ceremony("backup.keys", ("ann", "bob"), "smk=ab")
    err = room.refused("backup", "keys", "--smk", "ab", "-o", "x", "--ceremony", ceremony)
    assert "needs (SA or SO) + WI" in err
    ceremony = room.ceremony("backup.keys", ("bob", "cho"), "smk=ab")
    _, _, err = room.run("backup", "keys", "--smk", "ab", "-o", "x", "--ceremony", ceremony)
    assert "ceremony" not in err  # past the gate: this HSM holds no SMK ab
    # roster changes: SA + SO + WI of the current roster
    room.enrol("eve", "so")
    ceremony = room.ceremony("ceremony.roster", ("amy", "ben"))
    err = room.refused("ceremony", "adopt", "--ceremony", ceremony)
    assert "roster (ceremony.roster) needs SA + SO + WI" in err
    room.approve(ceremony, "cho")
    assert "roster version 2 adopted" in room.ok("ceremony", "adopt", "--ceremony", ceremony)
    assert " eve " in room.ok("ceremony", "roster")
    classes = [e["details"]["operation_class"] for e in room.events("ceremony.completed")]  # type: ignore[index]
    assert classes == ["key-generation", "key-generation", "signing-components",
                       "archive-distribution", "roster"]  # fmt: skip


def test_rotation_no_one_serves_as_sa_or_so_twice_in_a_row(room: Room) -> None:
    # The founding (ann SA, bob SO, cho WI) was the last key-generation ceremony.
    ceremony = room.ceremony("keys.generate", ("ann", "ben", "cho"), "role=zsk")
    err = room.refused("keys", "generate", "--role", "zsk", "--ceremony", ceremony)
    assert "ann was SA in the previous key-generation ceremony" in err and "(DPS 4.3.4)" in err
    ceremony = room.ceremony("keys.generate", ("amy", "ben", "cho"), "role=zsk")
    room.ok("keys", "generate", "--role", "zsk", "--ceremony", ceremony)  # a WI may serve again
    # Another class has its own sequence: ann may be SA for a roster change now.
    room.enrol("eve", "so")
    ceremony = room.ceremony("ceremony.roster", ("ann", "bob", "cy"))
    room.ok("ceremony", "adopt", "--ceremony", ceremony)


def test_bad_approvals_and_people_are_refused_with_their_rule(room: Room) -> None:
    err = room.refused("ceremony", "enrol", "Ann", "--role", "wi", "--independent",
                       "--key-out", str(room.key("Ann")))  # fmt: skip
    assert "'Ann' is already on the roster draft" in err
    assert not room.key("Ann").exists()  # no key left for a refused enrolment
    err = room.refused("ceremony", "enrol", "dee", "--role", "wi", "--key-out",
                       str(room.key("dee")))  # fmt: skip
    assert "witness dee is not flagged independent" in err and "(DPS 4.2.4)" in err
    ceremony = room.start("keys.generate", "role=ksk")
    err = room.refused("ceremony", "approve", ceremony, "--person", "bob", "--key",
                       str(room.key("ann")))  # fmt: skip
    assert "is not the key of bob" in err
    err = room.refused("ceremony", "approve", ceremony, "--person", "mallory", "--key",
                       str(room.key("ann")))  # fmt: skip
    assert "'mallory' is not on the verified roster" in err
    room.approve(ceremony, "amy")
    err = room.refused("ceremony", "approve", ceremony, "--person", "amy", "--key",
                       str(room.key("amy")))  # fmt: skip
    assert "amy already approved" in err
    room.approve(ceremony, "aud", "ben", "cy")
    err = room.refused("keys", "generate", "--role", "ksk", "--ceremony", ceremony)
    assert "aud is designated audit personnel" in err and "(DPS 4.2.4)" in err
    ceremony = room.ceremony("keys.generate", ("amy", "ben", "cy"), "role=ksk")
    err = room.refused("keys", "generate", "--role", "zsk", "--ceremony", ceremony)
    assert "not {'role': 'zsk'}" in err
    err = room.refused("keys", "rollover", "--ksk", "--reason", "r", "--ceremony", ceremony)
    assert "approved 'keys.generate', not 'keys.rollover'" in err
    aborted = room.events("ceremony.aborted")
    assert len(aborted) == 3


def test_the_record_is_signed_by_every_participant_and_tied_to_the_audit_log(
    room: Room,
) -> None:
    """DPS 5.1.1: the ceremony's activities recorded, dated and signed by those involved."""
    ceremony = room.ceremony("keys.generate", ("amy", "ben", "cy"), "role=zsk")
    assert "record written" in room.ok("keys", "generate", "--role", "zsk", "--ceremony", ceremony)
    err = room.refused("ceremony", "show", ceremony, "--verify")
    assert "not yet signed by amy, ben, cy (DPS 5.1.1" in err
    err = room.refused("ceremony", "sign", ceremony, "--person", "ann", "--key",
                       str(room.key("ann")))  # fmt: skip
    assert "ann did not take part in ceremony" in err
    err = room.refused("ceremony", "sign", ceremony, "--person", "amy", "--key",
                       str(room.key("ben")))  # fmt: skip
    assert "is not the key of amy" in err
    for person in ("amy", "ben"):
        room.ok("ceremony", "sign", ceremony, "--person", person, "--key", str(room.key(person)))
    out = room.ok("ceremony", "sign", ceremony, "--person", "cy", "--key", str(room.key("cy")))
    assert "every participant signed" in out
    out = room.ok("ceremony", "show", ceremony, "--verify")
    shown = json.loads(out[: out.rindex("}") + 1])
    assert shown["record"]["participants"] == {"amy": "SA", "ben": "SO", "cy": "WI"}
    assert isinstance(shown["record"]["outcome"]["key_tag"], int)
    assert "verified: the record of ceremony" in out
    # The record changed after signing: the signatures and the recorded digest disagree.
    path = room.home / "ceremony" / f"{ceremony}.record.json"
    data = json.loads(path.read_text())
    data["record"]["outcome"]["key_tag"] += 1
    path.write_text(json.dumps(data))
    err = room.refused("ceremony", "show", ceremony, "--verify")
    assert "it was changed" in err
    # ... and one pointing at another audit entry is refused too.
    data["record"]["outcome"]["key_tag"] -= 1
    data["record"]["audit_seq"] -= 1
    path.write_text(json.dumps(data))
    err = room.refused("ceremony", "show", ceremony, "--verify")
    assert "which is not the ceremony.completed entry of this ceremony" in err


def test_the_script_reads_values_back_as_pgp_words(room: Room) -> None:
    out = room.ok("ceremony", "script", "keys.rollover")
    assert "key-generation: SA + SO + WI, DPS 4.2.2" in out
    assert "tldsec ceremony sign ID" in out and "--verify" in out
    ceremony = room.ceremony("keys.generate", ("amy", "ben", "cy"), "role=ksk")
    room.ok("keys", "generate", "--role", "ksk", "--ceremony", ceremony)
    out = room.ok("ceremony", "script", "keys.generate", "--ceremony", ceremony)
    shown = json.loads(room.ok("ceremony", "show", ceremony))
    assert f"read back: statement SHA-256: {shown['statement_sha256']}" in out
    assert f"read back:   = {shown['statement_words']}" in out
    assert "read back: key_tag:" in out
    err = room.refused("ceremony", "script", "keys.rollover", "--ceremony", ceremony)
    assert "is a keys.generate ceremony" in err


def test_the_founding_ceremony_end_to_end_into_a_home_that_signs_and_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SoftHSM2: init --ceremony makes no keys; the founding makes roster v1 and the
    first KSK and ZSK under SA + SO + WI, reads back the DS as PGP words, and ends with
    a record every participant signs; the home then signs (a ceremony) and verifies."""
    home = tmp_path / "home"
    assert main(["init", "--home", str(home), "--origin", "example", "--ceremony"]) == 0
    assert "KSK" not in capsys.readouterr().out
    room = Room(home, capsys)
    assert room.ok("keys", "list").count("ksk") == 0
    for person, role in PEOPLE:
        room.enrol(person, role)
    holders = tmp_path / "holders"
    specs = []
    for person in ("amy", "ben", "cy"):
        (holders / person).mkdir(parents=True)
        specs += ["--smk-holder", f"{person}={holders / person / 'share.json'}"]
    smk = ["--smk-threshold", "2", "--so-pin-source", f"file:{home / 'so-pin'}"]
    ceremony = room.ceremony("ceremony.found", ("ann", "bob", "cho"), "smk_holders=amy,ben,cy",
                             "smk_threshold=3")  # fmt: skip
    err = room.refused("ceremony", "found", "--ceremony", ceremony, *specs, *smk)
    assert "'smk_threshold': '2'" in err  # the SMK approved is part of the founding
    ceremony = room.ceremony("ceremony.found", ("ann", "bob", "cho"), "smk_holders=amy,ben,cy",
                             "smk_threshold=2")  # fmt: skip
    out = room.ok("ceremony", "found", "--ceremony", ceremony, *specs, *smk)
    assert "KSK 2048-bit key tag" in out and "ZSK" in out
    check = out.split("SMK check value ")[1].split()[0]
    assert len(list(holders.glob("*/share.json"))) == 3
    ds_line = next(line for line in out.splitlines() if line.startswith("DS "))
    words = out.splitlines()[out.splitlines().index(ds_line) + 1].split("= ")[1]
    digest = ds_line.split()[-1]
    assert bytes.fromhex(digest) == from_words(words)
    for person in ("ann", "bob", "cho"):
        room.ok("ceremony", "sign", ceremony, "--person", person, "--key", str(room.key(person)))
    assert "verified" in room.ok("ceremony", "show", ceremony, "--verify")
    (record,) = [r for r in _records(room) if r["id"] == ceremony]
    assert record["outcome"]["smk"] == check and record["outcome"]["ds"]
    # The founded home signs, under a signing-components ceremony, and the zone verifies.
    zone, signed = tmp_path / "example.zone", tmp_path / "example.signed"
    zone.write_text(ZONE)
    assert "runs only under a key ceremony" in room.refused("sign", str(zone), "-o", str(signed))
    digest_of_zone = hashlib.sha256(zone.read_bytes()).hexdigest()
    sign = room.ceremony("sign", ("amy", "cy"), "origin=example.",
                         f"input_sha256={digest_of_zone}")  # fmt: skip
    room.ok("sign", str(zone), "-o", str(signed), "--workers", "1", "--ceremony", sign)
    anchor = tmp_path / "ds.txt"
    anchor.write_text(room.ok("keys", "export-ds"))
    assert digest in anchor.read_text().upper()
    room.ok("verify", str(signed), "--trust-anchor", str(anchor), "--no-external")


def test_the_smk_and_the_archive_are_made_under_their_classes_and_recorded(room: Room) -> None:
    """The SMK under key generation (SA + SO + WI), the key archive under archive
    distribution ((SA or SO) + WI); each record holds the SMK's check value and the
    archive's SHA-256 (DPS 5.1.1, 5.2.4)."""
    holders = room.home.parent / "holders"
    specs = []
    for person in ("amy", "ben", "cy"):
        (holders / person).mkdir(parents=True)
        specs += ["--holder", f"{person}={holders / person / 'share.json'}"]
    argv = ["backup", "smk-create", *specs, "--threshold", "2", "--so-pin-source",
            f"file:{room.home / 'so-pin'}"]  # fmt: skip
    smk = room.ceremony("backup.smk-create", ("amy", "ben", "cy"), "holders=amy,ben,cy",
                        "threshold=2")  # fmt: skip
    check = room.ok(*argv, "--ceremony", smk).split()[1]
    (created,) = [r for r in _records(room) if r["id"] == smk]
    assert created["outcome"]["smk"] == check
    archive = room.home.parent / "keys.json"
    backup = room.ceremony("backup.keys", ("bob", "cho"), f"smk={check}")
    room.ok("backup", "keys", "--smk", check, "-o", str(archive), "--ceremony", backup)
    (made,) = [r for r in _records(room) if r["id"] == backup]
    assert made["outcome"]["archive_sha256"] == hashlib.sha256(archive.read_bytes()).hexdigest()
    assert made["participants"] == {"bob": "SO", "cho": "WI"}


def _records(room: Room) -> list[dict[str, Any]]:
    return [
        json.loads(p.read_text())["record"] for p in (room.home / "ceremony").glob("*.record.json")
    ]


def test_attack_a_replaced_chain_is_caught_by_the_founding_entry(room: Room) -> None:
    """Whoever has the home removes the roster and founds a new one with their own keys:
    the audit log's first ceremony.founded entry is the trust root, so it is refused."""
    shutil.rmtree(room.home / "ceremony" / "roster")
    err = room.refused("ceremony", "roster")
    assert "no roster: the founding ceremony makes version 1" in err
    for person, role in (("m1", "sa"), ("m2", "sa"), ("m3", "so"), ("m4", "so"),
                         ("m5", "wi"), ("m6", "wi")):  # fmt: skip
        room.enrol(person, role)
    ceremony = room.ceremony("ceremony.found", ("m1", "m3", "m5"))
    err = room.refused("ceremony", "found", "--ceremony", ceremony)
    assert "the roster was founded already (audit seq" in err and "(DPS 4.2.1)" in err
    assert not (room.home / "ceremony" / "roster").exists()
    # A copy of the new draft written as version 1 by hand is not the founding roster.
    draft = json.loads((room.home / "ceremony" / "roster-draft.json").read_text())
    start = json.loads((room.home / "ceremony" / f"{ceremony}.json").read_text())
    (room.home / "ceremony" / "roster").mkdir()
    (room.home / "ceremony" / "roster" / "0001.json").write_text(
        json.dumps({"roster": draft, "ceremony": start})
    )
    err = room.refused("ceremony", "roster")
    assert "is not the founding roster: its SHA-256 is" in err


def test_status_shows_the_roster_open_ceremonies_and_records_to_sign(room: Room) -> None:
    """STYLE 4: a ceremony waiting for people is a visible state, not a silent wait."""
    ceremony = room.ceremony("keys.generate", ("amy", "ben", "cy"), "role=zsk")
    waiting = room.start("keys.rollover", "role=ksk", "emergency=no")
    room.approve(waiting, "amy")
    out = room.ok("status")
    assert "ceremonies      roster version 1 (" in out
    assert f"ceremony open   {waiting} keys.rollover: approved by amy;" in out
    assert f"ceremony open   {ceremony} keys.generate: approved by amy, ben, cy" in out
    room.ok("keys", "generate", "--role", "zsk", "--ceremony", ceremony)
    out = room.ok("status")
    assert f"ceremony open   {ceremony}" not in out  # used
    assert f"ceremony record {ceremony}: waiting for the signature of amy, ben, cy" in out
    (room.home / "ceremony" / "roster" / "0001.json").write_text("{}")
    assert "ROSTER NOT VERIFIED" in room.ok("status")


def test_an_expired_window_and_an_unsigned_roster_are_refused(room: Room) -> None:
    ceremony = room.ceremony("keys.generate", ("amy", "ben", "cy"), "role=zsk")
    path = room.home / "ceremony" / f"{ceremony}.json"
    data = json.loads(path.read_text())
    data["created"], data["expires"] = "2026-01-01T00:00:00+00:00", "2026-01-01T01:00:00+00:00"
    path.write_text(json.dumps(data))
    err = room.refused("keys", "generate", "--role", "zsk", "--ceremony", ceremony)
    assert "is valid from 2026-01-01 00:00:00 until 2026-01-01 01:00:00, not at" in err
    assert "start a new ceremony" in err
    version = room.home / "ceremony" / "roster" / "0001.json"
    data = json.loads(version.read_text())
    data["ceremony"]["approvals"] = []
    version.write_text(json.dumps(data))
    err = room.refused("ceremony", "roster")
    assert (
        "roster version 1" in err and "(edited or unsigned?)" in err and "approved by nobody" in err
    )
