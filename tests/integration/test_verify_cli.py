"""``tldsec verify``: exit status 0 only if every check passed, the human summary and the
JSON report, and ``--gate --publish-to`` publishing only a zone that passed; with a
home, the [verify] table chooses the validators and the home's SoftHSM2 token serves
the second implementation."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tldsec.cli.init import _derived_policy_text
from tldsec.cli.main import main
from tldsec.dnscore import rdata
from tldsec.dnscore.dnskey import ds_rdata
from tldsec.dnscore.types import RRType
from tldsec.dnscore.zonefile import read_zone_text, write_zone_atomic
from tldsec.hsm.base import KeyStore, KeyStoreSpec
from tldsec.hsm.memory import MemoryKeyStore, forget_named_store
from tldsec.hsm.pkcs11 import Pkcs11KeyStore
from tldsec.policy import Algorithm, load_policy
from tldsec.signconf import SigningConfig, ZoneKey
from tldsec.signer import sign_zone

UNSIGNED = """\
$ORIGIN example.
$TTL 86400
@ SOA a.nic hostmaster.nic 2024010100 1800 900 1209600 3600
@ NS a.nic
@ NS b.nic
a.nic A 192.0.2.1
b.nic A 192.0.2.2
secure NS ns1.secure
secure DS 12345 8 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE3AC2D9F6D8E8A0C04E2A85E1
ns1.secure A 192.0.2.53
insecure NS ns.hoster.net.
"""


def _sign(store: KeyStore, tmp_path: Path) -> tuple[Path, Path, Path]:
    """Signed zone, unsigned zone and DS anchor files, signed now with ``store``'s keys."""
    ksk = store.generate_key(label="ksk", algorithm=Algorithm.RSASHA256, bits=2048)
    zsk = store.generate_key(label="zsk", algorithm=Algorithm.RSASHA256, bits=1024)
    keys = (
        ZoneKey(ksk.key_id, 257, ksk.algorithm, ksk.public_key, True, True, False),
        ZoneKey(zsk.key_id, 256, zsk.algorithm, zsk.public_key, True, False, True),
    )
    config = SigningConfig.from_policy(load_policy(), keys)
    zone = sign_zone(read_zone_text(UNSIGNED, "example."), config, store, datetime.now(UTC)).zone
    signed = tmp_path / "example.signed"
    write_zone_atomic(zone, signed)
    unsigned = tmp_path / "example.zone"
    unsigned.write_text(UNSIGNED)
    anchor = tmp_path / "example.ds"
    ds = ds_rdata(zone.origin, keys[0].dnskey_rdata, 2)
    anchor.write_text(f"example. 86400 IN DS {rdata.to_text(RRType.DS, ds)}\n")
    return signed, unsigned, anchor


@pytest.fixture
def files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    # No home: the verifier runs on the zone, the anchor and the built-in policy alone.
    monkeypatch.delenv("TLDSEC_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    name = f"cli-{uuid.uuid4().hex}"
    try:
        return _sign(MemoryKeyStore(name), tmp_path)
    finally:
        forget_named_store(name)


def _corrupt(signed: Path) -> None:
    text = signed.read_text()
    signed.write_text(text.replace("\tNS\tns.hoster.net.", "\tNS\tns.evil.net.", 1))


def test_a_valid_zone_exits_0_with_a_summary_and_a_json_report(
    files: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    signed, unsigned, anchor = files
    out = tmp_path / "report.json"
    code = main(
        [
            "verify",
            str(signed),
            "--origin",
            "example",
            "--trust-anchor",
            str(anchor),
            "--unsigned",
            str(unsigned),
            "--json",
            str(out),
        ]
    )
    text = capsys.readouterr().out
    assert code == 0, text
    assert text.splitlines()[0].endswith(" s") and ": PASSED in " in text
    assert "[ok  ] external:ldns-verify-zone" in text
    assert "[skip] second-implementation" in text  # no home, no key store
    doc = json.loads(out.read_text())
    assert doc["passed"] is True and doc["serial"] == 2024010100
    assert {c["name"] for c in doc["checks"]} >= {"signatures", "nsec3", "external:kzonecheck"}


def test_a_failing_zone_exits_3_and_json_goes_to_stdout(
    files: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    signed, unsigned, anchor = files
    _corrupt(signed)
    code = main(
        [
            "verify",
            str(signed),
            "--origin",
            "example.",
            "--trust-anchor",
            str(anchor),
            "--unsigned",
            str(unsigned),
            "--no-external",
            "--json",
            "-",
        ]
    )
    assert code == 3  # integrity (docs/operations.md)
    doc = json.loads(capsys.readouterr().out)
    assert doc["failed_checks"] == ["content"]
    [finding] = next(c for c in doc["checks"] if c["name"] == "content")["findings"]
    assert finding["owner"] == "insecure.example." and finding["type"] == "NS"


def test_the_gate_publishes_only_a_zone_that_passed(
    files: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    signed, unsigned, anchor = files
    target = tmp_path / "published.zone"
    args = [
        "verify",
        str(signed),
        "--origin",
        "example.",
        "--trust-anchor",
        str(anchor),
        "--unsigned",
        str(unsigned),
        "--no-external",
        "--gate",
        "--publish-to",
        str(target),
    ]
    assert main(args) == 0
    assert "gate: published to" in capsys.readouterr().out
    good = target.read_bytes()
    assert good == signed.read_bytes()
    _corrupt(signed)
    assert main(args) == 3
    assert "gate: NOT published" in capsys.readouterr().out
    assert target.read_bytes() == good


def test_gate_and_publish_to_go_together(
    files: tuple[Path, Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    signed, _, anchor = files
    code = main(
        ["verify", str(signed), "--origin", "example.", "--trust-anchor", str(anchor), "--gate"]
    )
    assert code == 1
    assert "--gate and --publish-to go together" in capsys.readouterr().err


def test_a_home_chooses_validators_and_lends_its_token_to_the_second_implementation(
    softhsm_spec: KeyStoreSpec,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("TLDSEC_TEST_PIN", softhsm_spec.pin or "")
    # A home that keeps its PIN in the environment: not the dps policy (DPS 4.2.4).
    (home / "policy.toml").write_text(_derived_policy_text("test", file=False))
    (home / "tldsec.toml").write_text(
        f"""
[zone]
origin = "example."

[policy]
file = "policy.toml"

[keystore]
backend = "pkcs11"
module = "{softhsm_spec.module}"
token_label = "{softhsm_spec.token_label}"
pin_source = "env:TLDSEC_TEST_PIN"
softhsm2_conf = "{softhsm_spec.softhsm2_conf}"

[verify]
external = ["kzonecheck"]
second_sample = "all"
"""
    )
    store = Pkcs11KeyStore(softhsm_spec)
    try:
        signed, unsigned, anchor = _sign(store, tmp_path)
    finally:
        store.close()
    code = main(
        [
            "verify",
            "--home",
            str(home),
            str(signed),
            "--trust-anchor",
            str(anchor),
            "--unsigned",
            str(unsigned),
            "--json",
            "-",
        ]
    )
    doc = json.loads(capsys.readouterr().out)
    assert code == 0, doc
    checks = {c["name"]: c for c in doc["checks"]}
    assert checks["second-implementation"]["status"] == "passed"
    assert "re-signed all " in checks["second-implementation"]["notes"][0]
    assert [n for n in checks if n.startswith("external:")] == ["external:kzonecheck"]
