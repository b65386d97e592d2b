"""The advisory check after a DS is added (the console shows it; EPP queues it as a poll
message, decision 51), never blocking (DPS 3.3 allows DS for keys not yet published):
ask the delegation's name servers for the child's DNSKEY set and say whether the DS
matches a published KSK that signs that set.

"Matches" means: a DNSKEY at the apex with the Zone Key and SEP flags whose digest
(RFC 4034 5.1.4) equals the DS, and the DNSKEY RRset carries an RRSIG by that key that
validates now (dnspython, RFC 4035 5.2). Each server gets one query over UDP (TCP when
the answer is truncated) with a short timeout; the name servers' addresses are their
glue, or, for a name server outside the TLD, its A/AAAA records from the configured
resolver.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import dns.dnssec
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rdataclass
import dns.rdatatype
import dns.resolver
import dns.rrset
from dns.dnssectypes import DSDigest
from dns.exception import DeniedByPolicy, UnsupportedAlgorithm, ValidationFailure
from sqlalchemy import select
from sqlalchemy.orm import Session

from tldsec.registry.ds_rules import DsData
from tldsec.registry.models import DomainNs, Host, HostAddress

ZONE_FLAG = 0x0100
SEP_FLAG = 0x0001
MAX_ADDRESSES = 6  # a few servers are enough for advice; each costs a timeout at worst


@dataclass(frozen=True, slots=True)
class NameServer:
    name: str
    addresses: tuple[str, ...]  # glue, for a name server under the TLD


def name_servers(session: Session, domain_id: int) -> tuple[NameServer, ...]:
    """The domain's name servers with their glue, by name."""
    hosts = session.execute(
        select(Host.id, Host.name)
        .join(DomainNs, DomainNs.host_id == Host.id)
        .where(DomainNs.domain_id == domain_id)
        .order_by(Host.name)
    ).all()
    found = []
    for host_id, host_name in hosts:
        addresses = tuple(
            session.scalars(
                select(HostAddress.address)
                .where(HostAddress.host_id == host_id)
                .order_by(HostAddress.version, HostAddress.address)
            )
        )
        found.append(NameServer(host_name, addresses))
    return tuple(found)


@dataclass(frozen=True, slots=True)
class Advice:
    """What the check found: ``verdict`` is match, no-match or unknown."""

    verdict: str
    message: str
    servers: tuple[str, ...] = ()  # what each server said, one line each


