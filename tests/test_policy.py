"""The DPS as data: the built-in policy carries the DPS's values; bad fields are named."""

from __future__ import annotations

import tomllib
from datetime import timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from tldsec.errors import KeyStoreError, PolicyError, PolicyViolation
from tldsec.hsm.rsakey import check_key_request
from tldsec.policy import RSA_MAX_BITS, Algorithm, load_policy, policy_from_dict


def dps_dict() -> dict[str, Any]:
    text = resources.files("tldsec.policies").joinpath("dps.toml").read_text("utf-8")
    return tomllib.loads(text)


def test_builtin_policy_has_the_dps_values() -> None:
    p = load_policy()
    # DPS 6.1
    assert (p.ksk.algorithm, p.ksk.bits) == (Algorithm.RSASHA256, 2048)
    assert (p.zsk.algorithm, p.zsk.bits) == (Algorithm.RSASHA256, 1024)
    # DPS 6.4
    assert (p.zsk.lifetime, p.zsk.prepublish, p.zsk.postpublish) == (
        timedelta(days=90),
        timedelta(days=7),
        timedelta(days=7),
    )
    assert p.zsk.emergency_postpublish == timedelta(days=2)
    assert (p.ksk.lifetime, p.ksk.prepublish, p.ksk.postpublish) == (
        timedelta(days=365),
        timedelta(days=30),
        timedelta(days=30),
    )
    assert p.ksk.emergency_postpublish == timedelta(days=7)
    # DPS 6.2, RFC 9276
    assert (p.denial.opt_out, p.denial.nsec3_iterations, p.denial.nsec3_salt) == (False, 0, b"")
    # DPS 6.5
    assert (p.signatures.validity_min, p.signatures.validity_max) == (
        timedelta(days=6),
        timedelta(days=8),
    )
    # DPS 6.7
    t = p.ttl
    assert (t.soa, t.dnskey, t.ns, t.a, t.aaaa, t.ds, t.nsec3) == (
        86400,
        43200,
        86400,
        86400,
        86400,
        86400,
        3600,
    )
    # DPS 5.2: an HSM only
    assert p.allowed_backends == frozenset({"pkcs11"})


@pytest.mark.parametrize(
    ("path", "value", "field", "words"),
    [
        (("ksk", "algorithm"), 99, "ksk.algorithm", "not one tldsec signs with"),
        (("zsk", "bits"), 512, "zsk.bits", "at least 1024"),
        (("denial", "opt_out"), True, "denial.opt_out", "without opt-out"),
        (("denial", "nsec3_salt"), "xyz", "denial.nsec3_salt", "not hexadecimal"),
        (("denial", "nsec3_iterations"), 500, "denial.nsec3_iterations", "outside"),
        (("signatures", "validity_max_days"), 5, "signatures.validity_max_days", "jitter"),
        (("signatures", "refresh_days"), 6, "signatures.refresh_days", "no reuse"),
        (("ttl", "ns"), -1, "ttl.ns", "outside"),
        (("keystore", "allowed_backends"), ["cloud"], "keystore.allowed_backends", "unknown"),
        (("ds", "digest_types"), [3], "ds.digest_types", "unknown digest"),
        (("ds", "algorithms"), [9], "ds.algorithms", "not an assigned"),
        (("zsk", "prepublish_days"), 90, "zsk.prepublish_days", "shorter than"),
        (("zsk", "bits"), "1024", "zsk.bits", "integer"),
    ],
)
def test_an_invalid_field_is_refused_by_name(
    path: tuple[str, str], value: object, field: str, words: str
) -> None:
    data = dps_dict()
    data[path[0]][path[1]] = value
    with pytest.raises(PolicyError) as err:
        policy_from_dict(data)
    assert err.value.field == field
    assert words in str(err.value)


def test_a_missing_field_is_named() -> None:
    data = dps_dict()
    del data["ttl"]["dnskey"]
    with pytest.raises(PolicyError, match=r"'ttl\.dnskey': is missing"):
        policy_from_dict(data)


def test_a_misspelt_field_is_named() -> None:
    data = dps_dict()
    data["zsk"]["lifetme_days"] = 90
    with pytest.raises(PolicyError, match=r"zsk\.lifetme_days"):
        policy_from_dict(data)


def test_a_policy_file_that_is_not_toml_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "p.toml"
    bad.write_text("[ksk\n")
    with pytest.raises(PolicyError, match=str(bad)):
        load_policy(bad)


def test_backup_before_use_is_a_keystore_flag_off_in_older_policies() -> None:
    data = dps_dict()
    data["name"] = "older"
    del data["keystore"]["backup_before_use"]
    assert policy_from_dict(data).backup_before_use is False  # written before the flag
    data["keystore"]["backup_before_use"] = True
    assert policy_from_dict(data).backup_before_use is True
    data["keystore"]["backup_before_use"] = "yes"
    with pytest.raises(PolicyError, match=r"keystore\.backup_before_use.*true or false"):
        policy_from_dict(data)


