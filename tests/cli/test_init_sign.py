"""``tldsec init`` and ``tldsec sign`` as an operator runs them: one home, the embedded
defaults, clear one-line errors, and an output file that is never half-written."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tldsec.cli.main import main
from tldsec.errors import ConfigError
from tldsec.settings import load_settings

ZONE = """\
$ORIGIN example.
$TTL 86400
@ SOA a.nic hostmaster.nic 2024010100 1800 900 1209600 3600
@ NS a.nic
a.nic A 192.0.2.1
d1 NS ns.hoster.net.
d2 NS ns1.d2
ns1.d2 A 192.0.2.2
d2 DS 12345 13 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE3AC2D9F6D8E8A0C04E2A85E1
"""


@pytest.fixture(params=["pkcs11", "file"])
def home(
    request: pytest.FixtureRequest, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Path:
    home = tmp_path / "home"
    assert (
        main(["init", "--home", str(home), "--origin", "example", "--keystore", request.param]) == 0
    )
    out = capsys.readouterr().out
    assert "KSK 2048-bit" in out and "ZSK 1024-bit" in out
    return home


def sign(home: Path, zone: Path, out: Path, *extra: str) -> int:
    return main(["sign", "--home", str(home), str(zone), "-o", str(out), *extra])


def test_init_then_sign_gives_a_zone_ldns_accepts(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zone = tmp_path / "example.zone"
    zone.write_text(ZONE)
    out = tmp_path / "signed.zone"
    assert sign(home, zone, out, "--workers", "1") == 0
    summary = capsys.readouterr().out
    assert "signatures made" in summary and "0 reused" in summary
    check = subprocess.run(
        ["ldns-verify-zone", str(out)], capture_output=True, text=True, check=False, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr
    again = tmp_path / "signed2.zone"
    assert sign(home, zone, again, "--previous", str(out)) == 0
    assert " 0 signatures made" in capsys.readouterr().out


def test_sign_writes_the_zone_with_its_index_and_input_copy_only(
    home: Path, tmp_path: Path
) -> None:
    """No signature cache any more (decisions.md 39): the next run patches from these."""
    out = tmp_path / "out"
    out.mkdir()
    zone = tmp_path / "example.zone"
    zone.write_text(ZONE)
    assert sign(home, zone, out / "out.zone") == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "out.zone",
        "out.zone.index",
        "out.zone.unsigned",
    ]


def test_init_refuses_an_existing_home(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", "--home", str(home), "--origin", "example"]) == 1
    assert "already a tldsec home" in capsys.readouterr().err


def test_a_syntax_error_names_file_and_line_and_leaves_out_alone(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zone = tmp_path / "bad.zone"
    zone.write_text(ZONE + "d3 NS\n")
    out = tmp_path / "signed.zone"
    out.write_text("previous good zone\n")
    assert sign(home, zone, out) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"tldsec: error: {zone}:10: NS record without RDATA"
    assert out.read_text() == "previous good zone\n"


def test_a_content_error_is_one_clear_line(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    zone = tmp_path / "cname.zone"
    zone.write_text(ZONE + "@ CNAME elsewhere.net.\n")
    assert sign(home, zone, tmp_path / "out.zone") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "CNAME" in err and "Traceback" not in err


def test_a_missing_home_says_what_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert sign(tmp_path / "nohome", tmp_path / "z", tmp_path / "o") == 1
    assert "tldsec init" in capsys.readouterr().err


def test_a_wrong_pin_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home = tmp_path / "home"
    assert main(["init", "--home", str(home), "--origin", "example"]) == 0
    (home / "pin").write_text("0000\n")
    zone = tmp_path / "example.zone"
    zone.write_text(ZONE)
    capsys.readouterr()
    assert sign(home, zone, tmp_path / "out.zone") == 1
    err = capsys.readouterr().err
    assert "PIN" in err and "Traceback" not in err


def test_a_file_key_store_needs_a_policy_that_allows_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    assert main(["init", "--home", str(home), "--origin", "example", "--keystore", "file"]) == 0
    policy = home / "policy.toml"
    policy.write_text(
        policy.read_text().replace(
            'allowed_backends = ["pkcs11", "file"]', 'allowed_backends = ["pkcs11"]'
        )
    )
    zone = tmp_path / "example.zone"
    zone.write_text(ZONE)
    capsys.readouterr()
    assert sign(home, zone, tmp_path / "out.zone") == 1
    assert "not allowed by policy" in capsys.readouterr().err


def audit_events(home: Path, tmp_path: Path, prefix: str) -> list[dict[str, object]]:
    out = tmp_path / f"audit-{prefix}.jsonl"
    assert (
        main(
            [
                "audit",
                "export",
                "--home",
                str(home),
                "--event",
                prefix,
                "--format",
                "jsonl",
                "--output",
                str(out),
            ]
        )
        == 0
    )
    return [json.loads(line) for line in out.read_text().splitlines() if line.strip()]


def test_init_and_sign_leave_their_audit_trail(home: Path, tmp_path: Path) -> None:
    zone = tmp_path / "example.zone"
    zone.write_text(ZONE)
    assert sign(home, zone, tmp_path / "signed.zone", "--workers", "1") == 0
    generated = audit_events(home, tmp_path, "key.generated")
    assert len(generated) == 3  # KSK, ZSK, standby ZSK (DPS 4.4.1: key generation)
    (initialized,) = audit_events(home, tmp_path, "hsm.initialized")
    protection = initialized["details"]["key_protection"]  # type: ignore[index]
    backend = initialized["details"]["backend"]  # type: ignore[index]
    # SoftHSM2 keeps keys in it (DPS 5.2.5); a file key store says it is none
    assert protection.startswith("enforced" if backend == "pkcs11" else "none")
    (run,) = audit_events(home, tmp_path, "signer.run_completed")
    details = run["details"]
    # DNSKEY, SOA, NS, a.nic A, d2 DS, NSEC3PARAM and 5 NSEC3 (apex, nic, a.nic, d1, d2)
    assert isinstance(details, dict) and details["signatures_made"] == 11
    assert details["mode"] == "full" and "rrsets" in details and "owners" not in details


def test_a_failed_signing_run_is_recorded(home: Path, tmp_path: Path) -> None:
    zone = tmp_path / "cname.zone"
    zone.write_text(ZONE + "@ CNAME elsewhere.net.\n")
    assert sign(home, zone, tmp_path / "out.zone") == 1
    (failed,) = audit_events(home, tmp_path, "signer.run_failed")
    details = failed["details"]
    assert isinstance(details, dict) and "CNAME" in str(details["reason"])


def test_init_homes_that_store_a_pin_do_not_claim_the_dps_policy(home: Path) -> None:
    settings = load_settings(home)
    assert settings.policy.name in ("demo", "file-keys")
    assert settings.policy.activation == "stored"


def test_a_dps_policy_refuses_a_stored_pin(
    home: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = home / "tldsec.toml"
    config.write_text(config.read_text().replace('[policy]\nfile = "policy.toml"\n', ""))
    settings = load_settings(home)  # now the built-in dps policy
    if settings.keystore.backend == "file":
        with pytest.raises(ConfigError, match="not allowed by policy"):
            settings.keystore_spec()
        return
    with pytest.raises(ConfigError, match='set pin_source = "security-officer"'):
        settings.keystore_spec()


def test_status_warns_that_keys_are_on_disk(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["db", "upgrade", "--home", str(home)]) == 0
    capsys.readouterr()
    assert main(["status", "--home", str(home)]) == 0
    out = capsys.readouterr().out
    if load_settings(home).keystore.backend == "file":
        assert "WARNING         keys are on disk" in out
    else:
        assert "WARNING         policy 'demo' is not the production policy" in out
