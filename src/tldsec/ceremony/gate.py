"""The gate a sensitive operation passes (DPS 5.1, 5.2.2): run only under a ceremony whose
three approvals authorise it, when the home requires one for it ([ceremony] required).

A ceremony authorises one run: it is marked used before the operation starts, so a
failed operation needs a new ceremony. ``ceremony.completed`` records who approved and
the roster's SHA-256 (a changed roster shows in the log); ``ceremony.aborted`` records
a refusal and why.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from tldsec.ceremony.quorum import Person, authorise
from tldsec.ceremony.store import CeremonyStore, load_ceremony_settings
from tldsec.errors import CeremonyRefused
from tldsec.settings import Settings

Recorder = Callable[..., Any]  # AuditLog.record


def pass_gate(
    settings: Settings,
    operation: str,
    params: Mapping[str, str],
    ceremony_id: str | None,
    *,
    now: datetime,
    record: Recorder,
    actor: str,
) -> list[Person]:
    """The people who authorised this run ([] when no ceremony is needed or given);
    ``CeremonyRefused`` if it may not run."""
    required = load_ceremony_settings(settings).required
    if ceremony_id is None:
        if operation in required:
            raise CeremonyRefused(
                f"{operation} runs only under a key ceremony here ([ceremony] required): "
                f"'tldsec ceremony start {operation}', three approvals, then --ceremony ID"
            )
        return []
    store = CeremonyStore(settings.home)
    try:
        ceremony = store.get(ceremony_id)
        people = authorise(
            ceremony.statement,
            ceremony.approvals,
            store.roster(),
            operation=operation,
            params=params,
            now=now,
        )
        store.mark_used(ceremony, now)  # refuses a ceremony used before
    except CeremonyRefused as exc:
        record("ceremony.aborted", actor=actor, ceremony=ceremony_id, reason=str(exc))
        raise
    record(
        "ceremony.completed",
        actor=actor,
        ceremony=ceremony_id,
        operation=operation,
        params=dict(params),
        people=[f"{p.name} ({p.role.name})" for p in people],
        roster_sha256=store.roster_digest(),
    )
    return people
