"""ECDSAP256SHA256 (algorithm 13, RFC 6605) end to end in the signer and the verifier.

A zone signed with P-256 keys made in a SoftHSM2 token, and one signed by the memory
store, pass every check of the gate: our signatures check, dnspython's second
implementation (ECDSA is randomised, so it validates rather than compares octets) and
the external validators (ldns-verify-zone and the others found); a changed signature is
refused by each of them. The policy is not ``dps``: DPS 6.1 says RSA/SHA-256, and a
policy named ``dps`` keeps refusing 13 (tests/test_policy.py).
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tldsec.dnscore import rdata
from tldsec.dnscore.dnskey import ds_rdata
from tldsec.dnscore.types import RRType
from tldsec.dnscore.zonefile import read_zone_text, write_zone_atomic
from tldsec.hsm.base import KeyStore
from tldsec.hsm.memory import MemoryKeyStore
from tldsec.hsm.open import open_keystore
from tldsec.hsm.pkcs11 import Pkcs11KeyStore
from tldsec.policy import Algorithm, Policy, load_policy
from tldsec.signconf import SigningConfig, ZoneKey
from tldsec.signer import sign_zone
from tldsec.verify.coverage import ExpectedSigners
from tldsec.verify.driver import verify_zone
from tldsec.verify.options import VerifyOptions, VerifyRequest
from tldsec.verify.report import Status
from tldsec.zonegate import gate

EXTERNAL = ("ldns-verify-zone", "dnssec-verify", "kzonecheck")
P256 = Algorithm.ECDSAP256SHA256


def ecdsa_policy() -> Policy:
    dps = load_policy()
    return replace(
        dps,
        name="ecdsa-lab",
        ksk=replace(dps.ksk, algorithm=P256, bits=256),
        zsk=replace(dps.zsk, algorithm=P256, bits=256),
    )


def zone_text(delegations: int) -> str:
    lines = [
        "$ORIGIN example.",
        "$TTL 86400",
        "@ SOA a.nic hostmaster.nic 2024010100 1800 900 1209600 3600",
        "@ NS a.nic",
        "@ NS b.nic",
        "a.nic A 192.0.2.1",
        "b.nic AAAA 2001:db8::2",
    ]
    for i in range(delegations):
        lines.append(f"d{i} NS ns{i % 40}.hoster.net.")
        if i % 5 == 0:
            lines.append(f"d{i} DS {i % 65536} 13 2 {i:064X}")
    return "\n".join(lines) + "\n"


def sign_and_gate(store: KeyStore, tmp_path: Path, workers: int) -> None:
    ksk = store.generate_key(label="ksk", algorithm=P256, bits=256)
    zsk = store.generate_key(label="zsk", algorithm=P256, bits=256)
    keys = (
        ZoneKey(ksk.key_id, 257, ksk.algorithm, ksk.public_key, True, True, False),
        ZoneKey(zsk.key_id, 256, zsk.algorithm, zsk.public_key, True, False, True),
    )
    policy = ecdsa_policy()
    config = SigningConfig.from_policy(policy, keys)
    now = datetime.now(UTC).replace(microsecond=0)
    text = zone_text(300)
    unsigned = tmp_path / "example.zone"
    unsigned.write_text(text)
    zone = sign_zone(read_zone_text(text, "example."), config, store, now, workers=workers).zone
    for rrset in zone.rrsets():
        for sig in rrset.sigs:
            assert sig[2] == 13
    candidate = tmp_path / "candidate.signed"
    write_zone_atomic(zone, candidate)
    anchor = tmp_path / "example.ds"
    ds = ds_rdata(zone.origin, keys[0].dnskey_rdata, 2)
    anchor.write_text(f"example. 86400 IN DS {rdata.to_text(RRType.DS, ds)}\n")
    published = tmp_path / "published.zone"
    options = VerifyOptions(
        policy=policy,
        external=EXTERNAL,
        second_sample=None,
        workers=workers,
        expected=ExpectedSigners.from_config(config),
    )
    request = VerifyRequest(candidate, "example.", anchor, unsigned=unsigned)
    opener = open_keystore if isinstance(store, Pkcs11KeyStore) else None

    result = gate(request, options, now, publish_to=published, keystore=store, opener=opener)
    assert result.passed, result.report.summary()
    passed = {c.name for c in result.report.checks if c.status is Status.PASSED}
    assert {"signatures", "dnskey", "second-implementation", "external:ldns-verify-zone"} <= passed

    # The same zone under the policy named dps: its keys break DPS 6.1 (RSA/SHA-256).
    under_dps = verify_zone(
        request, replace(options, policy=load_policy(), external=()), now, keystore=store
    )
    assert not under_dps.passed and "dnskey" in under_dps.failed_checks
    reasons = [f.reason for f in under_dps.check("dnskey").findings]
    assert any(
        "uses algorithm 13 (ECDSAP256SHA256); DPS 6.1 requires 8 (RSASHA256) for the KSK" in r
        for r in reasons
    ), reasons

    # One changed octet in one signature: refused by every validator, nothing published.
    good = published.read_bytes()
    lines = candidate.read_text().splitlines(keepends=True)
    for i, line in enumerate(lines):
        if "\tRRSIG\tDS " in line:
            lines[i] = line[:-6] + ("A" if line[-6] != "A" else "B") + line[-5:]
            break
    else:
        pytest.fail("no RRSIG over a DS in the signed zone")
    candidate.write_text("".join(lines))
    refused = gate(request, options, now, publish_to=published, keystore=store, opener=opener)
    assert not refused.passed
    failed = set(refused.report.failed_checks)
    assert {"signatures", "second-implementation", "external:ldns-verify-zone"} <= failed
    assert published.read_bytes() == good


def test_a_zone_signed_with_p256_keys_in_softhsm2_validates_and_a_bad_signature_is_refused(
    softhsm_store: Pkcs11KeyStore, tmp_path: Path
) -> None:
    sign_and_gate(softhsm_store, tmp_path, workers=2)


def test_a_zone_signed_with_p256_keys_in_the_memory_store_validates(tmp_path: Path) -> None:
    sign_and_gate(MemoryKeyStore(), tmp_path, workers=1)
