"""Per-domain fault isolation through the cycle (issue 13, attacks 5 and 6; DPS 3.5.2).

A registry object that breaks a rule EPP applies (a reserved name, a DS with a non-hex
digest or algorithm 300, a glue address ``not-an-ip``, a name with a space or outside the
TLD), whether registered before the rule existed or written straight into the database
by its owner or a bug, is quarantined: its last published records stay (or it is left
out), an audit entry names it and the rule, and the rest of the zone is published: here,
another registrar's DS removal reaches the zone in the same cycle. Once the row is fixed
in the database, with or without a zone_change row, the next cycle publishes it -- when
the fix puts back what the registry's services wrote; rows written with SQL stay held
(``registry-ledger``, decision 42) until an operator vouches for them.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import delete, select, update

from tests.distribute.homes import (
    Registry,
    ds_for,
    fake_clock_cycle,
    seeded_home_fixtures,
)
from tests.fixtures.faults import signer_forgets_ds_signatures
from tldsec.cli.main import main
from tldsec.clock import SystemClock
from tldsec.cycle import Cycle, Outcome, open_cycle, reconcile
from tldsec.registry import registrars
from tldsec.registry.context import Actor
from tldsec.registry.domain_update import DomainUpdate, update_domain
from tldsec.registry.domains import DomainCreate, create_domain, delete_domain
from tldsec.registry.hosts import HostAddr, create_host
from tldsec.registry.models import ChangeTrace, Domain, DsRecord, Host, HostAddress, ZoneChange
from tldsec.registry.reserved import ReservedNames
from tldsec.registry.zonedigest import Tally
from tldsec.settings import load_settings
from tldsec.zone.buildinfo import BuildInfo

HEX = "A1" * 32


template, home, registry = seeded_home_fixtures(12)
cycle = fake_clock_cycle


def published(cycle: Cycle) -> str:
    serial = cycle.store.current()
    assert serial is not None
    return cycle.store.zone_path(serial).read_text()


def unsigned(lines: list[str]) -> list[str]:
    return [line for line in lines if "\tRRSIG\t" not in line]


def audit(home: Path, event: str) -> list[dict[str, object]]:
    with sqlite3.connect(home / "audit.db") as conn:
        rows = conn.execute(
            "SELECT actor, details FROM audit_entries WHERE event = ? ORDER BY seq", (event,)
        )
        return [{"actor": actor, **json.loads(details)} for actor, details in rows]


def changed(registry: Registry, *names: str) -> None:
    """A zone_change row, as a tool that writes the database and knows its duty would."""
    with registry.db.write() as s:
        for name in names:
            s.add(ZoneChange(at=SystemClock().now(), name=name, reason="sql"))


def domain_id(registry: Registry, name: str) -> int:
    with registry.db.read() as s:
        found = s.scalar(select(Domain.id).where(Domain.name == name))
        assert found is not None
        return found


def add_glue_host(registry: Registry) -> None:
    """dom4.example delegated to its own in-zone name server, with glue."""
    with registry.db.write() as s:
        create_host(
            s, registry.tx(registry.registrar), "ns1.dom4.example", [HostAddr("192.0.2.4", 4)]
        )
        update_domain(
            s,
            registry.tx(registry.registrar),
            DomainUpdate("dom4.example", add_ns=("ns1.dom4.example",)),
        )


# Each bad row: how to write it, what is withheld, the rule, whether the previous
# records stay, how to fix it in the database, and what the fixed zone then shows.
def bad_digest(r: Registry) -> None:
    with r.db.write() as s:
        s.add(
            DsRecord(
                domain_id=domain_id(r, "dom2.example"),
                key_tag=20002,
                algorithm=13,
                digest_type=2,
                digest="NOT-HEX" + HEX[7:],
            )
        )
    changed(r, "dom2.example")


def fix_digest(r: Registry) -> None:  # no zone_change row: the quarantine is re-checked
    # Written with SQL, so not what the registry's services wrote (decision 42): the
    # owner stays held until an operator vouches for the rows (``accept``).
    with r.db.write() as s:
        s.execute(update(DsRecord).where(DsRecord.key_tag == 20002).values(digest=HEX))


def bad_algorithm(r: Registry) -> None:
    with r.db.write() as s:
        s.add(
            DsRecord(
                domain_id=domain_id(r, "dom3.example"),
                key_tag=20003,
                algorithm=300,
                digest_type=2,
                digest=HEX,
            )
        )
    changed(r, "dom3.example")


def fix_algorithm(r: Registry) -> None:
    with r.db.write() as s:
        s.execute(update(DsRecord).where(DsRecord.key_tag == 20003).values(algorithm=13))


def bad_glue(r: Registry) -> None:
    with r.db.write() as s:
        host = s.scalar(select(Host.id).where(Host.name == "ns1.dom4.example"))
        s.add(HostAddress(host_id=host, address="not-an-ip", version=4))
    changed(r, "ns1.dom4.example")


def fix_glue(r: Registry) -> None:
    with r.db.write() as s:
        s.execute(delete(HostAddress).where(HostAddress.address == "not-an-ip"))
        s.execute(
            update(HostAddress)
            .where(HostAddress.address == "192.0.2.4")
            .values(address="192.0.2.44")
        )


def rename(old: str, new: str) -> Callable[[Registry], None]:
    def act(r: Registry) -> None:
        with r.db.write() as s:
            s.execute(update(Domain).where(Domain.name == old).values(name=new))
        changed(r, old, new)

    return act


CASES = {
    "ds-digest-not-hex": (
        bad_digest,
        "domain",
        "dom2.example",
        "ds-digest-not-hex",
        True,
        fix_digest,
        f"dom2.example.\t86400\tIN\tDS\t20002 13 2 {HEX}",
    ),
    "ds-algorithm-300": (
        bad_algorithm,
        "domain",
        "dom3.example",
        "ds-algorithm-unassigned",
        True,
        fix_algorithm,
        f"dom3.example.\t86400\tIN\tDS\t20003 13 2 {HEX}",
    ),
    "glue-not-an-ip": (
        bad_glue,
        "host",
        "ns1.dom4.example",
        "glue-address",
        True,
        fix_glue,
        "ns1.dom4.example.\t86400\tIN\tA\t192.0.2.44",
    ),
    "name-with-a-space": (
        rename("dom6.example", "dom6 x.example"),
        "domain",
        "dom6 x.example",
        "domain-name",
        False,
        rename("dom6 x.example", "dom6.example"),
        "dom6.example.\t86400\tIN\tNS\tns1.hoster.net.",
    ),
    "name-outside-the-tld": (
        rename("dom7.example", "dom7.other"),
        "domain",
        "dom7.other",
        "domain-name",
        False,
        rename("dom7.other", "dom7.example"),
        "dom7.example.\t86400\tIN\tNS\tns1.hoster.net.",
    ),
}


# The fixes that write new content with SQL (the renames put the old rows back): the
# registry's digest never saw it, so the owner stays held until an operator vouches.
NEW_CONTENT = {"ds-digest-not-hex", "ds-algorithm-300", "glue-not-an-ip"}
RENAMES = {
    "name-with-a-space": "dom6.example.\t86400\tIN\tNS\tns1.hoster.net.",
    "name-outside-the-tld": "dom7.example.\t86400\tIN\tNS\tns1.hoster.net.",
}


def accept(home: Path, name: str) -> None:
    """``zone quarantine release --accept-rows``: the operator vouches for the rows."""
    args = ["zone", "quarantine", "release", name, "--accept-rows", "--no-cycle"]
    assert main([*args, "--home", str(home)]) == 0


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_row_is_quarantined_and_the_rest_is_published(
    case: str, cycle: Cycle, registry: Registry, home: Path
) -> None:
    write, kind, name, rule, kept, fix, fixed_line = CASES[case]
    add_glue_host(registry)
    first = cycle.run()
    assert first.outcome is Outcome.PUBLISHED
    before = published(cycle)

    write(registry)
    registry.remove_ds("dom5.example", ds_for(5))  # another domain's DS removal (DPS 3.5.2)
    second = cycle.run()
    assert second.outcome is Outcome.PUBLISHED, second.error
    # A rename with SQL also leaves the old owner's rows differing from the registry's
    # digest: its delegation stays as published, held too (decision 42).
    renamed = 2 if case in RENAMES else 1
    assert second.stats["incremental_build"] == 1 and second.stats["quarantined"] == renamed
    zone = published(cycle)
    assert "dom5.example.\t86400\tIN\tDS" not in zone and "dom5.example.\t86400\tIN\tDS" in before
    assert "NOT-HEX" not in zone and " 300 " not in zone and "not-an-ip" not in zone
    assert "dom6 x" not in zone and "dom7.other" not in zone
    owner = f"{name}.\t"
    old_block = [line for line in before.splitlines() if line.startswith(owner)]
    new_block = [line for line in zone.splitlines() if line.startswith(owner)]
    if kept:  # the last published records stay, signatures included
        assert old_block and unsigned(new_block) == unsigned(old_block)
    else:
        assert not new_block
    incidents = audit(home, "zone.quarantined")
    assert len(incidents) == renamed
    [incident] = [i for i in incidents if i["name"] == name]
    assert incident["actor"] == "component:builder"
    assert (incident["kind"], incident["name"], incident["kept"]) == (kind, name, kept)
    assert rule in incident["rules"]  # type: ignore[operator]
    assert incident["serial"] == second.serial
    if case in RENAMES:
        [old] = [i for i in incidents if i["name"] != name]
        assert old["rules"] == ["registry-ledger"] and old["kept"] is True
        assert RENAMES[case] in zone  # the old name's delegation, as published

    fix(registry)
    if case in NEW_CONTENT:
        assert cycle.pending() is None  # still held: the rows are not the registry's
        assert fixed_line not in published(cycle)
        accept(home, name)
    pending = cycle.pending()
    assert pending is not None, "a fixed row must start a cycle by itself"
    # Fixed without a zone_change row: the quarantine's own check saw it.
    if kept and case not in NEW_CONTENT:
        assert pending.reason == f"quarantined {kind} {name} can be published again"
        assert pending.since is not None and pending.since <= cycle.clock.now()
    third = cycle.run()
    assert third.outcome is Outcome.PUBLISHED, third.error
    assert third.stats["quarantined"] == 0
    assert fixed_line in published(cycle)
    released = audit(home, "zone.quarantine_released")
    assert (kind, name) in {(r["kind"], r["name"]) for r in released}
    assert cycle.pending() is None


@pytest.mark.parametrize("case", ["ds-digest-not-hex", "name-outside-the-tld"])
def test_a_bad_row_present_at_a_full_build_is_left_out(
    case: str, cycle: Cycle, registry: Registry, home: Path
) -> None:
    write, _, name, rule, _, fix, fixed_line = CASES[case]
    write(registry)
    first = cycle.run()  # the first cycle builds in full
    assert first.outcome is Outcome.PUBLISHED, first.error
    # A rename also leaves the old name held (left out: nothing published before).
    renamed = 2 if case in RENAMES else 1
    assert first.stats["incremental_build"] == 0 and first.stats["quarantined"] == renamed
    assert f"{name}.\t86400\tIN\tNS" not in published(cycle)
    [incident] = [i for i in audit(home, "zone.quarantined") if i["name"] == name]
    assert (incident["name"], incident["kept"]) == (name, False)
    assert rule in incident["rules"]  # type: ignore[operator]
    fix(registry)
    if case in NEW_CONTENT:
        accept(home, name)
    assert cycle.run().outcome is Outcome.PUBLISHED
    assert fixed_line in published(cycle)


def test_a_reserved_name_in_the_database_does_not_stop_the_zone(
    cycle: Cycle, registry: Registry, home: Path
) -> None:
    """Attack 5: nic.example (a.nic.example. is an apex name server) registered with any
    NS, as EPP allowed before it was reserved: it is left out of every zone, and every
    other registrar's change is published."""
    cycle.run()
    open_rules = replace(registry.rules, reserved_names=ReservedNames())
    with registry.db.write() as s:
        registrars.add_registrar(
            s, registry.tx(Actor.registry()), "beta", "pw-beta-123", email="b@b.test"
        )
        beta = Actor("beta", registrars.get_registrar(s, "beta").id)
        create_domain(
            s,
            replace(registry.tx(beta), rules=open_rules),
            DomainCreate("nic.example", "a-1", ns=("ns1.hoster.net",)),
        )
    registry.remove_ds("dom5.example", ds_for(5))
    result = cycle.run()
    assert result.outcome is Outcome.PUBLISHED, result.error
    zone = published(cycle)
    assert "dom5.example.\t86400\tIN\tDS" not in zone
    assert "nic.example.\t86400\tIN\tNS" not in zone
    assert "a.nic.example.\t86400\tIN\tA\t192.0.2.53" in zone
    [incident] = audit(home, "zone.quarantined")
    assert incident["name"] == "nic.example" and incident["rules"] == ["reserved"]
    assert incident["kept"] is False
    assert "apex name servers a.nic.example., b.nic.example. lie below it" in str(
        incident["message"]
    )
    with registry.db.write() as s:
        delete_domain(s, registry.tx(beta), "nic.example")
    assert cycle.run().outcome is Outcome.PUBLISHED
    assert audit(home, "zone.quarantine_released")[0]["name"] == "nic.example"


