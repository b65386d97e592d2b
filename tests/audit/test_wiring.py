"""Components that already hand events to ``audit.record`` use names it accepts.

The key manager and the verification gate were written against the catalogue; these
checks keep them in step, so wiring ``audit.record`` in never turns into a refusal.
"""

from __future__ import annotations

from tldsec.audit.events import Actor, EventType
from tldsec.audit.log import AuditLog
from tldsec.audit.query import iter_entries
from tldsec.keys import service
from tldsec.verify import gate


def test_the_key_managers_transitions_are_catalogue_events() -> None:
    catalogue = {e.value for e in EventType}
    assert set(service.AUDIT_EVENTS.values()) <= catalogue
    Actor.parse(service.DEFAULT_ACTOR)


def test_the_verification_gates_events_are_catalogue_events() -> None:
    assert {gate.EVENT_PASSED, gate.EVENT_REFUSED} <= {e.value for e in EventType}
    Actor.parse(gate.ACTOR)


def test_a_key_manager_transition_records_as_is(audit_log: AuditLog) -> None:
    # The exact call keys/service.py makes for each transition.
    audit_log.record(
        service.AUDIT_EVENTS[service.KeyEvent.GENERATED],
        actor=service.DEFAULT_ACTOR,
        key_event="generated",
        key_id="0a1b2c",
        key_tag=12345,
        role="zsk",
        reason="scheduled rollover",
        time="2025-03-01T12:00:00+00:00",
        zone="example.",
    )
    entry = next(iter_entries(audit_log.engine))
    assert (entry.event, entry.actor, entry.level) == (
        "key.generated",
        "component:key-manager",
        "notice",
    )
