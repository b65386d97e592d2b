"""The signer-to-primary push of a 1,000-change incremental serial: the whole file
(decision 49) against the difference push (decision 54), over real pinned TLS on
loopback into a real primary store.

Set-up (not timed): a zone of N delegations (the shared generator), signed in full,
then re-signed after 1,000 delegations gained a DS (``resign_bench``: the incremental
re-sign writes ``<zone>.patch``); both placed in a signer's ``ZoneStore`` as serials S
and S+1 with their digest and verification records. Two primaries receive S whole.

Timed: the push of S+1 to each, from the TLS connection to the acknowledgement: the
first with the offer's patch left out (what a signer of decision 49 sent: the whole
file; the primary diffs the two whole files for IXFR), the second with it (the edits'
bytes; the primary rebuilds and hashes the file, reads the IXFR difference from the
edits). The primary's reload of the zone for serving is left out (the same for both).

    .venv/bin/python bench/push_bench.py -n 100000
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import shutil
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from tests.distribute.pushing import identity, peer  # noqa: E402

from resign_bench import changed_zone, drive  # noqa: E402
from run_sign import OUT, make_zone, setup_keys  # noqa: E402
from tldsec.distribute.push import client_context, offer_for, push_once  # noqa: E402
from tldsec.distribute.pushconfig import PushSettings  # noqa: E402
from tldsec.distribute.receive import PushReceiver  # noqa: E402
from tldsec.distribute.store import ZoneStore  # noqa: E402
from tldsec.dnscore.zonepatch import ZonePatch  # noqa: E402
from tldsec.filedigest import digest_file, save_record  # noqa: E402
from tldsec.zonefiles import (  # noqa: E402
    Verified,
    ZoneFiles,
    save_state,
)


def soa_serial(path: Path) -> int:
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) > 6 and parts[3] == "SOA":
                return int(parts[6])
    raise SystemExit(f"{path}: no SOA")


def place(store: ZoneStore, signed: Path, serial: int) -> Path:
    """``signed`` as the store's serial, with the digest and the gate's records."""
    with store.writer():
        target = store.stage_path(serial)
        shutil.copyfile(signed, target)
        record = digest_file(target)
        save_record(target, record)
        st = target.stat()
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        state = Verified(
            target.name, st.st_size, st.st_ino, st.st_mtime_ns, serial, "full", now, now, 0,
            "bench", True, record.sha256,
        )  # fmt: skip
        save_state(ZoneFiles(target).verify_state, state)
        store.commit(serial, diff=False)
    return target


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", type=int, default=100_000, help="delegations")
    p.add_argument("--changes", type=int, default=1000)
    args = p.parse_args()
    work = OUT / f"push-{args.n}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    zone = make_zone(args.n)
    keys = setup_keys(work, time.time())
    full, changed = work / "full.signed", work / "changed.signed"
    t0 = time.perf_counter()
    drive(zone, full, keys["file"], None)
    drive(changed_zone(zone, args.changes), changed, keys["file"], full)
    print(f"set-up: signed and re-signed in {time.perf_counter() - t0:.1f} s", file=sys.stderr)

    signer = ZoneStore(work / "signer", "example.", keep=4)
    s0, s1 = soa_serial(full), soa_serial(changed)
    place(signer, full, s0)
    first = offer_for(signer, s0, 1)
    place(signer, changed, s1)
    patch = ZonePatch.load(ZoneFiles(changed).patch)
    ZonePatch(f"{s0}.zone", patch.previous_size, patch.size, patch.edits).save(
        ZoneFiles(signer.zone_path(s1)).patch
    )
    second = offer_for(signer, s1, 1)
    assert second.patch is not None, "no patch offered"

    certs = work / "certs"
    me, primary_id = identity(certs, "site-a"), identity(certs, "primary-1")
    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()

    def primary(name: str) -> tuple[ZoneStore, PushReceiver, tuple[str, int]]:
        store = ZoneStore(work / name, "example.", keep=4)
        settings = PushSettings(
            primary_id.cert, primary_id.key, ("127.0.0.1", 0), 600.0, 1.0, 1 << 34, (),
            (peer(me, "site-a"),),
        )  # fmt: skip

        async def load() -> bool:
            return True

        receiver = PushReceiver(settings, store, load, store.current)
        address = asyncio.run_coroutine_threadsafe(receiver.start(), loop).result()
        return store, receiver, address

    rows = []
    for name, offer in (("whole file", dataclasses.replace(second, patch=None)),
                        ("difference", second)):  # fmt: skip
        store, _receiver, address = primary(name.replace(" ", "-"))
        target = peer(primary_id, "primary-1", address)
        ctx = client_context(me.cert, me.key, target)
        assert push_once(target, ctx, first, signer.zone_path(s0), 600) == "pushed"
        t0 = time.perf_counter()
        how = push_once(target, ctx, offer, signer.zone_path(s1), 600)
        seconds = time.perf_counter() - t0
        assert store.current() == s1 and store.diffs() == {s0: s1}, how
        rows.append(
            {
                "n": args.n,
                "changes": args.changes,
                "push": name,
                "how": how,
                "seconds": round(seconds, 2),
                "zone_bytes": offer.size,
                "sent_bytes": offer.size if offer.patch is None else offer.patch["bytes"],
                "ixfr_changes": store.read_diff(s0, s1).changes,
                "load": os.getloadavg()[0],
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    (OUT / f"push-{args.n}.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
