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
from pathlib import Path

from tldsec.clock import to_epoch
from tldsec.dnscore import names, nsec3
from tldsec.dnscore.bulk import bulk_allocation
from tldsec.dnscore.dnskey import key_tag
from tldsec.dnscore.types import RRType
from tldsec.dnscore.zone import RRset, Zone, denial_ttl
from tldsec.errors import NoUsableKey
from tldsec.hsm.base import KeyStore
from tldsec.signconf import SigningConfig, ZoneKey
from tldsec.signer.chain import OwnerHashes, nsec3_chain, start_hashing
from tldsec.signer.presign import (
    PRESIGN_MIN_BYTES,
    DsPresigning,
    attach_presigned,
    start_presigning,
)
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
    # Of signatures_made, those made by the presigning child while the zone was read.
    signatures_presigned: int = 0
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
    presigned: DsPresigning | None = None,
) -> SignResult:
    """Sign ``unsigned`` (which becomes the signed zone: it is extended in place).

    ``previous``: the last signed zone, for reuse (DPS 6.5).
    ``presigned``: the child ``presign_delegations`` started before the zone was read,
    for the same ``config``, ``keystore`` and ``now``; closed here.
    """
    if isinstance(previous, Zone):
        previous = ZoneSignatures(previous)
    with bulk_allocation():
        return _sign_zone(unsigned, config, keystore, now, previous, workers, progress, presigned)


def _sign_zone(
    unsigned: Zone,
    config: SigningConfig,
    keystore: KeyStore,
    now: datetime,
    previous: PreviousSignatures | None,
    workers: int,
    progress: Callable[[int, int], None] | None,
    presigned: DsPresigning | None,
) -> SignResult:
    zsks = key_duties(config.zone_signers, config, "sign the zone (ZSK)")
    ksks = key_duties(config.dnskey_signers, config, "sign the DNSKEY RRset (KSK)")
    window = _window(config, now)
    plan = _JobPlan(unsigned.origin, ksks, zsks, window, previous, to_epoch(now), config)
    # The NSEC3 hashes of the owners, made in a child while the zone is analysed here.
    hashes = start_hashing(unsigned, config.nsec3_salt, config.nsec3_iterations)
    try:
        return _sign_analysed(
            unsigned, config, keystore, plan, workers, progress, hashes, presigned
        )
    finally:
        if hashes is not None:
            hashes.close()
        if presigned is not None:
            presigned.close()


def presign_delegations(
    zone_file: Path,
    origin: str,
    config: SigningConfig,
    keystore: KeyStore,
    now: datetime,
    workers: int,
    min_bytes: int = PRESIGN_MIN_BYTES,
) -> DsPresigning | None:
    """Start signing the delegations' DS RRsets of ``zone_file`` in a child, before the
    file is read; give the result to ``sign_zone`` (``presigned``)."""
    if not config.zone_signers:
        return None  # sign_zone says why
    zsks = key_duties(config.zone_signers, config, "sign the zone (ZSK)")
    origin_wire = names.to_wire(origin if origin.endswith(".") else origin + ".")
    window = _window(config, now)
    makers = tuple(rrsig_maker(d, origin_wire, window) for d in zsks)
    return start_presigning(zone_file, origin, makers, keystore.spec, workers, min_bytes)


def _window(config: SigningConfig, now: datetime) -> ValidityWindow:
    return ValidityWindow.for_run(
        now, config.validity_min, config.validity_max, config.inception_offset
    )


