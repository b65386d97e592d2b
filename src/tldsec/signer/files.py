"""sign_zone_file: an unsigned zone file -> a signed zone file, incrementally where it can.

The one place that decides how a zone file is signed, for ``tldsec sign`` and the cycle
alike. With a previous signed file that has an index, the previous file is patched
(``incremental``); otherwise, or when patching is not sound, the zone is read and signed
in full, reusing the previous signatures (DPS 6.5). Either way the output is written
atomically, with its index and a copy of its input for the next run.
"""

from __future__ import annotations

import logging
import time
from array import array
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tldsec.dnscore.zone import Zone, denial_ttl, soa_serial
from tldsec.dnscore.zonefile import read_zone
from tldsec.hsm.base import KeyStore
from tldsec.signconf import SigningConfig
from tldsec.signer.incremental import CannotPatch, resign_incrementally
from tldsec.signer.inputdiff import context_problem, record_lines
from tldsec.signer.output import write_signed_zone
from tldsec.signer.reuse import PreviousSignatures, ZoneSignatures
from tldsec.signer.sign import presign_delegations, sign_zone
from tldsec.signer.zoneindex import ZoneIndex, run_parameters
from tldsec.zonefiles import ZoneFiles, copy_atomic

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FileSignResult:
    """What one signing run did, in either mode."""

    mode: str  # "incremental" or "full"
    why_full: str | None  # the reason a previous zone could not be patched
    serial: int
    signed: int  # RRsets (a full run: every one) or owner names changed or refreshed
    # (incremental): see ``unit``
    signatures_made: int
    signatures_reused: int
    nsec3_records: int  # in the zone (full) or changed (incremental)
    delegations: int | None  # counted by a full run only
    earliest_expiry: int
    seconds: float

    @property
    def unit(self) -> str:
        """What ``signed`` counts: ``rrsets`` in a full run, ``owners`` in an incremental."""
        return "owners" if self.mode == "incremental" else "rrsets"

    def counted(self) -> dict[str, Any]:
        """``{unit: signed}``, for audit details and cycle statistics."""
        return {self.unit: self.signed}


def sign_zone_file(
    unsigned: Path,
    output: Path,
    origin: str,
    config: SigningConfig,
    keystore: KeyStore,
    now: datetime,
    *,
    previous: Path | None = None,
    workers: int = 1,
    header: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> FileSignResult:
    """Sign ``unsigned`` into ``output``: by patching ``previous`` where that is sound,
    else in full, reusing ``previous``'s signatures (DPS 6.5)."""
    t0 = time.perf_counter()
    why_full = None
    if previous is not None:
        try:
            patched = resign_incrementally(
                unsigned,
                previous,
                output,
                config,
                keystore,
                now,
                origin=origin,
                header=header,
                workers=workers,
            )
        except CannotPatch as exc:
            why_full = str(exc)
            log.info("signing %s in full: %s", unsigned, why_full)
        else:
            ps = patched.stats
            return FileSignResult(
                mode="incremental",
                why_full=None,
                serial=patched.serial,
                signed=ps.owners_changed + ps.owners_refreshed,
                signatures_made=ps.signatures_made,
                signatures_reused=ps.signatures_reused,
                nsec3_records=ps.nsec3_changed,
                delegations=None,
                earliest_expiry=patched.earliest_expiry,
                seconds=time.perf_counter() - t0,
            )
    # The DS RRsets are signed by a child while this process reads the zone.
    presigned = presign_delegations(unsigned, origin, config, keystore, now, workers)
    try:
        zone = read_zone(unsigned, origin)
        # A later run patches this one only if a line diff of the inputs is sound.
        why_not = _why_not_patchable(unsigned, zone)
        reuse = _previous_signatures(previous, origin) if previous else None
    except BaseException:
        if presigned is not None:
            presigned.close()
        raise
    result = sign_zone(zone, config, keystore, now, reuse, workers, progress, presigned)
    del reuse
    sizes: array[int] = array("Q")  # 8 bytes an owner, not a Python int each
    header_size = write_signed_zone(zone, output, header=header, workers=workers, block_sizes=sizes)
    soa = zone.soa()
    nsec3_ttl = denial_ttl(soa)
    files = ZoneFiles(output)
    files.index.unlink(missing_ok=True)
    copy_atomic(unsigned, files.unsigned)
    index = ZoneIndex.for_zone(
        zone, header_size, sizes, run_parameters(config, nsec3_ttl), output, files.unsigned
    )
    serial = soa_serial(soa.rdatas[0])
    s = result.stats
    del zone, result, soa  # the index keeps only the owner names
    if why_not is None:
        index.save(files.index)
    else:
        log.info("the next run signs %s in full: %s", output, why_not)
    return FileSignResult(
        mode="full",
        why_full=why_full,
        serial=serial,
        signed=s.rrsets,
        signatures_made=s.signatures_made,
        signatures_reused=s.signatures_reused,
        nsec3_records=s.nsec3_records,
        delegations=s.delegations,
        earliest_expiry=min(index.expiry, default=0),
        seconds=time.perf_counter() - t0,
    )


def _why_not_patchable(unsigned: Path, zone: Zone) -> str | None:
    data = unsigned.read_bytes()
    problem = context_problem(data)
    if problem is not None:
        return f"{unsigned}: {problem}"
    if record_lines(data) != sum(len(r.rdatas) for r in zone.rrsets()):
        return f"{unsigned} holds a record twice"
    return None


def _previous_signatures(path: Path, origin: str) -> PreviousSignatures:
    return ZoneSignatures(read_zone(path, origin))