def test_text_the_database_no_longer_holds_is_not_reused(cycle: Cycle, registry: Registry) -> None:
    """Attack 6's second half: the unsigned file holds a bad line its build record
    vouches for (a builder bug), at an owner no change touches now. The cycle's records
    of the file it built and reconciled vouch for it too (its digest, and the registry
    digest's position): the running registry digest still finds the record the registry
    never held and refuses the zone before signing (decision 42); the next cycle builds
    in full from the database and publishes, with no one deleting the build record."""
    cycle.run()
    unsigned = cycle.paths.work / "unsigned.zone"
    text = unsigned.read_text()
    good = "dom2.example. 86400 IN NS ns1.hoster.net.\n"
    assert good in text
    unsigned.write_text(text.replace(good, good + "dom2.example. 86400 IN DS 1 300 2 NOTHEX\n"))
    import hashlib

    info = BuildInfo.load(unsigned)
    assert info is not None
    data = unsigned.read_bytes()
    replace(info, sha256=hashlib.sha256(data).hexdigest(), size=len(data)).save(unsigned)
    # As if the builder had written it: the cycle's own record of the file it built and
    # reconciled vouches for it too (else it is refused as edited outside the builder,
    # tests/cycle/test_reconcile.py), and dom2 is not among the owners reconciled now.
    state = cycle.state()
    assert state.ledger is not None
    whole = Tally.of(reconcile.file_records(unsigned, reconcile.Apex("example.", 1)))
    forged = {**state.ledger, "zone": [whole.hex(), whole.count]}
    replace(state, unsigned_sha256=hashlib.sha256(data).hexdigest(), ledger=forged).save(
        cycle.state_path
    )
    registry.add_ds("dom3.example", ds_for(3))
    refused = cycle.run()
    assert refused.outcome is Outcome.REFUSED and refused.stage == "reconcile", refused
    assert "the registry's running digest holds" in str(refused.error)
    again = cycle.run()
    assert again.outcome is Outcome.PUBLISHED, again.error
    assert again.stats["incremental_build"] == 0  # never built on again
    zone = published(cycle)
    assert "NOTHEX" not in zone and "dom3.example.\t86400\tIN\tDS\t10003" in zone