@dataclass(slots=True)
class _JobPlan:
    """Which signatures each RRset needs in this run: all of them for a full sign;
    those a previous run's signatures do not cover, when reusing (DPS 6.5). An RRset
    that arrives with RRSIGs was presigned (``presign``): those cover every ZSK duty."""

    origin: bytes
    ksks: tuple[KeyDuty, ...]
    zsks: tuple[KeyDuty, ...]
    window: ValidityWindow
    previous: PreviousSignatures | None
    now_s: int
    config: SigningConfig
    reused: int = 0
    presigned: int = 0
    attached: int = 0  # RRsets that came with the presigning child's RRSIGs

    def zsk_makers(self) -> tuple[RrsigMaker, ...]:
        return tuple(rrsig_maker(d, self.origin, self.window) for d in self.zsks)

    def jobs_for(self, rrsets: list[RRset], dnskey: RRset) -> SignJobs:
        """Jobs for ``dnskey`` (KSK duties) and ``rrsets`` (ZSK duties)."""
        ksk_count = len(self.ksks)
        makers = tuple(rrsig_maker(d, self.origin, self.window) for d in self.ksks + self.zsks)
        jobs = SignJobs.empty(makers)
        if self.previous is None:
            # A full sign: every duty of every RRset not presigned becomes a job.
            for i in range(ksk_count):
                jobs.add(dnskey, i)
            # Only a presigning child can have given RRsets their RRSIGs already.
            todo = [r for r in rrsets if not r.sigs] if self.attached else rrsets
            self.presigned = self.attached * len(self.zsks)
            for i in range(len(self.zsks)):
                jobs.add_all(todo, ksk_count + i)
            return jobs
        refresh = int(self.config.refresh.total_seconds())
        for rrset in [dnskey, *rrsets]:
            is_dnskey = rrset is dnskey
            duties = self.ksks if is_dnskey else self.zsks
            offset = 0 if is_dnskey else ksk_count
            presigned = rrset.sigs
            keep = reusable_signatures(
                rrset,
                self.previous.signatures_for(rrset),
                tuple(d.signer_key for d in duties),
                self.origin,
                self.now_s,
                refresh,
            )
            self.reused += len(keep)
            sigs = list(keep.values())
            for i, duty in enumerate(duties):
                if duty.signer_key in keep:
                    continue
                if presigned:
                    sigs.append(presigned[i])
                    self.presigned += 1
                else:
                    jobs.add(rrset, offset + i)
            rrset.sigs = tuple(sigs)
        return jobs


def _sign_analysed(
    unsigned: Zone,
    config: SigningConfig,
    keystore: KeyStore,
    plan: _JobPlan,
    workers: int,
    progress: Callable[[int, int], None] | None,
    hashes: OwnerHashes | None,
    presigned: DsPresigning | None,
) -> SignResult:
    t0 = time.perf_counter()
    stats = SignStats()
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
    nsec3_ttl = denial_ttl(soa)
    param = RRset(
        origin,
        RRType.NSEC3PARAM,
        nsec3_ttl,
        [nsec3.nsec3param_rdata(config.nsec3_salt, config.nsec3_iterations)],
    )
    zone.add(param)
    structure.nsec3_types[origin] |= {RRType.DNSKEY, RRType.NSEC3PARAM}
    structure.to_sign.append(param)

    chain = nsec3_chain(
        zone,
        structure.nsec3_types,
        config.nsec3_salt,
        config.nsec3_iterations,
        nsec3_ttl,
        hashes,
    )
    if hashes is not None:
        hashes.close()  # before signing: its shared buffer is no longer needed
    structure.nsec3_types = {}  # a dict the size of the zone, not needed from here on
    stats.nsec3_records = len(chain)
    structure.to_sign.extend(chain)
    stats.seconds_analyse = time.perf_counter() - t0

    def meanwhile() -> None:
        # While the workers sign (they need only the RRsets): the chain joins the zone,
        # and the canonical order is computed now, while few signatures are attached.
        zone.add_all(chain)
        zone.canonical_owners()

    t1 = time.perf_counter()
    if presigned is not None and presigned.makers == plan.zsk_makers():
        plan.attached = attach_presigned(structure.to_sign, presigned.collect())
    jobs = plan.jobs_for(structure.to_sign, dnskey)
    stats.signatures_reused = plan.reused
    stats.rrsets = 1 + len(structure.to_sign)
    done_before = stats.signatures_presigned = plan.presigned

    def overall(done: int, total: int) -> None:
        assert progress is not None
        progress(done_before + done, done_before + total)

    stats.signatures_made = done_before + sign_all(
        jobs, keystore, workers, overall if progress else None, meanwhile
    )
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
