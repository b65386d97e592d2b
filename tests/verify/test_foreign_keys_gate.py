"""The gate during an operator transfer (keys/transfer.py): another operator's DNSKEYs,
whose private keys we never hold, pass only as the signing configuration's recorded
foreign keys; the same DNSKEY appearing in the signed file without that record is a
stray and refused, and so is a foreign key that signs our copy."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from tldsec.dnscore import rdata
from tldsec.dnscore.dnskey import ds_rdata
from tldsec.dnscore.types import RRType
from tldsec.dnscore.zonefile import read_zone_text, write_zone_atomic
from tldsec.hsm.memory import MemoryKeyStore
from tldsec.policy import Algorithm, load_policy
from tldsec.signconf import SigningConfig, ZoneKey
from tldsec.signer import sign_zone
from tldsec.verify.coverage import ExpectedSigners
from tldsec.verify.driver import verify_zone
from tldsec.verify.options import VerifyOptions, VerifyRequest

RSA = Algorithm.RSASHA256
ZONE = (
    "$ORIGIN example.\n$TTL 86400\n@ SOA a.nic h.nic 1 1800 900 1209600 3600\n@ NS a.nic\n"
    "a.nic A 192.0.2.1\nd NS ns.x.net.\nd DS 1 8 2 " + "AB" * 32 + "\n"
)


def test_recorded_foreign_keys_pass_and_a_stray_dnskey_is_refused(tmp_path: Path) -> None:
    ours, theirs = MemoryKeyStore(), MemoryKeyStore()  # theirs: the gaining operator's HSM
    ksk = ours.generate_key(label="ksk", algorithm=RSA, bits=2048)
    zsk = ours.generate_key(label="zsk", algorithm=RSA, bits=1024)
    their_ksk = theirs.generate_key(label="their-ksk", algorithm=RSA, bits=2048)
    their_zsk = theirs.generate_key(label="their-zsk", algorithm=RSA, bits=1024)
    foreign = (
        ZoneKey("foreign:1", 257, RSA, their_ksk.public_key, True, False, False),
        ZoneKey("foreign:2", 256, RSA, their_zsk.public_key, True, False, False),
    )
    keys = (
        ZoneKey(ksk.key_id, 257, RSA, ksk.public_key, True, True, False),
        ZoneKey(zsk.key_id, 256, RSA, zsk.public_key, True, False, True),
        *foreign,
    )
    policy = load_policy()
    config = SigningConfig.from_policy(policy, keys)
    now = datetime.now(UTC).replace(microsecond=0)
    zone = sign_zone(read_zone_text(ZONE, "example."), config, ours, now).zone
    signed = tmp_path / "z.signed"
    write_zone_atomic(zone, signed)
    text = signed.read_text()
    assert text.count("\tDNSKEY\t") == 4
    anchor = tmp_path / "ds"
    ds = ds_rdata(zone.origin, keys[0].dnskey_rdata, 2)
    anchor.write_text(f"example. 86400 IN DS {rdata.to_text(RRType.DS, ds)}\n")
    request = VerifyRequest(signed, "example.", anchor)
    options = VerifyOptions(
        policy=policy,
        external=("ldns-verify-zone",),
        second_sample=None,
        expected=ExpectedSigners.from_config(config),
    )
    # Our key store holds no private key for them; the gate (the second implementation
    # through the store included) passes them as recorded foreign keys.
    report = verify_zone(request, options, now, keystore=ours)
    assert report.passed, report.summary()

    # The same file under a configuration that does not record them: a stray DNSKEY.
    unrecorded = SigningConfig.from_policy(policy, keys[:2])
    stray = verify_zone(
        request,
        replace(options, expected=ExpectedSigners.from_config(unrecorded)),
        now,
        keystore=ours,
    )
    assert "coverage" in stray.failed_checks
    reasons = " ".join(f.reason for f in stray.check("coverage").findings)
    assert "is published but should not be" in reasons

    # A DNSKEY recorded as foreign that signs our copy is refused: a recorded foreign
    # key has no signing duty (here its private key is in the store that signs).
    store = MemoryKeyStore()
    k = store.generate_key(label="ksk", algorithm=RSA, bits=2048)
    z = store.generate_key(label="zsk", algorithm=RSA, bits=1024)
    x = store.generate_key(label="x", algorithm=RSA, bits=1024)
    ours_only = (
        ZoneKey(k.key_id, 257, RSA, k.public_key, True, True, False),
        ZoneKey(z.key_id, 256, RSA, z.public_key, True, False, True),
    )
    recorded = SigningConfig.from_policy(
        policy, (*ours_only, ZoneKey("foreign:3", 256, RSA, x.public_key, True, False, False))
    )
    signs = SigningConfig.from_policy(
        policy, (*ours_only, ZoneKey(x.key_id, 256, RSA, x.public_key, True, False, True))
    )
    path = tmp_path / "z2.signed"
    write_zone_atomic(sign_zone(read_zone_text(ZONE, "example."), signs, store, now).zone, path)
    anchor2 = tmp_path / "ds2"
    ds2 = ds_rdata(zone.origin, ours_only[0].dnskey_rdata, 2)
    anchor2.write_text(f"example. 86400 IN DS {rdata.to_text(RRType.DS, ds2)}\n")
    refused = verify_zone(
        VerifyRequest(path, "example.", anchor2),
        replace(options, expected=ExpectedSigners.from_config(recorded)),
        now,
        keystore=store,
    )
    assert "coverage" in refused.failed_checks
    reasons = " ".join(f.reason for f in refused.check("coverage").findings)
    assert "no zone-signing duty" in reasons