def test_quarantine_list_and_release(
    home: Path, registry: Registry, capsys: pytest.CaptureFixture[str]
) -> None:
    """``tldsec zone quarantine list|release``: the operator sees what is withheld and
    why; release checks the database now, refuses while the row is still bad, and
    publishes once it is fixed, recorded as the operator's action."""
    with open_cycle(load_settings(home), SystemClock()) as c:
        c.run()
    bad_algorithm(registry)
    with open_cycle(load_settings(home), SystemClock()) as c:
        assert c.run().outcome is Outcome.PUBLISHED
    capsys.readouterr()
    assert main(["zone", "quarantine", "list", "--home", str(home), "--json"]) == 0
    [entry] = json.loads(capsys.readouterr().out)
    assert (entry["kind"], entry["name"], entry["kept"]) == ("domain", "dom3.example", True)
    # Inserted with SQL: not what the registry's services wrote either (decision 42).
    assert entry["rules"] == ["ds-algorithm-unassigned", "registry-ledger"]
    assert "300 is not an assigned DNSSEC algorithm" in entry["message"]
    assert main(["zone", "quarantine", "list", "--home", str(home)]) == 0
    assert "domain dom3.example since " in capsys.readouterr().out
    assert main(["status", "--home", str(home)]) == 0
    assert (
        "quarantined     1 withheld from the zone: domain dom3.example "
        "(ds-algorithm-unassigned, registry-ledger)" in capsys.readouterr().out
    )

    assert main(["zone", "quarantine", "release", "dom3.example", "--home", str(home)]) == 1
    err = capsys.readouterr().err
    assert "dom3.example still breaks the registry's rules (ds-algorithm-unassigned" in err
    assert not audit(home, "zone.quarantine_released")
    assert main(["zone", "quarantine", "release", "dom9.example", "--home", str(home)]) == 1
    assert "'dom9.example' is not quarantined" in capsys.readouterr().err

    fix_algorithm(registry)
    # Valid now, but written with SQL: released only when the operator vouches for it.
    assert main(["zone", "quarantine", "release", "dom3.example", "--home", str(home)]) == 1
    assert "(ds-algorithm-unassigned, registry-ledger)" in capsys.readouterr().err
    release = ["zone", "quarantine", "release", "dom3.example", "--accept-rows"]
    assert main([*release, "--home", str(home)]) == 0
    out = capsys.readouterr().out
    assert "passes the registry's rules now" in out and "cycle published serial" in out
    operator, builder = audit(home, "zone.quarantine_released")
    assert str(operator["actor"]).startswith("person:") and operator["name"] == "dom3.example"
    assert builder["actor"] == "component:builder"
    assert main(["zone", "quarantine", "list", "--home", str(home), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == []
    with open_cycle(load_settings(home), SystemClock()) as c:
        assert f"dom3.example.\t86400\tIN\tDS\t20003 13 2 {HEX}" in published(c)


def test_a_refused_zone_makes_the_next_build_read_its_names_again_then_in_full(
    cycle: Cycle, registry: Registry
) -> None:
    """The gate refusing a zone marks the build record: the next build reads what the
    refused one wrote again from the database (still incremental); a second refusal
    makes the next build full; a published zone clears the mark."""
    cycle.run()
    unsigned = cycle.paths.work / "unsigned.zone"
    registry.add_ds("dom3.example", ds_for(3))
    with signer_forgets_ds_signatures():
        assert cycle.run().outcome is Outcome.REFUSED
        info = BuildInfo.load(unsigned)
        assert info is not None and info.distrusted == 1 and "dom3.example" in info.rewritten
        again = cycle.run()
        assert again.outcome is Outcome.REFUSED and again.stats["incremental_build"] == 1
        info = BuildInfo.load(unsigned)
        assert info is not None and info.distrusted == 2
    fixed = cycle.run()
    assert fixed.outcome is Outcome.PUBLISHED and fixed.stats["incremental_build"] == 0
    info = BuildInfo.load(unsigned)
    assert info is not None and info.distrusted == 0
    registry.add_ds("dom4.example", ds_for(4))
    assert cycle.run().stats["incremental_build"] == 1


def test_a_registrar_change_to_a_withheld_domain_is_traced_only_when_published(
    cycle: Cycle, registry: Registry, home: Path
) -> None:
    """A registrar's DS change to a quarantined domain is not in the serial that withheld
    it, so its trace never says "live" for a change that no secondary serves (decision
    51); the serial that publishes the domain again carries it."""
    assert cycle.run().outcome is Outcome.PUBLISHED
    bad_algorithm(registry)  # dom3.example is withheld from now on
    registry.add_ds("dom3.example", ds_for(103))  # its registrar's change, over EPP
    registry.add_ds("dom1.example", ds_for(101))  # another domain's, published at once
    second = cycle.run()
    assert second.outcome is Outcome.PUBLISHED and second.stats["quarantined"] == 1

    fix_algorithm(registry)
    accept(home, "dom3.example")
    third = cycle.run()
    assert third.outcome is Outcome.PUBLISHED and third.stats["quarantined"] == 0
    assert "dom3.example.\t86400\tIN\tDS\t10103 " in published(cycle)

    with registry.db.read() as s:
        traced = s.execute(
            select(ZoneChange.name, ChangeTrace.serial)
            .join(ChangeTrace, ChangeTrace.change_id == ZoneChange.id)
            .where(ZoneChange.sv_trid == "test", ChangeTrace.serial >= second.serial)
        ).all()
    assert sorted(traced) == [("dom1.example", second.serial), ("dom3.example", third.serial)]
