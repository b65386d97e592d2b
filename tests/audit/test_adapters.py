"""The registry's and EPP server's audit calls land in the catalogue."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tldsec.audit.adapters import REGISTRY_EVENTS, registry_recorder
from tldsec.audit.events import EventType
from tldsec.audit.log import AuditLog
from tldsec.audit.query import iter_entries
from tldsec.errors import AuditError
from tldsec.registry.audit import AuditRecorder
from tldsec.registry.context import REGISTRY_ACTOR


def test_epp_logins_and_ds_changes_become_catalogue_entries(audit_log: AuditLog) -> None:
    recorder: AuditRecorder = registry_recorder(audit_log)
    recorder("epp.login", actor="reg-1")
    recorder("epp.login.failed", actor="reg-2", reason="bad password")
    recorder("epp.login.throttled", actor="reg-2", peer="192.0.2.1")
    recorder(
        "registry.ds.change",
        actor="reg-1",
        domain="example.tld",
        added=["12345 8 2 ABCD"],
        removed=[],
        chain_of_trust_removed=False,
    )
    recorder("registrar.add", actor=REGISTRY_ACTOR, registrar="reg-3", cert=None)
    got = [(e.event, e.actor, e.details) for e in iter_entries(audit_log.engine)]
    assert got == [
        ("access.login", "registrar:reg-1", {"channel": "epp", "source_event": "epp.login"}),
        (
            "access.login_failed",
            "registrar:reg-2",
            {"channel": "epp", "reason": "bad password", "source_event": "epp.login.failed"},
        ),
        (
            "access.denied",
            "registrar:reg-2",
            {
                "channel": "epp",
                "reason": "throttled",
                "peer": "192.0.2.1",
                "source_event": "epp.login.throttled",
            },
        ),
        (
            "ds.changed",
            "registrar:reg-1",
            {
                "domain": "example.tld",
                "added": ["12345 8 2 ABCD"],
                "removed": [],
                "chain_of_trust_removed": False,
                "source_event": "registry.ds.change",
            },
        ),
        (
            "registrar.created",
            "component:registry",
            {"registrar": "reg-3", "cert": None, "source_event": "registrar.add"},
        ),
    ]


def test_catalogue_names_pass_through_and_unknown_names_are_refused(audit_log: AuditLog) -> None:
    recorder = registry_recorder(audit_log)
    recorder("ds.rejected", actor="registrar:reg-1", reason="digest type 1")
    assert next(iter_entries(audit_log.engine)).event == "ds.rejected"
    with pytest.raises(AuditError, match=r"unknown audit event type 'registry\.mystery'"):
        recorder("registry.mystery", actor="reg-1")


def test_every_name_the_registry_and_epp_use_today_is_mapped() -> None:
    # Scans their sources, so a new name there fails here until it is mapped or renamed.
    src = Path(__file__).parents[2] / "src" / "tldsec"
    used = {
        m.group(1)
        for pkg in ("registry", "epp")
        for path in (src / pkg).rglob("*.py")
        for m in re.finditer(r'\.audit\(\s*"([a-z_.]+)"', path.read_text("utf-8"))
    }
    catalogue = {e.value for e in EventType}
    assert used, "no audit calls found: has the registry changed how it audits?"
    assert used <= set(REGISTRY_EVENTS) | catalogue, used - set(REGISTRY_EVENTS) - catalogue


def test_a_retraction_of_changes_that_did_not_happen_is_a_warning_entry(
    audit_log: AuditLog,
) -> None:
    """What the EPP dispatcher records when a command's transaction fails after its
    entries were written (epp/dispatch.py, ``AuditTrail``)."""
    recorder: AuditRecorder = registry_recorder(audit_log)
    change = {
        "event": "registry.ds.change",
        "actor": "reg-1",
        "domain": "example.tld",
        "added": ["12345 8 2 ABCD"],
        "removed": [],
        "chain_of_trust_removed": False,
    }
    recorder(
        "registry.change_not_committed",
        actor="reg-1",
        command="domain:update",
        sv_trid="tldsec-0123",
        events=[change],
    )
    (entry,) = iter_entries(audit_log.engine)
    assert (entry.event, entry.level, entry.actor) == (
        "registry.change_not_committed",
        "warning",
        "registrar:reg-1",
    )
    assert entry.details["events"] == [change]
    assert entry.details["sv_trid"] == "tldsec-0123"
