"""The DS records the parent (the root zone, via IANA) should hold for our KSKs.

A KSK's DS belongs at the parent from its submission until its withdrawal is
requested (DPS 2.2, 6.4). ``DsRecord`` gives it in zone-file form and in the form the
IANA root-zone change process asks for: key tag, algorithm, digest type, digest, and
the DNSKEY itself.

Pure: no clock, no database.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import dns.rdata
import dns.rdataclass
import dns.rdatatype

from tldsec.dnscore.dnskey import ds_digest
from tldsec.dnscore.names import to_wire
from tldsec.keys.state import DsState, KeyRecord, Role
from tldsec.policy import Algorithm, DigestType

# RFC 8624 3.3: SHA-256 is the digest every validator supports; IANA accepts 2 and 4.
DEFAULT_DIGEST_TYPES: tuple[int, ...] = (DigestType.SHA256,)
_DIGEST_NAMES = {1: "SHA-1", 2: "SHA-256", 4: "SHA-384"}


@dataclass(frozen=True, slots=True)
class DsRecord:
    """One DS record for one of our KSKs."""

    owner: str  # the zone's origin, absolute
    ttl: int
    key_tag: int
    algorithm: int
    digest_type: int
    digest: bytes
    key_id: str
    ds_state: DsState
    dnskey_rdata: bytes = b""  # the KSK's DNSKEY RDATA (wire), which IANA's form also asks for

    def dnskey_text(self) -> str:
        """The KSK's DNSKEY RDATA in presentation form (RFC 4034 2.2), via dnspython."""
        if not self.dnskey_rdata:
            return ""
        rd = dns.rdata.from_wire(
            dns.rdataclass.IN, dns.rdatatype.DNSKEY, self.dnskey_rdata, 0, len(self.dnskey_rdata)
        )
        return rd.to_text(chunksize=0)

    def zone_line(self) -> str:
        """Zone-file form (RFC 4034 5.3), digest in upper-case hex."""
        return (
            f"{self.owner} {self.ttl} IN DS {self.key_tag} {self.algorithm} "
            f"{self.digest_type} {self.digest.hex().upper()}"
        )

    def iana_form(self) -> str:
        """The fields the IANA root-zone change request asks for, one per line."""
        try:
            alg = f"{self.algorithm} ({Algorithm(self.algorithm).name})"
        except ValueError:
            alg = str(self.algorithm)
        dt = f"{self.digest_type} ({_DIGEST_NAMES.get(self.digest_type, '?')})"
        return "\n".join(
            (
                f"Zone:        {self.owner}",
                f"Key Tag:     {self.key_tag}",
                f"Algorithm:   {alg}",
                f"Digest Type: {dt}",
                f"Digest:      {self.digest.hex().upper()}",
                *((f"DNSKEY:      {self.dnskey_text()}",) if self.dnskey_rdata else ()),
            )
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "owner": self.owner,
            "ttl": self.ttl,
            "key_tag": self.key_tag,
            "algorithm": self.algorithm,
            "digest_type": self.digest_type,
            "digest": self.digest.hex().upper(),
            "key_id": self.key_id,
            "ds_state": str(self.ds_state),
            "dnskey": self.dnskey_text(),
        }


def ds_for_key(key: KeyRecord, origin: str, digest_type: int, ttl: int, when: datetime) -> DsRecord:
    """The DS of one key for ``digest_type`` (RFC 4034 5.1.4)."""
    owner = origin if origin.endswith(".") else origin + "."
    return DsRecord(
        owner=owner,
        ttl=ttl,
        key_tag=key.key_tag,
        algorithm=int(key.algorithm),
        digest_type=digest_type,
        digest=ds_digest(to_wire(owner), key.dnskey_rdata, digest_type),
        key_id=key.key_id,
        ds_state=key.ds_state_at(when),
        dnskey_rdata=key.dnskey_rdata,
    )


def parent_ds_set(
    keys: Sequence[KeyRecord],
    origin: str,
    when: datetime,
    *,
    digest_types: Iterable[int] = DEFAULT_DIGEST_TYPES,
    ttl: int = 86400,
) -> list[DsRecord]:
    """The DS set the parent should hold at ``when``: KSKs submitted, not being withdrawn."""
    types = tuple(digest_types)
    wanted = (DsState.SUBMITTED, DsState.SEEN)
    return [
        ds_for_key(k, origin, dt, ttl, when)
        for k in sorted(keys, key=lambda k: k.key_tag)
        if k.role is Role.KSK and k.ds_state_at(when) in wanted
        for dt in types
    ]
