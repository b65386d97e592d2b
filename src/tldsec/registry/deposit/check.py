"""The rules a deposit's objects must meet before they are imported: EPP's own (pure).

The same functions EPP applies: names (``registry/names.py``: LDH, A-labels by the
``idna`` library, one label below the TLD), reserved names, statuses a registry may set,
glue addresses (``registry/addresses.py``), DS rules (``registry/ds_rules.py``), the
name server limit. A refused object is named with its file position and every reason;
an object that refers to a refused or missing one is refused too, saying so.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import partial

from tldsec.errors import TldsecError
from tldsec.registry.addresses import parse_address
from tldsec.registry.context import RegistryRules
from tldsec.registry.deposit.objects import (
    Deposit,
    DepositContact,
    DepositDomain,
    DepositDs,
    DepositHost,
    DepositRegistrar,
)
from tldsec.registry.ds_rules import DsData, apply_ds_change
from tldsec.registry.hosts import MAX_ADDRESSES
from tldsec.registry.names import check_domain_name, check_host_name, superordinate
from tldsec.registry.statuses import (
    CONTACT_CLIENT,
    CONTACT_SERVER,
    DOMAIN_CLIENT,
    DOMAIN_SERVER,
    HOST_CLIENT,
    HOST_SERVER,
)

MAX_HANDLE = 16  # RFC 5730 clIDType / the contact table's column


@dataclass(frozen=True, slots=True)
class Refusal:
    """One object the import refuses: where in the file, what, and why."""

    where: str
    kind: str
    name: str
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.kind} {self.name!r}: {self.reason}"


@dataclass(frozen=True, slots=True)
class Existing:
    """What the registry already holds (by name), and its registrars' row ids."""

    registrars: dict[str, int]
    contacts: frozenset[str]
    hosts: frozenset[str]
    domains: frozenset[str]


@dataclass(slots=True)
class Checked:
    """The objects that pass, normalised, and the refusals, in file order."""

    deposit: Deposit
    refused: list[Refusal] = field(default_factory=list)


def check(deposit: Deposit, rules: RegistryRules, existing: Existing) -> Checked:
    """Judge every object of ``deposit``; the result keeps those that pass."""
    refused = [Refusal(where, "object", "?", why) for where, why in deposit.unreadable]
    out = Deposit(tld=deposit.tld, auth=deposit.auth)

    def judge(kind: str, obj: object, name: str, test: Callable[[], object]) -> object | None:
        try:
            return test()
        except (TldsecError, ValueError) as exc:
            refused.append(Refusal(getattr(obj, "where", "?"), kind, name, str(exc)))
            return None

    # Registrars: an id already in the registry is used as it is.
    registrars = set(existing.registrars)
    for r in deposit.registrars:
        result = judge("registrar", r, r.client_id, partial(_registrar, r, registrars))
        if isinstance(result, DepositRegistrar):
            registrars.add(result.client_id)
            if result.client_id not in existing.registrars:
                out.registrars.append(result)

    contacts = set(existing.contacts)
    for c in deposit.contacts:
        result = judge("contact", c, c.handle, partial(_contact, c, registrars, contacts))
        if isinstance(result, DepositContact):
            contacts.add(result.handle)
            out.contacts.append(result)

    # Domains' own rules first: a host under the TLD belongs to one of them.
    domain_names: dict[str, DepositDomain] = {}
    own: list[DepositDomain] = []
    for d in deposit.domains:
        result = judge("domain", d, d.name, partial(_domain_alone, d, rules, registrars, existing))
        if isinstance(result, DepositDomain):
            if result.name in domain_names:
                refused.append(
                    Refusal(
                        d.where,
                        "domain",
                        d.name,
                        f"given twice (also at {domain_names[result.name].where})",
                    )
                )
                continue
            domain_names[result.name] = result
            own.append(result)

    hosts = set(existing.hosts)
    for h in deposit.hosts:
        result = judge("host", h, h.name, partial(_host, h, rules, registrars, hosts))
        if isinstance(result, DepositHost):
            hosts.add(result.name)
            out.hosts.append(result)

    for d in own:
        result = judge("domain", d, d.name, partial(_domain_links, d, rules, hosts, contacts))
        if isinstance(result, DepositDomain):
            out.domains.append(result)
    return Checked(out, refused)


def _known(registrars: set[str], client_id: str, what: str) -> None:
    if client_id not in registrars:
        raise ValueError(f"its {what} {client_id!r} is neither in the deposit nor the registry")


