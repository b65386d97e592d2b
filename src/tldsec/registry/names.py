"""Domain and host name rules of the registry (pure).

Names are kept the way EPP carries them: lower case, without the trailing dot
("example.tld"). Labels follow the LDH rule (RFC 952, RFC 1123 2.1, RFC 5891 4.2.3.1);
a label starting "xn--" must be a valid A-label: it decodes to a U-label that IDNA2008
(RFC 5891, RFC 5892) permits, that UTS 46 mapping leaves unchanged, and that encodes back
to the same label (the ``idna`` library).
"""

from __future__ import annotations

import functools
import re

import idna

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
        if len(label) >= 4 and label[2:4] == "--":
            if not label.startswith("xn--"):
                raise InvalidValue(f"{norm!r}: label {label!r} has '--' in positions 3-4")
            why = a_label_fault(label)
            if why is not None:
                raise InvalidValue(f"{norm!r}: label {label!r} is not a valid A-label: {why}")
    return norm


@functools.lru_cache(maxsize=65536)
def a_label_fault(label: str) -> str | None:
    """Why ``label`` ("xn--...") is not a valid A-label (RFC 5890 2.3.2.1), or None.

    IDNA2008 as the ``idna`` library implements it, with UTS 46 as policy: the U-label
    must be what UTS 46 mapping (non-transitional, STD3 rules) makes of itself."""
    try:
        ulabel = idna.decode(label)  # RFC 5891 5.4: Punycode, then the U-label's rules
        if idna.uts46_remap(ulabel, std3_rules=True, transitional=False) != ulabel:
            return f"UTS 46 maps its U-label {ulabel!r} to another label"
        if idna.encode(ulabel).decode("ascii") != label:
            return f"its U-label {ulabel!r} encodes to another A-label"
    except (idna.IDNAError, UnicodeError) as exc:
        return str(exc) or type(exc).__name__
    return None


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
        if _LABEL.match(label) and label[2:4] != "--":
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
