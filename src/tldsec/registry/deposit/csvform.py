"""The CSV form of a deposit (docs/registry.md, "Bulk import and export"): one object a
row, its kind in the first column; lists inside a cell are separated by spaces, DS
records by ``;``. Dates are RFC 3339 (``2024-03-01T12:00:00Z``).

    registrar,ID,NAME,EMAIL
    contact,HANDLE,REGISTRAR,EMAIL,NAME,VOICE,AUTH
    host,NAME,REGISTRAR,ADDRESSES,STATUSES,CRDATE
    domain,NAME,REGISTRAR,CRDATE,EXDATE,UPDATE,STATUSES,NS,DS,AUTH,REGISTRANT

A line starting with ``#`` is a comment.
"""

from __future__ import annotations

import csv
import ipaddress
from pathlib import Path

from tldsec.errors import FileUnusable
from tldsec.registry.deposit.objects import (
    Deposit,
    DepositContact,
    DepositDomain,
    DepositDs,
    DepositHost,
    DepositRegistrar,
)
from tldsec.registry.deposit.rde import DERIVED, parse_date

COLUMNS = {
    "registrar": 4,
    "contact": 7,
    "host": 6,
    "domain": 11,
}


def read(path: Path) -> Deposit:
    deposit = Deposit()
    try:
        with path.open(newline="", encoding="utf-8") as stream:
            for number, row in enumerate(csv.reader(stream), start=1):
                if not row or row[0].startswith("#"):
                    continue
                where = f"line {number}"
                try:
                    _row(row, where, deposit)
                except (ValueError, IndexError) as exc:
                    deposit.unreadable.append((where, str(exc)))
    except OSError as exc:
        raise FileUnusable(f"{path}: {exc.strerror or exc}") from exc
    except UnicodeDecodeError as exc:
        raise FileUnusable(f"{path}: not UTF-8 text: {exc}") from exc
    return deposit


def _statuses(cell: str) -> tuple[str, ...]:
    return tuple(sorted(set(cell.split()) - DERIVED))


def _opt(value: str) -> str | None:
    return value.strip() or None


def _row(row: list[str], where: str, deposit: Deposit) -> None:
    kind = row[0].strip()
    want = COLUMNS.get(kind)
    if want is None:
        raise ValueError(f"unknown kind {kind!r} (registrar, contact, host or domain)")
    if len(row) != want:
        raise ValueError(f"a {kind} row has {want} columns, this one {len(row)}")
    cells = [c.strip() for c in row]
    if kind == "registrar":
        deposit.registrars.append(DepositRegistrar(cells[1], cells[2] or cells[1], cells[3], where))
    elif kind == "contact":
        postal: tuple[dict[str, object], ...] = ()
        if cells[4]:
            postal = ({"type": "int", "name": cells[4], "street": [], "city": "", "cc": ""},)
        deposit.contacts.append(
            DepositContact(
                handle=cells[1],
                registrar=cells[2],
                email=cells[3],
                where=where,
                postal=postal,
                voice=_opt(cells[5]),
                auth=_opt(cells[6]),
            )
        )
    elif kind == "host":
        addresses = []
        for text in cells[3].split():
            version = ipaddress.ip_address(text).version
            addresses.append((text, version))
        deposit.hosts.append(
            DepositHost(
                name=cells[1],
                registrar=cells[2],
                where=where,
                addresses=tuple(addresses),
                statuses=_statuses(cells[4]),
                created_at=parse_date(cells[5]) if cells[5] else None,
            )
        )
    else:
        ds = []
        for text in filter(None, (p.strip() for p in cells[8].split(";"))):
            parts = text.split()
            if len(parts) < 4:
                raise ValueError(f"DS {text!r} is not 'KEYTAG ALG DIGESTTYPE DIGEST'")
            ds.append(DepositDs(int(parts[0]), int(parts[1]), int(parts[2]), "".join(parts[3:])))
        deposit.domains.append(
            DepositDomain(
                name=cells[1],
                registrar=cells[2],
                where=where,
                created_at=parse_date(cells[3]) if cells[3] else None,
                expires_at=parse_date(cells[4]) if cells[4] else None,
                updated_at=parse_date(cells[5]) if cells[5] else None,
                statuses=_statuses(cells[6]),
                ns=tuple(cells[7].split()),
                ds=tuple(ds),
                auth=_opt(cells[9]),
                registrant=_opt(cells[10]),
            )
        )
