"""The DPS's numbers, in one place: what /work/shared/dps.txt promises, as constants.

Pure data with no imports beyond the standard library, so that every part of tldsec
that checks a DPS number reads it here: the policy check (``policy_check``, which
refuses a ``dps`` policy that deviates) and the verification gate (which checks the
numbers in the zone itself, without trusting the signer's configuration).

Use::

    from tldsec.dpsnumbers import DPS
    DPS.ksk.algorithm, DPS.ksk.bits, DPS.zsk.lifetime      # DPS 6.1, 6.4
    DPS.signature_validity_min, DPS.signature_validity_max  # DPS 6.5
    DPS.ttl.for_type("DNSKEY")                              # DPS 6.7
    DPS.nsec3_opt_out                                       # DPS 6.2
    DPS.ds_removal_within                                   # DPS 3.5.2
    DPS.audit_online_retention, DPS.audit_archive_retention  # DPS 4.4.3
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

# DNSSEC algorithm number of RSA/SHA-256 (RFC 5702); DPS 6.1 and 6.3 name it for both keys.
RSASHA256 = 8


@dataclass(frozen=True, slots=True)
class KeyNumbers:
    """One key role's algorithm, size and rollover periods (DPS 6.1, 6.4)."""

    role: str  # "KSK" or "ZSK"
    algorithm: int  # DPS 6.1
    bits: int  # DPS 6.1
    lifetime: timedelta  # DPS 6.4 "Active": the most a key signs before it is rolled
    prepublish: timedelta  # DPS 6.4 "Pre-publish"
    postpublish: timedelta  # DPS 6.4 "Post-publish"
    emergency_postpublish: timedelta  # DPS 6.4 "Emergency rollover post-publish"


@dataclass(frozen=True, slots=True)
class TtlNumbers:
    """Resource record TTLs in seconds (DPS 6.7); an RRSIG inherits its RRset's TTL."""

    soa: int
    dnskey: int
    ns: int
    a: int
    aaaa: int
    ds: int
    nsec3: int

    def for_type(self, rdtype: str) -> int | None:
        """The DPS TTL of an RR type by mnemonic ("NS", "NSEC3PARAM" ...); None if the
        DPS names none (RRSIG inherits; NSEC3PARAM follows the SOA, RFC 5155 4)."""
        name = rdtype.upper()
        if name == "NSEC3PARAM":
            return None
        value: int | None = getattr(self, name.lower(), None) if name in _TTL_TYPES else None
        return value

    def by_type(self) -> dict[str, int]:
        """Every RR type the DPS gives a TTL, by mnemonic."""
        return {name: getattr(self, name.lower()) for name in _TTL_TYPES}


_TTL_TYPES = ("SOA", "DNSKEY", "NS", "A", "AAAA", "DS", "NSEC3")


@dataclass(frozen=True, slots=True)
class DpsNumbers:
    """Every number of the DPS that tldsec enforces."""

    ksk: KeyNumbers
    zsk: KeyNumbers
    nsec3_opt_out: bool  # DPS 6.2: NSEC3 "without OPT-OUT"
    signature_validity_min: timedelta  # DPS 6.5: "between six and eight days"
    signature_validity_max: timedelta  # DPS 6.5
    ttl: TtlNumbers  # DPS 6.7
    ds_removal_within: timedelta  # DPS 3.5.2: removed from the zone "within the hour"
    audit_online_retention: timedelta  # DPS 4.4.3: "retained on-line for one year"
    audit_archive_retention: timedelta  # DPS 4.4.3: "archived for at least three years"

    @property
    def algorithms(self) -> frozenset[int]:
        """The DNSKEY algorithms the DPS allows (DPS 6.1, 6.3)."""
        return frozenset({self.ksk.algorithm, self.zsk.algorithm})

    def key(self, role: str) -> KeyNumbers:
        """The numbers of ``"KSK"`` or ``"ZSK"`` (any case)."""
        return self.ksk if role.upper() == "KSK" else self.zsk


DPS = DpsNumbers(
    ksk=KeyNumbers(
        role="KSK",
        algorithm=RSASHA256,
        bits=2048,
        lifetime=timedelta(days=365),
        prepublish=timedelta(days=30),
        postpublish=timedelta(days=30),
        emergency_postpublish=timedelta(days=7),
    ),
    zsk=KeyNumbers(
        role="ZSK",
        algorithm=RSASHA256,
        bits=1024,
        lifetime=timedelta(days=90),
        prepublish=timedelta(days=7),
        postpublish=timedelta(days=7),
        emergency_postpublish=timedelta(days=2),
    ),
    nsec3_opt_out=False,
    signature_validity_min=timedelta(days=6),
    signature_validity_max=timedelta(days=8),
    ttl=TtlNumbers(soa=86400, dnskey=43200, ns=86400, a=86400, aaaa=86400, ds=86400, nsec3=3600),
    ds_removal_within=timedelta(hours=1),
    audit_online_retention=timedelta(days=365),
    audit_archive_retention=timedelta(days=3 * 365),
)