@dataclass(frozen=True, slots=True)
class Advisor:
    """How to ask: the timeout per query, the DNS port, the resolver for out-of-TLD
    name servers' addresses (None: the system's)."""

    timeout: float = 2.0
    port: int = 53
    resolver: tuple[str, int] | None = None

    def check(
        self, domain: str, ds: DsData, name_servers: Sequence[NameServer], now: datetime
    ) -> Advice:
        owner = dns.name.from_text(domain)
        if not name_servers:
            return Advice(
                "unknown",
                "the domain has no name servers, so there is no DNSKEY set to compare with",
            )
        lines: list[str] = []
        answered: list[tuple[dns.rrset.RRset, dns.rrset.RRset | None]] = []
        for address in self._addresses(name_servers, lines)[:MAX_ADDRESSES]:
            try:
                keys, sigs = self._ask(owner, address)
            except (dns.exception.DNSException, OSError, ValueError) as exc:
                lines.append(f"{address}: no answer ({_short(exc)})")
                continue
            if keys is None:
                lines.append(f"{address}: no DNSKEY set for {domain}")
                continue
            lines.append(f"{address}: {len(keys)} DNSKEY")
            answered.append((keys, sigs))
        if not answered:
            return Advice(
                "unknown",
                f"no name server of {domain} returned its DNSKEY set; the DS was accepted all "
                "the same (DPS 3.3: a DS may be published before its key)",
                tuple(lines),
            )
        for keys, sigs in answered:
            verdict = _judge(owner, ds, keys, sigs, now)
            if verdict is not None:
                return Advice("match", verdict, tuple(lines))
        ksk_tags = sorted(
            {dns.dnssec.key_id(k) for keys, _ in answered for k in keys if k.flags & SEP_FLAG}
        )
        return Advice(
            "no-match",
            f"DS {ds.key_tag} matches no published KSK of {domain} that signs its DNSKEY set "
            f"(KSK key tags published: {', '.join(map(str, ksk_tags)) or 'none'}). That is "
            "fine for a key not yet published (DPS 3.3); otherwise validating resolvers will "
            "treat the domain as bogus once this DS is the only one in the zone.",
            tuple(lines),
        )

    def _addresses(self, name_servers: Sequence[NameServer], lines: list[str]) -> list[str]:
        found: list[str] = []
        for ns in name_servers:
            if ns.addresses:
                found.extend(ns.addresses)
                continue
            try:
                found.extend(self._resolve(ns.name))
            except (dns.exception.DNSException, OSError, LookupError) as exc:
                lines.append(f"{ns.name}: address not found ({_short(exc)})")
        return list(dict.fromkeys(found))

    def _resolve(self, host: str) -> list[str]:
        resolver = dns.resolver.Resolver(configure=self.resolver is None)
        if self.resolver is not None:
            resolver.nameservers = [self.resolver[0]]
            resolver.port = self.resolver[1]
        resolver.lifetime = self.timeout
        addresses: list[str] = []
        for rtype in ("A", "AAAA"):
            try:
                answer = resolver.resolve(host, rtype, raise_on_no_answer=False)
            except dns.resolver.NXDOMAIN:
                raise
            except dns.exception.DNSException:
                continue
            if answer.rrset is not None:
                addresses.extend(r.to_text() for r in answer.rrset)
        if not addresses:
            raise LookupError(f"no A or AAAA record for {host}")
        return addresses

    def _ask(
        self, owner: dns.name.Name, address: str
    ) -> tuple[dns.rrset.RRset | None, dns.rrset.RRset | None]:
        query = dns.message.make_query(owner, dns.rdatatype.DNSKEY, want_dnssec=True)
        query.flags &= ~dns.flags.RD
        response, _ = dns.query.udp_with_fallback(
            query, address, timeout=self.timeout, port=self.port
        )
        keys = sigs = None
        for rrset in response.answer:
            if rrset.name != owner:
                continue
            if rrset.rdtype == dns.rdatatype.DNSKEY:
                keys = rrset
            elif rrset.rdtype == dns.rdatatype.RRSIG and rrset.covers == dns.rdatatype.DNSKEY:
                sigs = rrset
        return keys, sigs


def _judge(
    owner: dns.name.Name,
    ds: DsData,
    keys: dns.rrset.RRset,
    sigs: dns.rrset.RRset | None,
    now: datetime,
) -> str | None:
    """The finding when a KSK in ``keys`` matches ``ds`` and validly signs ``keys``."""
    for key in keys:
        if not key.flags & ZONE_FLAG or dns.dnssec.key_id(key) != ds.key_tag:
            continue
        if int(key.algorithm) != ds.algorithm:
            continue
        try:
            made = dns.dnssec.make_ds(owner, key, DSDigest(ds.digest_type))
        except (DeniedByPolicy, UnsupportedAlgorithm, ValueError):
            continue
        if made.digest.hex().upper() != ds.digest:
            continue
        role = "KSK" if key.flags & SEP_FLAG else "key without the SEP flag"
        if sigs is None:
            return None
        try:
            dns.dnssec.validate(
                keys, sigs, {owner: dns.rrset.from_rdata(owner, keys.ttl, key)}, now=now.timestamp()
            )
        except (ValidationFailure, DeniedByPolicy, UnsupportedAlgorithm):
            continue
        return (
            f"DS {ds.key_tag} matches the published {role} {ds.key_tag} of {owner.to_text()}, "
            "which signs the DNSKEY set (validated)"
        )
    return None


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) < 120 else text[:117] + "..."
