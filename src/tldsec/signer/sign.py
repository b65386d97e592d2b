"""sign_zone: an unsigned zone, a SigningConfig and a key store -> the signed zone.

DNSKEY RRset signed by the KSK(s); every authoritative RRset, DS at delegations, the
NSEC3 chain and NSEC3PARAM signed by the ZSK(s); delegation NS and glue left unsigned
(RFC 4035 2.2). Previous signatures are reused where DPS 6.5 allows (``reuse``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from tldsec.clock import to_epoch
from tldsec.dnscore import names, nsec3
from tldsec.dnscore.bulk import bulk_allocation
from tldsec.dnscore.dnskey import key_tag
from tldsec.dnscore.types import RRType
from tldsec.dnscore.zone import RRset, Zone, soa_minimum
from tldsec.errors import NoUsableKey, SigningError
from tldsec.hsm.base import KeyStore
from tldsec.signconf import SigningConfig, ZoneKey
from tldsec.signer.reuse import (
    PreviousSignatures,
    SignerKey,
    ZoneSignatures,
    reusable_signatures,
)
from tldsec.signer.rrsig import ValidityWindow
from tldsec.signer.structure import analyse
from tldsec.signer.workers import RrsigMaker, SignJobs, sign_all


@dataclass(slots=True)
class SignStats:
    """What a signing run did."""

    rrsets: int = 0
    signatures_made: int = 0
    signatures_reused: int = 0
    nsec3_records: int = 0
    delegations: int = 0
    empty_non_terminals: int = 0
    seconds_analyse: float = 0.0
    seconds_sign: float = 0.0


@dataclass(slots=True)
class SignResult:
    zone: Zone
    stats: SignStats


@dataclass(frozen=True, slots=True)
class KeyDuty:
    key: ZoneKey
    signer_key: SignerKey


def sign_zone(
    unsigned: Zone,
    config: SigningConfig,
    keystore: KeyStore,
    now: datetime,
    previous: PreviousSignatures | Zone | None = None,
    workers: int = 1,
    progress: Callable[[int, int], None] | None = None,
) -> SignResult:
    """Sign ``unsigned`` (which becomes the signed zone: it is extended in place).

    ``previous``: the last signed zone, or its signature cache, for reuse (DPS 6.5).
    """
    if isinstance(previous, Zone):
        previous = ZoneSignatures(previous)
    with bulk_allocation():
        return _sign_zone(unsigned, config, keystore, now, previous, workers, progress)


def _sign_zone(
    unsigned: Zone,
    config: SigningConfig,
    keystore: KeyStore,
    now: datetime,
    previous: PreviousSignatures | None,
    workers: int,
    progress: Callable[[int, int], None] | None,
) -> SignResult:
    t0 = time.perf_counter()
    stats = SignStats()
    zsks = key_duties(config.zone_signers, config, "sign the zone (ZSK)")
    ksks = key_duties(config.dnskey_signers, config, "sign the DNSKEY RRset (KSK)")
    structure = analyse(unsigned)
    stats.delegations = structure.delegations
    stats.empty_non_terminals = structure.empty_non_terminals
    zone = unsigned
    origin = zone.origin

    dnskey = RRset(
        origin, RRType.DNSKEY, config.dnskey_ttl, sorted({k.dnskey_rdata for k in config.published})
    )
    zone.add(dnskey)
    soa = zone.soa()
    # RFC 9077 3: NSEC3 TTL is the smaller of the SOA TTL and the SOA MINIMUM field.
    nsec3_ttl = min(soa.ttl, soa_minimum(soa.rdatas[0]))
    param = RRset(
        origin,
        RRType.NSEC3PARAM,
        nsec3_ttl,
        [nsec3.nsec3param_rdata(config.nsec3_salt, config.nsec3_iterations)],
    )
    zone.add(param)
    structure.nsec3_types[origin] |= {RRType.DNSKEY, RRType.NSEC3PARAM}
    structure.to_sign.append(param)

    chain = _nsec3_chain(zone, structure.nsec3_types, config, nsec3_ttl)
    stats.nsec3_records = len(chain)
    for rrset in chain:
        zone.add(rrset)
    structure.to_sign.extend(chain)
    zone.canonical_owners()  # now, while the zone is smaller than it will be once signed
    stats.seconds_analyse = time.perf_counter() - t0

    t1 = time.perf_counter()
    window = ValidityWindow.for_run(
        now, config.validity_min, config.validity_max, config.inception_offset
    )
    now_s = to_epoch(now)
    refresh = int(config.refresh.total_seconds())
    ksk_makers = tuple(rrsig_maker(d, origin, window) for d in ksks)
    zsk_makers = tuple(rrsig_maker(d, origin, window) for d in zsks)
    jobs = SignJobs.empty(ksk_makers + zsk_makers)
    rrsets = [dnskey, *structure.to_sign]
    for rrset in rrsets:
        is_dnskey = rrset is dnskey
        duties = ksks if is_dnskey else zsks
        offset = 0 if is_dnskey else len(ksk_makers)
        keep: dict[SignerKey, bytes] = {}
        if previous is not None:
            keep = reusable_signatures(
                rrset,
                previous.signatures_for(rrset),
                tuple(d.signer_key for d in duties),
                origin,
                now_s,
                refresh,
            )
            stats.signatures_reused += len(keep)
        rrset.sigs = tuple(keep.values())
        for i, duty in enumerate(duties):
            if duty.signer_key not in keep:
                jobs.add(rrset, offset + i)
    stats.rrsets = len(rrsets)
    stats.signatures_made = sign_all(jobs, keystore, workers, progress)
    stats.seconds_sign = time.perf_counter() - t1
    return SignResult(zone=zone, stats=stats)


def rrsig_maker(duty: KeyDuty, origin: bytes, window: ValidityWindow) -> RrsigMaker:
    return RrsigMaker(
        duty.key.key_id, duty.signer_key.algorithm, duty.signer_key.key_tag, origin, window
    )


def key_duties(keys: tuple[ZoneKey, ...], config: SigningConfig, what: str) -> tuple[KeyDuty, ...]:
    if not keys:
        raise NoUsableKey(f"no key is configured to {what}")
    # RFC 4035 2.2: each algorithm in the apex DNSKEY RRset must sign every RRset.
    missing = {k.algorithm for k in config.published} - {k.algorithm for k in keys}
    if missing:
        raise NoUsableKey(
            f"no key of algorithm {sorted(int(a) for a in missing)} is "
            f"configured to {what}, but such keys are published (RFC 4035 2.2)"
        )
    return tuple(KeyDuty(k, SignerKey(int(k.algorithm), key_tag(k.dnskey_rdata))) for k in keys)


def _nsec3_chain(
    zone: Zone,
    types_at: dict[bytes, frozenset[int]],
    config: SigningConfig,
    ttl: int,
) -> list[RRset]:
    """One NSEC3 per authoritative name, delegation and empty non-terminal, no opt-out
    (DPS 6.2, RFC 5155 7.1)."""
    salt, iterations = config.nsec3_salt, config.nsec3_iterations
    hashed: dict[bytes, bytes] = {}
    for name in types_at:
        digest = nsec3.nsec3_hash(name, salt, iterations)
        other = hashed.get(digest)
        if other is not None:
            raise SigningError(
                f"NSEC3 hash collision between {names.to_text(name)} and "
                f"{names.to_text(other)}: choose another salt (RFC 5155 7.1)"
            )
        hashed[digest] = name
    order = sorted(hashed)
    chain: list[RRset] = []
    for i, digest in enumerate(order):
        name = hashed[digest]
        types = types_at[name]
        next_hash = order[(i + 1) % len(order)]
        owner = nsec3.hashed_owner(digest, zone.origin)
        if owner in zone.nodes:
            raise SigningError(
                f"{names.to_text(owner)} is both a name in the zone and an "
                "NSEC3 owner; choose another salt"
            )
        rdata = nsec3.nsec3_rdata(next_hash, types, salt, iterations)
        chain.append(RRset(owner, RRType.NSEC3, ttl, [rdata]))
    return chain
