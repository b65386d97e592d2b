"""Signing through a real SoftHSM2 token, on every core: the zone validates with
ldns-verify-zone, and a second run reuses every signature."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tldsec.dnscore.zonefile import read_zone, read_zone_text, write_zone_atomic
from tldsec.hsm.pkcs11 import Pkcs11KeyStore
from tldsec.policy import Algorithm, load_policy
from tldsec.signconf import SigningConfig, ZoneKey
from tldsec.signer import sign_zone
from tldsec.signer.workers import PARALLEL_MIN_JOBS


def big_zone(delegations: int) -> str:
    lines = [
        "$ORIGIN example.",
        "$TTL 86400",
        "@ SOA a.nic hostmaster.nic 1 1800 900 1209600 3600",
        "@ NS a.nic",
        "a.nic A 192.0.2.1",
    ]
    for i in range(delegations):
        lines.append(f"d{i} NS ns{i % 50}.hoster.net.")
        if i % 3 == 0:
            lines.append(f"d{i} DS {i % 65536} 13 2 {i:064X}")
    return "\n".join(lines) + "\n"


def ksk_and_zsk(store: Pkcs11KeyStore) -> SigningConfig:
    """A KSK and a ZSK made in the token, and the policy's config that uses them."""
    ksk = store.generate_key(label="ksk", algorithm=Algorithm.RSASHA256, bits=2048)
    zsk = store.generate_key(label="zsk", algorithm=Algorithm.RSASHA256, bits=1024)
    return SigningConfig.from_policy(
        load_policy(),
        (
            ZoneKey(ksk.key_id, 257, ksk.algorithm, ksk.public_key, True, True, False),
            ZoneKey(zsk.key_id, 256, zsk.algorithm, zsk.public_key, True, False, True),
        ),
    )


def test_parallel_signing_through_softhsm2_validates(
    softhsm_store: Pkcs11KeyStore, tmp_path: Path
) -> None:
    store = softhsm_store
    config = ksk_and_zsk(store)
    now = datetime.now(UTC)
    text = big_zone(3200)  # enough signatures to take the parallel path
    result = sign_zone(read_zone_text(text, "example."), config, store, now, workers=2)
    assert result.stats.signatures_made >= PARALLEL_MIN_JOBS
    out = tmp_path / "signed.zone"
    write_zone_atomic(result.zone, out)
    check = subprocess.run(
        ["ldns-verify-zone", str(out)], capture_output=True, text=True, timeout=120, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr

    again = sign_zone(
        read_zone_text(text, "example."),
        config,
        store,
        now + timedelta(hours=1),
        previous=read_zone(out, "example."),
        workers=2,
    )
    assert again.stats.signatures_made == 0


def test_presigning_through_softhsm2_gives_the_same_zone(
    softhsm_store: Pkcs11KeyStore, tmp_path: Path
) -> None:
    """The presigning child opens its own session on the token (after fork, PKCS#11
    v2.40 6.7.1) and its signatures are the ones the main run would make."""
    from tldsec.signer.sign import presign_delegations

    store = softhsm_store
    config = ksk_and_zsk(store)
    now = datetime.now(UTC)
    lines = [
        "example. 86400 IN SOA a.nic.example. hostmaster.nic.example. 1 1800 900 1209600 3600",
        "example. 86400 IN NS a.nic.example.",
        "a.nic.example. 86400 IN A 192.0.2.1",
    ]
    for i in range(300):
        lines.append(f"d{i}.example. 86400 IN NS ns.hoster.net.")
        lines.append(f"d{i}.example. 86400 IN DS {i} 8 2 {i:064X}")
    unsigned = tmp_path / "example.zone"
    unsigned.write_text("\n".join(lines) + "\n")

    presigned = presign_delegations(unsigned, "example", config, store, now, 2, min_bytes=0)
    assert presigned is not None
    presigned.wait()
    result = sign_zone(read_zone(unsigned, "example"), config, store, now, presigned=presigned)
    assert result.stats.signatures_presigned == 300
    write_zone_atomic(result.zone, tmp_path / "pre.zone")
    plain = sign_zone(read_zone(unsigned, "example"), config, store, now)
    write_zone_atomic(plain.zone, tmp_path / "plain.zone")
    assert (tmp_path / "pre.zone").read_bytes() == (tmp_path / "plain.zone").read_bytes()
    check = subprocess.run(
        ["ldns-verify-zone", str(tmp_path / "pre.zone")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
