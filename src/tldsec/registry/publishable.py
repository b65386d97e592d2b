"""Whether a registry object may be published in the zone: the rules EPP applies, by
the same functions (names, reserved names, DS rules, host addresses), to what the
database holds now.

The zone builder asks this of every delegation and every glue host it writes (DPS
3.5.2: one bad object must not stop the zone). The database should only ever hold what
EPP accepted, but a database owner or a bug can write anything; an object that breaks a
rule is quarantined by the builder instead of published (``zone/quarantine.py``). Rows
come from the database as they are, so a name must also be in the form the registry
stores it (lower case, no final dot): the zone's canonical order relies on it.
"""

from __future__ import annotations

from dataclasses import dataclass

from tldsec.errors import RegistryError
from tldsec.registry.addresses import parse_address
from tldsec.registry.context import RegistryRules
from tldsec.registry.ds_rules import DsData, ds_violations
from tldsec.registry.names import check_domain_name, check_host_name, is_in_zone


@dataclass(frozen=True, slots=True)
class Fault:
    """One rule an object breaks: ``rule`` a short name, ``message`` what and where."""

    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule}: {self.message}"


class Publishable:
    """The publication rules of one build (host-name verdicts are cached: a zone has
    millions of NS records naming a few thousand hosts)."""

    def __init__(self, rules: RegistryRules) -> None:
        self.rules = rules
        self._reserved = dict(rules.reserved.reasons)
        self._hosts: dict[str, Fault | None] = {}

    def delegation(self, name: str, ns: list[str], ds: list[DsData]) -> list[Fault]:
        """What stops domain ``name`` from being delegated to ``ns`` with ``ds`` (empty:
        nothing). Called for every domain of a full build: the common case is kept to a
        few dictionary lookups."""
        faults: list[Fault] = []
        try:
            if check_domain_name(name, self.rules.origin) != name:
                faults.append(Fault("domain-name", _not_stored_form(name)))
        except RegistryError as exc:
            faults.append(Fault("domain-name", str(exc)))
        else:
            why = self._reserved.get(name)
            if why is not None:
                faults.append(Fault("reserved", f"{name!r} is reserved: {why}"))
        known = self._hosts
        for host in ns:
            fault = known[host] if host in known else self._host_name(host)
            if fault is not None:
                faults.append(Fault("ns-name", f"name server {fault.message}"))
        if len(ns) > self.rules.max_ns:
            faults.append(
                Fault(
                    "ns-count", f"{len(ns)} name servers; the registry allows {self.rules.max_ns}"
                )
            )
        for record in ds:
            # DPS 3.3: the DS rules EPP applies (registry/ds_rules.py).
            faults.extend(
                Fault(f"ds-{v.rule}", v.message) for v in ds_violations(record, self.rules.ds)
            )
        if len(ds) > self.rules.ds.max_per_domain:
            faults.append(
                Fault(
                    "ds-too-many",
                    f"{len(ds)} DS records; the registry policy allows at most "
                    f"{self.rules.ds.max_per_domain} per domain",
                )
            )
        return faults

    def glue(self, name: str, addresses: list[tuple[int, str]]) -> list[Fault]:
        """What stops host ``name`` (under the TLD) from having ``addresses`` as glue."""
        faults: list[Fault] = []
        fault = self._host_name(name)
        if fault is not None:
            faults.append(fault)
        elif not is_in_zone(name, self.rules.origin):
            faults.append(Fault("host-name", f"{name!r} is outside the TLD: it has no glue"))
        for version, address in addresses:
            try:
                # RFC 5732 host:addr, the rule EPP applies (registry/addresses.py).
                parse_address(address, version, documentation=self.rules.documentation_glue)
            except RegistryError as exc:
                faults.append(Fault("glue-address", f"host {name!r}: {exc}"))
        return faults

    def _host_name(self, name: str) -> Fault | None:
        try:
            return self._hosts[name]
        except KeyError:
            pass
        fault: Fault | None = None
        try:
            if check_host_name(name, self.rules.origin) != name:
                fault = Fault("host-name", _not_stored_form(name))
        except RegistryError as exc:
            fault = Fault("host-name", str(exc))
        self._hosts[name] = fault
        return fault


def _not_stored_form(name: str) -> str:
    return f"{name!r} is not in the registry's form (lower case, no spaces or final dot)"
