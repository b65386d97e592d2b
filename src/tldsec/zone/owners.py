"""The registry's present state of a few owners: what the zone must hold at each name.

The incremental build asks about the names a set of registry changes can affect; this
module reads exactly those rows (in batches of names, from the build's snapshot) and
says, per name, what the full build (``zone.builder.build_zone``) would put there:

* as a domain: delegated when it exists, is not on hold (RFC 5731 2.3) and has name
  servers; then its NS host names and DS (DPS 3.3, 3.5);
* as a host: glue when it is under the TLD (``parent_name``) and of the zone
  (``host.zone_id``), a delegated domain of the zone uses it (RFC 9471 in-domain glue)
  and it has addresses; an orphan when its own domain is not delegated (DPS 6.6).

Every read that decides what the zone holds takes the zone's registry id (decision 57);
the reads that only widen the set of names to look at do not need to.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, and_, exists, select
from sqlalchemy.orm import Session

from tldsec.registry.ds_rules import DsData
from tldsec.registry.models import (
    Domain,
    DomainNs,
    DomainStatus,
    DsRecord,
    HistoryEntry,
    Host,
    HostAddress,
)
from tldsec.registry.statuses import HOLD

BATCH = 500  # names per IN (...) list


@dataclass(slots=True)
class DomainState:
    """A domain's delegation now (``ns`` empty: not delegated)."""

    ns: list[str] = field(default_factory=list)
    ds: list[str] = field(default_factory=list)  # RDATA in presentation form
    records: list[DsData] = field(default_factory=list)  # the same, as the rows hold them

    @property
    def delegated(self) -> bool:
        return bool(self.ns)


@dataclass(slots=True)
class HostState:
    """A registry host under the TLD that is glue now."""

    parent: str
    addresses: list[tuple[int, str]]


def batches(names: Iterable[str]) -> Iterator[list[str]]:
    chunk: list[str] = []
    for name in names:
        chunk.append(name)
        if len(chunk) == BATCH:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def domains(session: Session, names: Iterable[str], zone_id: int) -> dict[str, DomainState]:
    """The delegated domains of the zone among ``names`` (the others are absent)."""
    held = exists().where(DomainStatus.domain_id == Domain.id, DomainStatus.status.in_(HOLD))
    out: dict[str, DomainState] = {}
    for chunk in batches(sorted(set(names))):
        ids: dict[int, str] = {}
        rows = session.execute(
            select(Domain.id, Domain.name, Host.name)
            .join(DomainNs, DomainNs.domain_id == Domain.id)
            .join(Host, Host.id == DomainNs.host_id)
            .where(Domain.name.in_(chunk), Domain.zone_id == zone_id, ~held)
        )
        for domain_id, domain_name, host_name in rows:
            ids[domain_id] = domain_name
            out.setdefault(domain_name, DomainState()).ns.append(host_name)
        if not ids:
            continue
        ds_rows = session.execute(
            select(
                DsRecord.domain_id,
                DsRecord.key_tag,
                DsRecord.algorithm,
                DsRecord.digest_type,
                DsRecord.digest,
            ).where(DsRecord.domain_id.in_(list(ids)))
        )
        for domain_id, tag, alg, dtype, digest in ds_rows:
            state = out[ids[domain_id]]
            state.ds.append(f"{tag} {alg} {dtype} {digest}")
            state.records.append(DsData(tag, alg, dtype, digest))
    return out


def glue_hosts(
    session: Session, names: Iterable[str], zone_id: int, *, used_only: bool = True
) -> dict[str, HostState]:
    """The zone's hosts among ``names`` that are glue now (the others are absent): used
    by a domain of the zone; with ``used_only`` False, every host of the zone with
    addresses, used or not."""
    held = exists().where(DomainStatus.domain_id == Domain.id, DomainStatus.status.in_(HOLD))
    used = (
        select(DomainNs.domain_id)
        .join(Domain, Domain.id == DomainNs.domain_id)
        .where(DomainNs.host_id == Host.id, Domain.zone_id == zone_id, ~held)
        .exists()
    )
    out: dict[str, HostState] = {}
    for chunk in batches(sorted(set(names))):
        query = (
            select(Host.name, Host.parent_name, HostAddress.version, HostAddress.address)
            .join(HostAddress, HostAddress.host_id == Host.id)
            .where(Host.name.in_(chunk), Host.parent_name.is_not(None), Host.zone_id == zone_id)
        )
        rows = session.execute(query.where(used) if used_only else query)
        for host_name, parent, version, address in rows:
            assert parent is not None
            out.setdefault(host_name, HostState(parent, [])).addresses.append((version, address))
    return out


