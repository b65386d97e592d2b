"""One signing run as a separate process, so the benchmark can measure its peak RSS.

usage: sign_driver.py ZONE ORIGIN OUT --backend file|pkcs11 --keys KEYS.json
       [--previous SIGNED] [--workers N] [--later-hours H]
KEYS.json (written by run_sign.py): the key store spec and the KSK/ZSK ids.
Prints one JSON line with the run's timings (wall, and this process's own CPU per
phase: what the worker processes do is not in those) and counts.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tldsec.dnscore.zone import Zone
from tldsec.dnscore.zonefile import read_zone
from tldsec.hsm.base import KeyStoreSpec
from tldsec.hsm.open import open_keystore
from tldsec.policy import load_policy
from tldsec.signconf import SigningConfig, ZoneKey
from tldsec.signer import sign_zone
from tldsec.signer.output import write_signed_zone
from tldsec.signer.sign import presign_delegations


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("zone", type=Path)
    p.add_argument("origin")
    p.add_argument("out", type=Path)
    p.add_argument("--keys", type=Path, required=True)
    p.add_argument("--previous", type=Path)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--later-hours", type=float, default=0.0)
    args = p.parse_args()
    meta = json.loads(args.keys.read_text())
    spec = KeyStoreSpec(
        **{
            k: (Path(v) if k in ("module", "softhsm2_conf", "directory") and v else v)
            for k, v in meta["spec"].items()
        }
    )
    store = open_keystore(spec)
    ksk, zsk = store.get_key(meta["ksk"]), store.get_key(meta["zsk"])
    keys = (
        ZoneKey(ksk.key_id, 257, ksk.algorithm, ksk.public_key, True, True, False),
        ZoneKey(zsk.key_id, 256, zsk.algorithm, zsk.public_key, True, False, True),
    )
    config = SigningConfig.from_policy(load_policy(), keys)
    now = datetime.fromtimestamp(meta["now"], UTC) + timedelta(hours=args.later_hours)
    t0, c0 = time.perf_counter(), time.process_time()
    presigned = presign_delegations(args.zone, args.origin, config, store, now, args.workers)
    zone = read_zone(args.zone, args.origin)
    previous: Zone | None = None
    if args.previous:
        # As a full `tldsec sign --previous` does: the previous zone file's signatures.
        previous = read_zone(args.previous, args.origin)
    t1, c1 = time.perf_counter(), time.process_time()
    result = sign_zone(
        zone, config, store, now, previous=previous, workers=args.workers, presigned=presigned
    )
    t2, c2 = time.perf_counter(), time.process_time()
    write_signed_zone(result.zone, args.out, workers=args.workers)
    t3, c3 = time.perf_counter(), time.process_time()
    s = result.stats
    print(
        json.dumps(
            {
                "read": t1 - t0,
                "analyse": s.seconds_analyse,
                "sign": s.seconds_sign,
                "write": t3 - t2,
                "total": t3 - t0,
                "parent_cpu_read": c1 - c0,
                "parent_cpu_sign": c2 - c1,
                "parent_cpu_write": c3 - c2,
                "made": s.signatures_made,
                "reused": s.signatures_reused,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
