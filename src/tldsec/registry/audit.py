"""Where registry and EPP actions report audit events (DPS 4.4.1).

Entry points pass the audit log proper (``tldsec.audit.adapters.registry_recorder``):
anything with the signature of ``AuditRecorder`` will do; ``log_audit``, the default,
writes the event to the ``tldsec.audit`` logger. A unit of work records through an
``AuditTrail``, so that when its transaction fails after an event was recorded,
``AuditTrail.not_committed`` can say so. docs/registry.md lists every event name used.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Protocol

_log = logging.getLogger("tldsec.audit")


class AuditRecorder(Protocol):
    """``audit.record(event, actor=..., **details)``."""

    def __call__(self, event: str, *, actor: str, **details: object) -> None: ...


def log_audit(event: str, *, actor: str, **details: object) -> None:
    """The default recorder: one log line per event."""
    fields = " ".join(f"{k}={v!r}" for k, v in sorted(details.items()))
    _log.info("%s actor=%s %s", event, actor, fields)


# Attempts, not changes: true whether or not the unit's transaction commits, so never
# retracted as "not committed" (DPS 4.4.1: a failed login is a failed login).
ATTEMPTS = frozenset(
    {
        "epp.login.failed",
        "epp.login.throttled",
        "console.login.failed",
        "console.login.throttled",
        "access.login_failed",
        "access.denied",
        "ds.received",
        "ds.rejected",
    }
)


@dataclass
class AuditTrail:
    """The audit recorder of one unit of work: each event goes to the audit log at once
    and is remembered, so that if the unit's transaction then fails the log can say which
    audited changes did not happen (the entry is committed before the registry's)."""

    recorder: AuditRecorder
    events: list[dict[str, object]] = field(default_factory=list)

    def __call__(self, event: str, *, actor: str, **details: object) -> None:
        self.recorder(event, actor=actor, **details)
        self.events.append({"event": event, "actor": actor, **details})

    def not_committed(self, command: str, sv_trid: str) -> None:
        """Retract the changes recorded so far: ``registry.change_not_committed`` names
        them (the unit's transaction failed after they were recorded). Attempts
        (``ATTEMPTS``) stand. Never raises: if the audit log refuses this too, the error
        log says what was not committed."""
        changes = [e for e in self.events if e["event"] not in ATTEMPTS]
        if not changes:
            return
        try:
            self.recorder(
                "registry.change_not_committed",
                actor=str(changes[0]["actor"]),
                command=command,
                sv_trid=sv_trid,
                events=changes,
            )
        except Exception:
            _log.exception(
                "%s (svTRID %s) failed after its audit entries were written, and the audit "
                "entry saying so could not be written either: %s",
                command,
                sv_trid,
                changes,
            )
