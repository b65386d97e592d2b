"""``tldsec keys rollover --emergency`` on real SoftHSM2 tokens keeps the gates of every
new key (issue 14; DPS 4.5.3 with 5.2.4 and 5.2.7): a replacement the second site's HSM
lacks is not introduced, a replacement without a checked archive waits, and the
command says which gate holds it; with ``[backup] smk`` it is archived and introduced in
the same run. The compromised key keeps its role meanwhile (never no usable key)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.test_backup_gate_cli import officer_files
from tests.cli.test_hsm_check import home_with_an_empty_replica
from tests.distribute.homes import tldsec
from tests.fixtures.dps_backup import back_up_keys, make_smk
from tldsec.settings import CONFIG_NAME


def keys(home: Path) -> list[dict[str, object]]:
    return list(json.loads(tldsec("keys", "list", "--home", str(home), "--json").stdout))


def in_zone(k: dict[str, object]) -> bool:
    return k["state"] in ("published", "active", "retired")


def test_a_replica_lacking_the_new_ksk_holds_it_out_and_the_command_says_so(
    tmp_path: Path,
) -> None:
    home = home_with_an_empty_replica(tmp_path / "home")
    before = {str(k["key_id"]) for k in keys(home)}
    out = tldsec("keys", "rollover", "--ksk", "--emergency", "--yes", "--reason", "breach",
                 "--home", str(home))  # fmt: skip
    (new,) = [k for k in keys(home) if str(k["key_id"]) not in before]
    assert new["role"] == "ksk" and new["state"] == "generated" and new["published"] is None
    line = next(x for x in out.stdout.splitlines() if x.startswith("the replacement "))
    assert f"ksk {new['key_tag']} waits for: replicas:" in line
    assert "replica site2 (missing)" in line
    # the compromised KSK still signs the DNSKEY RRset: the chain of trust holds
    old = [k for k in keys(home) if k["role"] == "ksk" and k["state"] == "active"]
    assert len(old) == 1 and old[0]["compromised"] is not None


def test_dps_emergency_zsk_waits_without_an_archive_and_is_archived_with_backup_smk(
    tmp_path: Path,
) -> None:
    pin, so_pin = officer_files(tmp_path / "officer")
    home = tmp_path / "home"
    tldsec("init", "--home", str(home), "--origin", "example", "--policy", "dps",
           "--pin-file", str(pin), "--so-pin-file", str(so_pin))  # fmt: skip
    with open(home / CONFIG_NAME, "a", encoding="utf-8") as f:
        f.write("\n[cycle]\nworkers = 1\n[verify]\nexternal = []\n")
    tldsec("db", "upgrade", "--home", str(home))
    holders = tmp_path / "holders"
    check = make_smk(home, so_pin, holders)
    back_up_keys(home, pin, check, holders / "first.json")
    tldsec("keys", "run", "--home", str(home), "--pin-file", str(pin))  # first keys in
    standby = [k for k in keys(home) if k["role"] == "zsk" and k["state"] == "generated"]
    assert len(standby) == 1 and standby[0]["backed_up"] is None  # unbacked: no standby

    # No [backup] smk: the new ZSK waits for its archive, and the command says so.
    out = tldsec("keys", "rollover", "--zsk", "--emergency", "--yes", "--reason", "leak",
                 "--home", str(home), "--pin-file", str(pin))  # fmt: skip
    assert "waits for: backup (no [backup] smk configured" in out.stdout
    now = keys(home)
    assert all(k["backed_up"] is not None for k in now if in_zone(k))
    signing = [k for k in now if k["role"] == "zsk" and k["state"] == "active"]
    assert len(signing) == 1 and signing[0]["compromised"] is not None  # still a ZSK

    # With [backup] smk the next emergency roll archives its key and introduces it now.
    with open(home / CONFIG_NAME, "a", encoding="utf-8") as f:
        f.write(f'\n[backup]\nsmk = "{check}"\n')
    before = {str(k["key_id"]) for k in keys(home)}
    ksk = tldsec("keys", "rollover", "--ksk", "--emergency", "--yes", "--reason", "breach",
                 "--home", str(home), "--pin-file", str(pin))  # fmt: skip
    assert "waits for" not in ksk.stdout
    after = keys(home)
    new = [k for k in after if str(k["key_id"]) not in before]
    assert [k["role"] for k in new] == ["ksk"]
    assert new[0]["backed_up"] is not None and new[0]["state"] == "published"
    assert all(k["backed_up"] is not None for k in after if in_zone(k))
    assert list((home / "backups").glob("*"))
