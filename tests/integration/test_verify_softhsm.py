"""The verifier on a zone signed through a real SoftHSM2 token: every check passes,
including the second implementation (dnspython signing through the same token, one
session per worker) and the external validators; a corrupted copy is refused by the
gate and the last good zone stays published."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from tldsec.dnscore import rdata
from tldsec.dnscore.dnskey import ds_rdata
from tldsec.dnscore.types import RRType
from tldsec.dnscore.zonefile import read_zone_text, write_zone_atomic
from tldsec.hsm.open import open_keystore
from tldsec.hsm.pkcs11 import Pkcs11KeyStore
from tldsec.policy import Algorithm, load_policy
from tldsec.signconf import SigningConfig, ZoneKey
from tldsec.signer import sign_zone
from tldsec.verify.coverage import ExpectedSigners
from tldsec.verify.driver import verify_zone
from tldsec.verify.options import VerifyOptions, VerifyRequest
from tldsec.verify.report import Status
from tldsec.verify.workers import PARALLEL_MIN_ITEMS
from tldsec.zonegate import gate

EXTERNAL = ("ldns-verify-zone", "dnssec-verify", "kzonecheck")


def _zone(delegations: int) -> str:
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
        if i % 7 == 0:
            lines.append(f"d{i} NS ns1.d{i}")
            lines.append(f"ns1.d{i} A 192.0.2.{i % 250 + 1}")
        if i % 5 == 0:
            lines.append(f"d{i} DS {i % 65536} 8 2 {i:064X}")
    return "\n".join(lines) + "\n"


def test_a_zone_signed_in_softhsm2_passes_and_a_corrupted_one_is_refused(
    softhsm_store: Pkcs11KeyStore, tmp_path: Path
) -> None:
    store = softhsm_store
    ksk = store.generate_key(label="ksk", algorithm=Algorithm.RSASHA256, bits=2048)
    zsk = store.generate_key(label="zsk", algorithm=Algorithm.RSASHA256, bits=1024)
    keys = (
        ZoneKey(ksk.key_id, 257, ksk.algorithm, ksk.public_key, True, True, False),
        ZoneKey(zsk.key_id, 256, zsk.algorithm, zsk.public_key, True, False, True),
    )
    policy = load_policy()
    config = SigningConfig.from_policy(policy, keys)
    now = datetime.now(UTC).replace(microsecond=0)
    text = _zone(PARALLEL_MIN_ITEMS + 200)
    unsigned = tmp_path / "example.zone"
    unsigned.write_text(text)
    zone = sign_zone(read_zone_text(text, "example."), config, store, now, workers=2).zone
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
        workers=2,
        expected=ExpectedSigners.from_config(config),
    )
    request = VerifyRequest(candidate, "example.", anchor, unsigned=unsigned)

    result = gate(request, options, now, publish_to=published, keystore=store, opener=open_keystore)
    assert result.passed, result.report.summary()
    assert all(c.status is Status.PASSED for c in result.report.checks if c.name != "serial")
    assert "with 2 worker(s)" in result.report.check("second-implementation").notes[0]
    assert published.read_bytes() == candidate.read_bytes()

    # The same zone checked in parts: each worker opens its own session on the token.
    in_parts = verify_zone(
        request,
        replace(options, external=(), split_bytes=0, part_bytes=64 << 10),
        now,
        keystore=store,
        opener=open_keystore,
    )
    assert in_parts.passed, in_parts.summary()
    assert str(in_parts.meta["mode"]).startswith("in ")
    assert in_parts.check("second-implementation").notes[0].startswith("dnspython")

    # A corrupted signature: refused by our checks, by dnspython's re-signing and by
    # every external validator; the published zone stays the good one.
    good = published.read_bytes()
    lines = candidate.read_text().splitlines(keepends=True)
    for i, line in enumerate(lines):
        if "\tRRSIG\tDS " in line:
            lines[i] = line[:-6] + ("A" if line[-6] != "A" else "B") + line[-5:]
            break
    candidate.write_text("".join(lines))
    refused = gate(
        request, options, now, publish_to=published, keystore=store, opener=open_keystore
    )
    assert not refused.passed
    failed = set(refused.report.failed_checks)
    assert {"signatures", "second-implementation", *(f"external:{t}" for t in EXTERNAL)} <= failed
    assert published.read_bytes() == good
