"""A database owner edits the registry with SQL (issue 13 item 4, DPS 6.6; decision 42).

Before the registry kept its own digest of the zone, reconciliation compared the zone
with whatever the rows said: a DS or NS row written with SQL reached the name servers
at the next cycle that read that owner, and every check passed. Now the registry's
services keep a digest per owner in the transaction of each change; an owner whose rows
differ from it is held at the next cycle, incremental or full (its last published
records stay, an incident names it, the rest is published), and a zone that differs
from the running digest -- the digest table edited too, or a file the builder got
wrong -- is refused, the last good zone staying published.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from sqlalchemy import delete, insert, select, update

from tests.distribute.homes import Registry, ds_for, fake_clock_cycle, seeded_home_fixtures
from tldsec.clock import SystemClock
from tldsec.cycle import Cycle, Outcome
from tldsec.registry import zonedigest
from tldsec.registry.models import Domain, DomainNs, DsRecord, Host, ZoneChange, ZoneDigest
from tldsec.registry.zonedigest import Tally

template, home, registry = seeded_home_fixtures(12)
cycle = fake_clock_cycle

EVIL_DS = "B0" * 32
NS2 = "dom2.example.\t86400\tIN\tNS\tns2.hoster.net."


def published(cycle: Cycle) -> str:
    serial = cycle.store.current()
    assert serial is not None
    return cycle.store.zone_path(serial).read_text()


def quarantined(home: Path) -> list[dict[str, object]]:
    with sqlite3.connect(home / "audit.db") as conn:
        rows = conn.execute(
            "SELECT details FROM audit_entries WHERE event = 'zone.quarantined' ORDER BY seq"
        )
        return [json.loads(details) for (details,) in rows]


def sql(registry: Registry, statement, values: dict[str, object] | None = None) -> None:  # type: ignore[no-untyped-def]
    with registry.db.write() as s:
        s.execute(statement, values or {})


def domain_id(registry: Registry, name: str) -> int:
    with registry.db.read() as s:
        found = s.scalar(select(Domain.id).where(Domain.name == name))
    assert found is not None
    return found


def insert_ds(registry: Registry, name: str) -> None:
    row = {"domain_id": domain_id(registry, name), "key_tag": 666, "algorithm": 13}
    sql(registry, insert(DsRecord).values(**row, digest_type=2, digest=EVIL_DS))


def zone_change(registry: Registry, name: str) -> None:
    sql(registry, insert(ZoneChange).values(at=SystemClock().now(), name=name, reason="sql"))


def test_a_ds_inserted_with_sql_is_held_at_the_next_incremental_cycle(
    cycle: Cycle, registry: Registry, home: Path
) -> None:
    """With a zone_change row, as the editor would write to have it published now: the
    incremental cycle holds the owner (its old records stay), names it, and publishes
    another registrar's DS removal."""
    assert cycle.run().outcome is Outcome.PUBLISHED
    insert_ds(registry, "dom1.example")
    zone_change(registry, "dom1.example")
    registry.remove_ds("dom5.example", ds_for(5))
    result = cycle.run()
    assert result.outcome is Outcome.PUBLISHED, result.error
    assert result.stats["incremental_build"] == 1 and result.stats["quarantined"] == 1
    zone = published(cycle)
    assert EVIL_DS not in zone and "dom1.example.\t86400\tIN\tNS" in zone
    assert "dom5.example.\t86400\tIN\tDS" not in zone
    [incident] = quarantined(home)
    assert (incident["name"], incident["rules"], incident["kept"]) == (
        "dom1.example",
        ["registry-ledger"],
        True,
    )


