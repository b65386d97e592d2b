"""Host addresses (glue) and the rule each must meet (pure): RFC 5732 ``host:addr``.

EPP applies ``parse_address`` to every address a registrar sends; the zone builder
applies it to every address it publishes as glue (``registry/publishable.py``). Glue is
what resolvers everywhere use to reach a name server, so it must be an address anyone
can reach: every block of the IANA IPv4 and IPv6 Special-Purpose Address Registries
(RFC 6890) is refused, and so are IPv4 multicast and IPv6 outside global unicast
(2000::/3, the IANA IPv6 Address Space registry). The documentation blocks (RFC 5737,
RFC 3849, RFC 9637) are accepted only where the operator allows them (``[zone]
documentation_glue``, on by default: examples and test registries use them).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from tldsec.errors import InvalidValue, PolicyRefused

__all__ = ["HostAddr", "address_syntax", "parse_address", "special_purpose"]

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True, order=True)
class HostAddr:
    """One address of a host; ``version`` is 4 or 6 (RFC 5732 ``ip`` attribute)."""

    address: str
    version: int


@dataclass(frozen=True, slots=True)
class _Block:
    network: IPNetwork
    name: str
    documentation: bool = False


def _block(cidr: str, name: str, documentation: bool = False) -> _Block:
    return _Block(ipaddress.ip_network(cidr), name, documentation)


# The IANA IPv4 Special-Purpose Address Registry (RFC 6890 and the RFCs named), plus
# multicast (IANA IPv4 Multicast Address Space, RFC 5771). Some blocks are "globally
# reachable" (AS112, AMT) yet serve one protocol: never a TLD's name server.
SPECIAL_V4: tuple[_Block, ...] = (
    _block("0.0.0.0/8", '"this network" (RFC 791)'),
    _block("10.0.0.0/8", "private use (RFC 1918)"),
    _block("100.64.0.0/10", "shared address space (RFC 6598)"),
    _block("127.0.0.0/8", "loopback (RFC 1122)"),
    _block("169.254.0.0/16", "link local (RFC 3927)"),
    _block("172.16.0.0/12", "private use (RFC 1918)"),
    _block("192.0.0.0/24", "IETF protocol assignments (RFC 6890)"),
    _block("192.0.2.0/24", "documentation, TEST-NET-1 (RFC 5737)", True),
    _block("192.31.196.0/24", "AS112-v4 (RFC 7535)"),
    _block("192.52.193.0/24", "AMT (RFC 7450)"),
    _block("192.88.99.0/24", "deprecated 6to4 relay anycast (RFC 7526)"),
    _block("192.168.0.0/16", "private use (RFC 1918)"),
    _block("192.175.48.0/24", "direct delegation AS112 service (RFC 7534)"),
    _block("198.18.0.0/15", "benchmarking (RFC 2544)"),
    _block("198.51.100.0/24", "documentation, TEST-NET-2 (RFC 5737)", True),
    _block("203.0.113.0/24", "documentation, TEST-NET-3 (RFC 5737)", True),
    _block("224.0.0.0/4", "multicast (RFC 5771)"),
    _block("255.255.255.255/32", "limited broadcast (RFC 919, RFC 8190)"),
    _block("240.0.0.0/4", "reserved (RFC 1112)"),
)
# The IANA IPv6 Special-Purpose Address Registry inside global unicast; everything
# outside 2000::/3 (loopback, unspecified, IPv4-mapped, NAT64, discard, ULA, link-local,
# multicast, ...) is refused as not global unicast (RFC 4291 2.4).
GLOBAL_UNICAST_V6 = ipaddress.IPv6Network("2000::/3")
SPECIAL_V6: tuple[_Block, ...] = (
    _block("2001::/23", "IETF protocol assignments (RFC 2928; Teredo, ORCHID, AS112, ...)"),
    _block("2001:db8::/32", "documentation (RFC 3849)", True),
    _block("2002::/16", "6to4 (RFC 3056)"),
    _block("2620:4f:8000::/48", "direct delegation AS112 service (RFC 7534)"),
    _block("3fff::/20", "documentation (RFC 9637)", True),
)


def special_purpose(ip: IPAddress, *, documentation: bool = True) -> str | None:
    """Why ``ip`` cannot be glue (the special-purpose block it is in), or None.

    ``documentation``: whether the documentation blocks are accepted."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip not in GLOBAL_UNICAST_V6:
            if ip.ipv4_mapped is not None:
                return "an IPv4-mapped IPv6 address (RFC 4291 2.5.5.2)"
            return "outside IPv6 global unicast 2000::/3 (RFC 4291 2.4)"
        blocks = SPECIAL_V6
    else:
        blocks = SPECIAL_V4
    for block in blocks:
        if ip in block.network:
            if block.documentation and documentation:
                return None
            return f"in {block.network}, {block.name}"
    return None


def address_syntax(text: str, version: int) -> HostAddr:
    """An address of the declared version, in canonical form; no policy (a registrar may
    always remove an address the registry holds, whatever the rules are now)."""
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError as exc:
        raise InvalidValue(f"{text!r} is not an IP address") from exc
    if ip.version != version:
        raise InvalidValue(f"{text!r} is not an IPv{version} address")
    return HostAddr(ip.compressed, version)


def parse_address(text: str, version: int, *, documentation: bool = True) -> HostAddr:
    """Check an address against its declared version; refuse one no resolver can use as
    glue (``special_purpose``)."""
    addr = address_syntax(text, version)
    why = special_purpose(ipaddress.ip_address(addr.address), documentation=documentation)
    if why is not None:
        raise PolicyRefused(
            f"{addr.address} is {why}: not usable as a name server address "
            "(IANA special-purpose address registries)"
        )
    return addr
