"""Host (name server) services: check, info, create, update, delete (RFC 5732).

A host under the TLD needs addresses (they become glue) and can only be created by the
sponsor of the domain above it; a host outside the TLD carries no addresses. A host
that any domain uses as a name server cannot be deleted (RFC 5732 3.2.2).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tldsec.errors import (
    AssociationProhibits,
    LimitExceeded,
    ObjectExists,
    ObjectNotFound,
    PolicyRefused,
    StatusProhibits,
    TldsecError,
)
from tldsec.registry import history, zonedigest
from tldsec.registry.addresses import HostAddr, address_syntax, parse_address
from tldsec.registry.context import Tx
from tldsec.registry.domains import Availability
from tldsec.registry.models import FIRST_ZONE, Domain, DomainNs, Host, HostAddress, HostStatus
from tldsec.registry.names import check_host_name, superordinate
from tldsec.registry.objects import client_ids, host_in_use, load_host, require_sponsor, roid
from tldsec.registry.statuses import HOST_CLIENT, HOST_SERVER, check_settable, prohibits

MAX_ADDRESSES = 13


@dataclass(frozen=True, slots=True)
class HostView:
    name: str
    roid: str
    statuses: tuple[str, ...]
    addresses: tuple[HostAddr, ...]
    sponsor: str
    creator: str
    created_at: datetime
    updater: str | None
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class HostUpdate:
    name: str
    add_addr: tuple[HostAddr, ...] = ()
    rem_addr: tuple[HostAddr, ...] = ()
    add_status: tuple[str, ...] = ()
    rem_status: tuple[str, ...] = ()
    new_name: str | None = None


def check_hosts(session: Session, tx: Tx, names: Sequence[str]) -> list[Availability]:
    if len(names) > tx.rules.max_check_names:
        raise LimitExceeded(f"at most {tx.rules.max_check_names} names per check")
    answers = []
    for raw in names:
        try:
            name = check_host_name(raw, tx.rules.origin)
        except TldsecError as exc:
            answers.append(Availability(raw, False, str(exc)[:32]))
            continue
        taken = session.scalar(select(Host.id).where(Host.name == name)) is not None
        answers.append(Availability(name, not taken, "In use" if taken else None))
    return answers


def host_info(session: Session, tx: Tx, name: str) -> HostView:
    return view(session, load_host(session, check_host_name(name, tx.rules.origin), lock=False))


def create_host(
    session: Session, tx: Tx, name: str, addresses: Sequence[HostAddr] = ()
) -> HostView:
    if tx.actor.registrar_id is None:
        raise PolicyRefused("hosts are created by registrars")
    name = check_host_name(name, tx.rules.origin)
    if session.scalar(select(Host.id).where(Host.name == name)) is not None:
        raise ObjectExists(f"host {name!r} already exists")
    addresses = _unique([_glue(tx, a) for a in addresses])
    parent, zone_id = _check_placement(session, tx, name, addresses)
    host = Host(
        name=name,
        registrar_id=tx.actor.registrar_id,
        creator_id=tx.actor.registrar_id,
        parent_name=parent,
        created_at=tx.now,
        # The zone the host is in-bailiwick of (decision 57): glue is written there only.
        zone_id=zone_id,
    )
    session.add(host)
    try:
        session.flush()
    except IntegrityError as exc:
        raise ObjectExists(f"host {name!r} already exists") from exc
    session.add_all(
        HostAddress(host_id=host.id, address=a.address, version=a.version) for a in addresses
    )
    history.record(
        session, tx, "host", name, "create", {"addresses": [a.address for a in addresses]}
    )
    return view(session, host)


def _glue(tx: Tx, addr: HostAddr) -> HostAddr:
    """An address a registrar adds: the glue rule the zone builder applies too."""
    return parse_address(addr.address, addr.version, documentation=tx.rules.documentation_glue)


def update_host(session: Session, tx: Tx, req: HostUpdate) -> None:
    name = check_host_name(req.name, tx.rules.origin)
    host = load_host(session, name)
    require_sponsor(tx, host.registrar_id, f"host {name!r}")
    stored = _statuses(session, host.id)
    status = prohibits(stored, "Update")
    if status and not (status.startswith("client") and status in req.rem_status):
        raise StatusProhibits(f"host {name!r} has status {status}")
    check_settable(
        req.add_status + req.rem_status, HOST_CLIENT, HOST_SERVER, by_registry=tx.actor.is_registry
    )
    add_status, rem_status = set(req.add_status), set(req.rem_status)
    if add_status & stored or rem_status - stored:
        raise PolicyRefused(f"a status to add is already set, or one to remove is not, on {name!r}")
    current = {
        HostAddr(a.address, a.version)
        for a in session.scalars(select(HostAddress).where(HostAddress.host_id == host.id))
    }
    # Any address the host has may be removed, even one the rules refuse today.
    rem = {address_syntax(a.address, a.version) for a in req.rem_addr}
    add = {_glue(tx, a) for a in req.add_addr}
    if rem - current:
        raise PolicyRefused(f"host {name!r} does not have address {min(rem - current).address}")
    if add & (current - rem):
        raise PolicyRefused(f"host {name!r} already has address {min(add & current).address}")
    final = sorted((current - rem) | add, key=lambda a: (a.version, a.address))
    new_name = name
    if req.new_name is not None:
        new_name = check_host_name(req.new_name, tx.rules.origin)
        if new_name != name and session.scalar(select(Host.id).where(Host.name == new_name)):
            raise ObjectExists(f"host {new_name!r} already exists")
    parent, zone_id = _check_placement(session, tx, new_name, final)
    # The zone digest of the owners this changes, in this transaction (decision 42): its
    # glue, and on a rename the NS of every domain using it, whichever zone it is in.
    watched = None
    zone_of: dict[str, int | None] = {name: host.zone_id, new_name: zone_id}
    users: dict[str, int] = {}  # the domains naming the host on a rename: their zones
    if add or rem or new_name != name:
        if new_name != name:
            users = {
                d: z
                for d, z in session.execute(
                    select(Domain.name, Domain.zone_id)
                    .join(DomainNs, DomainNs.domain_id == Domain.id)
                    .where(DomainNs.host_id == host.id)
                )
            }
            zone_of.update(users)
        watched = zonedigest.watch(session, zone_of)

    if rem:
        session.execute(
            delete(HostAddress).where(
                HostAddress.host_id == host.id,
                HostAddress.address.in_([a.address for a in rem]),
            )
        )
    session.add_all(HostAddress(host_id=host.id, address=a.address, version=a.version) for a in add)
    if rem_status:
        session.execute(
            delete(HostStatus).where(
                HostStatus.host_id == host.id, HostStatus.status.in_(rem_status)
            )
        )
    session.add_all(HostStatus(host_id=host.id, status=s) for s in sorted(add_status))
    host.name, host.parent_name, host.zone_id = new_name, parent, zone_id
    host.updated_at, host.updater_id = tx.now, tx.actor.registrar_id
    detail: dict[str, object] = {
        "added": sorted(a.address for a in add),
        "removed": sorted(a.address for a in rem),
        "renamed_to": new_name if new_name != name else None,
    }
    changes_zone = bool(add or rem or new_name != name) and host_in_use(session, host.id)
    if watched is not None:
        _finish_per_zone(session, tx, name, watched, zone_of, set(users.values()))
    history.record(session, tx, "host", name, "update", detail, zone=changes_zone)


def _finish_per_zone(
    session: Session,
    tx: Tx,
    name: str,
    watched: zonedigest.Watch,
    zone_of: dict[str, int | None],
    user_zones: set[int],
) -> None:
    """The digest deltas of a host's change, zone by zone (decision 72): a zone other
    than the command's whose domains name the host, or whose glue it is, gets its own
    ``zone_change`` row with its part of the delta (the host's old name, as the
    command's row, so its incremental build finds the rename in the history row);
    the command's part is left for ``history.record``. Without this, the other zone's
    delegations would change with no change row of its own (decision 65's note): its
    cycle would not rebuild them and its full reconciliation would refuse it."""
    command = tx.rules.zone_id if tx.rules.zone_id is not None else FIRST_ZONE
    parts: dict[int, set[str]] = {}
    for owner in watched.owners:
        zone = zone_of.get(owner.rstrip("."))
        parts.setdefault(command if zone is None else zone, set()).add(owner)
    for zone, owners in sorted(parts.items()):
        if zone == command:
            continue
        part = zonedigest.Watch(owners, {o: watched.before[o] for o in owners})
        if not part.finish(session).empty or zone in user_zones:
            history.zone_change(session, tx, zone, "host", name, "update")
    mine = parts.get(command)
    if mine:
        zonedigest.Watch(mine, {o: watched.before[o] for o in mine}).finish(session)


def delete_host(session: Session, tx: Tx, name: str) -> None:
    name = check_host_name(name, tx.rules.origin)
    host = load_host(session, name)
    require_sponsor(tx, host.registrar_id, f"host {name!r}")
    status = prohibits(_statuses(session, host.id), "Delete")
    if status:
        raise StatusProhibits(f"host {name!r} has status {status}")
    if host_in_use(session, host.id):
        raise AssociationProhibits(f"host {name!r} is a name server of a domain")
    session.delete(host)
    try:
        session.flush()
    except IntegrityError as exc:
        # A concurrent domain update started using the host.
        raise AssociationProhibits(f"host {name!r} is a name server of a domain") from exc
    history.record(session, tx, "host", name, "delete")


def view(session: Session, host: Host) -> HostView:
    statuses = _statuses(session, host.id)
    if host_in_use(session, host.id):
        statuses.add("linked")
    if not statuses - {"linked"}:
        statuses.add("ok")
    addresses = tuple(
        HostAddr(a.address, a.version)
        for a in session.scalars(
            select(HostAddress)
            .where(HostAddress.host_id == host.id)
            .order_by(HostAddress.version, HostAddress.address)
        )
    )
    ids = client_ids(session, host.registrar_id, host.creator_id, host.updater_id)
    return HostView(
        name=host.name,
        roid=roid("H", host.id),
        statuses=tuple(sorted(statuses)),
        addresses=addresses,
        sponsor=ids[host.registrar_id],
        creator=ids[host.creator_id],
        created_at=host.created_at,
        updater=ids.get(host.updater_id) if host.updater_id else None,
        updated_at=host.updated_at,
    )


def _check_placement(
    session: Session, tx: Tx, name: str, addresses: Sequence[HostAddr]
) -> tuple[str | None, int | None]:
    """The parent domain of an in-TLD host (which must exist and be the actor's), and
    its zone, which is the host's: the zone it is in-bailiwick of (decision 57; a
    registry of one zone, or of none yet, writes its domains in zone 1). (None, None):
    a host outside the TLD."""
    parent = superordinate(name, tx.rules.origin)
    if parent is None:
        if addresses:
            raise PolicyRefused(
                f"host {name!r} is outside the TLD: the registry keeps no addresses for it"
            )
        return None, None
    if len(addresses) > MAX_ADDRESSES:
        raise LimitExceeded(f"a host has at most {MAX_ADDRESSES} addresses")
    if not addresses:
        raise PolicyRefused(f"host {name!r} is under the TLD and needs at least one address")
    domain = session.scalar(select(Domain).where(Domain.name == parent))
    if domain is None:
        raise ObjectNotFound(f"the superordinate domain {parent!r} of {name!r} does not exist")
    require_sponsor(tx, domain.registrar_id, f"the superordinate domain {parent!r}")
    return parent, domain.zone_id


def _statuses(session: Session, host_id: int) -> set[str]:
    return set(session.scalars(select(HostStatus.status).where(HostStatus.host_id == host_id)))


def _unique(addresses: Sequence[HostAddr]) -> list[HostAddr]:
    seen: dict[str, HostAddr] = {}
    for a in addresses:
        if a.address in seen:
            raise PolicyRefused(f"address {a.address} is listed twice")
        seen[a.address] = a
    return list(seen.values())