def test_an_ns_row_deleted_with_sql_is_not_absorbed_by_a_later_change(
    cycle: Cycle, registry: Registry
) -> None:
    """No zone_change row: the edit waits unseen. A registrar's later DS change of the
    same domain (through the services: its delta is its own, not the edit's) makes the
    cycle read the owner: it is held, the name servers the registrar set stay."""
    assert cycle.run().outcome is Outcome.PUBLISHED
    with registry.db.read() as s:
        second = s.scalar(select(Host.id).where(Host.name == "ns2.hoster.net"))
    assert second is not None
    dom2 = domain_id(registry, "dom2.example")
    sql(registry, delete(DomainNs).where(DomainNs.domain_id == dom2, DomainNs.host_id == second))
    untouched = cycle.run()
    assert untouched.outcome is not Outcome.PUBLISHED or NS2 in published(cycle)
    registry.add_ds("dom2.example", ds_for(2))
    result = cycle.run()
    assert result.outcome is Outcome.PUBLISHED, result.error
    assert result.stats["quarantined"] == 1
    zone = published(cycle)
    assert NS2 in zone and "dom2.example.\t86400\tIN\tDS\t10002" not in zone


def test_the_digest_edited_with_the_rows_is_refused(cycle: Cycle, registry: Registry) -> None:
    """The editor also rewrites the owner's digest row to match the rows: the owner
    looks consistent, but the running sum of the registry's changes does not include the
    edit. The zone is refused; the last good one stays."""
    assert cycle.run().outcome is Outcome.PUBLISHED
    good = cycle.store.current()
    insert_ds(registry, "dom1.example")
    with registry.db.write() as s:
        owner = "dom1.example."
        delta = zonedigest.recomputed(s, [owner])[owner].minus(zonedigest.stored(s, [owner])[owner])
        zonedigest.add_to_ledger(s, {owner: delta})
        assert zonedigest.differing(s, [owner]) == ()
    zone_change(registry, "dom1.example")
    result = cycle.run()
    assert result.outcome is Outcome.REFUSED and result.stage == "reconcile", result
    assert "the registry's running digest holds" in str(result.error)
    # Each owner's digest equals its rows and its records: no single owner to name.
    assert cycle.store.current() == good and EVIL_DS not in published(cycle)
    # The next cycle builds and checks in full: the digest table and the running sum
    # still disagree, and it is refused again.
    again = cycle.run()
    assert again.outcome is Outcome.REFUSED and "the digest table" in str(again.error)


def test_a_ds_inserted_with_sql_and_no_change_row_is_held_at_the_full_build(
    cycle: Cycle, registry: Registry, home: Path
) -> None:
    """Nothing tells the incremental build: the edit is not published. A full build
    reads every row: the owner is held there (its published records stay)."""
    assert cycle.run().outcome is Outcome.PUBLISHED
    insert_ds(registry, "dom3.example")
    registry.add_ds("dom4.example", ds_for(4))
    assert cycle.run().outcome is Outcome.PUBLISHED
    assert EVIL_DS not in published(cycle)
    (cycle.paths.work / "unsigned.zone").unlink()  # the next build is full
    registry.add_ds("dom6.example", ds_for(6))
    result = cycle.run()
    assert result.outcome is Outcome.PUBLISHED, result.error
    assert result.stats["incremental_build"] == 0 and result.stats["quarantined"] == 1
    assert EVIL_DS not in published(cycle)
    assert [q["name"] for q in quarantined(home)] == ["dom3.example"]


def test_the_digest_table_edited_alone_is_refused_at_the_full_check(
    cycle: Cycle, registry: Registry
) -> None:
    """A digest row changed and nothing else: the rows differ from it (held), and the
    table's sum no longer equals the running sum at the next full check."""
    assert cycle.run().outcome is Outcome.PUBLISHED
    sql(registry, update(ZoneDigest).where(ZoneDigest.owner == "dom7.example.").values(d0=1))
    with registry.db.read() as s:
        assert zonedigest.table_sum(s, 1) != Tally.of(zonedigest.registry_records(s, zone_id=1))
    (cycle.paths.work / "unsigned.zone").unlink()
    registry.add_ds("dom6.example", ds_for(6))
    result = cycle.run()
    assert result.outcome is Outcome.REFUSED and result.stage == "reconcile", result
    assert "the digest table" in str(result.error)
