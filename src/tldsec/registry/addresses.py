"""Host addresses (glue) and the rule each must meet (pure): RFC 5732 ``host:addr``.

EPP applies ``parse_address`` to every address a registrar sends; the zone builder
applies it to every address it publishes as glue (``registry/publishable.py``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from tldsec.errors import InvalidValue, PolicyRefused

__all__ = ["HostAddr", "parse_address"]


@dataclass(frozen=True, slots=True, order=True)
class HostAddr:
    """One address of a host; ``version`` is 4 or 6 (RFC 5732 ``ip`` attribute)."""

    address: str
    version: int


def parse_address(text: str, version: int) -> HostAddr:
    """Check an address against its declared version; refuse ones useless as glue."""
    try:
        ip = ipaddress.ip_address(text.strip())
    except ValueError as exc:
        raise InvalidValue(f"{text!r} is not an IP address") from exc
    if ip.version != version:
        raise InvalidValue(f"{text!r} is not an IPv{version} address")
    if ip.is_unspecified or ip.is_loopback or ip.is_multicast or ip.is_link_local:
        raise PolicyRefused(f"{ip} is not usable as a name server address")
    return HostAddr(ip.compressed, version)
