"""Check "second-implementation": re-sign RRsets with dnspython and compare byte for byte.

DPS 6.6 has copies of the zone signed by two independent implementations compared.
Here dnspython's ``dns.dnssec.sign`` builds each RRSIG again from the RRset (its own
canonical form, signed data and RDATA) with the RRSIG's own inception and expiration,
and signs through the same key store (``hsm.dnspython_key``). RSASSA-PKCS1-v1_5 is
deterministic, so the result must equal the zone's RRSIG octet for octet; any
difference is a failure naming the RRset. ECDSA (algorithm 13) signatures are
randomised (RFC 6605 6): there dnspython's RRSIG must equal the zone's in every field
but the signature, and the zone's signature must validate under dnspython's own
construction of the signed data (``dns.dnssec.validate_rrsig``). Every RRset is
compared, or, for big zones, the apex RRsets and a random sample of the others (seeded
by the SOA serial, so a run can be repeated).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import dns.dnssec
import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import dns.version
from dns.dnssecalgs.base import GenericPrivateKey
from dns.rdtypes.ANY.DNSKEY import DNSKEY
from dns.rdtypes.ANY.RRSIG import RRSIG

from tldsec.dnscore import names
from tldsec.dnscore.types import RRType, type_text
from tldsec.dnscore.zone import RRset, Zone
from tldsec.errors import KeyStoreError
from tldsec.hsm.base import KeyStore
from tldsec.hsm.dnspython_key import hsm_private_key
from tldsec.verify.keys import key_tag
from tldsec.verify.options import KeyOpener
from tldsec.verify.report import FINDINGS_CAP, CheckResult, Finding, Status
from tldsec.verify.rrsig import parse_rrsig
from tldsec.verify.workers import ForkedMap

NAME = "second-implementation"
RANDOMISED = frozenset({13})  # ECDSAP256SHA256 (RFC 6605 6): a fresh k per signature
PrivateKeyFor = Callable[[KeyStore, str], GenericPrivateKey]


@dataclass(frozen=True, slots=True)
class StoreKey:
    dnskey: DNSKEY
    key_id: str


def select_rrsets(zone: Zone, sample: int | None, seed: int) -> list[RRset]:
    """All signed RRsets, or the apex ones plus ``sample`` others chosen at random."""
    signed = [r for r in zone.rrsets() if r.sigs]
    if sample is None or sample >= len(signed):
        return signed
    apex = [r for r in signed if r.owner == zone.origin]
    rest = [r for r in signed if r.owner != zone.origin]
    return apex + random.Random(seed).sample(rest, min(sample, len(rest)))


class SecondImplementationCheck:
    """The comparison, started in the background; ``result()`` collects it."""

    def __init__(
        self,
        zone: Zone,
        keystore: KeyStore,
        *,
        sample: int | None,
        seed: int,
        workers: int = 1,
        opener: KeyOpener | None = None,
        private_key_for: PrivateKeyFor = hsm_private_key,
        unpublished: frozenset[bytes] = frozenset(),
    ) -> None:
        self._t0 = time.perf_counter()
        self.origin = zone.origin
        self.total = sum(1 for r in zone.rrsets() if r.sigs)
        chosen = select_rrsets(zone, sample, seed)
        self.chosen = len(chosen)
        self.sample = sample
        self.signatures = sum(len(r.sigs) for r in chosen)
        dnskey = zone.get(zone.origin, RRType.DNSKEY)
        # An algorithm rollover's keys that sign unpublished sign a second time too.
        keys = keys_in_store([*(dnskey.rdatas if dnskey else []), *unpublished], keystore)
        origin_name = dns.name.from_wire(zone.origin, 0)[0]
        spec = keystore.spec
        # A forked worker opens its own session on the store (one HSM session per core);
        # a store that cannot be reopened by its spec is used here, in one process.
        reopenable = opener is not None and not (spec.backend == "memory" and not spec.token_label)
        if not reopenable:
            workers = 1

        parent = os.getpid()

        def task(start: int, end: int) -> list[tuple[int, list[Finding]]]:
            if os.getpid() != parent and opener is not None:
                store = opener(spec)  # a forked worker: its own session
                try:
                    return [
                        compare_range(chosen, start, end, store, keys, origin_name, private_key_for)
                    ]
                finally:
                    store.close()
            return [compare_range(chosen, start, end, keystore, keys, origin_name, private_key_for)]

        self._map: ForkedMap[tuple[int, list[Finding]]] = ForkedMap(task, len(chosen), workers)

    def result(self) -> CheckResult:
        parts = self._map.result()
        failures = sum(n for n, _ in parts)
        kept = [f for _, found in parts for f in found][:FINDINGS_CAP]
        scope = (
            f"all {self.total} signed RRsets"
            if self.chosen == self.total
            else f"a sample of {self.chosen} of {self.total} signed RRsets (apex RRsets always)"
        )
        note = (
            f"dnspython {dns.version.version} re-signed {scope} ({self.signatures} RRSIGs) "
            f"through the key store with {self._map.workers} worker(s)"
        )
        return CheckResult(
            name=NAME,
            status=Status.FAILED if failures else Status.PASSED,
            findings=tuple(kept),
            failures=failures,
            seconds=time.perf_counter() - self._t0,
            notes=(note,),
        )

    def abandon(self) -> None:
        self._map.abandon()


def keys_in_store(
    dnskeys: list[bytes], keystore: KeyStore
) -> dict[tuple[int, int], list[StoreKey]]:
    """DNSKEYs of the apex whose private key the store holds, by (algorithm, tag)."""
    held = {(int(info.algorithm), info.public_key): info.key_id for info in keystore.list_keys()}
    out: dict[tuple[int, int], list[StoreKey]] = {}
    for rd in dnskeys:
        if len(rd) < 4:
            continue
        key_id = held.get((rd[3], rd[4:]))
        if key_id is None:
            continue
        obj = dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.DNSKEY, rd, 0, len(rd))
        assert isinstance(obj, DNSKEY)
        out.setdefault((rd[3], key_tag(rd)), []).append(StoreKey(obj, key_id))
    return out


def compare_range(
    chosen: list[RRset],
    start: int,
    end: int,
    store: KeyStore,
    keys: dict[tuple[int, int], list[StoreKey]],
    origin: dns.name.Name,
    private_key_for: PrivateKeyFor,
) -> tuple[int, list[Finding]]:
    failures = 0
    kept: list[Finding] = []
    private: dict[str, GenericPrivateKey] = {}
    for rrset in chosen[start:end]:
        problems = _compare_rrset(rrset, store, keys, origin, private, private_key_for)
        if problems:
            failures += 1
            if len(kept) < FINDINGS_CAP:
                kept.append(
                    Finding(names.to_text(rrset.owner), type_text(rrset.rtype), "; ".join(problems))
                )
    return failures, kept


def _compare_rrset(
    rrset: RRset,
    store: KeyStore,
    keys: dict[tuple[int, int], list[StoreKey]],
    origin: dns.name.Name,
    private: dict[str, GenericPrivateKey],
    private_key_for: PrivateKeyFor,
) -> list[str]:
    try:
        owner = dns.name.from_wire(rrset.owner, 0)[0]
        rdtype = dns.rdatatype.RdataType.make(rrset.rtype)
        theirs = dns.rrset.RRset(owner, dns.rdataclass.IN, rdtype)
        for rd in rrset.rdatas:
            theirs.add(dns.rdata.from_wire(dns.rdataclass.IN, rdtype, rd, 0, len(rd)), rrset.ttl)
    except (dns.exception.DNSException, ValueError) as exc:
        return [f"dnspython cannot read the RRset: {exc}"]
    problems: list[str] = []
    for sig in rrset.sigs:
        try:
            f = parse_rrsig(sig)
        except ValueError as exc:
            problems.append(f"malformed RRSIG: {exc}")
            continue
        candidates = keys.get((f.algorithm, f.key_tag))
        if not candidates:
            problems.append(
                f"RRSIG by key {f.key_tag}: no such key in both the DNSKEY RRset and the key "
                "store, so it cannot be signed a second time"
            )
            continue
        key = candidates[0]
        try:
            pk = private.get(key.key_id)
            if pk is None:
                pk = private_key_for(store, key.key_id)
                private[key.key_id] = pk
            again = dns.dnssec.sign(
                theirs,
                pk,
                signer=origin,
                dnskey=key.dnskey,
                inception=f.inception,
                expiration=f.expiration,
            )
        except (dns.exception.DNSException, KeyStoreError, ValueError, TypeError) as exc:
            problems.append(f"RRSIG by key {f.key_tag}: dnspython could not sign: {exc}")
            continue
        mine = again.to_digestable(origin)
        if f.algorithm in RANDOMISED:
            problem = _compare_randomised(theirs, sig, mine, key, origin, f.inception)
            if problem:
                problems.append(f"RRSIG by key {f.key_tag}: {problem}")
        elif mine != sig:
            problems.append(f"RRSIG by key {f.key_tag}: {_difference(sig, mine)}")
    return problems


def _compare_randomised(
    theirs: dns.rrset.RRset,
    sig: bytes,
    mine: bytes,
    key: StoreKey,
    origin: dns.name.Name,
    inception: int,
) -> str | None:
    """For a randomised signature: the fields, then dnspython's validation of ours."""
    difference = _difference(sig, mine)
    if not difference.startswith("the signature differs"):
        return difference
    try:
        rrsig = dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.RRSIG, sig, 0, len(sig))
        assert isinstance(rrsig, RRSIG)
        dnskeys = dns.rrset.from_rdata(origin, 0, key.dnskey)
        # Judged at its inception: the times are the signatures check's business.
        dns.dnssec.validate_rrsig(theirs, rrsig, {origin: dnskeys}, now=float(inception))
    except dns.exception.ValidationFailure as exc:
        return f"the signature does not validate under dnspython ({exc})"
    except (dns.exception.DNSException, ValueError) as exc:
        return f"dnspython cannot read the RRSIG: {exc}"
    return None


def _difference(ours: bytes, theirs: bytes) -> str:
    """What differs between the zone's RRSIG and dnspython's."""
    try:
        a, b = parse_rrsig(ours), parse_rrsig(theirs)
    except ValueError:
        return "differs from dnspython's"
    for field in ("type_covered", "algorithm", "labels", "original_ttl", "key_tag", "signer"):
        if getattr(a, field) != getattr(b, field):
            return (
                f"{field.replace('_', ' ')} {getattr(a, field)!r} differs from dnspython's "
                f"{getattr(b, field)!r}"
            )
    return "the signature differs from dnspython's over the same RRset and times"
