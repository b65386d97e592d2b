"""The roster of trusted people as a signed chain of versions: pure (DPS 4.2.1, 4.2.4).

Version 1 is made in the founding ceremony and approved by its own people under the
key-generation quorum; its SHA-256 is the trust root (recorded in the audit log and
pinned in ``[ceremony] roster_root``, decisions.md 22). Each later version carries the
SHA-256 of its predecessor and is valid only with the approvals of a roster-change
quorum of the *previous* version, signed over a ceremony statement naming both hashes.
So a version nobody of the previous roster approved, an edited file, or a chain that
does not start at the root authorises nothing.

The rules every version obeys: one key, one person; names compared case- and
punctuation-insensitively; one role per person (DPS 4.2.4); a witness is flagged
independent of operations (DPS 4.2.4).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tldsec.ceremony.policy import FOUND, FOUNDING_SMK_PARAMS, ROSTER_CHANGE, OperationClass
from tldsec.ceremony.quorum import Approval, Person, Quorum, Role, Statement, authorise
from tldsec.errors import CeremonyRefused

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._ -]{0,63}")


def name_key(name: str) -> str:
    """The name as compared: case and punctuation ignored ("Ann", "ann", "a.n-n")."""
    return re.sub(r"[^0-9a-z]", "", name.casefold())


@dataclass(frozen=True, slots=True)
class RosterVersion:
    """One version of the roster: who holds which role, and what it replaces."""

    version: int
    previous: str  # SHA-256 of the previous version's canonical bytes; "" for version 1
    created: datetime
    change: str  # what changed, in words
    people: tuple[Person, ...]

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")).encode()

    def digest(self) -> str:
        return hashlib.sha256(self.to_bytes()).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {
            "tldsec-roster": 1,
            "version": self.version,
            "previous": self.previous,
            "created": self.created.isoformat(),
            "change": self.change,
            "people": [
                {
                    "name": p.name,
                    "role": p.role.value,
                    "public_key": base64.b64encode(p.public_key).decode(),
                    "independent": p.independent,
                }
                for p in self.people
            ],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RosterVersion:
        people = tuple(
            Person(
                str(p["name"]),
                Role(p["role"]),
                base64.b64decode(p["public_key"], validate=True),
                bool(p.get("independent", False)),
            )
            for p in data["people"]
        )
        return cls(
            int(data["version"]),
            str(data["previous"]),
            datetime.fromisoformat(data["created"]),
            str(data["change"]),
            people,
        )

    def by_name(self) -> dict[str, Person]:
        return {p.name: p for p in self.people}

    def find(self, name: str) -> Person | None:
        key = name_key(name)
        return next((p for p in self.people if name_key(p.name) == key), None)


def check_people(people: Sequence[Person], where: str) -> None:
    """The rules every roster version obeys; ``CeremonyRefused`` naming the first broken."""
    names: dict[str, Person] = {}
    keys: dict[bytes, Person] = {}
    for p in people:
        if not NAME.fullmatch(p.name):
            raise CeremonyRefused(
                f"{where}: {p.name!r} is not a name (letters, digits, space, '.', '_', '-')"
            )
        if len(p.public_key) != 32:
            raise CeremonyRefused(f"{where}: {p.name}: not an Ed25519 public key")
        same = names.get(name_key(p.name))
        if same is not None:
            raise CeremonyRefused(
                f"{where}: {p.name!r} and {same.name!r} are one name (compared without case "
                "and punctuation); no person holds two roles (DPS 4.2.4): retire one entry"
            )
        holder = keys.get(p.public_key)
        if holder is not None:
            raise CeremonyRefused(
                f"{where}: {p.name} ({p.role.name}) has the key of {holder.name} "
                f"({holder.role.name}): one key is one person, and no person holds two "
                "roles (DPS 4.2.4): each person enrols with their own new key"
            )
        if p.role is Role.WI and not p.independent:
            raise CeremonyRefused(
                f"{where}: witness {p.name} is not flagged independent: a witness has no "
                "ties to the operations or IT (DPS 4.2.4): enrol with --independent"
            )
        names[name_key(p.name)] = p
        keys[p.public_key] = p


@dataclass(frozen=True, slots=True)
class SignedVersion:
    """A roster version with the ceremony that approved it."""

    roster: RosterVersion
    statement: Statement
    approvals: tuple[Approval, ...]
    source: str  # the file it was read from, for messages


def adoption_params(roster: RosterVersion) -> dict[str, str]:
    """The parameters a ceremony approves to adopt ``roster``."""
    params = {"roster": roster.digest(), "version": str(roster.version)}
    if roster.version > 1:
        params["previous"] = roster.previous
    return params


def _approved(link: SignedVersion, roster: RosterVersion) -> dict[str, str]:
    """The parameters a version's ceremony must have approved: the roster's, and for the
    founding also the SMK it made (``FOUNDING_SMK_PARAMS``)."""
    params = adoption_params(roster)
    if roster.version == 1:
        params |= {k: v for k, v in link.statement.params.items() if k in FOUNDING_SMK_PARAMS}
    return params


def verify_chain(
    chain: Sequence[SignedVersion],
    root: str,
    quorums: Mapping[OperationClass, Quorum],
) -> RosterVersion:
    """The newest version, if every link verifies from the founding version's ``root``
    hash; ``CeremonyRefused`` naming the first file that does not and why."""
    if not chain:
        raise CeremonyRefused(
            "no roster: the founding ceremony makes version 1 (tldsec ceremony found)"
        )
    current: RosterVersion | None = None
    for link in chain:
        r = link.roster
        where = f"roster version {r.version} ({link.source})"
        check_people(r.people, where)
        if current is None:
            if r.version != 1 or r.digest() != root:
                raise CeremonyRefused(
                    f"{where} is not the founding roster: its SHA-256 is {r.digest()}, the "
                    f"founding recorded {root} (DPS 4.2.1: the roster changes only by "
                    "quorum): restore the signed versions from the ceremony records"
                )
            approvers, operation, quorum = (
                r.by_name(),
                FOUND,
                quorums[OperationClass.KEY_GENERATION],
            )
        else:
            if r.version != current.version + 1 or r.previous != current.digest():
                raise CeremonyRefused(
                    f"{where} does not follow version {current.version} (previous "
                    f"{r.previous[:16]}..., expected {current.digest()[:16]}...): the chain "
                    "is broken; restore the signed versions from the ceremony records"
                )
            approvers, operation, quorum = (
                current.by_name(),
                ROSTER_CHANGE,
                quorums[OperationClass.ROSTER],
            )
        try:
            authorise(
                link.statement,
                link.approvals,
                approvers,
                operation=operation,
                params=_approved(link, r),
                now=None,
                quorum=quorum,
                what="a roster change" if current else "the founding roster",
            )
        except CeremonyRefused as exc:
            raise CeremonyRefused(
                f"{where} is not approved by a quorum of "
                f"{'its own people' if current is None else f'version {current.version}'}"
                f" (edited or unsigned?): {exc}"
            ) from None
        current = r
    assert current is not None
    return current
