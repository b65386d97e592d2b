"""Registry database -> the unsigned TLD zone the signer reads (plain values, no DNS objects).

What goes in (DPS 3, 6.6, 6.7):

* the SOA (serial from ``zone.serial``) and the apex NS with their glue, from settings;
One zone at a time (decision 57): the domains of the zone's registry id, and glue only
for the hosts of that zone (``host.zone_id``) that one of its delegations names (RFC
9471 in-domain glue; a host of another zone is out of bailiwick here).

* NS for every domain that has name servers and is not on hold (``clientHold``,
  ``serverHold``: RFC 5731 2.3) — a domain without NS is not delegated;
* DS for those delegated domains (DPS 3.3); a domain whose DS were all removed gets none,
  which removes the chain of trust at this build (DPS 3.5);
* A/AAAA for every name server under the TLD that a delegated domain uses — glue below
  its domain's cut, or, when that domain was deleted or is on hold, an *orphan* record
  that stays in the zone for the domains still using it and is signed (DPS 6.6);
* TTLs from the policy (DPS 6.7); the SOA minimum is the NSEC3 TTL (RFC 9077 3).

The output is deterministic: records sorted in canonical order (RFC 4034 6.1), SOA
first, one ``owner TTL IN TYPE rdata`` line per record with absolute names.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import NamedTuple, TypeVarTuple

from sqlalchemy import Row, Select, exists, func, select
from sqlalchemy.orm import Session

from tldsec.atomicfile import replacing
from tldsec.clock import Clock
from tldsec.errors import ZoneContentError
from tldsec.policy import TtlPolicy
from tldsec.progress import ProgressFor
from tldsec.registry.context import RegistryRules
from tldsec.registry.database import RegistryDatabase
from tldsec.registry.ds_rules import DsData
from tldsec.registry.models import (
    Domain,
    DomainNs,
    DomainStatus,
    DsRecord,
    Host,
    HostAddress,
    ZoneChange,
)
from tldsec.registry.names import superordinate
from tldsec.registry.statuses import HOLD
from tldsec.settings import ApexSettings
from tldsec.zone.quarantine import Isolation, Quarantined
from tldsec.zone.serial import allocate_serial

_BATCH = 20_000
_Ts = TypeVarTuple("_Ts")

PROGRESS_EVERY = 1024  # items between two progress calls (each call reads the clock)


class ZoneRecord(NamedTuple):
    """One record in presentation form. A NamedTuple, not a dataclass: a zone has millions."""

    owner: str
    ttl: int
    rtype: str
    rdata: str

    def line(self) -> str:
        return f"{self.owner} {self.ttl} IN {self.rtype} {self.rdata}"


@dataclass(frozen=True, slots=True)
class BuiltZone:
    """The unsigned zone and what it was built from."""

    origin: str
    serial: int
    records: tuple[ZoneRecord, ...]
    delegations: int
    signed_delegations: int
    glue_hosts: int
    orphan_hosts: tuple[str, ...]
    last_change_id: int  # the newest zone_change row this build includes
    # Registry hosts counted as glue whose owner is an apex owner (records from settings).
    apex_glue_hosts: tuple[str, ...] = ()
    quarantined: tuple[Quarantined, ...] = ()  # objects withheld (zone.quarantine)
    newly_quarantined: tuple[Quarantined, ...] = ()  # ... that the previous build published
    released: tuple[Quarantined, ...] = ()  # the previous build's that are published again


def build_zone(
    session: Session,
    *,
    zone_id: int,
    origin: str,
    apex: ApexSettings,
    ttl: TtlPolicy,
    serial: int,
    rules: RegistryRules,
    isolation: Isolation | None = None,
    progress: ProgressFor | None = None,
) -> BuiltZone:
    """Read the zone ``zone_id``'s rows of the registry (one consistent snapshot:
    ``RegistryDatabase.snapshot``); every
    delegation and glue host is checked with ``rules`` and a bad one quarantined
    (``zone.quarantine``; ``isolation`` knows the previous build's, None: no previous).
    ``progress`` hears how many delegations have been checked."""
    origin = origin.lower() if origin.endswith(".") else origin.lower() + "."
    if not 0 < serial < 2**32:
        raise ValueError(f"SOA serial {serial} is outside 1..2^32-1 (RFC 1035 3.3.13)")
    check = isolation if isolation is not None else Isolation(rules)
    # The registry's newest change id, whichever zone it names: ids are shared by the
    # zones, and the next build reads this zone's rows after it (``zone.incremental``).
    last_change = session.scalar(select(func.max(ZoneChange.id))) or 0
    held = exists().where(DomainStatus.domain_id == Domain.id, DomainStatus.status.in_(HOLD))

    db_ns: dict[str, list[str]] = defaultdict(list)
    delegation = (
        select(Domain.name, Host.name)
        .join(DomainNs, DomainNs.domain_id == Domain.id)
        .join(Host, Host.id == DomainNs.host_id)
        .where(~held, Domain.zone_id == zone_id)
    )
    for domain_name, host_name in _stream(session, delegation):
        db_ns[domain_name].append(host_name)

    db_ds: dict[str, list[DsData]] = defaultdict(list)
    ds_query = (
        select(
            Domain.name, DsRecord.key_tag, DsRecord.algorithm, DsRecord.digest_type, DsRecord.digest
        )
        .join(DsRecord, DsRecord.domain_id == Domain.id)
        .where(Domain.zone_id == zone_id)
    )
    for domain_name, tag, alg, dtype, digest in _stream(session, ds_query):
        if domain_name in db_ns:
            db_ds[domain_name].append(DsData(tag, alg, dtype, digest))

    # DPS 3.5.2: each delegation passes the rules EPP applies, or is quarantined alone.
    ns_by_domain: dict[str, list[str]] = {}
    ds_by_domain: dict[str, list[str]] = {}
    no_ds: list[DsData] = []
    checked = progress("checking delegations") if progress is not None else None
    total = len(db_ns)
    for done, (domain_name, hosts) in enumerate(db_ns.items(), 1):
        if checked is not None and (done % PROGRESS_EVERY == 0 or done == total):
            checked(done, total)
        published = check.domain(domain_name, hosts, db_ds.get(domain_name, no_ds))
        if published is not None:
            ns_by_domain[domain_name] = published[0]
            if published[1]:
                ds_by_domain[domain_name] = published[1]
    # An owner whose rows differ from the registry's digest and that the rows no longer
    # delegate: what the previous build published stays (decision 42).
    vanished = sorted(n for n in check.suspects if n not in db_ns)
    for domain_name in vanished:
        kept = check.vanished_domain(domain_name)
        if kept is not None:
            ns_by_domain[domain_name] = kept[0]
            if kept[1]:
                ds_by_domain[domain_name] = kept[1]
    del db_ns, db_ds

    used = {h for hosts in ns_by_domain.values() for h in hosts}
    db_addresses: dict[str, list[tuple[int, str]]] = defaultdict(list)
    parents: dict[str, str] = {}
    glue_query = (
        select(Host.name, Host.parent_name, HostAddress.version, HostAddress.address)
        .join(HostAddress, HostAddress.host_id == Host.id)
        .where(Host.parent_name.is_not(None), Host.zone_id == zone_id)
    )
    for host_name, parent, version, address in _stream(session, glue_query):
        if host_name in used and parent is not None:
            db_addresses[host_name].append((version, address))
            parents[host_name] = parent
    addresses: dict[str, list[tuple[int, str]]] = {}
    for host_name, addrs in db_addresses.items():
        glue = check.glue(host_name, addrs)
        if glue is not None:
            addresses[host_name] = glue
        else:
            parents.pop(host_name)
    for host_name in vanished:
        if host_name not in db_addresses:
            glue = check.vanished_glue(host_name)
            parent = superordinate(host_name, origin)
            if glue is not None and parent is not None:
                addresses[host_name], parents[host_name] = glue, parent

    # Group by owner, each owner's records in SOA, NS, DS, A, AAAA order, then sort the
    # owners once (a zone has millions of records; sorting owners is what costs).
    by_owner: dict[str, list[ZoneRecord]] = defaultdict(list)
    for record in apex_records(origin, apex, ttl, serial):
        by_owner[record.owner].append(record)
    apex_owners = set(by_owner)
    for domain_name, hosts in ns_by_domain.items():
        owner = f"{domain_name}."
        by_owner[owner].extend(delegation_records(owner, hosts, ds_by_domain.get(domain_name), ttl))
    apex_glue: list[str] = []
    for host_name, addrs in addresses.items():
        owner = f"{host_name}."
        if owner in apex_owners:
            apex_glue.append(host_name)
            continue  # the apex name servers' glue comes from the settings
        by_owner[owner].extend(glue_records(owner, addrs, ttl))
    records = [r for owner in sorted(by_owner, key=canonical_key) for r in by_owner[owner]]

    orphans = tuple(sorted(h for h, p in parents.items() if p not in ns_by_domain))
    for ns in apex.ns:
        parent = superordinate(ns.rstrip("."), origin)
        if parent in ns_by_domain:
            raise ZoneContentError(
                f"apex name server {ns} lies below the delegated domain {parent}: "
                f"the registry must not delegate {parent} (add it to the reserved names)"
            )
    quarantined, new, released = check.result()
    return BuiltZone(
        origin=origin,
        serial=serial,
        records=tuple(records),
        delegations=len(ns_by_domain),
        signed_delegations=len(ds_by_domain),
        glue_hosts=len(addresses),
        orphan_hosts=orphans,
        last_change_id=last_change,
        apex_glue_hosts=tuple(sorted(apex_glue)),
        quarantined=quarantined,
        newly_quarantined=new,
        released=released,
    )


def build_from_registry(
    db: RegistryDatabase,
    *,
    zone_id: int,
    origin: str,
    apex: ApexSettings,
    ttl: TtlPolicy,
    rules: RegistryRules,
    clock: Clock,
    progress: ProgressFor | None = None,
) -> tuple[BuiltZone, datetime]:
    """Allocate the zone's next serial (its own transaction), then build from one
    snapshot; ``zone_id`` is the zone's registry id (``registry.zonerows``)."""
    now = clock.now()
    with db.write() as session:
        serial = allocate_serial(session, zone_id, now)
    with db.snapshot() as session:
        zone = build_zone(
            session,
            zone_id=zone_id,
            origin=origin,
            apex=apex,
            ttl=ttl,
            serial=serial,
            rules=rules,
            progress=progress,
        )
        return zone, now


def zone_text(
    zone: BuiltZone, built_at: datetime | None = None, progress: ProgressFor | None = None
) -> Iterator[str]:
    """The zone file, line by line (each ending in a newline); ``progress`` hears how
    many records have been written."""
    yield header_line(zone.origin, zone.serial, built_at)
    written = progress("writing records") if progress is not None else None
    total = len(zone.records)
    for done, record in enumerate(zone.records, 1):
        if written is not None and (done % PROGRESS_EVERY == 0 or done == total):
            written(done, total)
        yield record.line() + "\n"
    yield trailer_line(
        zone.delegations, zone.signed_delegations, zone.glue_hosts, len(zone.orphan_hosts)
    )


def header_line(origin: str, serial: int, built_at: datetime | None) -> str:
    """The comment that opens a built zone file."""
    when = f" at {built_at.isoformat()}" if built_at else ""
    return f"; unsigned zone {origin} serial {serial}{when} by tldsec zone build\n"


def trailer_line(delegations: int, with_ds: int, glue_hosts: int, orphan_hosts: int) -> str:
    """The comment that closes a built zone file: what is in it."""
    return (
        f"; delegations={delegations} with_ds={with_ds} "
        f"glue_hosts={glue_hosts} orphan_hosts={orphan_hosts}\n"
    )


def write_zone(
    zone: BuiltZone,
    path: Path,
    built_at: datetime | None = None,
    progress: ProgressFor | None = None,
) -> None:
    """Write the zone file atomically: a reader sees the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path, "w", encoding="ascii", newline="\n") as out:
        out.writelines(zone_text(zone, built_at, progress))


def delegation_records(
    owner: str, hosts: Iterable[str], ds: Iterable[str] | None, ttl: TtlPolicy
) -> list[ZoneRecord]:
    """A delegated domain's NS (host names without the final dot), then its DS."""
    group = [ZoneRecord(owner, ttl.ns, "NS", f"{h}.") for h in sorted(hosts)]
    if ds:
        group.extend(ZoneRecord(owner, ttl.ds, "DS", d) for d in sorted(ds))
    return group


def glue_records(owner: str, addrs: Iterable[tuple[int, str]], ttl: TtlPolicy) -> list[ZoneRecord]:
    """A name server's A and AAAA records, from (IP version, address) pairs."""
    return [
        ZoneRecord(owner, ttl.a, "A", a) if v == 4 else ZoneRecord(owner, ttl.aaaa, "AAAA", a)
        for v, a in sorted(addrs)
    ]


def apex_records(
    origin: str, apex: ApexSettings, ttl: TtlPolicy, serial: int
) -> Iterator[ZoneRecord]:
    """The SOA, the apex NS and their glue, from the settings."""
    soa = (
        f"{apex.soa_mname} {apex.soa_rname} {serial} {apex.soa_refresh} "
        f"{apex.soa_retry} {apex.soa_expire} {ttl.nsec3}"
    )
    yield ZoneRecord(origin, ttl.soa, "SOA", soa)
    for ns in sorted(apex.ns):
        yield ZoneRecord(origin, ttl.ns, "NS", ns)
    for host, address in sorted(apex.glue, key=lambda g: (g[0], ":" in g[1], g[1])):
        rtype, rttl = ("AAAA", ttl.aaaa) if ":" in address else ("A", ttl.a)
        yield ZoneRecord(host, rttl, rtype, address)


def canonical_key(owner: str) -> list[str]:
    """Sort key of an absolute name in canonical order (RFC 4034 6.1): labels from the
    root down. Registry and apex names are lower-case LDH (``registry/names.py``, settings),
    so plain string order of the labels is their octet order; ``dnscore.names`` handles
    the general case with escapes, at many times the cost per name."""
    return owner.split(".")[::-1]


def _stream(session: Session, query: Select[*_Ts]) -> Iterator[Row[*_Ts]]:
    """Rows in batches (a server-side cursor on PostgreSQL) so memory stays flat; Core
    execution, as ORM row processing costs more than the query here."""
    connection = session.connection()
    result = connection.execution_options(stream_results=True, yield_per=_BATCH).execute(query)
    try:
        yield from result
    finally:
        # Closed here even when the connection died under the build (a failover): left to
        # the garbage collector, psycopg's server-side cursor warns that it was never closed.
        result.close()
