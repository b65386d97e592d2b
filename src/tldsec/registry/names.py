"""Domain and host name rules of the registry (pure).

Names are kept the way EPP carries them: lower case, without the trailing dot
("example.tld"). Labels follow the LDH rule (RFC 952, RFC 1123 2.1, RFC 5891 4.2.3.1).
"""

from __future__ import annotations

import functools
import re

from tldsec.errors import InvalidValue, PolicyRefused

_LABEL = re.compile(r"\A[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")  # \Z: "$" allows a final newline
MAX_NAME_LENGTH = 253  # RFC 1035 2.3.4: 255 octets of wire form = 253 characters


def normalize(name: str) -> str:
    """Lower case, without a trailing dot."""
    name = name.strip().lower()
    return name[:-1] if name.endswith(".") else name


def check_hostname_syntax(name: str) -> str:
    """The normalised name, or ``InvalidValue`` naming the first rule it breaks."""
    norm = normalize(name)
    if not norm:
        raise InvalidValue("the name is empty")
    if len(norm) > MAX_NAME_LENGTH:
        raise InvalidValue(f"{norm!r} is longer than {MAX_NAME_LENGTH} characters")
    for label in norm.split("."):
        if not _LABEL.match(label):
            raise InvalidValue(
                f"{norm!r}: label {label!r} is not 1-63 letters, digits or inner hyphens"
            )
        # RFC 5891 4.2.3.1: hyphens in positions 3 and 4 only for A-labels ("xn--").
        if len(label) >= 4 and label[2:4] == "--" and not label.startswith("xn--"):
            raise InvalidValue(f"{norm!r}: label {label!r} has '--' in positions 3-4")
    return norm


@functools.cache
def zone_suffix(origin: str) -> str:
    """The TLD as names below it end: ``"example."`` gives ``".example"``."""
    return "." + normalize(origin)


def is_in_zone(name: str, origin: str) -> bool:
    """Whether ``name`` is below the TLD (a host needing glue, or a domain)."""
    return name.endswith(zone_suffix(origin))


def check_domain_name(name: str, origin: str) -> str:
    """A registrable domain: one label directly below the TLD (DPS 3.1)."""
    suffix = zone_suffix(origin)
    if name.endswith(suffix):
        # The common case first (the zone builder asks for every domain): a name
        # already in stored form, one LDH label that passes the rules below.
        label = name[: -len(suffix)]
        if _LABEL.match(label) and (label[2:4] != "--" or label.startswith("xn--")):
            return name
    norm = check_hostname_syntax(name)
    if not norm.endswith(suffix):
        raise PolicyRefused(f"{norm!r} is not under the TLD {normalize(origin)!r}")
    if "." in norm[: -len(suffix)]:
        raise PolicyRefused(f"{norm!r}: only names directly below {normalize(origin)!r} register")
    return norm


def check_host_name(name: str, origin: str) -> str:
    """A name server name: valid syntax, at least two labels, not the TLD itself."""
    norm = check_hostname_syntax(name)
    if "." not in norm:
        raise PolicyRefused(f"{norm!r} is a bare TLD, not a name server name")
    if norm == normalize(origin):
        raise PolicyRefused(f"{norm!r} is the TLD itself")
    return norm


def superordinate(host: str, origin: str) -> str | None:
    """The registrable domain a host under the TLD belongs to ("ns1.a.tld" -> "a.tld")."""
    suffix = zone_suffix(origin)
    if not host.endswith(suffix):
        return None
    label = host[: -len(suffix)].rsplit(".", 1)[-1]
    return label + suffix
