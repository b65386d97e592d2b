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
    """The audit recorder of one unit of work: each event goes to the audit log and is
    remembered, so that if the unit's transaction then fails the log can say which
    audited changes did not happen (the entry is committed before the registry's).

    With ``hold``, events wait in the trail until ``flush`` writes them, in order, in
    one append of the log when the recorder has ``record_many``
    (``tldsec.audit.adapters.RegistryRecorder``): the EPP server
    flushes once per command, just before its registry COMMIT (decision 56), so a DS
    change's received, changed and accepted entries cost one audit transaction, not
    three, and are still committed before the change."""

    recorder: AuditRecorder
    hold: bool = False
    # The zone of the command's object (decision 61): every event of the unit names it
    # unless it names its own (decision 58); None: the audit log decides.
    zone: str | None = None
    events: list[dict[str, object]] = field(default_factory=list)  # written
    pending: list[dict[str, object]] = field(default_factory=list)  # held, not yet written

    def __call__(self, event: str, *, actor: str, **details: object) -> None:
        if self.zone is not None and "zone" not in details:
            details["zone"] = self.zone
        if self.hold:
            self.pending.append({"event": event, "actor": actor, **details})
            return
        self.recorder(event, actor=actor, **details)
        self.events.append({"event": event, "actor": actor, **details})

    def flush(self) -> None:
        """Write the held events (one append if the recorder can); raise as the
        recorder does, and then none of them was written."""
        held, self.pending = self.pending, []
        if not held:
            return
        many = getattr(self.recorder, "record_many", None)
        if many is not None:
            many([(str(e["event"]), str(e["actor"]), _details(e)) for e in held])
            self.events.extend(held)
            return
        for e in held:
            self.recorder(str(e["event"]), actor=str(e["actor"]), **_details(e))
            self.events.append(e)

    def flush_attempts(self, command: str, sv_trid: str) -> None:
        """Write a refused unit's held attempts (received, refused, access denied) in one
        append. A failure is logged, not raised: the refusal is answered either way."""
        try:
            self.flush()
        except Exception:
            _log.exception("%s (svTRID %s) refused; its audit entries failed", command, sv_trid)

    def not_committed(self, command: str, sv_trid: str) -> None:
        """Retract the changes recorded so far: ``registry.change_not_committed`` names
        them (the unit's transaction failed after they were recorded). Attempts
        (``ATTEMPTS``) stand. Changes still held were never written: they are dropped,
        nothing to retract. Never raises: if the audit log refuses this too, the error
        log says what was not committed. Held attempts stay held for ``flush``."""
        self.pending = [e for e in self.pending if e["event"] in ATTEMPTS]
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


def _details(event: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in event.items() if k not in ("event", "actor")}
