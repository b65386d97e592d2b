"""Issue 16: the DPS 4.4.1 events of the EPP server, each written, none retracted wrongly.

A failed login, an authorization failure (2201), DS data received, accepted or refused
with the rule it broke, and a logout each leave their entry; a refused command is a
failed attempt, never "registry.change_not_committed".
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import event

from tests.fixtures.epp import PASSWORD, RunningServer
from tldsec.audit.adapters import REGISTRY_EVENTS, registry_recorder
from tldsec.audit.events import EventType
from tldsec.audit.log import AuditLog
from tldsec.audit.query import iter_entries
from tldsec.audit.schema import upgrade
from tldsec.db.base import make_engine
from tldsec.registry.ds_rules import DsData
from tldsec.registry.hosts import create_host

DS1 = DsData.of(11111, 13, 2, "11" * 32)
RSASHA1 = DsData.of(22222, 5, 2, "22" * 32)  # DPS 3.3: algorithm 5 is not accepted


def names(epp: RunningServer) -> list[str]:
    return [event for event, _actor, _details in epp.world.events]


def details(epp: RunningServer, event: str) -> dict[str, object]:
    (found,) = [d for e, _a, d in epp.world.events if e == event]
    return found


def test_a_failed_login_is_a_failed_attempt_and_is_not_retracted(epp_any: RunningServer) -> None:
    epp = epp_any
    epp.world.events.clear()
    with epp.client() as client:
        assert client.login("alpha", "wrong-password").code == 2200
        assert client.login("alpha", PASSWORD).code == 1000
        assert client.logout().code == 1500
    assert names(epp) == ["epp.login.failed", "epp.login", "access.logout"]
    assert "registry.change_not_committed" not in names(epp)
    assert details(epp, "access.logout")["channel"] == "epp"


def test_an_authorization_failure_is_access_denied(epp_any: RunningServer) -> None:
    epp = epp_any
    with epp.logged_in("alpha") as alpha:
        assert alpha.domain_create("mine.example").code == 1000
    epp.world.events.clear()
    with epp.logged_in("beta") as beta:
        refused = beta.domain_update_ds("mine.example", add=(DS1,))
        assert refused.code == 2201, refused.message
    assert names(epp)[1:3] == ["ds.received", "ds.rejected"]
    denied = details(epp, "access.denied")
    assert denied["code"] == 2201 and denied["command"] == "domain:update"
    assert denied["object"] == "mine.example" and denied["channel"] == "epp"
    assert "registry.change_not_committed" not in names(epp)


def test_ds_received_then_accepted_or_refused_with_the_rule(epp_any: RunningServer) -> None:
    epp = epp_any
    with epp.world.db.write() as s:
        create_host(s, epp.world.tx("alpha"), "ns1.hoster.net")
    with epp.logged_in("alpha") as client:
        assert client.domain_create("signed.example", ns=("ns1.hoster.net",)).code == 1000
        epp.world.events.clear()
        assert client.domain_update_ds("signed.example", add=(DS1,)).code == 1000
        assert names(epp) == ["ds.received", "registry.ds.change", "ds.accepted"]
        assert details(epp, "ds.accepted")["domain"] == "signed.example"
        epp.world.events.clear()
        refused = client.domain_update_ds("signed.example", add=(RSASHA1,))
        assert refused.code == 2306, refused.message
    assert names(epp) == ["ds.received", "ds.rejected"]
    rejected = details(epp, "ds.rejected")
    assert rejected["rules"] == ["algorithm-not-allowed"] and rejected["code"] == 2306
    assert rejected["domain"] == "signed.example"


def test_every_name_the_server_records_is_in_the_catalogue() -> None:
    catalogue = {e.value for e in EventType} | set(REGISTRY_EVENTS)
    for name in ("ds.received", "ds.accepted", "ds.rejected", "access.denied", "access.logout"):
        assert name in catalogue


def test_a_ds_change_is_one_append_of_the_audit_log(epp: RunningServer, tmp_path: Path) -> None:
    """Decision 56: the command's entries (received, changed, accepted; or received and
    refused) are held and written in one audit transaction, in order, before the
    registry's COMMIT; they were three appends (two for a refusal)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    upgrade(engine)
    log = AuditLog(engine, epp.world.clock, signer=None)
    commits: list[str] = []
    event.listen(engine, "commit", lambda _conn: commits.append("audit"))
    epp.dispatcher.audit = registry_recorder(log)
    with epp.world.db.write() as s:
        create_host(s, epp.world.tx("alpha"), "ns1.hoster.net")
    try:
        with epp.logged_in("alpha") as client:
            assert client.domain_create("signed.example", ns=("ns1.hoster.net",)).code == 1000
            commits.clear()
            changed = client.domain_update_ds("signed.example", add=(DS1,))
            assert changed.code == 1000, changed.message
            assert commits == ["audit"]
            commits.clear()
            refused = client.domain_update_ds("signed.example", add=(RSASHA1,))
            assert refused.code == 2306, refused.message
            assert commits == ["audit"]
        entries = [e for e in iter_entries(engine) if e.event.startswith("ds.")]
        assert [e.event for e in entries] == [
            "ds.received",
            "ds.changed",
            "ds.accepted",
            "ds.received",
            "ds.rejected",
        ]
        sv_trid = changed.text(".//epp:svTRID")
        assert {e.details["sv_trid"] for e in entries[:3] if "sv_trid" in e.details} == {sv_trid}
        assert [e.seq for e in entries[:3]] == [entries[0].seq + i for i in range(3)]
    finally:
        engine.dispose()
