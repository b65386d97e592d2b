"""Backed up before use under the built-in ``dps`` policy (DPS 5.2.4), through the
commands an operator runs on a real SoftHSM2 token: the first keys of ``tldsec init
--policy dps`` neither enter the zone nor sign until ``tldsec backup keys`` has written
and checked an archive under the SMK; then a cycle publishes them. The standby ZSK that
cycle makes waits in turn, until the next archive (by hand, or by the cycle itself with
``[backup] smk``). Every DNSKEY in a distributed zone, and every key that signed it,
has a checked backup."""

from __future__ import annotations

import json
from pathlib import Path

import dns.rdatatype
import dns.zone
from dns.dnssec import key_id

from tests.distribute.homes import tldsec, zone_home
from tests.fixtures.dps_backup import back_up_keys, make_smk
from tldsec.settings import CONFIG_NAME

PIN, SO_PIN = "officer-user-pin-31", "officer-so-pin-42"


def officer_files(folder: Path) -> tuple[Path, Path]:
    folder.mkdir(mode=0o700)
    files = []
    for name, value in (("pin", PIN), ("so-pin", SO_PIN)):
        path = folder / name
        path.write_text(value + "\n")
        path.chmod(0o600)
        files.append(path)
    return files[0], files[1]


def keys(home: Path) -> list[dict[str, object]]:
    out = tldsec("keys", "list", "--home", str(home), "--json")
    return list(json.loads(out.stdout))


def zone_tags(home: Path) -> tuple[set[int], set[int]]:
    """The distributed zone's DNSKEY tags and the tags of the keys that signed it."""
    dist = zone_home(home).dist
    serial = (dist / "current").read_text().strip()
    zone = dns.zone.from_file(str(dist / f"{serial}.zone"), origin="example.", relativize=False)
    published: set[int] = set()
    signers: set[int] = set()
    for _, node in zone.nodes.items():
        for rdataset in node.rdatasets:
            if rdataset.rdtype == dns.rdatatype.DNSKEY:
                published |= {key_id(r) for r in rdataset}
            elif rdataset.rdtype == dns.rdatatype.RRSIG:
                signers |= {r.key_tag for r in rdataset}
    return published, signers


def cycle(home: Path, pin: Path, *, check: bool = True) -> str:
    out = tldsec("cycle", "--home", str(home), "--pin-file", str(pin), check=check)
    return out.stdout + out.stderr


def test_under_the_dps_policy_no_key_signs_before_its_checked_backup(tmp_path: Path) -> None:
    pin, so_pin = officer_files(tmp_path / "officer")
    home = tmp_path / "home"
    out = tldsec("init", "--home", str(home), "--origin", "example", "--policy", "dps",
                 "--pin-file", str(pin), "--so-pin-file", str(so_pin))  # fmt: skip
    assert "policy dps" in out.stdout and "wait for a backup" in out.stdout
    assert "backup keys" in out.stdout
    with open(home / CONFIG_NAME, "a", encoding="utf-8") as f:
        f.write("\n[cycle]\nworkers = 1\n[verify]\nexternal = []\n")
    tldsec("db", "upgrade", "--home", str(home))
    first = keys(home)
    assert len(first) == 2 and all(k["backed_up"] is None for k in first)
    assert all(k["state"] == "generated" and k["published"] is None for k in first)
    plan = tldsec("keys", "plan", "--home", str(home), "--pin-file", str(pin)).stdout
    assert "backup" in plan

    # No backup: the cycle neither publishes nor signs with them, and distributes nothing.
    failed = tldsec("cycle", "--home", str(home), "--pin-file", str(pin), check=False)
    assert failed.returncode != 0 and "no active ksk" in failed.stderr
    assert not (zone_home(home).dist / "current").exists()
    assert all(k["published"] is None and k["active"] is None for k in keys(home))

    # An SMK alone is no backup.
    holders = tmp_path / "holders"
    check = make_smk(home, so_pin, holders)
    assert tldsec("cycle", "--home", str(home), "--pin-file", str(pin), check=False).returncode
    assert all(k["published"] is None for k in keys(home))

    # The archive written and checked: the next cycle publishes and signs with them.
    done = back_up_keys(home, pin, check, holders / "first.json")
    assert "2 backed up for the first time" in done
    cycle(home, pin)
    now = {str(k["key_id"]): k for k in keys(home)}
    backed = {int(str(k["key_tag"])) for k in now.values() if k["backed_up"] is not None}
    published, signers = zone_tags(home)
    assert {int(str(k["key_tag"])) for k in first} == published == signers
    assert published <= backed
    # The standby ZSK that cycle made has no backup yet: it waits out of the zone.
    standby = [k for k in now.values() if k["backed_up"] is None]
    assert len(standby) == 1 and standby[0]["role"] == "zsk"
    assert standby[0]["state"] == "generated"
    cycle(home, pin)
    assert int(str(standby[0]["key_tag"])) not in zone_tags(home)[0]

    # With [backup] smk the cycle archives it itself, checks it, and then publishes it.
    with open(home / CONFIG_NAME, "a", encoding="utf-8") as f:
        f.write(f'\n[backup]\nsmk = "{check}"\n')
    cycle(home, pin)
    final = keys(home)
    assert all(k["backed_up"] is not None for k in final)
    published, signers = zone_tags(home)
    assert int(str(standby[0]["key_tag"])) in published
    assert published <= {int(str(k["key_tag"])) for k in final if k["backed_up"] is not None}
    assert list((home / "backups").glob("*"))  # the cycle's own archive
