"""Check "second-implementation": re-sign RRsets with dnspython and compare byte for byte.

DPS 6.6 has copies of the zone signed by two independent implementations compared.
Here dnspython's ``dns.dnssec.sign`` builds each RRSIG again from the RRset (its own
canonical form, signed data and RDATA) with the RRSIG's own inception and expiration,
and signs through the same key store (``hsm.dnspython_key``). RSASSA-PKCS1-v1_5 is
deterministic, so the result must equal the zone's RRSIG octet for octet; any
difference is a failure naming the RRset. ECDSA (algorithm 13) signatures are
randomised (RFC 6605 6): there dnspython's RRSIG must equal the zone's in every field
but the signature, and the zone's signature must validate under dnspython's own
construction of the signed data (``dns.dnssec.validate_rrsig``).

It runs one way in every plan (decision 70): each region (a part, the whole zone, the
edited regions) re-signs its own sample (``choose``: the apex RRsets and its share of
``[verify] second_sample``, seeded by the SOA serial and the region's index, so a run
can be repeated) with ``compare``, on forked workers where the region may fork.
"""

from __future__ import annotations

import math
import os
import random
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
from tldsec.verify.report import CheckResult, Collector, Finding
from tldsec.verify.rrsig import parse_rrsig
from tldsec.verify.workers import ForkedMap

NAME = "second-implementation"
RANDOMISED = frozenset({13})  # ECDSAP256SHA256 (RFC 6605 6): a fresh k per signature


@dataclass(frozen=True, slots=True)
class StoreKey:
    dnskey: DNSKEY
    key_id: str


@dataclass(frozen=True, slots=True)
class SecondSetup:
    """What every region re-signs with; handed to workers across fork."""

    keys: dict[tuple[int, int], list[StoreKey]]
    origin: dns.name.Name
    sample: int | None  # None: every RRset
    seed: int  # the SOA serial
    total_bytes: int  # the signed file's size: a region's share of the sample is its bytes'
    store: KeyStore
    opener: KeyOpener | None
    parent: int  # the pid that holds ``store``: any other process opens its own session

    @classmethod
    def build(
        cls,
        apex: Zone,
        store: KeyStore,
        opener: KeyOpener | None,
        sample: int | None,
        seed: int,
        total_bytes: int,
        unpublished: frozenset[bytes],
    ) -> SecondSetup:
        dnskey = apex.get(apex.origin, RRType.DNSKEY)
        # An algorithm rollover's keys that sign unpublished sign a second time too.
        keys = keys_in_store([*(dnskey.rdatas if dnskey else []), *unpublished], store)
        origin = dns.name.from_wire(apex.origin, 0)[0]
        return cls(keys, origin, sample, seed, total_bytes, store, opener, os.getpid())

    @property
    def forks(self) -> bool:
        """Whether a forked worker can open its own session on the store (one HSM session
        per core); an in-memory store without a token label cannot be reopened."""
        spec = self.store.spec
        return self.opener is not None and not (spec.backend == "memory" and not spec.token_label)


def choose(s: SecondSetup, signed: list[RRset], index: int, nbytes: int) -> list[RRset]:
    """Every signed RRset of a region, or its apex ones and its share of the sample: the
    region's ``nbytes`` of the file's, drawn by a generator seeded with the serial and the
    region's ``index``."""
    if s.sample is None:
        return signed
    origin = s.origin.to_wire()
    apex = [r for r in signed if r.owner == origin]
    rest = [r for r in signed if r.owner != origin]
    quota = math.ceil(s.sample * nbytes / max(1, s.total_bytes))
    if quota >= len(rest):
        return apex + rest
    return apex + random.Random(s.seed * 1_000_003 + index).sample(rest, quota)


def compare(s: SecondSetup, chosen: list[RRset], workers: int) -> tuple[Collector, int]:
    """Every chosen RRset re-signed and compared, on up to ``workers`` forked workers (one
    if the store cannot be reopened): the findings and the workers used."""

    def task(start: int, end: int) -> list[Collector]:
        if os.getpid() == s.parent or s.opener is None:
            return [_compare_range(chosen[start:end], s, s.store)]
        store = s.opener(s.store.spec)  # a forked worker: its own session (its own login)
        try:
            return [_compare_range(chosen[start:end], s, store)]
        finally:
            store.close()

    work = ForkedMap(task, len(chosen), workers if s.forks else 1)
    found = Collector()
    for part in work.result():
        found.merge(part)
    return found, work.workers


def result(found: Collector, counts: dict[str, int], seconds: float, how: str) -> CheckResult:
    """The check's result from the regions' merged findings and ``counts`` (``how``: where
    it ran)."""
    rrsets, chosen = counts.get("second_of", 0), counts.get("second_rrsets", 0)
    rrsigs = counts.get("second_rrsigs", 0)
    scope = (
        f"all {rrsets} signed RRsets"
        if chosen == rrsets
        else f"a sample of {chosen} of {rrsets} signed RRsets (apex RRsets always)"
    )
    note = (
        f"dnspython {dns.version.version} re-signed {scope} ({rrsigs} RRSIGs) through the key "
        f"store{how}"
    )
    return found.result(NAME, seconds, (note,))


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


def _compare_range(chosen: list[RRset], s: SecondSetup, store: KeyStore) -> Collector:
    found = Collector()
    private: dict[str, GenericPrivateKey] = {}
    for rrset in chosen:
        problems = _compare_rrset(rrset, store, s.keys, s.origin, private)
        if problems:
            found.add(
                Finding(names.to_text(rrset.owner), type_text(rrset.rtype), "; ".join(problems))
            )
    return found


def _compare_rrset(
    rrset: RRset,
    store: KeyStore,
    keys: dict[tuple[int, int], list[StoreKey]],
    origin: dns.name.Name,
    private: dict[str, GenericPrivateKey],
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
                pk = hsm_private_key(store, key.key_id)
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
