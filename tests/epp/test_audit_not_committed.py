"""An audited change whose registry transaction then fails is retracted in the audit log.

The audit entry of a DS change is committed before the registry's transaction (the audit
log is its own database). When that transaction fails, the change did not happen: the
dispatcher then records ``registry.change_not_committed`` naming the events it had
audited, and the registrar gets 2400 with nothing changed. The failure is real: a
trigger makes the database refuse the command's transaction-log row.
"""

from __future__ import annotations

from sqlalchemy import text

from tests.fixtures.epp import RunningServer
from tldsec.registry.domains import domain_info
from tldsec.registry.ds_rules import DsData
from tldsec.registry.hosts import create_host

DS1 = DsData.of(11111, 13, 2, "11" * 32)
DS2 = DsData.of(22222, 13, 2, "22" * 32)

SQLITE_TRIGGER = """
CREATE TRIGGER refuse_doomed BEFORE INSERT ON epp_transaction
WHEN NEW.object_name = 'doomed.example' AND NEW.command = 'domain:update'
 AND NEW.result_code = 1000
BEGIN SELECT RAISE(ABORT, 'injected failure'); END
"""
PG_TRIGGER = [
    """
CREATE FUNCTION refuse_doomed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.object_name = 'doomed.example' AND NEW.command = 'domain:update'
     AND NEW.result_code = 1000 THEN
    RAISE EXCEPTION 'injected failure';
  END IF;
  RETURN NEW;
END $$
""",
    "CREATE TRIGGER refuse_doomed BEFORE INSERT ON epp_transaction"
    " FOR EACH ROW EXECUTE FUNCTION refuse_doomed()",
]


def refuse_updates_of_doomed(epp: RunningServer) -> None:
    statements = [SQLITE_TRIGGER] if epp.world.db.is_sqlite else PG_TRIGGER
    with epp.world.db.engine.begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def test_a_ds_change_whose_transaction_fails_is_retracted(epp_any: RunningServer) -> None:
    epp = epp_any
    with epp.world.db.write() as s:
        create_host(s, epp.world.tx("alpha"), "ns1.hoster.net")
    refuse_updates_of_doomed(epp)
    with epp.logged_in("alpha") as client:
        created = client.domain_create("doomed.example", ns=("ns1.hoster.net",), ds=(DS1,))
        assert created.code == 1000, created.message
        epp.world.events.clear()

        refused = client.domain_update_ds("doomed.example", add=(DS2,))
        assert refused.code == 2400, refused.message
        assert "nothing was changed" in refused.message

        # the session goes on, and the domain kept its one DS
        info = client.domain_info("doomed.example")
        assert info.code == 1000
    with epp.world.db.read() as s:
        assert domain_info(s, epp.world.tx("alpha"), "doomed.example").ds == (DS1,)

    names = [event for event, _actor, _details in epp.world.events]
    # DS received stays (an attempt); the change and its acceptance are retracted.
    assert names == [
        "ds.received",
        "registry.ds.change",
        "ds.accepted",
        "registry.change_not_committed",
    ]
    _, actor, retraction = epp.world.events[3]
    assert actor == "alpha"
    assert retraction["command"] == "domain:update"
    assert str(retraction["sv_trid"]) == refused.text(".//epp:svTRID")
    retracted, accepted = retraction["events"]  # type: ignore[misc]
    assert retracted["event"] == "registry.ds.change"
    assert retracted["domain"] == "doomed.example"
    assert retracted["added"] == [str(DS2)]
    assert accepted["event"] == "ds.accepted"


def test_a_command_refused_before_any_change_retracts_nothing(
    epp_any: RunningServer,
) -> None:
    epp = epp_any
    with epp.logged_in("alpha") as client:
        epp.world.events.clear()
        missing = client.domain_update_ds("absent.example", add=(DS2,))
        assert missing.code == 2303
    # The DS data were received and refused: attempts, recorded, nothing retracted.
    assert [e for e, _a, _d in epp.world.events] == ["ds.received", "ds.rejected"]
