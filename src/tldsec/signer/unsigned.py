"""The unsigned publication: the zone as built, with no DNSSEC record (DPS 4.6, decision 46).

After going insecure's last step (``keys/go_insecure.py``) the cycle tells the signer
the zone is published unsigned; the signer then writes the builder's zone in the same
file format as a signed zone (canonical order, absolute names, a comment header) so
that the gate, the store and the primary handle it as any candidate, and adds nothing:
no DNSKEY, RRSIG, NSEC, NSEC3 or NSEC3PARAM. An input that already holds one of those
(at the apex or anywhere else) is refused: the builder never writes them, so one there
is a fault to stop on, not to pass on. DS records at delegations are the children's and
stay (RFC 4035 2.4).

No key store is opened: there is nothing to sign. The unsigned mode is never a
configuration value; only the zone fact the key manager writes at the last step puts
the cycle in it, and the gate checks that fact again (``verify/insecure.py``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from tldsec.dnscore import names
from tldsec.dnscore.types import RRType, type_text
from tldsec.dnscore.zone import soa_serial
from tldsec.dnscore.zonefile import read_zone, write_zone_atomic
from tldsec.errors import ZoneContentError
from tldsec.zonefiles import ZoneFiles

# RFC 4034 2-4, RFC 5155 3-4: the records a signer adds; none is in an unsigned zone.
SIGNER_TYPES = frozenset(
    int(t) for t in (RRType.DNSKEY, RRType.RRSIG, RRType.NSEC, RRType.NSEC3, RRType.NSEC3PARAM)
)


@dataclass(frozen=True, slots=True)
class UnsignedResult:
    """What the unsigned publication wrote."""

    serial: int
    rrsets: int
    records: int
    seconds: float

    def counted(self) -> dict[str, int]:
        """For the cycle's statistics and the audit details."""
        return {"rrsets": self.rrsets, "records": self.records}


def write_unsigned_zone(
    unsigned: Path, output: Path, origin: str, *, header: str | None = None
) -> UnsignedResult:
    """Write the zone ``unsigned`` to ``output`` (atomically) with no DNSSEC record;
    ``ZoneContentError`` if the input holds a record only a signer adds."""
    t0 = time.perf_counter()
    zone = read_zone(unsigned, origin)
    rrsets = records = 0
    for rrset in zone.rrsets():
        if rrset.rtype in SIGNER_TYPES or rrset.sigs:
            what = "RRSIG" if rrset.sigs else type_text(rrset.rtype)
            raise ZoneContentError(
                f"{unsigned}: {names.to_text(rrset.owner)} {what}: the zone is to be published "
                "unsigned (going insecure, DPS 4.6) but its input holds a record only a "
                "signer adds; the zone builder never writes one, so the input is not the "
                "builder's: nothing was published"
            )
        rrsets += 1
        records += len(rrset.rdatas)
    serial = soa_serial(zone.soa().rdatas[0])
    files = ZoneFiles(output)
    files.remove_sides()  # no index or patch: the next run reads this file whole
    write_zone_atomic(zone, output, header)
    return UnsignedResult(serial, rrsets, records, time.perf_counter() - t0)
