"""Replica proof: every HSM signs a fresh challenge with every key it should hold, and the
signature is verified against the exact DNSKEY RDATA the zone publishes.

A second site's HSM that lacks a key, or holds another key under its id, would leave
that site unable to sign when it takes over (the .de outage of 2026). ``prove`` asks each
configured HSM (the ``[keystore]`` token and each ``[[keystore.replica]]``) to sign 32
random octets with each expected key, and verifies the signature with the public key
taken from the DNSKEY RDATA itself (RFC 4034 2.1, RFC 3110 2, RFC 6605 4), not from the HSM: a key
proven here is the key the zone publishes. The verdicts:

- ``proven``: the HSM signed and the signature verifies under the published DNSKEY;
- ``missing``: the HSM has no key with that id;
- ``different``: it has one, but its signature does not verify (another key);
- ``unreachable``: the HSM could not be opened or failed to sign.

Pure but for the stores it is given: no clock (``now`` is a parameter), no files.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tldsec.errors import KeyNotFound, KeyStoreError
from tldsec.hsm.base import KeyStore
from tldsec.hsm.keyalg import verifies
from tldsec.policy import Algorithm

PROVEN, MISSING, DIFFERENT, UNREACHABLE = "proven", "missing", "different", "unreachable"
CHALLENGE_OCTETS = 32


@dataclass(frozen=True, slots=True)
class ExpectedKey:
    """A key every HSM must hold: its id and the DNSKEY RDATA the zone publishes."""

    key_id: str
    name: str  # as people say it: "zsk 12345"
    dnskey_rdata: bytes  # flags (2), protocol (1), algorithm (1), public key (RFC 4034 2.1)
    in_zone: bool  # in the DNSKEY RRset now (else waiting to be introduced)

    @property
    def algorithm(self) -> Algorithm:
        return Algorithm(self.dnskey_rdata[3])


@dataclass(frozen=True, slots=True)
class KeyProof:
    """One HSM's answer for one key."""

    hsm: str
    key_id: str
    name: str
    verdict: str
    in_zone: bool
    detail: str = ""

    @property
    def incident(self) -> bool:
        """A key of the zone not proven, or any key held under its id by another key."""
        return self.verdict == DIFFERENT or (self.verdict != PROVEN and self.in_zone)

    def line(self) -> str:
        where = "in the zone" if self.in_zone else "waiting to enter the zone"
        text = f"{self.hsm}: {self.name} ({self.key_id}, {where}) {self.verdict}"
        return f"{text}: {self.detail}" if self.detail else text

    def as_json(self) -> dict[str, Any]:
        return {
            "hsm": self.hsm,
            "key_id": self.key_id,
            "name": self.name,
            "verdict": self.verdict,
            "in_zone": self.in_zone,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class ReplicaReport:
    """Every HSM's answer for every expected key, at one moment."""

    checked_at: datetime
    hsms: tuple[str, ...]
    proofs: tuple[KeyProof, ...]

    @property
    def incidents(self) -> tuple[KeyProof, ...]:
        return tuple(p for p in self.proofs if p.incident)

    @property
    def waiting(self) -> tuple[KeyProof, ...]:
        """New keys some HSM does not hold yet (not an incident: they stay out)."""
        return tuple(p for p in self.proofs if p.verdict != PROVEN and not p.incident)

    def proven_everywhere(self) -> frozenset[str]:
        """Ids of the keys every HSM proved."""
        ids = {p.key_id for p in self.proofs}
        return frozenset(
            k for k in ids if all(p.verdict == PROVEN for p in self.proofs if p.key_id == k)
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "checked_at": self.checked_at.isoformat(),
            "hsms": list(self.hsms),
            "proofs": [p.as_json() for p in self.proofs],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReplicaReport:
        return cls(
            checked_at=datetime.fromisoformat(data["checked_at"]),
            hsms=tuple(data["hsms"]),
            proofs=tuple(KeyProof(**p) for p in data["proofs"]),
        )


def prove(
    hsms: Mapping[str, KeyStore | KeyStoreError],
    keys: Sequence[ExpectedKey],
    now: datetime,
) -> ReplicaReport:
    """Have every HSM (or the error that kept it closed) sign a fresh challenge with
    every key, and verify each signature against the key's DNSKEY RDATA."""
    proofs = [_prove_one(name, store, key) for name, store in hsms.items() for key in keys]
    return ReplicaReport(now, tuple(hsms), tuple(proofs))


def _prove_one(name: str, store: KeyStore | KeyStoreError, key: ExpectedKey) -> KeyProof:
    def proof(verdict: str, detail: str = "") -> KeyProof:
        return KeyProof(name, key.key_id, key.name, verdict, key.in_zone, detail)

    if isinstance(store, KeyStoreError):
        return proof(UNREACHABLE, str(store))
    challenge = secrets.token_bytes(CHALLENGE_OCTETS)
    try:
        signature = store.sign(key.key_id, challenge)
    except KeyNotFound:
        return proof(MISSING, "no key with this id")
    except KeyStoreError as exc:
        return proof(UNREACHABLE, str(exc))
    if not verifies(key.dnskey_rdata[4:], key.algorithm, challenge, signature):
        return proof(DIFFERENT, "its signature does not verify under the published DNSKEY")
    return proof(PROVEN)
