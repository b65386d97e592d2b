"""``tldsec registry import`` and ``export``: read, check, load or report; dump.

An import is audited as ``registry.imported`` (counts, refusals, the file's SHA-256)
after its last batch committed; a dry run writes nothing and audits nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from tldsec.atomicfile import replacing
from tldsec.errors import FileUnusable
from tldsec.registry.context import Tx
from tldsec.registry.database import RegistryDatabase
from tldsec.registry.deposit import csvform, rde
from tldsec.registry.deposit.check import Refusal, check
from tldsec.registry.deposit.load import NEVER_VERIFIES, Imported, existing, load
from tldsec.registry.deposit.objects import (
    Deposit,
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
from tldsec.registry.names import normalize

FORMATS = ("rde", "csv")


@dataclass(frozen=True, slots=True)
class ImportReport:
    sha256: str
    read: dict[str, int]
    refused: tuple[Refusal, ...]
    imported: Imported | None  # None: a dry run

    def as_dict(self) -> dict[str, object]:
        return {
            "sha256": self.sha256,
            "read": self.read,
            "refused": [
                {"where": r.where, "kind": r.kind, "name": r.name, "reason": r.reason}
                for r in self.refused
            ],
            "imported": None if self.imported is None else self.imported.as_dict(),
            "dry_run": self.imported is None,
        }


def _sha256(path: Path) -> str:
    try:
        with path.open("rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()
    except OSError as exc:
        raise FileUnusable(f"{path}: {exc.strerror or exc}") from exc


def guess_format(path: Path) -> str:
    return "csv" if path.suffix.lower() == ".csv" else "rde"


def read_deposit(path: Path, fmt: str) -> Deposit:
    if fmt not in FORMATS:
        raise FileUnusable(f"format {fmt!r}: rde or csv")
    return rde.read(path) if fmt == "rde" else csvform.read(path)


def import_file(
    db: RegistryDatabase,
    path: Path,
    tx: Tx,
    *,
    fmt: str | None = None,
    dry_run: bool = False,
    batch: int = 20_000,
    workers: int | None = None,
) -> ImportReport:
    """Import ``path`` (or, with ``dry_run``, only say what would be refused)."""
    digest = _sha256(path)
    deposit = read_deposit(path, fmt or guess_format(path))
    if deposit.tld is not None and normalize(deposit.tld) != normalize(tx.rules.origin):
        raise FileUnusable(
            f"{path}: a deposit of the TLD {deposit.tld!r}, not {normalize(tx.rules.origin)!r}"
        )
    with db.read() as session:
        known = existing(session)
    checked = check(deposit, tx.rules, known)
    report = ImportReport(digest, deposit.counts(), tuple(checked.refused), None)
    if dry_run:
        return report
    imported = load(db, checked, tx, batch=batch, workers=workers)
    tx.audit(
        "registry.imported",
        actor=tx.actor.client_id,
        file=str(path),
        sha256=digest,
        sv_trid=tx.sv_trid,
        refused=len(checked.refused),
        **imported.as_dict(),
    )
    return ImportReport(digest, deposit.counts(), tuple(checked.refused), imported)


# --- export ----------------------------------------------------------------------------------


def export_file(
    db: RegistryDatabase, path: Path, tx: Tx, deposit_id: str | None = None
) -> dict[str, int]:
    """Write the registry as an RFC 9022 FULL deposit to ``path`` (atomically); the counts."""
    with db.snapshot() as session:
        deposit = read_registry(session)
    counts = deposit.counts()
    with replacing(path, "wb") as out:
        rde.write(
            out,
            deposit_id or tx.now.strftime("%Y%m%d%H%M%S"),
            tx.now,
            normalize(tx.rules.origin),
            iter(deposit.registrars),
            iter(deposit.contacts),
            iter(deposit.hosts),
            iter(deposit.domains),
            counts,
        )
    return counts


def _auth(value: str) -> str | None:
    return None if value == NEVER_VERIFIES or not value.startswith("$argon2") else value


def read_registry(session: Session) -> Deposit:
    """Every registrar, contact, host and domain of the registry, by name."""
    deposit = Deposit()
    clients: dict[int, str] = {}
    for r in session.scalars(select(Registrar).order_by(Registrar.client_id)):
        clients[r.id] = r.client_id
        deposit.registrars.append(
            DepositRegistrar(r.client_id, r.name, r.email, "", created_at=r.created_at)
        )

    def many(query: object) -> dict[int, list[tuple[object, ...]]]:
        found: dict[int, list[tuple[object, ...]]] = defaultdict(list)
        for row in session.execute(query):  # type: ignore[call-overload]
            found[row[0]].append(tuple(row[1:]))
        return found

    statuses = many(select(ContactStatus.contact_id, ContactStatus.status))
    handles: dict[int, str] = {}
    for c in session.scalars(select(Contact).order_by(Contact.handle)):
        handles[c.id] = c.handle
        deposit.contacts.append(
            DepositContact(
                handle=c.handle,
                registrar=clients[c.registrar_id],
                email=c.email,
                where="",
                postal=tuple(json.loads(c.postal_json)),
                voice=c.voice,
                fax=c.fax,
                statuses=tuple(sorted(str(s[0]) for s in statuses.get(c.id, []))),
                created_at=c.created_at,
                updated_at=c.updated_at,
                creator=clients.get(c.creator_id),
                updater=clients.get(c.updater_id) if c.updater_id else None,
                auth=_auth(c.auth_hash),
            )
        )
    addresses = many(select(HostAddress.host_id, HostAddress.address, HostAddress.version))
    statuses = many(select(HostStatus.host_id, HostStatus.status))
    host_names: dict[int, str] = {}
    for h in session.scalars(select(Host).order_by(Host.name)):
        host_names[h.id] = h.name
        deposit.hosts.append(
            DepositHost(
                name=h.name,
                registrar=clients[h.registrar_id],
                where="",
                addresses=tuple(sorted((str(a), int(str(v))) for a, v in addresses.get(h.id, []))),
                statuses=tuple(sorted(str(s[0]) for s in statuses.get(h.id, []))),
                created_at=h.created_at,
                updated_at=h.updated_at,
                creator=clients.get(h.creator_id),
                updater=clients.get(h.updater_id) if h.updater_id else None,
            )
        )
    statuses = many(select(DomainStatus.domain_id, DomainStatus.status))
    ns = many(select(DomainNs.domain_id, DomainNs.host_id))
    ds = many(
        select(
            DsRecord.domain_id,
            DsRecord.key_tag,
            DsRecord.algorithm,
            DsRecord.digest_type,
            DsRecord.digest,
        )
    )
    links = many(select(DomainContact.domain_id, DomainContact.kind, DomainContact.contact_id))
    for d in session.scalars(select(Domain).order_by(Domain.name)):
        deposit.domains.append(
            DepositDomain(
                name=d.name,
                registrar=clients[d.registrar_id],
                where="",
                created_at=d.created_at,
                expires_at=d.expires_at,
                updated_at=d.updated_at,
                creator=clients.get(d.creator_id),
                updater=clients.get(d.updater_id) if d.updater_id else None,
                statuses=tuple(sorted(str(s[0]) for s in statuses.get(d.id, []))),
                ns=tuple(sorted(host_names[int(str(h[0]))] for h in ns.get(d.id, []))),
                ds=tuple(
                    sorted(
                        DepositDs(int(str(t)), int(str(a)), int(str(y)), str(g))
                        for t, a, y, g in ds.get(d.id, [])
                    )
                ),
                registrant=handles[d.registrant_id] if d.registrant_id else None,
                contacts=tuple(
                    sorted((str(k), handles[int(str(c))]) for k, c in links.get(d.id, []))
                ),
                auth=_auth(d.auth_hash),
            )
        )
    return deposit


def same_objects(a: Deposit, b: Deposit) -> bool:
    """Whether two deposits hold the same objects (positions aside)."""
    from dataclasses import replace

    def norm(objs: list[object]) -> list[object]:
        return sorted((replace(o, where="") for o in objs), key=repr)  # type: ignore[type-var]

    return a.auth == b.auth and all(
        norm(getattr(a, k)) == norm(getattr(b, k))
        for k in ("registrars", "contacts", "hosts", "domains")
    )


_ = datetime  # annotations
