"""``tldsec sign``: sign a zone file with the home's keys, reusing signatures."""

from __future__ import annotations

import argparse
import hashlib
import logging
import os
import time
from pathlib import Path

from tldsec.audit.config import open_audit_log
from tldsec.audit.events import EventType
from tldsec.cli.common import (
    add_ceremony_argument,
    add_home_argument,
    ceremony_gate,
    ceremony_record,
    config_approved,
    file_zone_settings,
    operator_actor,
    settings_from_args,
)
from tldsec.cli.outputs import OutputPath
from tldsec.clock import SystemClock
from tldsec.errors import TldsecError, ZoneSyntaxError
from tldsec.hsm.open import open_keystore
from tldsec.keys.database import open_signer_db
from tldsec.keys.service import KeyManager, signer_zone_id
from tldsec.progress import ProgressLine
from tldsec.signer.files import sign_zone_file

log = logging.getLogger(__name__)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "sign",
        help="sign a zone file (NSEC3, keys from the key store)",
        description="Sign an unsigned zone file with the keys the key "
        "manager says are active now. With --previous, signatures of "
        "unchanged RRsets are reused (DPS 6.5). OUT is written atomically: "
        "on any failure it is left as it was.",
    )
    add_home_argument(p)
    p.add_argument("zonefile", type=Path, help="the unsigned zone")
    p.add_argument("-o", "--output", action=OutputPath, required=True, help="the signed zone")
    p.add_argument(
        "--zone",
        metavar="ORIGIN",
        help="the home's zone whose keys sign (default: --origin's, or the only zone)",
    )
    p.add_argument("--origin", help="zone origin (default: the --zone's)")
    p.add_argument("--previous", type=Path, help="the previous signed zone, for reuse")
    p.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="signing processes (default: one per core)",
    )
    add_ceremony_argument(p)
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    settings = file_zone_settings(settings_from_args(args), args.zone, args.origin)
    origin = args.origin or settings.origin
    clock = SystemClock()
    t0 = time.perf_counter()
    if not args.zonefile.is_file():
        raise ZoneSyntaxError(str(args.zonefile), None, "no such file")
    audit = open_audit_log(settings, clock)
    try:
        # A zone signed by hand is a signing-components task (DPS 4.2.2), under a ceremony
        # where [ceremony] required names "sign"; the approval names the exact input.
        # (The input is hashed only for a ceremony: without one the parameters are unused.)
        params = {"origin": origin, "input_sha256": _sha256(args.zonefile)} if args.ceremony else {}
        config_approved(settings, audit, "tldsec sign")  # DPS 4.2.2, before the ceremony is used
        authorised = ceremony_gate(settings, "sign", params, args.ceremony, audit)
        store = open_keystore(settings.keystore_spec())
    except BaseException:
        audit.close()
        raise
    actor = operator_actor()
    try:
        engine = open_signer_db(settings.signer_db_url)
        manager = KeyManager(
            engine,
            store,
            settings.policy,
            clock,
            origin=origin,
            zone_id=signer_zone_id(engine, settings.origin),  # the zone's keys (decision 62)
            recorder=audit.record,
            actor=actor,
        )
        # One signing run is one step of the schedule: carry out the key transitions
        # that are due (DPS 6.4), then sign with the keys in use now.
        for transition in manager.run_due():
            print(
                f"key {transition.key_tag} ({transition.role.value}): "
                f"{transition.event.value} - {transition.reason}"
            )
        now = clock.now()
        config = manager.signing_config(now)
        try:
            result = sign_zone_file(
                args.zonefile,
                args.output,
                origin,
                config,
                store,
                now,
                previous=args.previous,
                workers=args.workers,
                header=f"signed by tldsec at {now:%Y-%m-%dT%H:%M:%SZ}",
                progress=ProgressLine("signing"),
            )
        except TldsecError as exc:
            audit.record(
                EventType.SIGNER_RUN_FAILED,
                actor=actor,
                zone=origin,
                input=str(args.zonefile),
                reason=str(exc),
            )
            raise
        audit.record(
            EventType.SIGNER_RUN_COMPLETED,
            actor=actor,
            zone=origin,
            input=str(args.zonefile),
            output=str(args.output),
            mode=result.mode,
            **result.counted(),
            signatures_made=result.signatures_made,
            signatures_reused=result.signatures_reused,
            milliseconds=int((time.perf_counter() - t0) * 1000),
        )
        if authorised is not None:
            ceremony_record(settings, authorised, {"output": str(args.output),
                            "output_sha256": _sha256(args.output), "serial": result.serial},
                            audit)  # fmt: skip
    finally:
        store.close()
        audit.close()
    if result.why_full:
        print(f"signed in full: {result.why_full}")
    what = (
        f"{result.signed:,} owners changed or refreshed"
        if result.unit == "owners"
        else f"{result.signed:,} RRsets, {result.delegations or 0:,} delegations"
    )
    print(
        f"signed {origin} serial {result.serial} -> {args.output} ({result.mode}): {what}, "
        f"{result.signatures_made:,} signatures made, {result.signatures_reused:,} reused, "
        f"{result.nsec3_records:,} NSEC3, {time.perf_counter() - t0:.1f} s"
    )
    return 0


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()
