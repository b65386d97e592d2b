"""The console's reads and its DS change path on SQLite and PostgreSQL: the domain page's
one statement gives what the registry's rows hold (DS sorted, name servers by name with
their glue, the five newest zone changes) and nothing of another registrar's; a DS change
through EPP's hot path leaves the zone digest equal to a recomputation from the rows, and
a domain with a pending transfer still goes through ``update_domain`` (DPS 3.5.1)."""

from __future__ import annotations

import re

from sqlalchemy import func, select

from tests.console.conftest import DOMAIN, NS, ConsoleWorld
from tldsec.console.queries import domain_detail, domains_of
from tldsec.registry import zonedigest
from tldsec.registry.addresses import HostAddr
from tldsec.registry.advisory import NameServer
from tldsec.registry.domain_update import DomainUpdate, update_domain
from tldsec.registry.domains import DomainCreate, create_domain
from tldsec.registry.ds_rules import DsData
from tldsec.registry.hosts import create_host
from tldsec.registry.models import Registrar, ZoneChange
from tldsec.registry.transfers import request_transfer

DS_A = DsData.of(2, 13, 2, "B" * 64)
DS_B = DsData.of(1, 13, 2, "A" * 64)
GLUE = "ns.glued.example"


def _alpha(cw: ConsoleWorld) -> int:
    with cw.world.db.read() as s:
        return int(s.scalar(select(Registrar.id).where(Registrar.client_id == "alpha")) or 0)


def test_the_domain_page_reads_the_rows(console_any: ConsoleWorld) -> None:
    cw = console_any
    alpha = _alpha(cw)
    with cw.world.db.write() as s:
        tx = cw.world.tx("alpha")
        create_domain(s, tx, DomainCreate("glued.example", "auth-3"))
        create_host(s, tx, GLUE, (HostAddr("2001:db8::53", 6), HostAddr("192.0.2.53", 4)))
    for change in (
        DomainUpdate(DOMAIN, ds_add=(DS_A,)),
        DomainUpdate(DOMAIN, ds_add=(DS_B,)),
        DomainUpdate(DOMAIN, add_ns=(GLUE,)),
        DomainUpdate(DOMAIN, ds_rem=(DS_A,)),
        DomainUpdate(DOMAIN, ds_add=(DS_A,)),
        DomainUpdate(DOMAIN, ds_rem=(DS_B,)),
        DomainUpdate(DOMAIN, ds_add=(DS_B,)),
    ):
        with cw.world.db.write() as s:
            update_domain(s, cw.world.tx("alpha"), change)
    with cw.world.db.read() as s:
        newest = list(
            s.execute(
                select(ZoneChange.id, ZoneChange.reason)
                .where(ZoneChange.name == DOMAIN)
                .order_by(ZoneChange.id.desc())
                .limit(5)
            )
        )
        total_changes = s.scalar(
            select(func.count()).select_from(ZoneChange).where(ZoneChange.name == DOMAIN)
        )
        detail = domain_detail(s, alpha, DOMAIN.upper())
        assert domain_detail(s, alpha, "other.example") is None  # beta's
        assert domain_detail(s, alpha, "missing.example") is None
    assert detail is not None
    assert total_changes is not None and total_changes > 5
    assert (detail.name, detail.transfer_status) == (DOMAIN, None)
    assert detail.ds == (DS_B, DS_A)  # sorted
    assert detail.ns == (  # by name; glue by version, then address
        NameServer(GLUE, ("192.0.2.53", "2001:db8::53")),
        NameServer(NS, ()),
    )
    assert [(c.id, c.reason) for c in detail.changes] == newest
    assert all(c.at is not None and c.at.tzinfo is not None for c in detail.changes)

    # The page shows them.
    cw.log_in()
    page = cw.client.get(f"/domains/{DOMAIN}").text
    assert GLUE in page and "192.0.2.53" in page and "2001:db8::53" in page
    assert re.findall(r'<td class="digest">([0-9A-F]+)</td>', page) == [
        DS_B.digest,
        DS_A.digest,
    ]


