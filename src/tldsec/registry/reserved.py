"""Reserved names: never registered through EPP, never delegated by the zone builder.

ICANN Registry Agreement Specification 5 is the model: the registry keeps the names of
its own services (``nic``, ``whois``, ``www``, ``iana``, ``rdap``: the policy's
``[registry] reserved_labels``) and any the operator adds (``[zone] reserved_names``).
The domains the apex name servers lie in are reserved whatever the lists say: a
delegation there would cut the TLD's own name servers out of the zone (RFC 1034 4.2.1).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from tldsec.policy import DEFAULT_RESERVED_LABELS
from tldsec.registry.names import check_domain_name, normalize, superordinate, zone_suffix

POLICY_REASON = "reserved by the registry policy (ICANN Registry Agreement Specification 5)"
OPERATOR_REASON = "reserved by the registry operator ([zone] reserved_names)"


@dataclass(frozen=True, slots=True)
class ReservedNames:
    """The reserved domain names (EPP form: lower case, no final dot) and why each is."""

    reasons: tuple[tuple[str, str], ...] = ()  # (name, why), sorted by name
    _index: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_index", dict(self.reasons))

    def why(self, name: str) -> str | None:
        """Why ``name`` is reserved, or None when it is not."""
        return self._index.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def __len__(self) -> int:
        return len(self._index)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.reasons)


def reserved_names(
    origin: str,
    *,
    labels: Iterable[str] = DEFAULT_RESERVED_LABELS,
    names: Iterable[str] = (),
    apex_ns: Iterable[str] = (),
) -> ReservedNames:
    """The reserved set of a TLD: policy ``labels``, the operator's ``names`` (labels or
    names directly below the TLD; a bad one raises the registry's name error) and the
    domains holding the apex name servers ``apex_ns``."""
    suffix = zone_suffix(origin)
    found: dict[str, str] = {}
    for label in labels:
        found[check_domain_name(label + suffix, origin)] = POLICY_REASON
    for name in names:
        norm = normalize(name)
        if not norm.endswith(suffix):
            norm += suffix
        found[check_domain_name(norm, origin)] = OPERATOR_REASON
    below: dict[str, list[str]] = {}
    for ns in sorted(apex_ns):
        parent = superordinate(normalize(ns), origin)
        if parent is not None:
            below.setdefault(parent, []).append(normalize(ns) + ".")
    for parent, servers in below.items():
        if len(servers) == 1:
            found[parent] = f"the apex name server {servers[0]} lies below it"
        else:
            found[parent] = f"the apex name servers {', '.join(servers)} lie below it"
    return ReservedNames(tuple(sorted(found.items())))
