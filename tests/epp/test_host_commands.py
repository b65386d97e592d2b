"""Host commands over EPP (RFC 5732): glue, the superordinate domain, in-use protection."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.fixtures.epp import RunningServer, assert_valid
from tldsec.epp.client import EppClient
from tldsec.registry.models import Host, HostAddress, HostStatus

FIXTURES = Path(__file__).resolve().parent / "fixtures"
HOST_NS = 'xmlns:host="urn:ietf:params:xml:ns:host-1.0"'


def frame(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def hosts(server: RunningServer) -> tuple[object, ...]:
    with server.world.db.read() as s:
        return tuple(
            tuple(tuple(r) for r in s.execute(select(*m.__table__.c)).all())
            for m in (Host, HostAddress, HostStatus)
        )


@pytest.fixture
def alpha(epp: RunningServer) -> Iterator[EppClient]:
    client = epp.logged_in("alpha")
    assert client.domain_create("one.example").code == 1000
    yield client
    client.close()


def test_create_info_update(epp: RunningServer, alpha: EppClient) -> None:
    created = alpha.request(frame("host_create_with_glue.xml"))
    assert created.code == 1000, created.message
    assert_valid(created)
    info = alpha.command(
        f"<info><host:info {HOST_NS}><host:name>ns1.one.example</host:name></host:info></info>"
    )
    assert_valid(info)
    assert [(a.get("ip"), a.text) for a in info.findall(".//host:addr")] == [
        ("v4", "192.0.2.2"),
        ("v4", "192.0.2.29"),
        ("v6", "2001:db8::1"),
    ]
    assert info.text(".//host:status[@s]") == "" and info.find(".//host:status").get("s") == "ok"
    updated = alpha.request(frame("host_update_plain.xml"))
    assert updated.code == 1000, updated.message
    info = alpha.command(
        f"<info><host:info {HOST_NS}><host:name>ns2.one.example</host:name></host:info></info>"
    )
    assert [a.text for a in info.findall(".//host:addr")] == [
        "192.0.2.2",
        "192.0.2.22",
        "192.0.2.29",
    ]
    assert [s.get("s") for s in info.findall(".//host:status")] == ["clientUpdateProhibited"]


def test_check(epp: RunningServer, alpha: EppClient) -> None:
    alpha.request(frame("host_create_with_glue.xml"))
    response = alpha.command(
        f"<check><host:check {HOST_NS}><host:name>ns1.one.example</host:name>"
        "<host:name>ns9.one.example</host:name></host:check></check>"
    )
    assert_valid(response)
    assert [n.get("avail") for n in response.findall(".//host:name")] == ["0", "1"]


def test_delete_while_in_use_is_refused_and_changes_nothing(
    epp: RunningServer, alpha: EppClient
) -> None:
    assert alpha.host_create("ns.hoster.net").code == 1000
    assert alpha.domain_create("two.example", ns=("ns.hoster.net",)).code == 1000
    before = hosts(epp)
    delete = alpha.command(
        f"<delete><host:delete {HOST_NS}><host:name>ns.hoster.net</host:name>"
        "</host:delete></delete>"
    )
    assert delete.code == 2305 and "name server of a domain" in delete.message
    assert_valid(delete)
    assert hosts(epp) == before


def test_glue_rules(epp: RunningServer, alpha: EppClient) -> None:
    assert alpha.host_create("ns1.one.example").code == 2306  # glue needed
    assert alpha.host_create("ns.hoster.net", ("192.0.2.1",)).code == 2306  # not ours
    assert alpha.host_create("ns1.nothing.example", ("192.0.2.1",)).code == 2303
    with epp.logged_in("beta") as beta:
        refused = beta.host_create("ns1.one.example", ("192.0.2.1",))
        assert refused.code == 2201
    bad = alpha.command(
        f"<create><host:create {HOST_NS}><host:name>ns1.one.example</host:name>"
        '<host:addr ip="v6">192.0.2.1</host:addr></host:create></create>'
    )
    assert bad.code == 2005


def test_only_the_sponsor_deletes(epp: RunningServer, alpha: EppClient) -> None:
    assert alpha.host_create("ns.hoster.net").code == 1000
    with epp.logged_in("beta") as beta:
        response = beta.command(
            f"<delete><host:delete {HOST_NS}><host:name>ns.hoster.net</host:name>"
            "</host:delete></delete>"
        )
        assert response.code == 2201