def host_users(session: Session, host_names: Iterable[str], zone_id: int) -> dict[str, set[str]]:
    """For each of ``host_names``, the zone's domains not on hold that use it now."""
    held = exists().where(DomainStatus.domain_id == Domain.id, DomainStatus.status.in_(HOLD))
    out: dict[str, set[str]] = defaultdict(set)
    for chunk in batches(sorted(set(host_names))):
        rows = session.execute(
            select(Host.name, Domain.name)
            .join(DomainNs, DomainNs.host_id == Host.id)
            .join(Domain, Domain.id == DomainNs.domain_id)
            .where(Host.name.in_(chunk), Domain.zone_id == zone_id, ~held)
        )
        for host_name, domain_name in rows:
            out[host_name].add(domain_name)
    return out


def name_servers(session: Session, domain_names: Iterable[str]) -> set[str]:
    """Every host some of ``domain_names`` use now (held or not)."""
    return _names(
        session,
        domain_names,
        lambda chunk: (
            select(Host.name)
            .join(DomainNs, DomainNs.host_id == Host.id)
            .join(Domain, Domain.id == DomainNs.domain_id)
            .where(Domain.name.in_(chunk))
        ),
    )


def subordinate_hosts(session: Session, domain_names: Iterable[str]) -> set[str]:
    """Every host whose superordinate domain is one of ``domain_names`` (RFC 5732 1.1)."""
    return _names(
        session, domain_names, lambda chunk: select(Host.name).where(Host.parent_name.in_(chunk))
    )


def users(session: Session, host_names: Iterable[str]) -> set[str]:
    """Every domain that uses one of ``host_names`` as a name server."""
    return _names(
        session,
        host_names,
        lambda chunk: (
            select(Domain.name)
            .join(DomainNs, DomainNs.domain_id == Domain.id)
            .join(Host, Host.id == DomainNs.host_id)
            .where(Host.name.in_(chunk))
        ),
    )


def _names(
    session: Session, names: Iterable[str], query: Callable[[list[str]], Select[Any]]
) -> set[str]:
    """The names ``query`` finds for ``names``, asked a batch at a time."""
    out: set[str] = set()
    for chunk in batches(sorted(set(names))):
        out.update(session.scalars(query(chunk)))
    return out


class UnknownRename(LookupError):
    """A host change whose history row cannot be found."""


def host_renames(session: Session, changes: Iterable[tuple[str, object]]) -> dict[str, set[str]]:
    """For each changed host (name, when), the names it was renamed to in that change
    (``registry.hosts.update_host`` logs the old name; the history row has the new)."""
    wanted: dict[str, set[object]] = defaultdict(set)
    for name, at in changes:
        wanted[name].add(at)
    out: dict[str, set[str]] = defaultdict(set)
    found: set[tuple[str, object]] = set()
    for chunk in batches(sorted(wanted)):
        rows = session.execute(
            select(HistoryEntry.object_name, HistoryEntry.at, HistoryEntry.detail).where(
                and_(
                    HistoryEntry.object_type == "host",
                    HistoryEntry.action == "update",
                    HistoryEntry.object_name.in_(chunk),
                )
            )
        )
        for name, at, detail in rows:
            if at not in wanted[name]:
                continue
            found.add((name, at))
            try:
                target = json.loads(detail).get("renamed_to")
            except (ValueError, AttributeError):
                target = None
            if isinstance(target, str):
                out[name].add(target)
    missing = {(n, a) for n, ats in wanted.items() for a in ats} - found
    if missing:
        name, at = min(missing, key=str)
        raise UnknownRename(f"no history row for the zone change of host {name} at {at}")
    return out
