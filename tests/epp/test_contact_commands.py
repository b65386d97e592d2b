"""Contact commands over EPP (RFC 5733), as far as a domain's registrant and contacts need."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.epp import RunningServer, assert_valid
from tldsec.epp.client import EppClient, Response

FIXTURES = Path(__file__).resolve().parent / "fixtures"
C = 'xmlns:contact="urn:ietf:params:xml:ns:contact-1.0"'
D = 'xmlns:domain="urn:ietf:params:xml:ns:domain-1.0"'


def frame(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@pytest.fixture
def alpha(epp: RunningServer) -> Iterator[EppClient]:
    client = epp.logged_in("alpha")
    assert client.request(frame("contact_create_plain.xml")).code == 1000
    yield client
    client.close()


def info(client: EppClient, auth: str = "") -> Response:
    pw = f"<contact:authInfo><contact:pw>{auth}</contact:pw></contact:authInfo>" if auth else ""
    return client.command(
        f"<info><contact:info {C}><contact:id>sh8013</contact:id>{pw}</contact:info></info>"
    )


def test_create_and_info(epp: RunningServer, alpha: EppClient) -> None:
    response = info(alpha)
    assert_valid(response)
    assert response.text(".//contact:postalInfo/contact:addr/contact:city") == "Dulles"
    assert response.text(".//contact:email") == "jdoe@example.com"
    with epp.logged_in("beta") as beta:
        assert info(beta).code == 2201
        assert info(beta, "2fooBAR").code == 1000


def test_refusals(epp: RunningServer, alpha: EppClient) -> None:
    assert alpha.request(frame("contact_create_plain.xml")).code == 2302
    disclose = alpha.request(frame("contact_create_disclose.xml"))
    assert disclose.code == 2102
    transfer = alpha.request(frame("contact_transfer_query.xml"))
    assert transfer.code == 2101 and "not offered" in transfer.message
    assert_valid(transfer)


def test_update_and_linked_delete(epp: RunningServer, alpha: EppClient) -> None:
    update = alpha.command(
        f"<update><contact:update {C}><contact:id>sh8013</contact:id><contact:chg>"
        '<contact:postalInfo type="int"><contact:addr><contact:city>Tokyo</contact:city>'
        "<contact:cc>JP</contact:cc></contact:addr></contact:postalInfo>"
        "<contact:email>john@example.jp</contact:email></contact:chg></contact:update></update>"
    )
    assert update.code == 1000, update.message
    response = info(alpha)
    assert response.text(".//contact:city") == "Tokyo"
    assert response.text(".//contact:name") == "John Doe"
    created = alpha.command(
        f"<create><domain:create {D}><domain:name>one.example</domain:name>"
        "<domain:registrant>sh8013</domain:registrant>"
        '<domain:contact type="tech">sh8013</domain:contact>'
        "<domain:authInfo><domain:pw>2fooBAR</domain:pw></domain:authInfo>"
        "</domain:create></create>"
    )
    assert created.code == 1000, created.message
    delete = alpha.command(
        f"<delete><contact:delete {C}><contact:id>sh8013</contact:id></contact:delete></delete>"
    )
    assert delete.code == 2305
    domain = alpha.domain_info("one.example")
    assert domain.text(".//domain:registrant") == "sh8013"
    assert [(c.get("type"), c.text) for c in domain.findall(".//domain:contact")] == [
        ("tech", "sh8013")
    ]