def test_the_dps_backs_keys_up_before_use() -> None:
    """DPS 5.2.4 (Private Key Backup): the built-in policy keeps a key out of the zone
    until a checked archive under the SMK holds it; a policy named dps may not switch
    that off, nor leave it out; another name may (tldsec init's demo homes)."""
    assert load_policy().backup_before_use is True
    data = dps_dict()
    data["keystore"]["backup_before_use"] = False
    with pytest.raises(PolicyError, match=r"keystore\.backup_before_use = false.*DPS 5\.2\.4"):
        policy_from_dict(data)
    del data["keystore"]["backup_before_use"]
    with pytest.raises(PolicyError, match=r"keystore\.backup_before_use"):
        policy_from_dict(data)
    data["name"] = "demo"
    assert policy_from_dict(data).backup_before_use is False


def test_reserved_labels_are_optional_and_checked() -> None:
    """[registry] reserved_labels (ICANN RA Specification 5): the Specification's names
    when a policy file predates the key; each entry one lower-case LDH label."""
    assert load_policy().reserved_labels == ("iana", "nic", "rdap", "whois", "www")
    data = dps_dict()
    del data["registry"]
    assert policy_from_dict(data).reserved_labels == ("iana", "nic", "rdap", "whois", "www")
    data["registry"] = {"reserved_labels": ["nic", "example"]}
    assert policy_from_dict(data).reserved_labels == ("example", "nic")
    for bad in (["Nic"], ["a.b"], ["nic\n"], "nic"):
        data["registry"] = {"reserved_labels": bad}
        with pytest.raises(PolicyError, match=r"registry\.reserved_labels"):
            policy_from_dict(data)


def test_the_dps_policy_keeps_the_pin_with_the_security_officer() -> None:
    # DPS 4.2.4: "Security Officers hold credentials for HSM activation."
    assert load_policy().activation == "security-officer"
    data = dps_dict()
    data["keystore"]["activation"] = "stored"
    with pytest.raises(PolicyError, match=r"keystore\.activation.*Security Officers hold"):
        policy_from_dict(data)
    data["name"] = "demo"  # the same under another name: a demo may store its PIN
    assert policy_from_dict(data).activation == "stored"
    data["keystore"]["activation"] = "anyone"
    with pytest.raises(PolicyError, match="not one of"):
        policy_from_dict(data)


def test_ecdsa_p256_is_256_bits_and_only_outside_the_dps_policy() -> None:
    """RFC 6605: algorithm 13 has the curve's size; DPS 6.1 says RSA/SHA-256, so only a
    policy with another name may sign with 13 (the gate checks the same, verify/)."""
    data = dps_dict()
    data["name"] = "ecdsa-lab"
    for role in ("ksk", "zsk"):
        data[role]["algorithm"], data[role]["bits"] = 13, 256
    policy = policy_from_dict(data)
    assert (policy.ksk.algorithm, policy.zsk.bits) == (Algorithm.ECDSAP256SHA256, 256)
    data["zsk"]["bits"] = 1024
    with pytest.raises(PolicyError, match="algorithm 13 keys are 256 bits") as err:
        policy_from_dict(data)
    assert err.value.field == "zsk.bits"
    data["zsk"]["bits"], data["name"] = 256, "dps"
    with pytest.raises(PolicyViolation, match=r"ksk\.algorithm = 13.*DPS 6\.1, 6\.3"):
        policy_from_dict(data)


@pytest.mark.parametrize("role", ["ksk", "zsk"])
def test_an_rsa_key_size_no_key_store_makes_is_refused_naming_file_key_and_limit(
    tmp_path: Path, role: str
) -> None:
    """The policy file is where the size is written, so it is refused there, not at
    key generation mid-ceremony (decision 83 item 2); the limit is the key stores' own."""
    text = resources.files("tldsec.policies").joinpath("dps.toml").read_text("utf-8")
    head, _, tail = text.replace('name = "dps"', 'name = "big"').partition(f"\n[{role}]")
    path = tmp_path / "big.toml"
    bits = "bits = 2048" if role == "ksk" else "bits = 1024"
    path.write_text(f"{head}\n[{role}]{tail.replace(bits, 'bits = 8192', 1)}", "utf-8")
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    assert err.value.field == f"{role}.bits"
    assert str(path) in str(err.value) and "8192" in str(err.value)
    assert f"at most {RSA_MAX_BITS}" in str(err.value)
    path.write_text(f"{head}\n[{role}]{tail.replace(bits, 'bits = 4096', 1)}", "utf-8")
    assert getattr(load_policy(path), role).bits == 4096  # the largest the stores make


def test_the_policy_limit_is_the_key_stores_limit() -> None:
    with pytest.raises(KeyStoreError, match=f"outside 512..{RSA_MAX_BITS} bits"):
        check_key_request(Algorithm.RSASHA256, RSA_MAX_BITS + 8)
    assert check_key_request(Algorithm.RSASHA256, RSA_MAX_BITS) is Algorithm.RSASHA256
