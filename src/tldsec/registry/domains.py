"""Domain services: check, info, create, delete, renew (RFC 5731 semantics, DPS 3).

Every service takes the session of its unit of work and a ``Tx``; it validates
everything before it writes, raises a ``RegistryError`` subclass when it refuses, and
writes its history row (and zone-change row) in the same transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tldsec.errors import (
    DsRejected,
    InvalidValue,
    LimitExceeded,
    NameReserved,
    ObjectExists,
    ObjectNotFound,
    PolicyRefused,
    StatusProhibits,
    TldsecError,
    ValueOutOfRange,
)
from tldsec.registry import history, zonedigest
from tldsec.registry.context import Tx
from tldsec.registry.ds_rules import DsData, apply_ds_change
from tldsec.registry.models import (
    Contact,
    Domain,
    DomainContact,
    DomainNs,
    DsRecord,
    Host,
)
from tldsec.registry.names import check_domain_name, check_host_name, zone_suffix
from tldsec.registry.objects import (
    add_years,
    client_ids,
    domain_statuses,
    host_in_use,
    load_domain,
    require_sponsor,
    roid,
)
from tldsec.registry.statuses import prohibits

CONTACT_KINDS = ("admin", "billing", "tech")


@dataclass(frozen=True, slots=True)
class Availability:
    """One answer of a check command (RFC 5730 2.9.2.1)."""

    name: str
    available: bool
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class DomainCreate:
    name: str
    auth_info: str
    years: int = 1
    ns: tuple[str, ...] = ()
    registrant: str | None = None
    contacts: tuple[tuple[str, str], ...] = ()
    ds: tuple[DsData, ...] = ()


@dataclass(frozen=True, slots=True)
class DomainView:
    """What a domain info returns (RFC 5731 3.1.2); statuses include derived ones."""

    name: str
    roid: str
    statuses: tuple[str, ...]
    registrant: str | None
    contacts: tuple[tuple[str, str], ...]
    ns: tuple[str, ...]
    subordinate_hosts: tuple[str, ...]
    sponsor: str
    creator: str
    created_at: datetime
    updater: str | None
    updated_at: datetime | None
    expires_at: datetime
    transferred_at: datetime | None
    ds: tuple[DsData, ...]


def check_domains(session: Session, tx: Tx, names: Sequence[str]) -> list[Availability]:
    if len(names) > tx.rules.max_check_names:
        raise LimitExceeded(f"at most {tx.rules.max_check_names} names per check")
    answers = []
    for raw in names:
        try:
            name = check_domain_name(raw, tx.rules.origin)
        except TldsecError as exc:
            answers.append(Availability(raw, False, str(exc)[:32] or "invalid name"))
            continue
        if name in tx.rules.reserved:
            answers.append(Availability(name, False, "Reserved"))
            continue
        taken = session.scalar(select(Domain.id).where(Domain.name == name)) is not None
        answers.append(Availability(name, not taken, "In use" if taken else None))
    return answers


def domain_info(session: Session, tx: Tx, name: str) -> DomainView:
    """The full view; the caller decides what a non-sponsor may see."""
    domain = load_domain(session, tx, _name(name, tx), lock=False)
    return view(session, domain)


def create_domain(session: Session, tx: Tx, req: DomainCreate) -> DomainView:
    if tx.actor.registrar_id is None:
        raise PolicyRefused("domains are created by registrars")
    name = _name(req.name, tx)
    why = tx.rules.reserved.why(name)
    if why is not None:
        # ICANN Registry Agreement Specification 5: reserved names are not registered.
        raise NameReserved(f"domain {name!r} is reserved and cannot be registered: {why}")
    if session.scalar(select(Domain.id).where(Domain.name == name)) is not None:
        raise ObjectExists(f"domain {name!r} already exists")
    check_period(req.years, tx)
    hosts = resolve_hosts(session, req.ns, tx)
    if len(hosts) > tx.rules.max_ns:
        raise LimitExceeded(f"{len(hosts)} name servers; the registry allows {tx.rules.max_ns}")
    registrant = contact_row_id(session, req.registrant) if req.registrant else None
    contacts = {(kind, contact_row_id(session, handle)) for kind, handle in req.contacts}
    change = apply_ds_change((), add=req.ds, policy=tx.rules.ds)
    if not change.ok:
        raise DsRejected(change.violations)
    if not req.auth_info:
        raise InvalidValue("a domain needs authInfo (RFC 5731 3.2.1)")
    # The zone digest of the owners this changes, in this transaction (decision 42).
    watched = zonedigest.watch(session, [name, *(h.name for h in hosts)]) if hosts else None
    domain = Domain(
        name=name,
        registrar_id=tx.actor.registrar_id,
        creator_id=tx.actor.registrar_id,
        registrant_id=registrant,
        auth_hash=tx.hasher.hash(req.auth_info),
        created_at=tx.now,
        expires_at=add_years(tx.now, req.years),
    )
    if tx.rules.zone_id is not None:
        domain.zone_id = tx.rules.zone_id
    session.add(domain)
    try:
        session.flush()
    except IntegrityError as exc:
        # Another registrar's create of the same name committed first.
        raise ObjectExists(f"domain {name!r} already exists") from exc
    session.add_all(DomainNs(domain_id=domain.id, host_id=h.id) for h in hosts)
    session.add_all(DomainContact(domain_id=domain.id, contact_id=c, kind=k) for k, c in contacts)
    session.add_all(ds_row(domain.id, ds) for ds in change.records)
    detail: dict[str, object] = {
        "years": req.years,
        "ns": [h.name for h in hosts],
        "ds": [str(d) for d in change.records],
    }
    if watched is not None:
        watched.finish(session)
    history.record(session, tx, "domain", name, "create", detail, zone=bool(hosts))
    if change.records:
        tx.audit(
            "registry.ds.change",
            actor=tx.actor.client_id,
            domain=name,
            **_ds_detail(change.records, ()),
        )
    return view(session, domain)


def delete_domain(session: Session, tx: Tx, name: str) -> None:
    """Delete now (no redemption period). Subordinate hosts still used by other domains
    stay as orphans, their addresses in the zone as signed records (DPS 6.6)."""
    domain = load_domain(session, tx, _name(name, tx))
    require_sponsor(tx, domain.registrar_id, f"domain {domain.name!r}")
    statuses = domain_statuses(session, domain.id)
    _refuse_if(statuses, "Delete", domain, tx)
    if domain.transfer_status == "pending":
        raise StatusProhibits(f"domain {domain.name!r} has a pending transfer")
    # Its NS and DS, the glue of the hosts it used and of those below it (decision 42).
    watched = zonedigest.watch(session, zonedigest.related_owners(session, [domain.name]))
    session.execute(delete(DomainNs).where(DomainNs.domain_id == domain.id))
    orphans = []
    for host in session.scalars(select(Host).where(Host.parent_name == domain.name)):
        if host_in_use(session, host.id):
            orphans.append(host.name)
        else:
            session.delete(host)
    ds = session.scalars(select(DsRecord).where(DsRecord.domain_id == domain.id)).all()
    session.delete(domain)
    watched.finish(session)
    history.record(session, tx, "domain", domain.name, "delete", {"orphans": orphans}, zone=True)
    if ds:
        tx.audit(
            "registry.ds.change",
            actor=tx.actor.client_id,
            domain=domain.name,
            **_ds_detail((), [ds_value(r) for r in ds]),
        )


def renew_domain(session: Session, tx: Tx, name: str, current_expiry: date, years: int) -> datetime:
    domain = load_domain(session, tx, _name(name, tx))
    require_sponsor(tx, domain.registrar_id, f"domain {domain.name!r}")
    _refuse_if(domain_statuses(session, domain.id), "Renew", domain, tx)
    if domain.transfer_status == "pending":
        raise StatusProhibits(f"domain {domain.name!r} has a pending transfer")
    check_period(years, tx)
    # RFC 5731 3.2.3: curExpDate guards against renewing twice by accident.
    if domain.expires_at.date() != current_expiry:
        raise PolicyRefused(
            f"curExpDate {current_expiry} is not the expiry date {domain.expires_at.date()}"
        )
    new_expiry = add_years(domain.expires_at, years)
    if new_expiry > add_years(tx.now, tx.rules.max_period_years):
        raise PolicyRefused(
            f"the registration would run past {tx.rules.max_period_years} years from now"
        )
    domain.expires_at = new_expiry
    domain.updated_at = tx.now
    domain.updater_id = tx.actor.registrar_id
    history.record(session, tx, "domain", domain.name, "renew", {"years": years})
    return new_expiry


def view(session: Session, domain: Domain) -> DomainView:
    stored = domain_statuses(session, domain.id)
    ns = tuple(
        session.scalars(
            select(Host.name)
            .join(DomainNs, DomainNs.host_id == Host.id)
            .where(DomainNs.domain_id == domain.id)
            .order_by(Host.name)
        )
    )
    derived = set(stored)
    if domain.transfer_status == "pending":
        derived.add("pendingTransfer")
    if not ns:
        derived.add("inactive")  # RFC 5731 2.3: no name servers
    if not derived:
        derived.add("ok")
    contacts = tuple(
        (kind, handle)
        for kind, handle in session.execute(
            select(DomainContact.kind, Contact.handle)
            .join(Contact, Contact.id == DomainContact.contact_id)
            .where(DomainContact.domain_id == domain.id)
            .order_by(DomainContact.kind, Contact.handle)
        )
    )
    registrant = (
        session.scalar(select(Contact.handle).where(Contact.id == domain.registrant_id))
        if domain.registrant_id
        else None
    )
    hosts = tuple(
        session.scalars(
            select(Host.name).where(Host.parent_name == domain.name).order_by(Host.name)
        )
    )
    ds = tuple(
        sorted(
            ds_value(r)
            for r in session.scalars(select(DsRecord).where(DsRecord.domain_id == domain.id))
        )
    )
    ids = client_ids(session, domain.registrar_id, domain.creator_id, domain.updater_id)
    return DomainView(
        name=domain.name,
        roid=roid("D", domain.id),
        statuses=tuple(sorted(derived)),
        registrant=registrant,
        contacts=contacts,
        ns=ns,
        subordinate_hosts=hosts,
        sponsor=ids[domain.registrar_id],
        creator=ids[domain.creator_id],
        created_at=domain.created_at,
        updater=ids.get(domain.updater_id) if domain.updater_id else None,
        updated_at=domain.updated_at,
        expires_at=domain.expires_at,
        transferred_at=domain.transferred_at,
        ds=ds,
    )


def check_period(years: int, tx: Tx) -> None:
    if not 1 <= years <= tx.rules.max_period_years:
        raise ValueOutOfRange(
            f"a registration period is 1-{tx.rules.max_period_years} years, not {years}"
        )


def resolve_hosts(session: Session, names: Sequence[str], tx: Tx) -> list[Host]:
    """The host objects for name-server names, each of which must exist."""
    wanted = []
    for raw in names:
        name = check_host_name(raw, tx.rules.origin)
        if name in wanted:
            raise PolicyRefused(f"name server {name!r} is listed twice")
        wanted.append(name)
    if not wanted:
        return []
    found = {h.name: h for h in session.scalars(select(Host).where(Host.name.in_(wanted)))}
    missing = [n for n in wanted if n not in found]
    if missing:
        raise ObjectNotFound(f"host {missing[0]!r} does not exist; create it first")
    return [found[n] for n in wanted]


def contact_row_id(session: Session, handle: str) -> int:
    contact_id = session.scalar(select(Contact.id).where(Contact.handle == handle))
    if contact_id is None:
        raise ObjectNotFound(f"contact {handle!r} does not exist")
    return contact_id


def _refuse_if(statuses: set[str], operation: str, domain: Domain, tx: Tx) -> None:
    status = prohibits(statuses, operation)
    if status and not (tx.actor.is_registry and status.startswith("client")):
        raise StatusProhibits(f"domain {domain.name!r} has status {status}")


def _name(raw: str, tx: Tx) -> str:
    name = check_domain_name(raw, tx.rules.origin)
    assert name.endswith(zone_suffix(tx.rules.origin))
    return name


def ds_row(domain_id: int, ds: DsData) -> DsRecord:
    return DsRecord(
        domain_id=domain_id,
        key_tag=ds.key_tag,
        algorithm=ds.algorithm,
        digest_type=ds.digest_type,
        digest=ds.digest,
    )


def ds_value(row: DsRecord) -> DsData:
    return DsData(row.key_tag, row.algorithm, row.digest_type, row.digest)


def _ds_detail(added: Sequence[DsData], removed: Sequence[DsData]) -> dict[str, object]:
    return {"added": [str(d) for d in added], "removed": [str(d) for d in removed]}
