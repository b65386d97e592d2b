"""EPP across two zones of one registry (decisions 57, 61): every command finds its name's
zone, then weighs the registrar's accreditation; every cell of 57's table, over TLS, on
SQLite and PostgreSQL. alpha is accredited for example. and shop., beta for example.
only, gamma's accreditation for shop. ended (read at its login)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from tests.fixtures.epp import PASSWORD, RunningServer
from tests.fixtures.registry import START
from tldsec.epp.client import EppClient
from tldsec.policy import load_policy
from tldsec.registry import accreditation
from tldsec.registry.context import RegistryRules
from tldsec.registry.models import Domain, Host, Zone, ZoneChange
from tldsec.registry.routing import load_routes

D = 'xmlns:domain="urn:ietf:params:xml:ns:domain-1.0"'
NO_TLD = "is not under a TLD of this registry (example., shop.)"


def _name(name: str) -> str:
    return f"<domain:name>{name}</domain:name>"


def renew(c: EppClient, name: str) -> int:
    return c.command(
        f"<renew><domain:renew {D}>{_name(name)}<domain:curExpDate>2025-03-01"
        '</domain:curExpDate><domain:period unit="y">1</domain:period></domain:renew></renew>'
    ).code


def update(c: EppClient, name: str) -> int:
    return c.command(
        f"<update><domain:update {D}>{_name(name)}<domain:chg><domain:authInfo>"
        "<domain:pw>other-pw-2</domain:pw></domain:authInfo></domain:chg>"
        "</domain:update></update>"
    ).code


def delete(c: EppClient, name: str) -> int:
    return c.command(f"<delete><domain:delete {D}>{_name(name)}</domain:delete></delete>").code


def transfer(c: EppClient, op: str, name: str) -> int:
    auth = "<domain:authInfo><domain:pw>auth-pw-1</domain:pw></domain:authInfo>"
    return c.command(
        f'<transfer op="{op}"><domain:transfer {D}>{_name(name)}'
        f"{auth if op in ('request', 'query') else ''}</domain:transfer></transfer>"
    ).code


def check(c: EppClient, *names: str) -> list[tuple[str, str, str | None]]:
    response = c.command(
        f"<check><domain:check {D}>{''.join(_name(n) for n in names)}</domain:check></check>"
    )
    assert response.code == 1000, response.message
    answers = []
    for cd in response.findall(".//domain:cd"):
        name = cd.find("{urn:ietf:params:xml:ns:domain-1.0}name")
        reason = cd.find("{urn:ietf:params:xml:ns:domain-1.0}reason")
        assert name is not None
        answers.append(
            (name.text or "", name.get("avail") or "", reason.text if reason is not None else None)
        )
    return answers


def _two_zones(epp: RunningServer) -> dict[str, int]:
    world = epp.world
    with world.db.write() as s:
        zones = [Zone(origin=o, added_at=START - timedelta(days=9)) for o in ("example.", "shop.")]
        s.add_all(zones)
        s.flush()
        ids = {z.origin: z.id for z in zones}
    world.add_registrar("gamma", PASSWORD)  # two zones: accredited for none
    with world.db.write() as s:
        tx = world.tx()
        accreditation.accredit(s, tx, "alpha", "example.", START - timedelta(days=1))
        accreditation.accredit(s, tx, "alpha", "shop.", START - timedelta(days=1))
        accreditation.accredit(s, tx, "beta", "example.", START - timedelta(days=1))
        accreditation.accredit(s, tx, "gamma", "shop.", START - timedelta(days=1))
    ds = load_policy().ds
    rules = {o: RegistryRules(origin=o, ds=ds) for o in ("example.", "shop.")}
    with world.db.read() as s:
        epp.dispatcher.routes = load_routes(s, rules)  # what build_server does at start
    return ids


def test_two_zones_every_cell_of_the_table(epp_any: RunningServer) -> None:
    epp, world = epp_any, epp_any.world
    ids = _two_zones(epp)
    with epp.logged_in("gamma") as gamma:  # while accredited: two domains in shop.
        assert gamma.domain_create("g1.shop").code == 1000
        assert gamma.domain_create("g2.shop").code == 1000
    with world.db.write() as s:
        accreditation.revoke(s, world.tx(), "gamma", "shop.", world.clock.now())

    with (
        epp.logged_in("alpha") as alpha,
        epp.logged_in("beta") as beta,
        epp.logged_in("gamma") as gamma,
    ):
        # Accredited: the name's zone, its zone_id on the rows.
        assert alpha.domain_create("a.shop").code == 1000
        assert alpha.domain_create("a.example").code == 1000
        assert alpha.host_create("ns1.a.shop", ("192.0.2.1",)).code == 1000
        assert beta.host_create("ns.other.org").code == 1000  # outside every zone: no zone

        # Under no zone: 2306 for what makes or changes, 2303 for the rest, avail="0".
        created = alpha.domain_create("x.org")
        assert (created.code, NO_TLD in created.message) == (2306, True), created.message
        assert [
            renew(alpha, "x.org"),
            update(alpha, "x.org"),
            transfer(alpha, "request", "x.org"),
        ] == [2306] * 3
        assert alpha.domain_info("x.org").code == 2303
        assert [delete(alpha, "x.org")] + [
            transfer(alpha, op, "x.org") for op in ("query", "approve", "reject")
        ] == [2303] * 4

        # Never accredited (beta in shop.): 2201 for every command.
        refused = beta.domain_create("b.shop")
        assert (refused.code, refused.message) == (
            2201,
            "registrar beta is not accredited for shop.",
        )
        assert [
            renew(beta, "a.shop"),
            update(beta, "a.shop"),
            transfer(beta, "request", "a.shop"),
        ] == [2201] * 3
        assert beta.domain_info("a.shop").code == 2201
        assert [delete(beta, "a.shop")] + [
            transfer(beta, op, "a.shop") for op in ("query", "approve", "reject")
        ] == [2201] * 4
        assert beta.host_create("ns2.a.shop").code == 2201

        # Ended (gamma in shop.): 2201 for what makes or changes; info, delete, transfer
        # query/approve/reject allowed (a registrar leaving a TLD lets its domains go).
        ended = gamma.domain_create("g3.shop")
        assert ended.code == 2201 and "gamma's accreditation for shop. ended on" in ended.message
        assert [
            renew(gamma, "g1.shop"),
            update(gamma, "g1.shop"),
            transfer(gamma, "request", "a.shop"),
        ] == [2201] * 3
        assert gamma.host_create("ns1.g1.shop").code == 2201
        assert gamma.domain_info("g1.shop").code == 1000
        assert transfer(alpha, "request", "g1.shop") == 1001
        assert transfer(gamma, "query", "g1.shop") == 1000
        assert transfer(gamma, "reject", "g1.shop") == 1000
        assert transfer(alpha, "request", "g1.shop") == 1001
        assert transfer(gamma, "approve", "g1.shop") == 1000
        assert delete(gamma, "g2.shop") == 1000

        # check: per name, in the order asked, never failing for one.
        assert check(beta, "free.example", "a.shop", "x.org", "a.example") == [
            ("free.example", "1", None),
            ("a.shop", "0", "not accredited for shop."),
            ("x.org", "0", "not a TLD of this registry"),
            ("a.example", "0", "In use"),
        ]
        assert check(gamma, "free.shop")[0][1:] == ("0", "not accredited for shop.")
        assert check(alpha, "free.shop", "a.shop", "nic.shop")[:2] == [
            ("free.shop", "1", None),
            ("a.shop", "0", "In use"),
        ]

    with world.db.read() as s:
        zone_of = dict(s.execute(select(Domain.name, Domain.zone_id)).all())
        assert zone_of["a.shop"] == ids["shop."] and zone_of["a.example"] == ids["example."]
        assert zone_of["g1.shop"] == ids["shop."] and "g2.shop" not in zone_of
        hosts = dict(s.execute(select(Host.name, Host.zone_id)).all())
        assert hosts == {"ns1.a.shop": ids["shop."], "ns.other.org": None}
        changes = s.execute(select(ZoneChange.name, ZoneChange.zone_id)).all()
        assert ("g2.shop", ids["shop."]) in changes


def test_routing_adds_no_statement_to_a_command(epp: RunningServer) -> None:
    """The zones are read at start and the accreditations at login: a routed command
    sends the database the statements an unrouted one sends (decision 61)."""
    from sqlalchemy import event

    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        statements.append(statement)

    def sent(client: EppClient, name: str) -> int:
        statements.clear()
        assert update(client, name) == 1000
        assert client.domain_info(name).code == 1000
        return len(statements)

    with epp.logged_in("alpha") as alpha:
        assert alpha.domain_create("a.example").code == 1000
        event.listen(epp.world.db.engine, "before_cursor_execute", count)
        unrouted = sent(alpha, "a.example")
    _two_zones(epp)
    with epp.logged_in("alpha") as alpha:
        routed = sent(alpha, "a.example")
    event.remove(epp.world.db.engine, "before_cursor_execute", count)
    assert routed == unrouted > 0


def test_a_command_s_audit_entries_name_its_zone(epp: RunningServer) -> None:
    """A DS change in shop.: received, changed, accepted, each naming shop. (decision 61);
    the log takes it as the entry's zone (``record_many``, tests/audit/test_zone.py)."""
    from tldsec.registry.ds_rules import DsData

    _two_zones(epp)
    with epp.logged_in("alpha") as alpha:
        assert alpha.domain_create("d.shop", ds=(DsData.of(1, 13, 2, "AA" * 32),)).code == 1000
    ds = [(e[0], e[2].get("zone")) for e in epp.world.events if "ds" in e[0]]
    assert ds == [
        ("ds.received", "shop."),
        ("registry.ds.change", "shop."),
        ("ds.accepted", "shop."),
    ]


