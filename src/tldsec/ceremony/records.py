"""Ceremony records in the home, tied to the audit log (DPS 5.1.1).

``write_record`` writes what a ceremony's run did, for its participants to sign, and
records its SHA-256 (``ceremony.recorded``). ``check_record`` is what ``tldsec ceremony
show --verify`` runs: the record names the statement the ceremony file holds, the
audit entry that used the ceremony (sequence number, hash, people and roles), the
roster version it came from, the digest recorded when it was written, and every
participant's signature verifies with their key in that roster version.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tldsec.audit.log import AuditLog
from tldsec.audit.query import EntryFilter, iter_entries
from tldsec.ceremony.gate import Authorised, founding_root
from tldsec.ceremony.quorum import Approval
from tldsec.ceremony.record import CeremonyRecord, check_signatures
from tldsec.ceremony.roster import RosterVersion, verify_chain
from tldsec.ceremony.store import CeremonyStore, load_ceremony_settings
from tldsec.errors import CeremonyRefused
from tldsec.settings import Settings


def roster_versions(settings: Settings, audit: AuditLog) -> list[RosterVersion]:
    """Every version of the roster, the chain verified from the founding hash."""
    ceremonies = load_ceremony_settings(settings)
    chain = CeremonyStore(settings.home).chain()
    verify_chain(chain, founding_root(audit, ceremonies), ceremonies.quorums)
    return [link.roster for link in chain]


def write_record(
    settings: Settings,
    authorised: Authorised | None,
    outcome: Mapping[str, Any],
    *,
    now: datetime,
    audit: AuditLog,
    actor: str,
) -> Path | None:
    """The record of the ceremony that authorised a run, with what came out, for its
    participants to sign (``tldsec ceremony sign``). None without a ceremony."""
    if authorised is None:
        return None
    s, entry = authorised.ceremony.statement, authorised.entry
    record = CeremonyRecord(
        s.ceremony_id,
        s.operation,
        s.params,
        s.digest(),
        {p.name: p.role.name for p in authorised.people},
        authorised.roster.version,
        authorised.roster.digest(),
        entry.seq,
        entry.hash,
        entry.time,
        now,
        outcome,
    )
    path = CeremonyStore(settings.home).write_record(record, ())
    audit.record("ceremony.recorded", actor=actor, ceremony=s.ceremony_id,
                 record_sha256=record.digest(), outcome=dict(outcome))  # fmt: skip
    return path


@dataclass(frozen=True, slots=True)
class CheckedRecord:
    """A record that matches the ceremony and the audit log; who has not signed yet."""

    record: CeremonyRecord
    signatures: tuple[Approval, ...]
    missing: list[str]


def check_record(settings: Settings, audit: AuditLog, ceremony_id: str) -> CheckedRecord:
    """The record of ``ceremony_id`` checked against its ceremony, the audit log and the
    roster; ``CeremonyRefused`` naming the first thing that does not match."""
    store = CeremonyStore(settings.home)
    statement = store.get(ceremony_id).statement
    record, signatures = store.record(ceremony_id)
    where = f"the record of ceremony {ceremony_id}"
    if record.ceremony_id != ceremony_id or record.statement_sha256 != statement.digest():
        raise CeremonyRefused(f"{where} is not about the statement its ceremony file holds")
    entry = next(iter(iter_entries(audit.engine, EntryFilter(
        from_seq=record.audit_seq, to_seq=record.audit_seq))), None)  # fmt: skip
    if (
        entry is None
        or entry.hash != record.audit_hash
        or entry.event != "ceremony.completed"
        or entry.details.get("ceremony") != ceremony_id
        or entry.details.get("statement_sha256") != record.statement_sha256
    ):
        raise CeremonyRefused(
            f"{where} names audit entry {record.audit_seq}, which is not the ceremony.completed "
            f"entry of this ceremony with hash {record.audit_hash[:16]}... (DPS 4.4.1)"
        )
    roles = entry.details.get("roles")
    if not isinstance(roles, dict) or {k: str(v).upper() for k, v in roles.items()} != dict(
        record.participants
    ):
        raise CeremonyRefused(
            f"{where} names participants {dict(record.participants)}, the audit log {roles}"
        )
    recorded = [
        e.details.get("record_sha256")
        for e in iter_entries(audit.engine, EntryFilter(events=("ceremony.recorded",)))
        if e.details.get("ceremony") == ceremony_id
    ]
    if record.digest() not in recorded:
        raise CeremonyRefused(
            f"{where} is not the one written when the operation finished (its SHA-256 is "
            "not in a ceremony.recorded entry): it was changed"
        )
    versions = {v.version: v for v in roster_versions(settings, audit)}
    roster = versions.get(record.roster_version)
    if roster is None or roster.digest() != record.roster_sha256:
        raise CeremonyRefused(
            f"{where} names roster version {record.roster_version} "
            f"({record.roster_sha256[:16]}...), which the verified chain does not hold"
        )
    missing = check_signatures(record, signatures, roster.by_name())
    return CheckedRecord(record, signatures, missing)
