"""The objects of a deposit as read from a file, before any rule judged them (pure).

Names as the file has them; ``where`` is the file position a refusal names (``line N``
of the XML or CSV). authInfo: ``auth`` is either an Argon2id hash (kept as it is) or the
plain value (hashed on import); None when the file has none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

ARGON2ID_PREFIX = "$argon2id$"


@dataclass(frozen=True, slots=True)
class DepositRegistrar:
    client_id: str
    name: str
    email: str
    where: str
    created_at: datetime | None = None
    password_hash: str | None = None


@dataclass(frozen=True, slots=True)
class DepositContact:
    handle: str
    registrar: str
    email: str
    where: str
    postal: tuple[dict[str, object], ...] = ()
    voice: str | None = None
    fax: str | None = None
    statuses: tuple[str, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None
    creator: str | None = None
    updater: str | None = None
    auth: str | None = None


@dataclass(frozen=True, slots=True)
class DepositHost:
    name: str
    registrar: str
    where: str
    addresses: tuple[tuple[str, int], ...] = ()  # (address, 4 or 6)
    statuses: tuple[str, ...] = ()
    created_at: datetime | None = None
    updated_at: datetime | None = None
    creator: str | None = None
    updater: str | None = None


@dataclass(frozen=True, slots=True, order=True)
class DepositDs:
    key_tag: int
    algorithm: int
    digest_type: int
    digest: str


@dataclass(frozen=True, slots=True)
class DepositDomain:
    name: str
    registrar: str
    where: str
    created_at: datetime | None = None
    expires_at: datetime | None = None
    updated_at: datetime | None = None
    creator: str | None = None
    updater: str | None = None
    statuses: tuple[str, ...] = ()
    ns: tuple[str, ...] = ()
    ds: tuple[DepositDs, ...] = ()
    registrant: str | None = None
    contacts: tuple[tuple[str, str], ...] = ()  # (kind, handle)
    auth: str | None = None


@dataclass(slots=True)
class Deposit:
    """Everything a file holds, in file order within each kind."""

    registrars: list[DepositRegistrar] = field(default_factory=list)
    contacts: list[DepositContact] = field(default_factory=list)
    hosts: list[DepositHost] = field(default_factory=list)
    domains: list[DepositDomain] = field(default_factory=list)
    # Objects the reader could not even parse: (where, why).
    unreadable: list[tuple[str, str]] = field(default_factory=list)
    tld: str | None = None
    # authInfo given apart from its object (RDE ``tldsecRde:auth``): (kind, name) -> value.
    auth: dict[tuple[str, str], str] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {
            "registrars": len(self.registrars),
            "contacts": len(self.contacts),
            "hosts": len(self.hosts),
            "domains": len(self.domains),
        }


def is_hash(auth: str) -> bool:
    """Whether an authInfo value is an Argon2id hash (PHC string) rather than the value."""
    return auth.startswith(ARGON2ID_PREFIX)