def test_the_list_pages_and_counts_ds(console_any: ConsoleWorld) -> None:
    cw = console_any
    alpha = _alpha(cw)
    with cw.world.db.write() as s:
        for i in range(5):
            create_domain(s, cw.world.tx("alpha"), DomainCreate(f"p{i}-x.example", "auth-x"))
        update_domain(s, cw.world.tx("alpha"), DomainUpdate(DOMAIN, ds_add=(DS_A, DS_B)))
    with cw.world.db.read() as s:
        first = domains_of(s, alpha, "", 1, 3)
        last = domains_of(s, alpha, "", 99, 3)  # past the end: the last page
        search = domains_of(s, alpha, "-X", 1, 10)
        child = domains_of(s, alpha, "child", 1, 10)
    assert (first.total, first.pages, first.page) == (6, 2, 1)
    assert [r.name for r in first.rows] == ["child.example", "p0-x.example", "p1-x.example"]
    assert (last.page, [r.name for r in last.rows]) == (2, [f"p{i}-x.example" for i in (2, 3, 4)])
    assert search.total == 5
    assert [(r.name, r.ds_count) for r in child.rows] == [(DOMAIN, 2)]


def test_a_console_change_keeps_the_zone_digest_of_the_rows(console_any: ConsoleWorld) -> None:
    cw = console_any
    cw.log_in()
    for action, data in (
        ("add", {"line": f"DS {DS_A}"}),
        ("add", {"line": f"DS {DS_B}"}),
        (
            "remove",
            {"key_tag": "2", "algorithm": "13", "digest_type": "2", "digest": DS_A.digest},
        ),
    ):
        token = re.search(r'name="csrf" value="([^"]+)"', cw.client.get(f"/domains/{DOMAIN}").text)
        assert token
        response = cw.client.post(
            f"/domains/{DOMAIN}/ds/{action}",
            data={"csrf": token.group(1), **data},
            follow_redirects=False,
        )
        assert response.status_code == 303
    with cw.world.db.read() as s:
        assert zonedigest.differing(s, zone=(1, "example.")) == ()
        assert zonedigest.table_sum(s, 1) == zonedigest.Tally.of(
            zonedigest.registry_records(s, zone_id=1)
        )
        last = s.scalar(select(func.max(ZoneChange.id)).where(ZoneChange.name == DOMAIN))
    # The flash of the last change names its zone-change row (the live state follows it).
    (flash,) = cw.console._flash.values()
    assert flash["change_id"] == last
    assert cw.events("registry.ds.change")[-1][1]["removed"] == [str(DS_A)]


def test_a_pending_transfer_still_lets_the_registrar_remove_a_ds(
    console_any: ConsoleWorld,
) -> None:
    cw = console_any
    with cw.world.db.write() as s:
        update_domain(s, cw.world.tx("alpha"), DomainUpdate(DOMAIN, ds_add=(DS_A,)))
        request_transfer(s, cw.world.tx("beta"), DOMAIN, "auth-1")
    cw.log_in()
    token = re.search(r'name="csrf" value="([^"]+)"', cw.client.get(f"/domains/{DOMAIN}").text)
    assert token
    response = cw.client.post(
        f"/domains/{DOMAIN}/ds/remove",
        data={
            "csrf": token.group(1),
            "key_tag": "2",
            "algorithm": "13",
            "digest_type": "2",
            "digest": DS_A.digest,
        },
        follow_redirects=False,
    )
    assert response.status_code == 303  # DPS 3.5.1: removal whatever else is going on
    with cw.world.db.read() as s:
        assert zonedigest.differing(s, zone=(1, "example.")) == ()
    page = cw.client.get(f"/domains/{DOMAIN}").text
    assert DS_A.digest not in page
    # An addition waits for the transfer (update_domain's rule, not the hot path's).
    token = re.search(r'name="csrf" value="([^"]+)"', page)
    assert token
    response = cw.client.post(
        f"/domains/{DOMAIN}/ds/add",
        data={"csrf": token.group(1), "line": f"DS {DS_B}"},
        follow_redirects=False,
    )
    assert response.status_code == 422 and "pending transfer" in response.text
