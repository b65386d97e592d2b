"""A model of validating resolvers' caches, and a check that every cache state validates.

At an instant ``t`` a resolver may hold, independently of each other:

* a parent DS RRset served at any time in the last DS TTL (plus the parent's lag);
* a DNSKEY RRset with its RRSIGs served at any time in the last DNSKEY TTL (plus the
  zone's propagation lag: a secondary may serve a version up to ``lag`` after the
  primary replaced it);
* for every other signed RRset, the RRset with its RRSIGs served in the last TTL.

Every combination must validate at ``t``. Two independent checks, both must pass:

* the *model*: key tags and algorithms only; a DS in the DS set matches a DNSKEY that
  has an RRSIG over the DNSKEY RRset, and some RRSIG over each RRset comes from a key
  in that DNSKEY RRset, each RRSIG inside its validity window at ``t``;
* *cryptography*: ``dns.dnssec.validate`` (dnspython) with ``now=t``, on the DNSKEY
  RRset with only the DS-matched keys as trust, and on each RRset with the DNSKEY RRset.

An empty DS set means the zone is insecure to that resolver (before the first DS is
published): nothing to validate.

With two algorithms (an algorithm rollover), RFC 6840 5.11 lets a validator accept any
one algorithm of the DS set that validates; that is the check above. ``strict`` adds the
validators the conservative method (RFC 6781 4.1.4) exists for: for every algorithm of
the DS set, a DS-matched key of it must sign the DNSKEY RRset, and every RRset must be
signed with every algorithm of the cached DNSKEY RRset (RFC 4035 2.2 read strictly), by
the model and by dnspython restricted to that algorithm's keys.
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import dns.dnssec
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from tldsec.clock import to_epoch
from tldsec.dnscore.dnskey import ds_digest, key_tag
from tldsec.dnscore.zone import Zone

DNSKEY = 48
DsTuple = tuple[int, int, int, bytes]  # key tag, algorithm, digest type, digest


@dataclass(frozen=True, slots=True)
class Snap:
    """One RRset with the RRSIGs covering it, as a server served it."""

    owner: bytes
    rtype: int
    ttl: int
    rdatas: tuple[bytes, ...]
    sigs: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class SigInfo:
    algorithm: int
    expiration: int
    inception: int
    key_tag: int


def sig_info(sig: bytes) -> SigInfo:
    """Fields of RRSIG RDATA (RFC 4034 3.1)."""
    _covered, alg, _labels, _ttl, expiration, inception, tag = struct.unpack("!HBBIIIH", sig[:18])
    return SigInfo(alg, expiration, inception, tag)


@dataclass(frozen=True, slots=True)
class Failure:
    """One cache state that does not validate."""

    time: datetime
    what: str

    def __str__(self) -> str:
        return f"{self.time.isoformat()}: {self.what}"


@dataclass
class _Version:
    time: datetime
    rrsets: dict[tuple[bytes, int], Snap]


class ZoneHistory:
    """Every signed version of the zone, in time order, with identical RRsets shared."""

    def __init__(self, origin: bytes, lag: timedelta) -> None:
        self.origin = origin
        self.lag = lag
        self._versions: list[_Version] = []
        self._times: list[datetime] = []
        self._intern: dict[Snap, Snap] = {}
        self.signed_keys: set[tuple[bytes, int]] = set()

    def add(self, when: datetime, zone: Zone) -> None:
        if self._times and when <= self._times[-1]:
            raise ValueError("versions must be added in time order")
        rrsets: dict[tuple[bytes, int], Snap] = {}
        for rs in zone.rrsets():
            snap = Snap(rs.owner, rs.rtype, rs.ttl, tuple(rs.rdatas), tuple(sorted(rs.sigs)))
            rrsets[(rs.owner, rs.rtype)] = self._intern.setdefault(snap, snap)
            if rs.sigs:
                self.signed_keys.add((rs.owner, rs.rtype))
        self._versions.append(_Version(when, rrsets))
        self._times.append(when)

    def served(self, key: tuple[bytes, int], t: datetime, ttl: int) -> list[Snap]:
        """Distinct versions of one RRset a cache may hold at ``t`` (served in the last TTL)."""
        hi = bisect.bisect_right(self._times, t) - 1
        start = t - timedelta(seconds=ttl)
        out: dict[int, Snap] = {}
        i = hi
        while i >= 0:
            # version i was served from its time until the next version's time + lag
            until = self._times[i + 1] + self.lag if i + 1 < len(self._times) else t
            if until < start:
                break
            snap = self._versions[i].rrsets.get(key)
            if snap is not None:
                out[id(snap)] = snap
            i -= 1
        return list(out.values())

    def keys_at(self, t: datetime) -> set[tuple[bytes, int]]:
        hi = bisect.bisect_right(self._times, t) - 1
        return set(self._versions[hi].rrsets) if hi >= 0 else set()


class ParentHistory:
    """The parent's DS RRset for our zone over time."""

    def __init__(self, ttl: int, lag: timedelta) -> None:
        self.ttl = ttl
        self.lag = lag
        self._times: list[datetime] = []
        self._sets: list[frozenset[DsTuple]] = []

    def add(self, when: datetime, ds: frozenset[DsTuple]) -> None:
        if self._times and when < self._times[-1]:
            raise ValueError("parent changes must be added in time order")
        self._times.append(when)
        self._sets.append(ds)

    def served(self, t: datetime) -> list[frozenset[DsTuple]]:
        hi = bisect.bisect_right(self._times, t) - 1
        start = t - timedelta(seconds=self.ttl)
        out: set[frozenset[DsTuple]] = set()
        i = hi
        while i >= 0:
            until = self._times[i + 1] + self.lag if i + 1 < len(self._times) else t
            if until < start:
                break
            out.add(self._sets[i])
            i -= 1
        return sorted(out, key=sorted)


