"""The domain update service: name servers, statuses, contacts, registrant, authInfo, DS.

DPS 3.3 and 3.5: the sponsoring registrar adds, removes and replaces DS records; any
syntactically valid DS is accepted (``ds_rules``); removing every DS removes the chain
of trust to the child at the next zone build. RFC 5910 3.2.5: removes before adds.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tldsec.errors import DsRejected, LimitExceeded, PolicyRefused
from tldsec.registry import history, zonedigest
from tldsec.registry.context import Tx
from tldsec.registry.domains import contact_row_id, ds_row, ds_value, resolve_hosts
from tldsec.registry.ds_rules import DsData, apply_ds_change
from tldsec.registry.models import DomainContact, DomainNs, DsRecord
from tldsec.registry.names import check_domain_name
from tldsec.registry.objects import domain_statuses, load_domain, require_sponsor, set_statuses
from tldsec.registry.statuses import (
    DOMAIN_CLIENT,
    DOMAIN_SERVER,
    HOLD,
    check_settable,
    check_update_allowed,
)


@dataclass(frozen=True, slots=True)
class DomainUpdate:
    """One domain:update with its secDNS:update (RFC 5731 3.2.5, RFC 5910 3.2.5).

    ``registrant``: None keeps it, "" removes it, a handle sets it.
    ``auth_info``: None keeps it.
    """

    name: str
    add_ns: tuple[str, ...] = ()
    rem_ns: tuple[str, ...] = ()
    add_status: tuple[str, ...] = ()
    rem_status: tuple[str, ...] = ()
    add_contacts: tuple[tuple[str, str], ...] = ()
    rem_contacts: tuple[tuple[str, str], ...] = ()
    registrant: str | None = None
    auth_info: str | None = None
    ds_rem_all: bool = False
    ds_rem: tuple[DsData, ...] = ()
    ds_add: tuple[DsData, ...] = ()

    def is_ds_removal_only(self) -> bool:
        """Whether the update only removes DS (one, several or all: DPS 3.5.1), perhaps
        with statuses (clientUpdateProhibited would otherwise stop it)."""
        return bool(self.ds_rem or self.ds_rem_all) and self == DomainUpdate(
            self.name, rem_status=self.rem_status, ds_rem_all=self.ds_rem_all, ds_rem=self.ds_rem
        )


def update_domain(session: Session, tx: Tx, req: DomainUpdate) -> None:
    name = check_domain_name(req.name, tx.rules.origin)
    domain = load_domain(session, tx, name)
    require_sponsor(tx, domain.registrar_id, f"domain {name!r}")
    stored = domain_statuses(session, domain.id)
    check_update_allowed(
        name,
        domain.transfer_status,
        stored,
        req.rem_status,
        by_registry=tx.actor.is_registry,
        ds_removal_only=req.is_ds_removal_only(),
    )

    # Statuses (RFC 5731 2.3): registrars set client*, the registry server*.
    check_settable(
        req.add_status + req.rem_status,
        DOMAIN_CLIENT,
        DOMAIN_SERVER,
        by_registry=tx.actor.is_registry,
    )
    add_status, rem_status = set(req.add_status), set(req.rem_status)
    if add_status & stored:
        raise PolicyRefused(f"domain {name!r} already has status {min(add_status & stored)}")
    if rem_status - stored:
        raise PolicyRefused(f"domain {name!r} does not have status {min(rem_status - stored)}")

    # Name servers.
    # Only read what the request touches: a DS-only update is the hot path (bench/).
    current_ns = (
        set(session.scalars(select(DomainNs.host_id).where(DomainNs.domain_id == domain.id)))
        if req.add_ns or req.rem_ns
        else set()
    )
    rem_hosts = resolve_hosts(session, req.rem_ns, tx)
    add_hosts = resolve_hosts(session, req.add_ns, tx)
    for h in rem_hosts:
        if h.id not in current_ns:
            raise PolicyRefused(f"{h.name!r} is not a name server of {name!r}")
    remaining = set(current_ns) - {h.id for h in rem_hosts}
    for h in add_hosts:
        if h.id in remaining:
            raise PolicyRefused(f"{h.name!r} is already a name server of {name!r}")
    if len(remaining) + len(add_hosts) > tx.rules.max_ns:
        raise LimitExceeded(
            f"{name!r} would have {len(remaining) + len(add_hosts)} name servers; "
            f"the registry allows {tx.rules.max_ns}"
        )

    # Contacts.
    current_contacts = (
        set()
        if not (req.add_contacts or req.rem_contacts)
        else {
            (kind, contact_id)
            for kind, contact_id in session.execute(
                select(DomainContact.kind, DomainContact.contact_id).where(
                    DomainContact.domain_id == domain.id
                )
            )
        }
    )
    rem_contacts = {(k, contact_row_id(session, h)) for k, h in req.rem_contacts}
    add_contacts = {(k, contact_row_id(session, h)) for k, h in req.add_contacts}
    if rem_contacts - current_contacts:
        raise PolicyRefused(f"a contact to remove is not a contact of {name!r}")
    if add_contacts & (current_contacts - rem_contacts):
        raise PolicyRefused(f"a contact to add is already a contact of {name!r}")
    registrant_id = contact_row_id(session, req.registrant) if req.registrant else None

    # DS (DPS 3.3): every rule is checked before anything is written.
    ds_rows = session.scalars(select(DsRecord).where(DsRecord.domain_id == domain.id)).all()
    current_ds = [ds_value(r) for r in ds_rows]
    ds_change = apply_ds_change(
        current_ds,
        remove=req.ds_rem,
        remove_all=req.ds_rem_all,
        add=req.ds_add,
        policy=tx.rules.ds,
    )
    if not ds_change.ok:
        raise DsRejected(ds_change.violations)

    # The zone digest of the owners this changes, in this transaction (decision 42): the
    # domain, and for a change of name servers or holds the hosts it uses (glue).
    ns_or_hold = bool(rem_hosts or add_hosts or (add_status | rem_status) & HOLD)
    watched = None
    if ns_or_hold or set(ds_change.records) != set(current_ds):
        owners = {name}
        if ns_or_hold:
            owners |= zonedigest.related_owners(session, [name]) | {h.name for h in add_hosts}
        watched = zonedigest.watch(session, owners)

    # Everything is valid: write.
    set_statuses(session, domain.id, add_status, rem_status)
    if rem_hosts:
        session.execute(
            delete(DomainNs).where(
                DomainNs.domain_id == domain.id,
                DomainNs.host_id.in_([h.id for h in rem_hosts]),
            )
        )
    session.add_all(DomainNs(domain_id=domain.id, host_id=h.id) for h in add_hosts)
    for kind, contact_id in rem_contacts:
        session.execute(
            delete(DomainContact).where(
                DomainContact.domain_id == domain.id,
                DomainContact.kind == kind,
                DomainContact.contact_id == contact_id,
            )
        )
    session.add_all(
        DomainContact(domain_id=domain.id, contact_id=c, kind=k) for k, c in add_contacts
    )
    if req.registrant is not None:
        domain.registrant_id = registrant_id
    if req.auth_info is not None:
        domain.auth_hash = tx.hasher.hash(req.auth_info)
    new_ds = set(ds_change.records)
    removed_ds = [d for d in current_ds if d not in new_ds]
    added_ds = [d for d in ds_change.records if d not in set(current_ds)]
    for row in ds_rows:
        if ds_value(row) not in new_ds:
            session.delete(row)
    session.add_all(ds_row(domain.id, d) for d in added_ds)
    domain.updated_at = tx.now
    domain.updater_id = tx.actor.registrar_id

    zone_relevant = bool(
        rem_hosts or add_hosts or removed_ds or added_ds or (add_status | rem_status) & HOLD
    )
    detail: dict[str, object] = {
        "ns_added": [h.name for h in add_hosts],
        "ns_removed": [h.name for h in rem_hosts],
        "status_added": sorted(add_status),
        "status_removed": sorted(rem_status),
        "ds_added": [str(d) for d in added_ds],
        "ds_removed": [str(d) for d in removed_ds],
    }
    if watched is not None:
        watched.finish(session)
    history.record(session, tx, "domain", name, "update", detail, zone=zone_relevant)
    if added_ds or removed_ds:
        tx.audit(
            "registry.ds.change",
            actor=tx.actor.client_id,
            domain=name,
            added=[str(d) for d in added_ds],
            removed=[str(d) for d in removed_ds],
            chain_of_trust_removed=bool(current_ds) and not new_ds,  # DPS 3.5
        )
