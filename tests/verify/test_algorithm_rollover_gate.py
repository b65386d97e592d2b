"""The gate during an algorithm rollover (RFC 6781 4.1.4): a zone signed by keys of two
algorithms, the new ones not yet published, passes only with the signing configuration
that names them, only for a policy not named dps, and only if their signatures verify."""

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

P256 = Algorithm.ECDSAP256SHA256
ZONE = (
    "$ORIGIN example.\n$TTL 86400\n@ SOA a.nic h.nic 1 1800 900 1209600 3600\n@ NS a.nic\n"
    "a.nic A 192.0.2.1\nd NS ns.x.net.\nd DS 1 8 2 " + "AB" * 32 + "\n"
)


def test_presigning_keys_pass_with_the_configuration_that_names_them(tmp_path: Path) -> None:
    store = MemoryKeyStore()
    k8 = store.generate_key(label="k8", algorithm=Algorithm.RSASHA256, bits=2048)
    z8 = store.generate_key(label="z8", algorithm=Algorithm.RSASHA256, bits=1024)
    k13 = store.generate_key(label="k13", algorithm=P256, bits=256)
    z13 = store.generate_key(label="z13", algorithm=P256, bits=256)
    keys = (
        ZoneKey(k8.key_id, 257, k8.algorithm, k8.public_key, True, True, False),
        ZoneKey(z8.key_id, 256, z8.algorithm, z8.public_key, True, False, True),
        ZoneKey(k13.key_id, 257, P256, k13.public_key, False, True, False, True),
        ZoneKey(z13.key_id, 256, P256, z13.public_key, False, False, True, True),
    )
    dps = load_policy()
    lab = replace(
        dps,
        name="lab",
        ksk=replace(dps.ksk, algorithm=P256, bits=256),
        zsk=replace(dps.zsk, algorithm=P256, bits=256),
    )
    config = SigningConfig.from_policy(lab, keys)
    now = datetime.now(UTC).replace(microsecond=0)
    zone = sign_zone(read_zone_text(ZONE, "example."), config, store, now).zone
    signed = tmp_path / "z.signed"
    write_zone_atomic(zone, signed)
    anchor = tmp_path / "ds"
    ds = ds_rdata(zone.origin, keys[0].dnskey_rdata, 2)
    anchor.write_text(f"example. 86400 IN DS {rdata.to_text(RRType.DS, ds)}\n")
    request = VerifyRequest(signed, "example.", anchor)
    options = VerifyOptions(
        policy=lab,
        external=("ldns-verify-zone",),
        second_sample=None,
        expected=ExpectedSigners.from_config(config),
    )
    report = verify_zone(request, options, now, keystore=store)
    assert report.passed, report.summary()

    # Without the configuration, RRSIGs by keys the zone does not publish are unverifiable
    # and the RSA keys break the lab policy's algorithm.
    blind = verify_zone(request, replace(options, expected=None), now, keystore=store)
    assert {"dnskey", "signatures"} <= set(blind.failed_checks)
    # The dps policy never allows a second algorithm (DPS 6.3: RSA/SHA-256 signatures
    # only), configuration or not.
    under_dps = verify_zone(request, replace(options, policy=dps), now, keystore=store)
    assert "signatures" in under_dps.failed_checks
    reasons = " ".join(f.reason for f in under_dps.check("signatures").findings)
    assert "algorithm 13" in reasons

    # A presigning key's bad signature is refused like any other.
    lines = signed.read_text().splitlines(keepends=True)
    for i, line in enumerate(lines):
        if "\tRRSIG\tSOA 13 " in line:
            lines[i] = line[:-6] + ("A" if line[-6] != "A" else "B") + line[-5:]
            break
    signed.write_text("".join(lines))
    bad = verify_zone(request, options, now, keystore=store)
    assert "signatures" in bad.failed_checks and "second-implementation" in bad.failed_checks
