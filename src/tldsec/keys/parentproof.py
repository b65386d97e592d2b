"""Proof of what the parent zone says about our DS RRset (DPS 2.2; RFC 4035 section 5).

A parent's answer may open a rollover gate (``ds-seen``, ``ds-gone``) only when it is
authenticated. A forged or stripped answer must never move a KSK rollover. So:

- the answer carries the AA bit (an authoritative server of the parent, not a cache);
- the parent's DNSKEY RRset is signed by a key the configured trust anchor names (a DS or
  DNSKEY line for the parent zone, e.g. the root's ``/usr/share/dns/root.key``);
- our DS RRset is signed by that DNSKEY set (RFC 4035 5.3), or, when the parent says we have
  no DS, the denial is a signed NSEC (RFC 4035 5.4) or NSEC3 (RFC 5155 8.5) record that
  matches our name and lacks DS in its type bitmap.

Signatures are checked with dnspython's ``dns.dnssec.validate`` at the caller's time. This
module speaks to no network: it takes responses and returns proofs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import dns.dnssec
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rdtypes.util
import dns.rrset
import dns.zonefile
from dns.rdtypes.ANY.DNSKEY import DNSKEY
from dns.rdtypes.ANY.DS import DS

from tldsec.errors import ConfigError, TldsecError

# (key tag, algorithm, digest type, digest) of one DS RDATA
DsTuple = tuple[int, int, int, bytes]


class Unproven(TldsecError):
    """A parent answer that proves nothing; the message says why."""


@dataclass(frozen=True, slots=True)
class TrustAnchor:
    """The parent zone's trust anchor: DS and/or DNSKEY records for one owner name."""

    zone: dns.name.Name
    ds: tuple[DS, ...]
    dnskeys: tuple[DNSKEY, ...]
    source: str

    @classmethod
    def from_text(cls, text: str, source: str) -> TrustAnchor:
        """Zone-file lines (``. 172800 IN DNSKEY 257 3 8 ...`` or ``. IN DS ...``)."""
        try:
            rrsets = dns.zonefile.read_rrsets(text, rdclass=None, default_ttl=0)
        except (dns.exception.DNSException, ValueError) as exc:
            raise ConfigError(f"trust anchor {source}: {exc}") from exc
        owners = {r.name for r in rrsets}
        if len(owners) != 1:
            raise ConfigError(
                f"trust anchor {source}: expected the records of one zone, found "
                f"{', '.join(sorted(o.to_text() for o in owners)) or 'none'}"
            )
        ds = tuple(rd for r in rrsets if r.rdtype == dns.rdatatype.DS for rd in r)
        keys = tuple(rd for r in rrsets if r.rdtype == dns.rdatatype.DNSKEY for rd in r)
        if not ds and not keys:
            raise ConfigError(f"trust anchor {source}: holds no DS or DNSKEY record")
        return cls(owners.pop(), ds, keys, source)

    @classmethod
    def from_file(cls, path: Path) -> TrustAnchor:
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(
                f"trust anchor {path}: {exc.strerror or exc} ([keys] parent_trust_anchor)"
            ) from exc
        return cls.from_text(text, str(path))

    def trusts(self, key: DNSKEY) -> bool:
        """True when ``key`` is one of the anchor's DNSKEYs or matches one of its DS."""
        if any(key == k for k in self.dnskeys):
            return True
        for ds in self.ds:
            try:
                made = dns.dnssec.make_ds(self.zone, key, ds.digest_type)
            except (dns.exception.UnsupportedAlgorithm, ValueError):
                continue
            if made == ds:
                return True
        return False


@dataclass(frozen=True, slots=True)
class DsProof:
    """A validated statement of the parent: our DS set (empty: proven absent) and its TTL."""

    ds: frozenset[DsTuple]
    ttl: int | None  # the DS RRset's original TTL (RFC 4034 3.1.4); None when absent


def _authoritative(response: dns.message.Message, what: str) -> None:
    if not response.flags & dns.flags.AA:
        raise Unproven(f"the {what} answer is not authoritative (no AA bit)")


def _find(
    section: Iterable[dns.rrset.RRset], name: dns.name.Name, rdtype: dns.rdatatype.RdataType
) -> dns.rrset.RRset | None:
    for rrset in section:
        if rrset.name == name and rrset.rdtype == rdtype:
            return rrset
    return None


def _signatures(
    section: Iterable[dns.rrset.RRset], name: dns.name.Name, covers: dns.rdatatype.RdataType
) -> dns.rrset.RRset | None:
    for rrset in section:
        if rrset.name == name and rrset.rdtype == dns.rdatatype.RRSIG and rrset.covers == covers:
            return rrset
    return None


