"""Domain transfer and the poll queue over EPP (RFC 5731 3.2.4, RFC 5730 2.9.2.3)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from tests.fixtures.epp import RunningServer, assert_valid

FIXTURES = Path(__file__).resolve().parent / "fixtures"
D = 'xmlns:domain="urn:ietf:params:xml:ns:domain-1.0"'


def frame(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def transfer(op: str) -> str:
    return (
        f'<transfer op="{op}"><domain:transfer {D}><domain:name>one.example</domain:name>'
        "</domain:transfer></transfer>"
    )


def test_request_poll_ack_approve(epp: RunningServer) -> None:
    with epp.logged_in("alpha") as alpha, epp.logged_in("beta") as beta:
        assert alpha.domain_create("one.example", auth="2fooBAR").code == 1000
        empty = alpha.request(frame("poll_req_plain.xml"))
        assert empty.code == 1300
        assert_valid(empty)

        requested = beta.request(frame("domain_transfer_request.xml"))
        assert requested.code == 1001, requested.message
        assert_valid(requested)
        assert requested.text(".//domain:trStatus") == "pending"
        assert requested.text(".//domain:reID") == "beta"
        assert requested.text(".//domain:acID") == "alpha"

        message = alpha.request(frame("poll_req_plain.xml"))
        assert message.code == 1301
        assert_valid(message)
        queue = message.find("epp:response/epp:msgQ")
        assert queue is not None and queue.get("count") == "1"
        assert message.text(".//domain:trnData/domain:trStatus") == "pending"
        ack = alpha.command(f'<poll op="ack" msgID="{queue.get("id")}"/>')
        assert ack.code == 1000 and ack.find("epp:response/epp:msgQ").get("count") == "0"
        assert_valid(ack)
        assert alpha.command('<poll op="ack" msgID="999999"/>').code == 2303

        refused = alpha.command(
            '<update><domain:update xmlns:domain="urn:ietf:params:xml:ns:domain-1.0">'
            "<domain:name>one.example</domain:name></domain:update></update>"
        )
        assert refused.code == 2304  # pendingTransfer
        approved = alpha.command(transfer("approve"))
        assert approved.code == 1000 and approved.text(".//domain:trStatus") == "clientApproved"
        assert alpha.domain_info("one.example").text(".//domain:clID") == "beta"
        assert beta.request(frame("poll_req_plain.xml")).code == 1301


def test_wrong_auth_info_and_server_approval(epp: RunningServer) -> None:
    with epp.logged_in("alpha") as alpha, epp.logged_in("beta") as beta:
        assert alpha.domain_create("one.example", auth="other-pw").code == 1000
        assert beta.request(frame("domain_transfer_request.xml")).code == 2202
        assert alpha.command(transfer("approve")).code == 2301
        assert beta.command(transfer("query")).code == 2301
        request = beta.request(
            frame("domain_transfer_request.xml").replace(b"2fooBAR", b"other-pw")
        )
        assert request.code == 1001
        assert beta.command(transfer("approve")).code == 2201
        epp.world.clock.advance(timedelta(days=6))
        query = beta.command(transfer("query"))
        assert query.code == 1000 and query.text(".//domain:trStatus") == "serverApproved"