def ds_tuple(owner: bytes, dnskey_rdata: bytes, digest_type: int = 2) -> DsTuple:
    return (
        key_tag(dnskey_rdata),
        dnskey_rdata[3],
        digest_type,
        ds_digest(owner, dnskey_rdata, digest_type),
    )


class Resolvers:
    """Checks every cache state of every resolver at chosen instants."""

    def __init__(self, zone: ZoneHistory, parent: ParentHistory, *, strict: bool = False) -> None:
        self.zone = zone
        self.parent = parent
        self.strict = strict
        self.origin_name = dns.name.from_wire(zone.origin, 0)[0]
        self._dns: dict[int, tuple[dns.rrset.RRset, dns.rrset.RRset]] = {}
        self.checked_instants = 0
        self.crypto_validations = 0

    def check(self, t: datetime) -> list[Failure]:
        self.checked_instants += 1
        now = to_epoch(t)
        failures: list[Failure] = []
        ds_sets = [d for d in self.parent.served(t) if d]
        if not ds_sets:
            return failures  # insecure for every resolver: nothing to validate
        origin_key = (self.zone.origin, DNSKEY)
        current = self.zone.served(origin_key, t, 0)
        if not current:
            return [Failure(t, "no DNSKEY RRset is served")]
        dnskeys = self.zone.served(origin_key, t, current[0].ttl)
        for d in ds_sets:
            for v in dnskeys:
                why = self._dnskey_model(v, d, now)
                if why:
                    failures.append(
                        Failure(t, f"model: DNSKEY {_tags(v.rdatas)} with DS {_ds(d)}: {why}")
                    )
                why = self._dnskey_crypto(v, d, now)
                if why:
                    failures.append(
                        Failure(t, f"crypto: DNSKEY {_tags(v.rdatas)} with DS {_ds(d)}: {why}")
                    )
                if self.strict:
                    for alg in sorted({x[1] for x in d}):
                        only = frozenset(x for x in d if x[1] == alg)
                        why = self._dnskey_model(v, only, now) or self._dnskey_crypto(v, only, now)
                        if why:
                            failures.append(
                                Failure(
                                    t,
                                    f"strict: algorithm {alg}: DNSKEY {_tags(v.rdatas)} "
                                    f"with DS {_ds(d)}: {why}",
                                )
                            )
        for key in sorted(self.zone.keys_at(t) & self.zone.signed_keys):
            if key == origin_key:
                continue
            snaps = self.zone.served(key, t, max(s.ttl for s in self.zone.served(key, t, 0)))
            for w in snaps:
                for v in dnskeys:
                    what = f"{dns.name.from_wire(w.owner, 0)[0]} {dns.rdatatype.to_text(w.rtype)}"
                    why = self._data_model(w, v, now)
                    if why:
                        failures.append(
                            Failure(t, f"model: {what} with DNSKEY {_tags(v.rdatas)}: {why}")
                        )
                    why = self._data_crypto(w, v, now)
                    if why:
                        failures.append(
                            Failure(t, f"crypto: {what} with DNSKEY {_tags(v.rdatas)}: {why}")
                        )
                    if self.strict:
                        for alg in sorted({k[3] for k in v.rdatas if k[0] & 1}):
                            why = self._data_strict(w, v, alg, now)
                            if why:
                                failures.append(
                                    Failure(
                                        t,
                                        f"strict: {what} with DNSKEY {_tags(v.rdatas)}: "
                                        f"algorithm {alg}: {why}",
                                    )
                                )
        return failures

    # --- the model: tags, algorithms, validity windows ---------------------------------

    def _dnskey_model(self, v: Snap, ds: frozenset[DsTuple], now: int) -> str | None:
        trusted = {
            (key_tag(k), k[3])
            for k in v.rdatas
            if any(ds_tuple(self.zone.origin, k, d[2]) == d for d in ds if d[0] == key_tag(k))
        }
        if not trusted:
            return "no DS matches a key in the DNSKEY RRset"
        for s in map(sig_info, v.sigs):
            if (s.key_tag, s.algorithm) in trusted and s.inception <= now <= s.expiration:
                return None
        return "no valid RRSIG by a DS-matched key"

    def _data_model(self, w: Snap, v: Snap, now: int) -> str | None:
        keys = {(key_tag(k), k[3]) for k in v.rdatas if k[0] & 1}  # Zone Key flag (RFC 4034 2.1.1)
        if not w.sigs:
            return "no RRSIG"
        for s in map(sig_info, w.sigs):
            if (s.key_tag, s.algorithm) in keys and s.inception <= now <= s.expiration:
                return None
        by = sorted(sig_info(x).key_tag for x in w.sigs)
        return f"no valid RRSIG by a key in it (RRSIGs by {by})"

    def _data_strict(self, w: Snap, v: Snap, alg: int, now: int) -> str | None:
        """RFC 4035 2.2 read strictly: an RRSIG of ``alg`` by a key of ``alg`` in ``v``."""
        keys = tuple(k for k in v.rdatas if k[0] & 1 and k[3] == alg)
        mine = tuple(x for x in w.sigs if sig_info(x).algorithm == alg)
        if not mine:
            return "not signed with this algorithm of the DNSKEY RRset (RFC 4035 2.2)"
        why = self._data_model(replace(w, sigs=mine), replace(v, rdatas=keys), now)
        if why:
            return why
        name = dns.name.from_wire(w.owner, 0)[0]
        rrset = _rrset(name, w.rtype, w.ttl, w.rdatas)
        sigs = _rrset(name, dns.rdatatype.RRSIG, w.ttl, mine)
        return self._validate(rrset, sigs, _rrset(self.origin_name, DNSKEY, v.ttl, keys), now)

    # --- cryptography: dnspython -------------------------------------------------------

    def _rrsets(self, snap: Snap) -> tuple[dns.rrset.RRset, dns.rrset.RRset]:
        got = self._dns.get(id(snap))
        if got is None:
            name = dns.name.from_wire(snap.owner, 0)[0]
            rrset = _rrset(name, snap.rtype, snap.ttl, snap.rdatas)
            sigs = _rrset(name, dns.rdatatype.RRSIG, snap.ttl, snap.sigs)
            got = self._dns[id(snap)] = (rrset, sigs)
        return got

    def _dnskey_crypto(self, v: Snap, ds: frozenset[DsTuple], now: int) -> str | None:
        matched = [k for k in v.rdatas if any(ds_tuple(self.zone.origin, k, d[2]) == d for d in ds)]
        if not matched:
            return "no DS matches a key in the DNSKEY RRset"
        rrset, sigs = self._rrsets(v)
        trust = _rrset(self.origin_name, DNSKEY, v.ttl, tuple(matched))
        return self._validate(rrset, sigs, trust, now)

    def _data_crypto(self, w: Snap, v: Snap, now: int) -> str | None:
        if not w.sigs:
            return "no RRSIG"
        rrset, sigs = self._rrsets(w)
        keys, _ = self._rrsets(v)
        return self._validate(rrset, sigs, keys, now)

    def _validate(
        self, rrset: dns.rrset.RRset, sigs: dns.rrset.RRset, keys: dns.rrset.RRset, now: int
    ) -> str | None:
        self.crypto_validations += 1
        try:
            dns.dnssec.validate(rrset, sigs, {self.origin_name: keys}, now=now)
        except dns.dnssec.ValidationFailure as exc:
            return f"dns.dnssec.validate: {exc}"
        return None


def _rrset(name: dns.name.Name, rtype: int, ttl: int, rdatas: Iterable[bytes]) -> dns.rrset.RRset:
    out = dns.rrset.RRset(name, dns.rdataclass.IN, dns.rdatatype.RdataType.make(rtype))
    for wire in rdatas:
        out.add(dns.rdata.from_wire(dns.rdataclass.IN, rtype, wire, 0, len(wire)), ttl)
    return out


def _tags(rdatas: Sequence[bytes]) -> list[int]:
    return sorted(key_tag(k) for k in rdatas)


def _ds(ds: frozenset[DsTuple]) -> list[int]:
    return sorted(d[0] for d in ds)
