"""Whether a ceremony's approvals authorise its operation: pure (DPS 5.1.1-5.1.3, 5.2.2).

A sensitive operation (a KSK rollover, the Storage Master Key's making, a key restore)
is written down first as a ``Statement``: the operation, its parameters, when it was
asked for and until when it may run. Each trusted person who approves signs the
statement's canonical bytes with their own Ed25519 key (kept on their card or medium).
The operation may run only if the approvals come from ``threshold`` distinct people on
the roster (three, DPS 5.2.2), together covering every required role, each person in
one role (the system administrator, the security officer and the witness of DPS 5.1),
and every signature verifies.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tldsec.errors import CeremonyRefused


class Role(StrEnum):
    """The trusted roles of DPS 5.1."""

    SA = "sa"  # system administrator
    SO = "so"  # security officer
    WI = "wi"  # witness


@dataclass(frozen=True, slots=True)
class Person:
    """A trusted person on the roster: name, role, and the public half of their key."""

    name: str
    role: Role
    public_key: bytes  # Ed25519, 32 bytes


@dataclass(frozen=True, slots=True)
class Statement:
    """What is approved: one operation, exactly these parameters, within this window."""

    ceremony_id: str
    operation: str
    params: Mapping[str, str]
    created: datetime
    expires: datetime

    def to_bytes(self) -> bytes:
        """The canonical bytes each person signs."""
        return json.dumps(
            {
                "tldsec-ceremony": 1,
                "id": self.ceremony_id,
                "operation": self.operation,
                "params": dict(sorted(self.params.items())),
                "created": self.created.isoformat(),
                "expires": self.expires.isoformat(),
            },
            sort_keys=True,
            separators=(",", ":"),
        ).encode()


@dataclass(frozen=True, slots=True)
class Approval:
    """One person's signature over a statement."""

    person: str
    signature: bytes


@dataclass(frozen=True, slots=True)
class Quorum:
    """How many distinct people, and which roles they must cover."""

    threshold: int = 3
    roles: frozenset[Role] = field(default_factory=lambda: frozenset(Role))

    def __post_init__(self) -> None:
        if self.threshold < len(self.roles):
            raise ValueError("a quorum needs at least one person per required role")


def authorise(
    statement: Statement,
    approvals: Sequence[Approval],
    roster: Mapping[str, Person],
    *,
    operation: str,
    params: Mapping[str, str],
    now: datetime,
    quorum: Quorum = Quorum(),
) -> list[Person]:
    """The people who authorised ``operation`` with ``params`` now; ``CeremonyRefused``
    naming the first reason it is not authorised."""
    if statement.operation != operation:
        raise CeremonyRefused(
            f"ceremony {statement.ceremony_id} approved {statement.operation!r}, not {operation!r}"
        )
    if dict(statement.params) != dict(params):
        raise CeremonyRefused(
            f"ceremony {statement.ceremony_id} approved {operation} with "
            f"{dict(sorted(statement.params.items()))}, not {dict(sorted(params.items()))}"
        )
    if not statement.created <= now < statement.expires:
        raise CeremonyRefused(
            f"ceremony {statement.ceremony_id} is valid from {statement.created:%F %T} "
            f"until {statement.expires:%F %T}, not at {now:%F %T}"
        )
    signed = statement.to_bytes()
    people: dict[str, Person] = {}
    for approval in approvals:
        person = roster.get(approval.person)
        if person is None:
            raise CeremonyRefused(f"{approval.person!r} is not on the ceremony roster")
        if person.name in people:
            raise CeremonyRefused(f"{person.name} approved twice: one person, one approval")
        try:
            Ed25519PublicKey.from_public_bytes(person.public_key).verify(approval.signature, signed)
        except (InvalidSignature, ValueError):
            raise CeremonyRefused(
                f"the approval of {person.name} does not verify with their key on the roster"
            ) from None
        people[person.name] = person
    missing = sorted(quorum.roles - {p.role for p in people.values()})
    if missing:
        raise CeremonyRefused(
            f"ceremony {statement.ceremony_id} lacks an approval by "
            + ", ".join(r.name for r in (Role(m) for m in missing))
        )
    if len(people) < quorum.threshold:
        raise CeremonyRefused(
            f"ceremony {statement.ceremony_id} has {len(people)} approvals; "
            f"{quorum.threshold} people must approve (DPS 5.2.2)"
        )
    return list(people.values())
