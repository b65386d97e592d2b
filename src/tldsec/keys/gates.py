"""Gates a rollover waits at: the DS seen in (or gone from) the parent zone.

An operator opens the gate with ``tldsec keys ds-seen`` / ``ds-gone``. When parent name
servers are configured, ``check_parent`` asks each of them for the parent's DNSKEY RRset
and our DS RRset (dnspython's ``dns.query``, UDP then TCP on truncation), and
``keys/parentproof`` validates both from the parent's trust anchor. ``confirmations`` says
which gates the validated answers open: a DS is *seen* when every server serves it, *gone*
when every server proves it absent. A server that does not answer, or whose answer is not
authoritative and validated, opens nothing, so a partial or forged view never moves a
rollover (DPS 2.2).
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
import dns.rdatatype

from tldsec.dnscore.dnskey import ds_digest
from tldsec.dnscore.names import to_wire
from tldsec.keys.parentproof import DsTuple, TrustAnchor, Unproven, ds_proof, parent_keys
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


@dataclass(frozen=True, slots=True)
class ServerAnswer:
    """What one parent server said: its DS set for our zone, or why there is none."""

    server: ParentServer
    ds: frozenset[DsTuple] | None  # None: no validated answer
    error: str | None = None
    ttl: int | None = None  # the DS RRset's TTL at the parent, when it has one


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

    @property
    def ds_ttl(self) -> int | None:
        """The longest DS TTL any server gave (what caches may hold an old DS for)."""
        ttls = [a.ttl for a in self.answers if a.ttl is not None]
        return max(ttls) if ttls else None

    def mismatches(self, keys: Sequence[KeyRecord]) -> list[str]:
        """DS records with one of our KSKs' key tag and algorithm but not its digest."""
        out: list[str] = []
        owner = to_wire(self.origin)
        for a in self.answers:
            for tag, alg, dtype, digest in sorted(a.ds or ()):
                for k in keys:
                    if k.role is not Role.KSK or (tag, alg) != (k.key_tag, int(k.algorithm)):
                        continue
                    try:
                        ours = ds_digest(owner, k.dnskey_rdata, dtype)
                    except ValueError:
                        continue
                    if ours != digest:
                        out.append(
                            f"{a.server}: DS {tag} {alg} {dtype} {digest.hex().upper()} has "
                            f"the key tag and algorithm of KSK {k.key_id} but not its digest "
                            f"({ours.hex().upper()})"
                        )
        return out


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


def _ask(
    qname: dns.name.Name,
    rdtype: dns.rdatatype.RdataType,
    server: ParentServer,
    timeout: float,
) -> dns.message.Message:
    query = dns.message.make_query(qname, rdtype, want_dnssec=True)
    query.flags &= ~dns.flags.RD  # we ask the parent's own servers, not a resolver
    response = dns.query.udp(query, server.address, timeout=timeout, port=server.port)
    if response.flags & dns.flags.TC:
        response = dns.query.tcp(query, server.address, timeout=timeout, port=server.port)
    return response


def query_ds(
    origin: str,
    server: ParentServer,
    anchor: TrustAnchor,
    now: float,
    timeout: float = DEFAULT_TIMEOUT,
) -> ServerAnswer:
    """Ask one server for the parent's DNSKEY RRset and our DS RRset, and validate both."""
    qname = dns.name.from_text(origin)
    try:
        keys = parent_keys(anchor, _ask(anchor.zone, dns.rdatatype.DNSKEY, server, timeout), now)
        proof = ds_proof(
            qname, anchor.zone, keys, _ask(qname, dns.rdatatype.DS, server, timeout), now
        )
    except (dns.exception.DNSException, OSError) as exc:
        return ServerAnswer(server, None, f"no answer: {exc.__class__.__name__}: {exc}")
    except Unproven as exc:
        return ServerAnswer(server, None, f"not validated: {exc}")
    return ServerAnswer(server, proof.ds, ttl=proof.ttl)


def check_parent(
    origin: str,
    servers: Sequence[ParentServer],
    anchor: TrustAnchor,
    now: float,
    timeout: float = DEFAULT_TIMEOUT,
) -> ParentCheck:
    """Ask every configured parent server for our DS RRset, validated from ``anchor``."""
    owner = origin if origin.endswith(".") else origin + "."
    return ParentCheck(owner, tuple(query_ds(owner, s, anchor, now, timeout) for s in servers))


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
