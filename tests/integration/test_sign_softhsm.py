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


def test_parallel_signing_through_softhsm2_validates(
    softhsm_store: Pkcs11KeyStore, tmp_path: Path
) -> None:
    store = softhsm_store
    ksk = store.generate_key(label="ksk", algorithm=Algorithm.RSASHA256, bits=2048)
    zsk = store.generate_key(label="zsk", algorithm=Algorithm.RSASHA256, bits=1024)
    config = SigningConfig.from_policy(
        load_policy(),
        (
            ZoneKey(ksk.key_id, 257, ksk.algorithm, ksk.public_key, True, True, False),
            ZoneKey(zsk.key_id, 256, zsk.algorithm, zsk.public_key, True, False, True),
        ),
    )
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
