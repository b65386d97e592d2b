"""The registry as deposit objects, streamed from one snapshot for ``export``.

Objects are read by name in pages (keyset: ``name > last``), each page's statuses,
addresses, name servers, DS and contacts by its row ids, so a million domains never sit
in memory at once; only the id -> name maps of registrars, contacts and hosts do.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from typing import Any, cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from tldsec.registry.deposit.load import NEVER_VERIFIES
from tldsec.registry.deposit.objects import (
    DepositContact,
    DepositDomain,
    DepositDs,
    DepositHost,
    DepositRegistrar,
)
from tldsec.registry.models import (
    Contact,
    ContactStatus,
    Domain,
    DomainContact,
    DomainNs,
    DomainStatus,
    DsRecord,
    Host,
    HostAddress,
    HostStatus,
    Registrar,
)

PAGE = 5000  # objects a page (tests set it lower to cross pages)


def counts(session: Session) -> dict[str, int]:
    def n(model: Any) -> int:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)

    return {
        "registrars": n(Registrar),
        "contacts": n(Contact),
        "hosts": n(Host),
        "domains": n(Domain),
    }


def _auth(value: str) -> str | None:
    return None if value == NEVER_VERIFIES or not value.startswith("$argon2") else value


def _pages(session: Session, model: Any, key: str) -> Iterator[list[Any]]:
    table = cast(Table, model.__table__)
    column = table.c[key]
    last: str | None = None
    while True:
        query = select(table).order_by(column).limit(PAGE)
        if last is not None:
            query = query.where(column > last)
        rows = list(session.execute(query).all())
        if not rows:
            return
        yield rows
        last = getattr(rows[-1], key)


def _by_id(session: Session, columns: tuple[Any, ...], ids: list[int]) -> dict[int, list[Any]]:
    found: dict[int, list[Any]] = defaultdict(list)
    for row in session.execute(select(*columns).where(columns[0].in_(ids))):
        found[row[0]].append(row[1] if len(row) == 2 else tuple(row[1:]))
    return found


class Dump:
    """Iterators over the registry's objects, sorted by name, in one session."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.clients = dict(session.execute(select(Registrar.id, Registrar.client_id)).all())
        self.handles: dict[int, str] = dict(
            session.execute(select(Contact.id, Contact.handle)).all()
        )
        self.host_names: dict[int, str] = dict(session.execute(select(Host.id, Host.name)).all())

    def registrars(self) -> Iterator[DepositRegistrar]:
        for r in self.session.scalars(select(Registrar).order_by(Registrar.client_id)):
            yield DepositRegistrar(r.client_id, r.name, r.email, "", created_at=r.created_at)

    def _who(self, row_id: int | None) -> str | None:
        return None if row_id is None else self.clients.get(row_id)

    def contacts(self) -> Iterator[DepositContact]:
        for page in _pages(self.session, Contact, "handle"):
            ids = [c.id for c in page]
            statuses = _by_id(self.session, (ContactStatus.contact_id, ContactStatus.status), ids)
            for c in page:
                yield DepositContact(
                    handle=c.handle,
                    registrar=self.clients[c.registrar_id],
                    email=c.email,
                    where="",
                    postal=tuple(json.loads(c.postal_json)),
                    voice=c.voice,
                    fax=c.fax,
                    statuses=tuple(sorted(statuses.get(c.id, []))),
                    created_at=c.created_at,
                    updated_at=c.updated_at,
                    creator=self._who(c.creator_id),
                    updater=self._who(c.updater_id),
                    auth=_auth(c.auth_hash),
                )

    def hosts(self) -> Iterator[DepositHost]:
        for page in _pages(self.session, Host, "name"):
            ids = [h.id for h in page]
            addresses = _by_id(
                self.session, (HostAddress.host_id, HostAddress.address, HostAddress.version), ids
            )
            statuses = _by_id(self.session, (HostStatus.host_id, HostStatus.status), ids)
            for h in page:
                yield DepositHost(
                    name=h.name,
                    registrar=self.clients[h.registrar_id],
                    where="",
                    addresses=tuple(sorted((str(a), int(v)) for a, v in addresses.get(h.id, []))),
                    statuses=tuple(sorted(statuses.get(h.id, []))),
                    created_at=h.created_at,
                    updated_at=h.updated_at,
                    creator=self._who(h.creator_id),
                    updater=self._who(h.updater_id),
                )

    def domains(self) -> Iterator[DepositDomain]:
        s = self.session
        for page in _pages(s, Domain, "name"):
            ids = [d.id for d in page]
            statuses = _by_id(s, (DomainStatus.domain_id, DomainStatus.status), ids)
            ns = _by_id(s, (DomainNs.domain_id, DomainNs.host_id), ids)
            ds = _by_id(
                s,
                (
                    DsRecord.domain_id,
                    DsRecord.key_tag,
                    DsRecord.algorithm,
                    DsRecord.digest_type,
                    DsRecord.digest,
                ),
                ids,
            )
            links = _by_id(
                s, (DomainContact.domain_id, DomainContact.kind, DomainContact.contact_id), ids
            )
            for d in page:
                yield DepositDomain(
                    name=d.name,
                    registrar=self.clients[d.registrar_id],
                    where="",
                    created_at=d.created_at,
                    expires_at=d.expires_at,
                    updated_at=d.updated_at,
                    creator=self._who(d.creator_id),
                    updater=self._who(d.updater_id),
                    statuses=tuple(sorted(statuses.get(d.id, []))),
                    ns=tuple(sorted(self.host_names[h] for h in ns.get(d.id, []))),
                    ds=tuple(
                        sorted(
                            DepositDs(int(t), int(a), int(y), str(g))
                            for t, a, y, g in ds.get(d.id, [])
                        )
                    ),
                    registrant=self.handles[d.registrant_id] if d.registrant_id else None,
                    contacts=tuple(
                        sorted((str(k), self.handles[c]) for k, c in links.get(d.id, []))
                    ),
                    auth=_auth(d.auth_hash),
                )
