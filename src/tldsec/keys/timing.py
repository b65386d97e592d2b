"""RFC 7583 timing: how long each rollover step must wait for caches and propagation.

The DPS periods (6.4) are minimums; every transition also waits for the intervals
RFC 7583 derives from the TTLs, the propagation delays and the signing delay. The names
follow the RFC: Dprp (zone propagation), DprpP (parent propagation), Dsgn (signing
delay), TTLkey (DNSKEY TTL), TTLsig (largest TTL of a signed RRset), TTLds (the DS TTL
at the parent). A ``safety_margin`` is added to each interval, as BIND's publish-safety
and retire-safety do.

Our KSK method (DPS 6.4, docs/keys.md): the new KSK is pre-published (RFC 7583 3.3.1
double-KSK: IpubC), its DS is added at the parent beside the old one and the switch
waits until that DS is in every cache (IpubP); the old KSK's DS is withdrawn only once
no cached DNSKEY RRset can carry only the old KSK's signature (3.3.2 double-DS: Iret).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import timedelta

from tldsec.policy import Policy

# DPS 3.5.2: a change is in the zone on every name server within the hour.
DEFAULT_PROPAGATION_DELAY = timedelta(hours=1)
# The root zone is published at least twice a day; a DS seen on one root server reaches
# the others within its next publication.  Applied after ds-seen, before the DS TTL.
DEFAULT_PARENT_PROPAGATION_DELAY = timedelta(hours=12)
DEFAULT_SAFETY_MARGIN = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class TimingParams:
    """The quantities RFC 7583's formulas use (section 2 names in comments)."""

    dnskey_ttl: timedelta  # TTLkey
    max_zone_ttl: timedelta  # TTLsig: the largest TTL of any signed RRset
    parent_ds_ttl: timedelta  # TTLds at the parent
    propagation_delay: timedelta  # Dprp (DprpC): zone change -> every name server
    parent_propagation_delay: timedelta  # DprpP: DS seen -> every parent name server
    signing_delay: timedelta  # Dsgn: key switch -> every RRset re-signed with it
    safety_margin: timedelta

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) < timedelta(0):
                raise ValueError(f"timing parameter {f.name} is negative")

    @classmethod
    def from_policy(
        cls,
        policy: Policy,
        *,
        propagation_delay: timedelta = DEFAULT_PROPAGATION_DELAY,
        parent_propagation_delay: timedelta = DEFAULT_PARENT_PROPAGATION_DELAY,
        parent_ds_ttl: timedelta | None = None,
        max_zone_ttl: timedelta | None = None,
        safety_margin: timedelta = DEFAULT_SAFETY_MARGIN,
        gradual_resign: bool = False,
    ) -> TimingParams:
        """Timing from the policy's TTLs (DPS 6.7), cycle (DPS 3.5.2) and signatures (6.5).

        ``gradual_resign`` is for a signer that keeps reusing the old key's signatures
        after a switch until they need refreshing: then Dsgn is the longest time a
        signature is kept, validity_max - refresh (RFC 7583 3.2.1 "Dsgn"). Our signer
        re-signs everything at the switch, so Dsgn is one cycle.
        """
        ttl = policy.ttl
        largest = max(ttl.soa, ttl.ns, ttl.a, ttl.aaaa, ttl.ds, ttl.nsec3, ttl.dnskey)
        return cls(
            dnskey_ttl=timedelta(seconds=ttl.dnskey),
            max_zone_ttl=max_zone_ttl if max_zone_ttl is not None else timedelta(seconds=largest),
            # The root zone's DS TTL is 86400 s, the same as DPS 6.7 gives our own DS.
            parent_ds_ttl=(
                parent_ds_ttl if parent_ds_ttl is not None else timedelta(seconds=ttl.ds)
            ),
            propagation_delay=propagation_delay,
            parent_propagation_delay=parent_propagation_delay,
            # The signer re-signs every RRset with the new key in the first cycle after a
            # switch (signconf gives the old key no signing duty), so Dsgn is one cycle.
            signing_delay=(
                policy.signatures.validity_max - policy.signatures.refresh
                if gradual_resign
                else policy.cycle.interval
            ),
            safety_margin=safety_margin,
        )


def zsk_publish_interval(t: TimingParams) -> timedelta:
    """Ipub = Dprp + TTLkey: a new ZSK is in every cached DNSKEY RRset (RFC 7583 3.2.1)."""
    return t.propagation_delay + t.dnskey_ttl + t.safety_margin


def zsk_retire_interval(t: TimingParams) -> timedelta:
    """Iret = Dsgn + Dprp + TTLsig: no cache holds a signature of the old ZSK (3.2.1)."""
    return t.signing_delay + t.propagation_delay + t.max_zone_ttl + t.safety_margin


def ksk_publish_interval(t: TimingParams) -> timedelta:
    """IpubC = DprpC + TTLkey: a new KSK is in every cached DNSKEY RRset (3.3.1)."""
    return t.propagation_delay + t.dnskey_ttl + t.safety_margin


def ds_publish_interval(t: TimingParams) -> timedelta:
    """IpubP = DprpP + TTLds: from ds-seen, the new DS is in every cached DS RRset (3.3.1)."""
    return t.parent_propagation_delay + t.parent_ds_ttl + t.safety_margin


def ksk_retire_interval(t: TimingParams) -> timedelta:
    """Iret = Dsgn + DprpC + TTLkey: no cached DNSKEY RRset is signed only by the old KSK.

    RFC 7583 3.3.2 (double-DS): the old DS may leave the parent only after this.
    """
    return t.signing_delay + t.propagation_delay + t.dnskey_ttl + t.safety_margin


def zone_propagation_interval(t: TimingParams) -> timedelta:
    """Dprp: a change is on every name server of the zone."""
    return t.propagation_delay + t.safety_margin


def signature_cache_interval(t: TimingParams) -> timedelta:
    """Dsgn + Dprp + TTLsig: every RRset carries a new signature in every cache; in an
    algorithm rollover, before the new algorithm's DNSKEYs appear (RFC 6781 4.1.4)."""
    return t.signing_delay + t.propagation_delay + t.max_zone_ttl + t.safety_margin


def dnskey_cache_interval(t: TimingParams) -> timedelta:
    """Dprp + TTLkey: every cached DNSKEY RRset is the one now published; in an algorithm
    rollover, before the old algorithm's signatures go (RFC 6781 4.1.4)."""
    return t.propagation_delay + t.dnskey_ttl + t.safety_margin
