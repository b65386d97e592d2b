"""A ceremony's signed record (DPS 5.1.1): "the activities of this key generation
ceremony are recorded, dated, and signed by the individuals involved". Pure.

The record says what ran (operation, parameters, the statement approved), who took part
in which role, from which roster version, when it was authorised (the audit entry that
used the ceremony: its sequence number and hash) and finished, and what came out (key
tags, DS digests, an archive's SHA-256, the SMK's check value). Each participant signs
its canonical bytes with their own key after the operation; ``check_signatures`` says
whose signature is still missing and refuses one that does not verify.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tldsec.ceremony.quorum import Approval, Person
from tldsec.errors import CeremonyRefused

Outcome = Mapping[str, Any]  # JSON values: strings, numbers, lists of them


@dataclass(frozen=True, slots=True)
class CeremonyRecord:
    """What one ceremony did, for its participants to sign."""

    ceremony_id: str
    operation: str
    params: Mapping[str, str]
    statement_sha256: str
    participants: Mapping[str, str]  # name -> role (SA, SO, WI)
    roster_version: int
    roster_sha256: str
    audit_seq: int  # the ceremony.completed entry that used the ceremony
    audit_hash: str
    authorised: datetime
    finished: datetime
    outcome: Outcome

    def to_json(self) -> dict[str, Any]:
        return {
            "tldsec-ceremony-record": 1,
            "id": self.ceremony_id,
            "operation": self.operation,
            "params": dict(sorted(self.params.items())),
            "statement_sha256": self.statement_sha256,
            "participants": dict(sorted(self.participants.items())),
            "roster_version": self.roster_version,
            "roster_sha256": self.roster_sha256,
            "audit_seq": self.audit_seq,
            "audit_hash": self.audit_hash,
            "authorised": self.authorised.isoformat(),
            "finished": self.finished.isoformat(),
            "outcome": dict(self.outcome),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CeremonyRecord:
        return cls(
            str(data["id"]),
            str(data["operation"]),
            {str(k): str(v) for k, v in data["params"].items()},
            str(data["statement_sha256"]),
            {str(k): str(v) for k, v in data["participants"].items()},
            int(data["roster_version"]),
            str(data["roster_sha256"]),
            int(data["audit_seq"]),
            str(data["audit_hash"]),
            datetime.fromisoformat(data["authorised"]),
            datetime.fromisoformat(data["finished"]),
            dict(data["outcome"]),
        )

    def to_bytes(self) -> bytes:
        """The canonical bytes each participant signs."""
        return json.dumps(self.to_json(), sort_keys=True, separators=(",", ":")).encode()

    def digest(self) -> str:
        return hashlib.sha256(self.to_bytes()).hexdigest()


def check_signatures(
    record: CeremonyRecord, signatures: Sequence[Approval], people: Mapping[str, Person]
) -> list[str]:
    """The participants who have not signed yet; ``CeremonyRefused`` for a signature by a
    non-participant, twice by one person, or one that does not verify with the key the
    roster version of the ceremony holds for them (``people``)."""
    signed = record.to_bytes()
    seen: set[str] = set()
    for s in signatures:
        if s.person not in record.participants:
            raise CeremonyRefused(
                f"{s.person} signed the record of ceremony {record.ceremony_id} but did not "
                "take part (DPS 5.1.1: signed by the individuals involved)"
            )
        if s.person in seen:
            raise CeremonyRefused(f"{s.person} signed the record of {record.ceremony_id} twice")
        person = people.get(s.person)
        try:
            if person is None:
                raise ValueError("not on the roster")
            Ed25519PublicKey.from_public_bytes(person.public_key).verify(s.signature, signed)
        except (InvalidSignature, ValueError):
            raise CeremonyRefused(
                f"the signature of {s.person} on the record of ceremony {record.ceremony_id} "
                f"does not verify with their key in roster version {record.roster_version}: "
                "the record was changed after signing, or signed with another key"
            ) from None
        seen.add(s.person)
    return sorted(set(record.participants) - seen)