def _validate(
    rrset: dns.rrset.RRset,
    section: Iterable[dns.rrset.RRset],
    keys: dns.rdataset.Rdataset,
    zone: dns.name.Name,
    now: float,
) -> None:
    sigs = _signatures(section, rrset.name, rrset.rdtype)
    if sigs is None:
        raise Unproven(f"{rrset.name} {dns.rdatatype.to_text(rrset.rdtype)} is not signed")
    if not any(sig.signer == zone for sig in sigs):
        signers = ", ".join(sorted({sig.signer.to_text() for sig in sigs}))
        raise Unproven(
            f"{rrset.name} {dns.rdatatype.to_text(rrset.rdtype)} is signed by {signers}, "
            f"not by the parent zone {zone}"
        )
    try:
        dns.dnssec.validate(rrset, sigs, {zone: keys}, now=now)
    except dns.exception.ValidationFailure as exc:
        raise Unproven(
            f"{rrset.name} {dns.rdatatype.to_text(rrset.rdtype)}: no valid signature ({exc})"
        ) from exc


def parent_keys(
    anchor: TrustAnchor, response: dns.message.Message, now: float
) -> dns.rdataset.Rdataset:
    """The parent's DNSKEY set, validated from ``anchor`` (RFC 4035 5.2)."""
    _authoritative(response, "DNSKEY")
    keys = _find(response.answer, anchor.zone, dns.rdatatype.DNSKEY)
    if keys is None:
        raise Unproven(f"no DNSKEY RRset for the parent zone {anchor.zone}")
    trusted = dns.rdataset.Rdataset(dns.rdataclass.IN, dns.rdatatype.DNSKEY)
    for key in keys:
        if anchor.trusts(key):
            trusted.add(key)
    if not trusted:
        raise Unproven(
            f"no key of the parent's DNSKEY RRset matches the trust anchor {anchor.source}"
        )
    _validate(keys, response.answer, trusted, anchor.zone, now)
    return keys.to_rdataset()


def _lists_ds(windows: Iterable[tuple[int, bytes]]) -> bool:
    """True when an NSEC/NSEC3 type bitmap (RFC 4034 4.1.2) holds DS (dnspython reads it)."""
    return "DS" in dns.rdtypes.util.Bitmap(windows).to_text().split()


def _denial(
    qname: dns.name.Name,
    response: dns.message.Message,
    keys: dns.rdataset.Rdataset,
    zone: dns.name.Name,
    now: float,
) -> None:
    """Prove "no DS at ``qname``" from a signed NSEC or NSEC3 of the authority section."""
    nsec = _find(response.authority, qname, dns.rdatatype.NSEC)
    if nsec is not None:
        _validate(nsec, response.authority, keys, zone, now)
        if _lists_ds(nsec[0].windows):
            raise Unproven(f"the NSEC at {qname} lists DS, yet no DS RRset was given")
        return
    for rrset in response.authority:
        if rrset.rdtype != dns.rdatatype.NSEC3:
            continue
        rd = rrset[0]
        hashed = dns.dnssec.nsec3_hash(qname, rd.salt, rd.iterations, rd.algorithm)
        if rrset.name != dns.name.Name((hashed.lower().encode(), *zone.labels)):
            continue
        _validate(rrset, response.authority, keys, zone, now)
        if _lists_ds(rd.windows):
            raise Unproven(f"the NSEC3 matching {qname} lists DS, yet no DS RRset was given")
        return
    raise Unproven(f"no DS RRset for {qname} and no signed NSEC/NSEC3 denying one")


def ds_proof(
    origin: dns.name.Name,
    zone: dns.name.Name,
    keys: dns.rdataset.Rdataset,
    response: dns.message.Message,
    now: float,
) -> DsProof:
    """What the parent ``zone`` proves about ``origin``'s DS RRset in ``response``."""
    _authoritative(response, "DS")
    if response.rcode() != 0:
        raise Unproven(f"rcode {dns.rcode.to_text(response.rcode())}")
    ds = _find(response.answer, origin, dns.rdatatype.DS)
    if ds is None:
        _denial(origin, response, keys, zone, now)
        return DsProof(frozenset(), None)
    _validate(ds, response.answer, keys, zone, now)
    sigs = _signatures(response.answer, origin, dns.rdatatype.DS)
    assert sigs is not None  # _validate found them
    ttl = max([ds.ttl, *(sig.original_ttl for sig in sigs)])
    return DsProof(
        frozenset(
            (rd.key_tag, int(rd.algorithm), int(rd.digest_type), bytes(rd.digest)) for rd in ds
        ),
        ttl,
    )
