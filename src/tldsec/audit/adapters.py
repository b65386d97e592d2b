"""Recorders for components written before the catalogue: their names onto its types.

The registry and the EPP server call ``tx.audit(name, actor=client_id, **details)`` with
names of their own and a bare registrar id as the actor. ``registry_recorder`` turns
those calls into catalogue entries, so the entry point that builds the registry context
can pass the audit log in one line: ``audit=registry_recorder(audit_log)``. New code
calls ``audit_log.record`` with catalogue names directly (docs/audit.md).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tldsec.audit.events import Actor, EventType
from tldsec.audit.log import AuditLog

REGISTRY_OPERATOR = "registry"  # tldsec.registry.context.REGISTRY_ACTOR

# registry/EPP name -> (catalogue type, details added)
REGISTRY_EVENTS: dict[str, tuple[EventType, dict[str, Any]]] = {
    "epp.login": (EventType.ACCESS_LOGIN, {"channel": "epp"}),
    "epp.login.failed": (EventType.ACCESS_LOGIN_FAILED, {"channel": "epp"}),
    "epp.login.throttled": (EventType.ACCESS_DENIED, {"channel": "epp", "reason": "throttled"}),
    "registry.ds.change": (EventType.DS_CHANGED, {}),
    "registrar.add": (EventType.REGISTRAR_CREATED, {}),
    "registrar.passwd": (EventType.REGISTRAR_CREDENTIALS_CHANGED, {"what": "password"}),
    "registrar.cert": (EventType.REGISTRAR_CREDENTIALS_CHANGED, {"what": "certificate"}),
    "registrar.allow": (EventType.REGISTRAR_CREDENTIALS_CHANGED, {"what": "allowed networks"}),
    "registrar.accredit": (EventType.REGISTRAR_ACCREDITED, {}),
    "registrar.revoke": (EventType.REGISTRAR_ACCREDITATION_REVOKED, {}),
    "registrar.totp": (EventType.REGISTRAR_CREDENTIALS_CHANGED, {"what": "console TOTP"}),
    "console.login": (EventType.ACCESS_LOGIN, {"channel": "console"}),
    "console.login.failed": (EventType.ACCESS_LOGIN_FAILED, {"channel": "console"}),
    "console.login.throttled": (
        EventType.ACCESS_DENIED,
        {"channel": "console", "reason": "throttled"},
    ),
    "console.logout": (EventType.ACCESS_LOGOUT, {"channel": "console"}),
}


def registry_actor(client_id: str) -> Actor:
    """``registrar:ID`` for a registrar's client id, ``component:registry`` for the operator."""
    if client_id == REGISTRY_OPERATOR:
        return Actor.component("registry")
    return Actor.registrar(client_id)


def registry_recorder(log: AuditLog) -> RegistryRecorder:
    """An ``AuditRecorder`` for ``tldsec.registry`` and ``tldsec.epp`` that writes to ``log``.

    A name the table does not know is recorded if it is a catalogue type, else refused
    with ``AuditError`` like any unknown event: nothing is silently dropped.
    """
    return RegistryRecorder(log)


class RegistryRecorder:
    """``registry_recorder``'s recorder: one entry per call, or several in one append
    (``record_many``, what ``registry.audit.AuditTrail.flush`` uses)."""

    def __init__(self, log: AuditLog) -> None:
        self.log = log

    def __call__(self, event: str, *, actor: str, **details: Any) -> None:
        kind, who, fields = _catalogue(event, actor, details)
        self.log.record(kind, actor=who, **fields)

    def record_many(self, events: Sequence[tuple[str, str, Mapping[str, Any]]]) -> None:
        """``(event, actor, details)`` each, in order, in one transaction of the log."""
        self.log.record_many(
            [_catalogue(event, actor, details) for event, actor, details in events]
        )


def _catalogue(
    event: str, actor: str, details: Mapping[str, Any]
) -> tuple[EventType | str, Actor | str, dict[str, Any]]:
    """A registry/EPP event as the catalogue's (type, actor, details)."""
    mapped = REGISTRY_EVENTS.get(event)
    who = actor if ":" in actor else registry_actor(actor)
    if mapped is None:
        return event, who, dict(details)
    event_type, extra = mapped
    return event_type, who, {**extra, **details, "source_event": event}
