"""Which serial each secondary serves: the SOA serial it answers at the addresses the
primary NOTIFYs (``[[distribute.secondaries]] notify``), asked without recursion over
UDP. A secondary serves a serial when every one of its addresses answers that serial or a
later one (RFC 1982). With no secondary to ask (the embedded default: nobody to notify),
the hidden primary itself is asked where serve runs it (else at ``[distribute] listen``),
signed with the TSIG key its allow-list asks of that address, if any.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.tsig

from tldsec.distribute.config import DistributeSettings, parse_hostport
from tldsec.distribute.store import serial_gt

PRIMARY_NODE = "hidden-primary"


@dataclass(frozen=True, slots=True)
class Node:
    """A name server whose serial is traced, and where to ask it."""

    name: str
    addresses: tuple[tuple[str, int], ...]
    key: dns.tsig.Key | None = None  # for the hidden primary's allow-list


Probe = Callable[[str, str, int, "dns.tsig.Key | None"], "int | None"]


def nodes_of(
    dist: DistributeSettings, primary: tuple[str, int] | None = None, origin: str | None = None
) -> tuple[Node, ...]:
    """The secondaries that can be asked (those that serve ``origin``, decision 63's
    ``zones``; every one without it); the hidden primary (at ``primary``, else
    ``[distribute] listen``) when none can."""
    nodes = tuple(
        Node(s.name, s.notify)
        for s in dist.secondaries
        if s.notify and (origin is None or s.serves(origin))
    )
    if nodes:
        return nodes
    address = primary or parse_hostport(dist.listen)
    loopback = next((s for s in dist.secondaries if s.allows(address[0])), None)
    key = None
    if loopback is not None and loopback.tsig_key is not None:
        key = dist.key(loopback.tsig_key).dns_key()
    return (Node(PRIMARY_NODE, (address,), key),)


def soa_serial(
    origin: str, host: str, port: int, key: dns.tsig.Key | None = None, timeout: float = 1.0
) -> int | None:
    """The SOA serial ``host:port`` answers for ``origin`` authoritatively, or None."""
    query = dns.message.make_query(origin, dns.rdatatype.SOA)
    query.flags &= ~dns.flags.RD
    if key is not None:
        query.use_tsig(key)
    try:
        answer = dns.query.udp(query, host, timeout=timeout, port=port)
    except (dns.exception.DNSException, OSError):
        return None
    if answer.rcode() != dns.rcode.NOERROR or not answer.flags & dns.flags.AA:
        return None
    name = dns.name.from_text(origin)
    for rrset in answer.answer:
        if rrset.name == name and rrset.rdtype == dns.rdatatype.SOA and len(rrset):
            return int(rrset[0].serial)
    return None


def serving(node: Node, origin: str, probe: Probe) -> int | None:
    """The serial every address of ``node`` serves at least (None: one did not answer)."""
    serials = [probe(origin, host, port, node.key) for host, port in node.addresses]
    if not serials or any(s is None for s in serials):
        return None
    found = [s for s in serials if s is not None]
    oldest = found[0]
    for s in found[1:]:
        if serial_gt(oldest, s):
            oldest = s
    return oldest


def covers(served: int, serial: int) -> bool:
    """A server at ``served`` holds what ``serial`` introduced (RFC 1982 order)."""
    return served == serial or serial_gt(served, serial)
