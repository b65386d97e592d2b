"""``tldsec registry import`` and ``export``: read, check, load or report; dump.

An import is audited as ``registry.imported`` (counts, refusals, the file's SHA-256)
after its last batch committed; a dry run writes nothing and audits nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tldsec.atomicfile import replacing
from tldsec.errors import FileUnusable
from tldsec.registry.context import Tx
from tldsec.registry.database import RegistryDatabase
from tldsec.registry.deposit import csvform, dump, rde
from tldsec.registry.deposit.check import Refusal, check
from tldsec.registry.deposit.load import Imported, existing, load
from tldsec.registry.deposit.objects import (
    Deposit,
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
    """Write the registry as an RFC 9022 FULL deposit to ``path`` (atomically), streamed
    from one snapshot (``dump.py``); the counts."""
    with db.snapshot() as session, replacing(path, "wb") as out:
        total = dump.counts(session)
        source = dump.Dump(session)
        rde.write(
            out,
            deposit_id or tx.now.strftime("%Y%m%d%H%M%S"),
            tx.now,
            normalize(tx.rules.origin),
            source.registrars(),
            source.contacts(),
            source.hosts(),
            source.domains(),
            total,
        )
    return total


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
