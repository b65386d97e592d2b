"""Contact services (RFC 5733), as far as a domain's registrant and contacts need.

Contacts hold personal data: only their sponsor (or a client with the contact's
authInfo) may read them; a contact linked to a domain cannot be deleted.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tldsec.errors import (
    AssociationProhibits,
    InvalidValue,
    LimitExceeded,
    NotSponsor,
    ObjectExists,
    PolicyRefused,
    StatusProhibits,
)
from tldsec.registry import history
from tldsec.registry.context import Tx
from tldsec.registry.domains import Availability
from tldsec.registry.models import Contact, ContactStatus, Domain, DomainContact
from tldsec.registry.objects import client_ids, load_contact, require_sponsor, roid
from tldsec.registry.passwords import verify
from tldsec.registry.statuses import CONTACT_CLIENT, CONTACT_SERVER, check_settable, prohibits

_HANDLE = re.compile(r"^\S{3,16}$")  # eppcom:clIDType


@dataclass(frozen=True, slots=True)
class PostalInfo:
    """contact:postalInfo (RFC 5733 2.4): ``kind`` is "int" or "loc"."""

    kind: str
    name: str
    city: str
    cc: str
    org: str | None = None
    street: tuple[str, ...] = ()
    sp: str | None = None
    pc: str | None = None


@dataclass(frozen=True, slots=True)
class ContactData:
    handle: str
    postal: tuple[PostalInfo, ...]
    email: str
    auth_info: str
    voice: str | None = None
    fax: str | None = None


@dataclass(frozen=True, slots=True)
class ContactView:
    handle: str
    roid: str
    statuses: tuple[str, ...]
    postal: tuple[PostalInfo, ...]
    voice: str | None
    fax: str | None
    email: str
    sponsor: str
    creator: str
    created_at: datetime
    updater: str | None
    updated_at: datetime | None


@dataclass(frozen=True, slots=True)
class ContactUpdate:
    """``postal`` replaces the postal info of the same kinds; None fields keep their value."""

    handle: str
    add_status: tuple[str, ...] = ()
    rem_status: tuple[str, ...] = ()
    postal: tuple[PostalInfo, ...] = field(default=())
    voice: str | None = None
    fax: str | None = None
    email: str | None = None
    auth_info: str | None = None


def check_contacts(session: Session, tx: Tx, handles: Sequence[str]) -> list[Availability]:
    if len(handles) > tx.rules.max_check_names:
        raise LimitExceeded(f"at most {tx.rules.max_check_names} ids per check")
    answers = []
    for handle in handles:
        taken = session.scalar(select(Contact.id).where(Contact.handle == handle)) is not None
        answers.append(Availability(handle, not taken, "In use" if taken else None))
    return answers


def contact_info(
    session: Session, tx: Tx, handle: str, auth_info: str | None = None
) -> ContactView:
    contact = load_contact(session, handle, lock=False)
    is_sponsor = tx.actor.is_registry or tx.actor.registrar_id == contact.registrar_id
    if not is_sponsor and not (auth_info and verify(tx.hasher, contact.auth_hash, auth_info)):
        raise NotSponsor(f"contact {handle!r} is sponsored by another registrar")
    return view(session, contact)


def create_contact(session: Session, tx: Tx, data: ContactData) -> ContactView:
    if tx.actor.registrar_id is None:
        raise PolicyRefused("contacts are created by registrars")
    if not _HANDLE.match(data.handle):
        raise InvalidValue(f"{data.handle!r} is not a contact id (3-16 characters)")
    if session.scalar(select(Contact.id).where(Contact.handle == data.handle)) is not None:
        raise ObjectExists(f"contact {data.handle!r} already exists")
    _check_postal(data.postal)
    contact = Contact(
        handle=data.handle,
        registrar_id=tx.actor.registrar_id,
        creator_id=tx.actor.registrar_id,
        postal_json=_postal_json(data.postal),
        voice=data.voice,
        fax=data.fax,
        email=data.email,
        auth_hash=tx.hasher.hash(data.auth_info),
        created_at=tx.now,
    )
    session.add(contact)
    try:
        session.flush()
    except IntegrityError as exc:
        raise ObjectExists(f"contact {data.handle!r} already exists") from exc
    history.record(session, tx, "contact", data.handle, "create")
    return view(session, contact)


def update_contact(session: Session, tx: Tx, req: ContactUpdate) -> None:
    contact = load_contact(session, req.handle)
    require_sponsor(tx, contact.registrar_id, f"contact {req.handle!r}")
    stored = _statuses(session, contact.id)
    status = prohibits(stored, "Update")
    if status and not (status.startswith("client") and status in req.rem_status):
        raise StatusProhibits(f"contact {req.handle!r} has status {status}")
    check_settable(
        req.add_status + req.rem_status,
        CONTACT_CLIENT,
        CONTACT_SERVER,
        by_registry=tx.actor.is_registry,
    )
    if set(req.add_status) & stored or set(req.rem_status) - stored:
        raise PolicyRefused(
            f"a status to add is already set, or one to remove is not, on {req.handle!r}"
        )
    postal = {p.kind: p for p in _load_postal(contact.postal_json)}
    postal.update({p.kind: p for p in req.postal})
    _check_postal(tuple(postal.values()))

    if req.rem_status:
        session.execute(
            delete(ContactStatus).where(
                ContactStatus.contact_id == contact.id,
                ContactStatus.status.in_(req.rem_status),
            )
        )
    session.add_all(
        ContactStatus(contact_id=contact.id, status=s) for s in sorted(set(req.add_status))
    )
    contact.postal_json = _postal_json(tuple(postal.values()))
    if req.voice is not None:
        contact.voice = req.voice or None
    if req.fax is not None:
        contact.fax = req.fax or None
    if req.email is not None:
        contact.email = req.email
    if req.auth_info is not None:
        contact.auth_hash = tx.hasher.hash(req.auth_info)
    contact.updated_at, contact.updater_id = tx.now, tx.actor.registrar_id
    history.record(session, tx, "contact", req.handle, "update")


def delete_contact(session: Session, tx: Tx, handle: str) -> None:
    contact = load_contact(session, handle)
    require_sponsor(tx, contact.registrar_id, f"contact {handle!r}")
    status = prohibits(_statuses(session, contact.id), "Delete")
    if status:
        raise StatusProhibits(f"contact {handle!r} has status {status}")
    if _linked(session, contact.id):
        raise AssociationProhibits(f"contact {handle!r} is linked to a domain")
    session.delete(contact)
    try:
        session.flush()
    except IntegrityError as exc:
        raise AssociationProhibits(f"contact {handle!r} is linked to a domain") from exc
    history.record(session, tx, "contact", handle, "delete")


def view(session: Session, contact: Contact) -> ContactView:
    statuses = _statuses(session, contact.id)
    if _linked(session, contact.id):
        statuses.add("linked")
    if not statuses - {"linked"}:
        statuses.add("ok")
    ids = client_ids(session, contact.registrar_id, contact.creator_id, contact.updater_id)
    return ContactView(
        handle=contact.handle,
        roid=roid("C", contact.id),
        statuses=tuple(sorted(statuses)),
        postal=_load_postal(contact.postal_json),
        voice=contact.voice,
        fax=contact.fax,
        email=contact.email,
        sponsor=ids[contact.registrar_id],
        creator=ids[contact.creator_id],
        created_at=contact.created_at,
        updater=ids.get(contact.updater_id) if contact.updater_id else None,
        updated_at=contact.updated_at,
    )


def _linked(session: Session, contact_id: int) -> bool:
    as_contact = select(DomainContact.domain_id).where(DomainContact.contact_id == contact_id)
    as_registrant = select(Domain.id).where(Domain.registrant_id == contact_id)
    return (
        session.scalar(as_contact.limit(1)) is not None
        or session.scalar(as_registrant.limit(1)) is not None
    )


def _statuses(session: Session, contact_id: int) -> set[str]:
    return set(
        session.scalars(select(ContactStatus.status).where(ContactStatus.contact_id == contact_id))
    )


def _check_postal(postal: Sequence[PostalInfo]) -> None:
    kinds = [p.kind for p in postal]
    if not postal or len(kinds) != len(set(kinds)) or set(kinds) - {"int", "loc"}:
        raise PolicyRefused("a contact has one or two postalInfo, of types 'int' and 'loc'")
    for p in postal:
        if p.kind == "int" and not all(
            s.isascii() for s in (p.name, p.city, p.org or "", *p.street)
        ):
            # RFC 5733 2.4: the "int" form is restricted to 7-bit US-ASCII.
            raise InvalidValue("postalInfo type 'int' must be US-ASCII (RFC 5733 2.4)")


def _postal_json(postal: Sequence[PostalInfo]) -> str:
    items = [
        {
            "kind": p.kind,
            "name": p.name,
            "org": p.org,
            "street": list(p.street),
            "city": p.city,
            "sp": p.sp,
            "pc": p.pc,
            "cc": p.cc,
        }
        for p in sorted(postal, key=lambda p: p.kind)
    ]
    return json.dumps(items, sort_keys=True)


def _load_postal(text: str) -> tuple[PostalInfo, ...]:
    return tuple(
        PostalInfo(
            kind=d["kind"],
            name=d["name"],
            city=d["city"],
            cc=d["cc"],
            org=d["org"],
            street=tuple(d["street"]),
            sp=d["sp"],
            pc=d["pc"],
        )
        for d in json.loads(text)
    )