def test_a_ds_change_s_zone_change_row_names_its_zone(epp_any: RunningServer) -> None:
    """The DS-only update's hot path (registry/ds_update.py, SQLite statements and the
    PostgreSQL pipeline) writes its zone-change row in the domain's zone, as every other
    command does (decision 61); it wrote the database's default, zone 1, before."""
    from tldsec.registry.ds_rules import DsData

    ids = _two_zones(epp_any)
    ds = DsData.of(7, 13, 2, "CC" * 32)
    with epp_any.logged_in("alpha") as alpha:
        for name in ("d.shop", "d.example"):
            assert alpha.domain_create(name).code == 1000
            assert alpha.domain_update_ds(name, add=(ds,)).code == 1000
            assert alpha.domain_update_ds(name, remove=(ds,)).code == 1000
    with epp_any.world.db.read() as s:
        rows = s.execute(
            select(ZoneChange.name, ZoneChange.zone_id).where(ZoneChange.reason == "domain-update")
        ).all()
    assert sorted(rows) == [
        ("d.example", ids["example."]),
        ("d.example", ids["example."]),
        ("d.shop", ids["shop."]),
        ("d.shop", ids["shop."]),
    ]


def test_every_digest_row_names_its_zone(epp_any: RunningServer) -> None:
    """The registry's digest ledger (``zone_digest``) is written in each owner's zone by
    every writer: a domain's create (NS, glue of an in-zone host) and the DS hot path
    (SQLite statements and the PostgreSQL pipeline); each zone's sum is read by
    ``zone_id`` and equals the digest of that zone's rows (decision 75; every row was
    the default zone 1 before)."""
    from tldsec.registry import zonedigest
    from tldsec.registry.ds_rules import DsData
    from tldsec.registry.models import ZoneDigest

    ids = _two_zones(epp_any)
    ds = DsData.of(7, 13, 2, "CC" * 32)
    with epp_any.logged_in("alpha") as alpha:
        for tld in ("shop", "example"):
            assert alpha.domain_create(f"g.{tld}").code == 1000
            assert alpha.host_create(f"ns1.g.{tld}", ("192.0.2.1",)).code == 1000
            assert alpha.domain_create(f"d.{tld}", ns=(f"ns1.g.{tld}",)).code == 1000
            assert alpha.domain_update_ds(f"d.{tld}", add=(ds,)).code == 1000
    with epp_any.world.db.read() as s:
        rows = dict(s.execute(select(ZoneDigest.owner, ZoneDigest.zone_id)).all())
        sums = {
            o: (
                zonedigest.table_sum(s, i),
                zonedigest.Tally.of(zonedigest.registry_records(s, zone_id=i)),
            )
            for o, i in ids.items()
        }
    assert rows == {
        "d.example.": ids["example."],
        "ns1.g.example.": ids["example."],
        "d.shop.": ids["shop."],
        "ns1.g.shop.": ids["shop."],
    }
    for origin, (table, expected) in sums.items():
        assert table == expected and table.count == 3, origin  # NS, DS, glue A
