"""The automatic control of DPS 4.4.2 (``audit/watch.py``): new entries at the alert level
or above become alerts, and an entry changed, removed or cut from the log is an
integrity alarm, however the log was tampered with."""

from __future__ import annotations

from sqlalchemy import Engine, text

from tldsec.audit.events import Level
from tldsec.audit.log import AuditLog
from tldsec.audit.watch import AuditWatch


def without_guards(engine: Engine, *statements: str) -> None:
    """What someone with the database file can do: drop the append-only triggers."""
    with engine.begin() as conn:
        for (name,) in conn.execute(text("SELECT name FROM sqlite_master WHERE type='trigger'")):
            conn.execute(text(f'DROP TRIGGER "{name}"'))
        for statement in statements:
            conn.execute(text(statement))


def test_entries_at_the_alert_level_or_above_are_alerts(audit_log: AuditLog) -> None:
    audit_log.record("ds.changed", actor="registrar:reg-1", domain="a.example")
    watch = AuditWatch.from_head(audit_log.engine)
    assert watch.check() == []
    audit_log.record("ds.changed", actor="registrar:reg-1", domain="b.example")
    audit_log.record("clock.backwards", actor="component:audit", by_ms=2500)
    audit_log.record("zone.verification_failed", actor="component:cycle", reason="x" * 200)
    alerts = watch.check()
    assert [(a.event, a.level) for a in alerts] == [
        ("clock.backwards", "warning"),
        ("zone.verification_failed", "error"),
    ]
    assert alerts[0].summary == "by_ms=2500"
    assert alerts[1].summary.endswith("...") and len(alerts[1].summary) < 100
    assert not any(a.integrity for a in alerts)
    assert watch.check() == []  # nothing new
    strict = AuditWatch(audit_log.engine, alert_level=Level.ERROR, seq=0)
    assert [a.event for a in strict.check()] == ["zone.verification_failed"]
    assert watch.status()["integrity"] == "ok"


def test_a_changed_entry_is_an_integrity_alarm(audit_log: AuditLog) -> None:
    watch = AuditWatch.from_head(audit_log.engine)
    for n in range(3):
        audit_log.record("ds.changed", actor="registrar:reg-1", n=n)
    without_guards(
        audit_log.engine,
        "UPDATE audit_entries SET details = '{\"n\": 7}' WHERE seq = "
        "(SELECT max(seq) - 1 FROM audit_entries)",
    )
    alerts = watch.check()
    assert [a.summary for a in alerts if a.integrity] == ["its content no longer matches its hash"]
    assert watch.status()["integrity"] == "ALARM"


def test_a_removed_entry_and_a_cut_tail_are_integrity_alarms(audit_log: AuditLog) -> None:
    for n in range(4):
        audit_log.record("ds.changed", actor="registrar:reg-1", n=n)
    watch = AuditWatch(audit_log.engine, seq=0)
    without_guards(audit_log.engine, "DELETE FROM audit_entries WHERE seq = 2")
    assert [a.summary for a in watch.check() if a.integrity] == ["entries 2-2 are missing"]
    without_guards(
        audit_log.engine,
        "DELETE FROM audit_entries WHERE seq = 4",
        "UPDATE audit_head SET seq = 3",
    )
    cut = [a for a in watch.check() if a.integrity]
    assert len(cut) == 1 and "the log now ends at entry 3" in cut[0].summary
    assert watch.integrity_alarms == 2
