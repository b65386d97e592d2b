"""The gate a sensitive operation passes (DPS 4.2, 4.3.4, 5.2.2): run only under a
ceremony whose approvals fill its class's quorum from the verified roster, once.

The roster is the newest version of the signed chain that verifies from the founding
hash (``founding_root``: the audit log's ``ceremony.founded`` entry, and the pin
``[ceremony] roster_root``). A ceremony is used by appending its ``ceremony.completed``
entry with ``AuditLog.record_if``: the check that no earlier entry used it, and the
rotation check against the previous ceremony of the class (DPS 4.3.4), run under the
audit writer's lock in the transaction that appends, so of two concurrent runs exactly
one passes. Nothing in the ceremony's own file says whether it was used. A refusal is
recorded as ``ceremony.aborted`` with its reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tldsec.audit.entry import Entry
from tldsec.audit.log import AuditLog
from tldsec.audit.query import EntryFilter, iter_entries
from tldsec.ceremony.policy import (
    ALWAYS,
    OperationClass,
    PreviousCeremony,
    check_rotation,
    check_staffed,
    operation_class,
)
from tldsec.ceremony.quorum import Person, Role, authorise
from tldsec.ceremony.roster import RosterVersion, verify_chain
from tldsec.ceremony.store import Ceremony, CeremonySettings, CeremonyStore, load_ceremony_settings
from tldsec.errors import CeremonyRefused
from tldsec.settings import Settings


@dataclass(frozen=True, slots=True)
class Authorised:
    """A run the gate let through: which ceremony, who approved, its audit entry."""

    ceremony: Ceremony
    operation_class: OperationClass
    people: tuple[Person, ...]
    roster: RosterVersion
    entry: Entry


def founding_root(audit: AuditLog, settings: CeremonySettings) -> str:
    """The founding roster's SHA-256: the first ``ceremony.founded`` entry's, which the
    pin in ``[ceremony] roster_root`` must match (decisions.md 22)."""
    founded = next(
        iter(iter_entries(audit.engine, EntryFilter(events=("ceremony.founded",)))), None
    )
    pin = settings.roster_root
    if founded is not None:
        root = str(founded.details.get("roster_sha256", ""))
        if pin is not None and pin != root:
            raise CeremonyRefused(
                f"[ceremony] roster_root {pin[:16]}... is not the founding roster the audit "
                f"log recorded (seq {founded.seq}: {root[:16]}...) (DPS 4.2.1): a replaced "
                "roster authorises nothing; set roster_root to the founding hash"
            )
        return root
    first = next(iter(iter_entries(audit.engine, EntryFilter(limit=1))), None)
    if pin is not None and first is not None and first.seq > 1:
        return pin  # the founding entry was archived and purged (DPS 4.4.3): the pin
    raise CeremonyRefused(
        "no founded roster: the audit log has no ceremony.founded entry (DPS 4.2.1): "
        "run the founding ceremony, tldsec ceremony found"
    )


def verified_roster(home: Path, audit: AuditLog, settings: CeremonySettings) -> RosterVersion:
    """The newest roster version whose chain verifies from the founding hash."""
    return verify_chain(
        CeremonyStore(home).chain(), founding_root(audit, settings), settings.quorums
    )


def enrolled_people(settings: Settings, audit: AuditLog) -> dict[str, Person]:
    """The people of the verified roster by name; before the founding, those of the
    draft (a home without a founded roster has no multi-person control to keep)."""
    store = CeremonyStore(settings.home)
    if store.chain():
        return verified_roster(settings.home, audit, load_ceremony_settings(settings)).by_name()
    draft = store.draft()
    return draft.by_name() if draft is not None else {}


def pass_gate(
    settings: Settings,
    operation: str,
    params: Mapping[str, str],
    ceremony_id: str | None,
    *,
    now: datetime,
    audit: AuditLog,
    actor: str,
    approvers: RosterVersion | None = None,
) -> Authorised | None:
    """The ceremony that authorised this run (None when none is needed or given);
    ``CeremonyRefused`` if it may not run. ``approvers`` is the roster that approves,
    for the founding ceremony (its draft); otherwise the verified roster."""
    home = settings.home
    ceremonies = load_ceremony_settings(settings)
    cls = operation_class(operation)
    if ceremony_id is None:
        if operation in ceremonies.required or operation in ALWAYS:
            raise CeremonyRefused(
                f"{operation} runs only under a key ceremony here ([ceremony] required; "
                f"DPS 4.2.2: {ceremonies.quorums[cls].describe()}): 'tldsec ceremony start "
                f"{operation}', the approvals, then --ceremony ID"
            )
        return None
    try:
        return _authorise(home, ceremonies, operation, cls, params, ceremony_id, now, audit, actor,
                          approvers)  # fmt: skip
    except CeremonyRefused as exc:
        audit.record("ceremony.aborted", actor=actor, ceremony=ceremony_id, reason=str(exc))
        raise


def _authorise(
    home: Path,
    settings: CeremonySettings,
    operation: str,
    cls: OperationClass,
    params: Mapping[str, str],
    ceremony_id: str,
    now: datetime,
    audit: AuditLog,
    actor: str,
    approvers: RosterVersion | None,
) -> Authorised:
    ceremony = CeremonyStore(home).get(ceremony_id)
    roster = approvers or verified_roster(home, audit, settings)
    check_staffed(roster.people, f"roster version {roster.version}")
    quorum = settings.quorums[cls]
    people = authorise(
        ceremony.statement,
        ceremony.approvals,
        roster.by_name(),
        operation=operation,
        params=params,
        now=now,
        quorum=quorum,
        what=f"{cls} ({operation})",
    )
    digest = ceremony.statement.digest()
    started = [
        e
        for e in iter_entries(audit.engine, EntryFilter(events=("ceremony.started",)))
        if e.details.get("ceremony") == ceremony_id
    ]
    if not any(e.details.get("statement_sha256") == digest for e in started):
        raise CeremonyRefused(
            f"ceremony {ceremony_id} is not the one the audit log recorded as started "
            "(ceremony.started with its statement's SHA-256; DPS 4.4.1): start a ceremony "
            "with tldsec ceremony start"
        )

    def once(earlier: list[Entry]) -> None:
        # Under the audit writer's lock: no other run can use it between check and append.
        for e in earlier:
            if e.details.get("ceremony") == ceremony_id:
                raise CeremonyRefused(
                    f"ceremony {ceremony_id} was already used (audit seq {e.seq}, "
                    f"{e.time:%F %T}); a ceremony authorises one run (DPS 5.2.2): start a "
                    "new ceremony"
                )
        check_rotation(ceremony_id, cls, people, _previous(earlier, cls))

    entry = audit.record_if(
        "ceremony.completed",
        once,
        actor=actor,
        ceremony=ceremony_id,
        operation=operation,
        operation_class=cls.value,
        params=dict(params),
        people=[f"{p.name} ({p.role.name})" for p in people],
        roles={p.name: p.role.value for p in people},
        statement_sha256=digest,
        roster_version=roster.version,
        roster_sha256=roster.digest(),
    )
    return Authorised(ceremony, cls, tuple(people), roster, entry)


def _previous(earlier: list[Entry], cls: OperationClass) -> PreviousCeremony | None:
    for e in reversed(earlier):
        if e.details.get("operation_class") == cls.value:
            roles = e.details.get("roles")
            if isinstance(roles, dict):
                return PreviousCeremony(
                    str(e.details.get("ceremony")),
                    {str(k): Role(v) for k, v in roles.items() if v in set(Role)},
                )
    return None
