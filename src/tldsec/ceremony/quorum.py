"""Whether a ceremony's approvals authorise its operation: pure (DPS 4.2.2, 4.2.4, 5.2.2).

A sensitive operation (a KSK rollover, the Storage Master Key's making, a key restore)
is written down first as a ``Statement``: the operation, its parameters, when it was
asked for and until when it may run. Each trusted person who approves signs the
statement's canonical bytes with their own Ed25519 key (kept on their card or medium).
The operation may run only if the approvals fill the operation class's ``Quorum``: one
distinct person per slot, each slot naming the roles that may fill it (DPS 4.2.2:
"1 SA, 1 SO, 1 WI", "1 SA or SO, 1 WI", "1 SA and 1 SO or WI"), and every signature
verifies with the person's key on the roster. Designated auditors never count (DPS
4.2.4).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tldsec.errors import CeremonyRefused


class Role(StrEnum):
    """The trusted roles of DPS 4.2.1, and the designated auditors of DPS 4.2.4."""

    SA = "sa"  # system administrator
    SO = "so"  # security officer
    WI = "wi"  # witness
    AUDITOR = "auditor"  # designated audit personnel: never in a quorum (DPS 4.2.4)


TRUSTED_ROLES = (Role.SA, Role.SO, Role.WI)


@dataclass(frozen=True, slots=True)
class Person:
    """A trusted person on the roster: name, role, and the public half of their key.

    ``independent`` is the witness's attribute of DPS 4.2.4: "a person in good standing
    with no ties to the operations, or IT aspects of the company".
    """

    name: str
    role: Role
    public_key: bytes  # Ed25519, 32 bytes
    independent: bool = False


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

    def digest(self) -> str:
        """SHA-256 of the canonical bytes: what the audit log records of the statement."""
        return hashlib.sha256(self.to_bytes()).hexdigest()


@dataclass(frozen=True, slots=True)
class Approval:
    """One person's signature over a statement."""

    person: str
    signature: bytes


@dataclass(frozen=True, slots=True)
class Quorum:
    """One distinct person per slot; a slot names the roles that may fill it."""

    slots: tuple[frozenset[Role], ...]

    def __post_init__(self) -> None:
        if len(self.slots) < 2:
            raise ValueError("a quorum is at least two people (DPS 4.2.2)")
        for slot in self.slots:
            if not slot or not slot <= frozenset(TRUSTED_ROLES):
                raise ValueError("each quorum slot names one or more of sa, so, wi")

    @classmethod
    def of(cls, *slots: str) -> Quorum:
        """``Quorum.of("sa", "so|wi")``: the configuration's spelling."""
        return cls(tuple(frozenset(Role(r) for r in s.split("|")) for s in slots))

    def describe(self) -> str:
        """``SA + (SO or WI)``."""
        parts = []
        for slot in self.slots:
            names = [r.name for r in TRUSTED_ROLES if r in slot]
            parts.append(names[0] if len(names) == 1 else "(" + " or ".join(names) + ")")
        return " + ".join(parts)

    def filled_by(self, people: Sequence[Person]) -> tuple[Person, ...] | None:
        """Distinct people filling every slot, in slot order, or None."""
        for chosen in itertools.permutations(people, len(self.slots)):
            if all(p.role in slot for p, slot in zip(chosen, self.slots, strict=True)):
                return chosen
        return None


def authorise(
    statement: Statement,
    approvals: Sequence[Approval],
    roster: Mapping[str, Person],
    *,
    operation: str,
    params: Mapping[str, str],
    now: datetime | None,
    quorum: Quorum,
    what: str = "",
) -> list[Person]:
    """The people who authorised ``operation`` with ``params`` (at ``now``, unless None:
    checked afterwards); ``CeremonyRefused`` naming the first reason it is not, the rule
    broken and what would satisfy it. ``what`` names the operation class in messages."""
    cid = statement.ceremony_id
    if statement.operation != operation:
        raise CeremonyRefused(
            f"ceremony {cid} approved {statement.operation!r}, not {operation!r} "
            f"(DPS 5.2.2: a ceremony authorises the one operation approved): start one for "
            f"{operation}"
        )
    if dict(statement.params) != dict(params):
        raise CeremonyRefused(
            f"ceremony {cid} approved {operation} with "
            f"{dict(sorted(statement.params.items()))}, not {dict(sorted(params.items()))} "
            "(DPS 5.2.2: exactly the parameters approved): start a ceremony for these"
        )
    if now is not None and not statement.created <= now < statement.expires:
        raise CeremonyRefused(
            f"ceremony {cid} is valid from {statement.created:%F %T} "
            f"until {statement.expires:%F %T}, not at {now:%F %T} "
            "(its approval window, [ceremony] valid_minutes): start a new ceremony"
        )
    signed = statement.to_bytes()
    people: dict[str, Person] = {}
    keys: set[bytes] = set()
    for approval in approvals:
        person = roster.get(approval.person)
        if person is None:
            raise CeremonyRefused(
                f"{approval.person!r} approved ceremony {cid} but is not on the verified "
                "roster (DPS 4.2.1: only trusted persons): enrol them by a roster change"
            )
        if person.name in people or person.public_key in keys:
            raise CeremonyRefused(
                f"{person.name} approved ceremony {cid} twice (DPS 4.2.2: one key, one "
                "person, one approval): another person of the role must approve"
            )
        if person.role is Role.AUDITOR:
            raise CeremonyRefused(
                f"{person.name} is designated audit personnel and may not take part in "
                "multi-person control (DPS 4.2.4): an SA, SO or WI must approve instead"
            )
        try:
            Ed25519PublicKey.from_public_bytes(person.public_key).verify(approval.signature, signed)
        except (InvalidSignature, ValueError):
            raise CeremonyRefused(
                f"the approval of {person.name} on ceremony {cid} does not verify with "
                "their key on the roster (DPS 4.2.3): they approve again with their own key"
            ) from None
        people[person.name] = person
        keys.add(person.public_key)
    chosen = quorum.filled_by(list(people.values()))
    if chosen is None:
        have = ", ".join(f"{p.name} ({p.role.name})" for p in people.values()) or "nobody"
        raise CeremonyRefused(
            f"ceremony {cid} lacks its quorum: {what or operation} needs "
            f"{quorum.describe()} (DPS 4.2.2), approved by {have}: the missing roles approve"
        )
    return list(people.values())
