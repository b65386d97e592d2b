"""Gates a rollover waits at: the DS seen in (or gone from) the parent zone.

An operator opens the gate with ``tldsec keys ds-seen`` / ``ds-gone``. When parent name
servers are configured, ``check_parent`` asks each of them for our DS RRset (dnspython's
``dns.query``, UDP then TCP on truncation) and ``confirmations`` says which gates the
answers open: a DS is *seen* when every server serves it, *gone* when none does. A
server that does not answer opens nothing, so a partial view never moves a rollover.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype

from tldsec.dnscore.dnskey import ds_digest
from tldsec.dnscore.names import to_wire
from tldsec.keys.state import DsState, KeyRecord, Role

DEFAULT_TIMEOUT = 3.0


@dataclass(frozen=True, slots=True)
class ParentServer:
    """A parent name server to ask: an address and a port."""

    address: str
    port: int = 53

    @classmethod
    def parse(cls, text: str) -> ParentServer:
        """``192.0.2.1``, ``192.0.2.1:5353``, ``2001:db8::1`` or ``[2001:db8::1]:5353``."""
        text = text.strip()
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            port = rest.removeprefix(":") or "53"
        elif text.count(":") == 1:
            host, _, port = text.partition(":")
        else:
            host, port = text, "53"
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"parent server {text!r}: use ADDRESS or ADDRESS:PORT")
        return cls(host, int(port))

    def __str__(self) -> str:
        return (
            f"[{self.address}]:{self.port}"
            if ":" in self.address
            else f"{self.address}:{self.port}"
        )


# (key tag, algorithm, digest type, digest) of one DS RDATA
DsTuple = tuple[int, int, int, bytes]


@dataclass(frozen=True, slots=True)
class ServerAnswer:
    """What one parent server said: its DS set for our zone, or why there is none."""

    server: ParentServer
    ds: frozenset[DsTuple] | None  # None: no usable answer
    error: str | None = None


@dataclass(frozen=True, slots=True)
class ParentCheck:
    """The answers of every configured parent server at one moment."""

    origin: str
    answers: tuple[ServerAnswer, ...]

    @property
    def complete(self) -> bool:
        return bool(self.answers) and all(a.ds is not None for a in self.answers)

    def serving(self, key: KeyRecord) -> list[ParentServer]:
        """The servers whose DS set holds a DS that matches ``key``."""
        return [a.server for a in self.answers if a.ds and _matches_any(a.ds, key, self.origin)]


def _matches_any(ds_set: Iterable[DsTuple], key: KeyRecord, origin: str) -> bool:
    owner = to_wire(origin)
    for tag, alg, dtype, digest in ds_set:
        if tag != key.key_tag or alg != int(key.algorithm):
            continue
        try:
            if ds_digest(owner, key.dnskey_rdata, dtype) == digest:
                return True
        except ValueError:
            continue  # a digest type we cannot compute matches nothing
    return False


def query_ds(origin: str, server: ParentServer, timeout: float = DEFAULT_TIMEOUT) -> ServerAnswer:
    """Ask one server for the DS RRset of ``origin``."""
    qname = dns.name.from_text(origin)
    query = dns.message.make_query(qname, dns.rdatatype.DS, want_dnssec=True)
    try:
        response = dns.query.udp(query, server.address, timeout=timeout, port=server.port)
        if response.flags & dns.flags.TC:
            response = dns.query.tcp(query, server.address, timeout=timeout, port=server.port)
    except (dns.exception.DNSException, OSError) as exc:
        return ServerAnswer(server, None, f"no answer: {exc.__class__.__name__}: {exc}")
    rcode = response.rcode()
    if rcode != 0:
        return ServerAnswer(server, None, f"rcode {dns.rcode.to_text(rcode)}")
    found: set[DsTuple] = set()
    for rrset in response.answer:
        if rrset.name == qname and rrset.rdtype == dns.rdatatype.DS:
            for rd in rrset:
                found.add((rd.key_tag, int(rd.algorithm), int(rd.digest_type), bytes(rd.digest)))
    return ServerAnswer(server, frozenset(found))


def check_parent(
    origin: str, servers: Sequence[ParentServer], timeout: float = DEFAULT_TIMEOUT
) -> ParentCheck:
    """Ask every configured parent server for our DS RRset."""
    owner = origin if origin.endswith(".") else origin + "."
    return ParentCheck(owner, tuple(query_ds(owner, s, timeout) for s in servers))


@dataclass(frozen=True, slots=True)
class Confirmation:
    """A gate the parent's answers open: ``seen`` or ``gone`` for one KSK."""

    key_id: str
    key_tag: int
    kind: str  # "seen" | "gone"
    reason: str


def confirmations(
    keys: Sequence[KeyRecord], check: ParentCheck, when: datetime
) -> list[Confirmation]:
    """The ds-seen / ds-gone gates ``check`` opens at ``when``."""
    if not check.complete:
        return []
    n = len(check.answers)
    servers = ", ".join(str(a.server) for a in check.answers)
    out: list[Confirmation] = []
    for k in keys:
        if k.role is not Role.KSK:
            continue
        st = k.ds_state_at(when)
        serving = check.serving(k)
        if st is DsState.SUBMITTED and len(serving) == n:
            out.append(
                Confirmation(
                    k.key_id, k.key_tag, "seen", f"parent check: DS served by all of {servers}"
                )
            )
        elif st is DsState.WITHDRAWAL_REQUESTED and not serving:
            out.append(
                Confirmation(
                    k.key_id, k.key_tag, "gone", f"parent check: DS served by none of {servers}"
                )
            )
    return out