def _registrar(r: DepositRegistrar, seen: set[str]) -> DepositRegistrar:
    if not 3 <= len(r.client_id) <= 16:
        raise ValueError("a registrar id has 3 to 16 characters (RFC 5730 clIDType)")
    return r


def _contact(c: DepositContact, registrars: set[str], seen: set[str]) -> DepositContact:
    if not 3 <= len(c.handle) <= MAX_HANDLE:
        raise ValueError(f"a contact id has 3 to {MAX_HANDLE} characters")
    if c.handle in seen:
        raise ValueError("the contact exists already (in the registry or earlier in the file)")
    _known(registrars, c.registrar, "sponsor")
    if not c.email or "@" not in c.email:
        raise ValueError(f"e-mail {c.email!r} is not an address")
    _statuses(c.statuses, CONTACT_CLIENT | CONTACT_SERVER)
    return c


def _host(
    h: DepositHost, rules: RegistryRules, registrars: set[str], seen: set[str]
) -> DepositHost:
    name = check_host_name(h.name, rules.origin)
    if name in seen:
        raise ValueError("the host exists already (in the registry or earlier in the file)")
    _known(registrars, h.registrar, "sponsor")
    _statuses(h.statuses, HOST_CLIENT | HOST_SERVER)
    parent = superordinate(name, rules.origin)
    # RFC 5732 / registry/hosts.py: glue only under the TLD, and there at least one.
    if parent is None and h.addresses:
        raise ValueError("a host outside the TLD has no addresses in the registry")
    if parent is not None and not h.addresses:
        raise ValueError("a host under the TLD needs at least one address")
    if len(h.addresses) > MAX_ADDRESSES:
        raise ValueError(f"a host has at most {MAX_ADDRESSES} addresses")
    addresses = []
    for text, version in h.addresses:
        a = parse_address(text, version, documentation=rules.documentation_glue)
        addresses.append((a.address, a.version))
    if len(set(addresses)) != len(addresses):
        raise ValueError("an address is listed twice")
    return replace(h, name=name, addresses=tuple(sorted(addresses)))


def _domain_alone(
    d: DepositDomain, rules: RegistryRules, registrars: set[str], existing: Existing
) -> DepositDomain:
    name = check_domain_name(d.name, rules.origin)
    why = rules.reserved.why(name)
    if why is not None:
        raise ValueError(f"reserved: {why}")  # ICANN RA Specification 5; decision 24
    if name in existing.domains:
        raise ValueError("the domain exists already in the registry")
    _known(registrars, d.registrar, "sponsor")
    if d.created_at is None or d.expires_at is None:
        raise ValueError("a domain needs crDate and exDate")
    if d.expires_at <= d.created_at:
        raise ValueError("exDate is not after crDate")
    _statuses(d.statuses, DOMAIN_CLIENT | DOMAIN_SERVER)
    ds = [DsData.of(x.key_tag, x.algorithm, x.digest_type, x.digest) for x in d.ds]
    change = apply_ds_change((), add=ds, policy=rules.ds)
    if not change.ok:
        raise ValueError("; ".join(str(v) for v in change.violations))
    records = tuple(
        DepositDs(x.key_tag, x.algorithm, x.digest_type, x.digest) for x in change.records
    )
    if name == d.name and records == d.ds:
        return d
    return replace(d, name=name, ds=records)


def _domain_links(
    d: DepositDomain, rules: RegistryRules, hosts: set[str], contacts: set[str]
) -> DepositDomain:
    ns = []
    for raw in d.ns:
        host = raw if raw in hosts else check_host_name(raw, rules.origin)
        if host not in hosts:
            raise ValueError(
                f"name server {host!r} is neither a host of the deposit nor the registry "
                "(or was refused)"
            )
        ns.append(host)
    if len(set(ns)) != len(ns):
        raise ValueError("a name server is listed twice")
    if len(ns) > rules.max_ns:
        raise ValueError(f"{len(ns)} name servers; the registry allows {rules.max_ns}")
    handles = [h for _, h in d.contacts] + ([d.registrant] if d.registrant else [])
    for handle in handles:
        if handle not in contacts:
            raise ValueError(
                f"contact {handle!r} is neither in the deposit nor the registry (or was refused)"
            )
    for kind, _ in d.contacts:
        if kind not in ("admin", "tech", "billing"):
            raise ValueError(f"contact type {kind!r} is not admin, tech or billing")
    ordered = tuple(sorted(ns))
    return d if ordered == d.ns else replace(d, ns=ordered)


def _statuses(statuses: Iterable[str], allowed: frozenset[str]) -> None:
    for s in statuses:
        if s not in allowed:
            raise ValueError(f"status {s!r} is not one the registry stores")
