"""The advisory check against a real NSD serving a signed child: the KSK's DS matches and
validates; a ZSK's, an unpublished key's, or a DS checked after the signatures expired
does not; a server that does not answer is "could not check". Never blocking."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import dns.dnssec
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from dns.dnssectypes import Algorithm

from tests.console.conftest import DOMAIN, NS, ConsoleWorld
from tests.console.signed_child import SignedChild, serve_signed_child
from tests.distribute.nameservers import nsd_available
from tests.fixtures.registry import START
from tldsec.registry.advisory import Advisor, NameServer

pytestmark = pytest.mark.skipif(not nsd_available(), reason="nsd is not installed")


@pytest.fixture
def child(tmp_path: Path) -> Iterator[SignedChild]:
    served = serve_signed_child(tmp_path / "child", START)
    yield served
    served.stop()


def advisor(child: SignedChild) -> Advisor:
    return Advisor(timeout=2.0, port=child.daemon.port, resolver=("127.0.0.1", child.daemon.port))


def test_the_ksk_s_ds_matches_and_validates(child: SignedChild) -> None:
    advice = advisor(child).check(f"{DOMAIN}.", child.ds(child.ksk), [NameServer(NS, ())], START)
    assert advice.verdict == "match", advice
    assert "matches the published KSK" in advice.message and "(validated)" in advice.message
    assert advice.servers == ("127.0.0.1: 2 DNSKEY",)


def test_a_zsk_s_or_an_unpublished_key_s_ds_does_not_match(child: SignedChild) -> None:
    check = advisor(child)
    ksk_tag = dns.dnssec.key_id(child.ksk)
    zsk = check.check(f"{DOMAIN}.", child.ds(child.zsk), [NameServer(NS, ())], START)
    assert zsk.verdict == "no-match"
    assert f"KSK key tags published: {ksk_tag}" in zsk.message
    other = dns.dnssec.make_dnskey(
        ec.generate_private_key(ec.SECP256R1()).public_key(), Algorithm.ECDSAP256SHA256, flags=257
    )
    unpublished = check.check(f"{DOMAIN}.", child.ds(other), [NameServer(NS, ())], START)
    assert unpublished.verdict == "no-match"
    assert "fine for a key not yet published (DPS 3.3)" in unpublished.message


def test_expired_signatures_do_not_validate(child: SignedChild) -> None:
    later = START + timedelta(days=31)
    advice = advisor(child).check(f"{DOMAIN}.", child.ds(child.ksk), [NameServer(NS, ())], later)
    assert advice.verdict == "no-match"


def test_a_server_that_does_not_answer(child: SignedChild) -> None:
    silent = Advisor(timeout=0.3, port=9)  # the discard port: nothing answers
    advice = silent.check(
        f"{DOMAIN}.", child.ds(child.ksk), [NameServer(NS, ("127.0.0.1",))], START
    )
    assert advice.verdict == "unknown"
    assert advice.servers[0].startswith("127.0.0.1: no answer")
    unresolvable = Advisor(
        timeout=1.0, port=child.daemon.port, resolver=("127.0.0.1", child.daemon.port)
    )
    missing = unresolvable.check(
        f"{DOMAIN}.", child.ds(child.ksk), [NameServer("ns9.dns-host.test", ())], START
    )
    assert missing.verdict == "unknown"
    assert missing.servers[0].startswith("ns9.dns-host.test: address not found")


def test_the_console_shows_the_advice_after_an_add(
    console_world: ConsoleWorld, child: SignedChild
) -> None:
    cw = console_world
    cw.console.advisor = advisor(child)
    cw.log_in()
    token = cw.csrf(f"/domains/{DOMAIN}")
    for key, verdict in ((child.zsk, "no match"), (child.ksk, "matches")):
        ds = child.ds(key)
        response = cw.client.post(
            f"/domains/{DOMAIN}/ds/add", data={"csrf": token, "line": f"DS {ds}"}
        )
        assert response.status_code == 200
        assert f"Advisory check ({verdict})" in response.text
        assert f"DS {ds} added." in response.text  # accepted either way (DPS 3.3)
    page = cw.client.get(f"/domains/{DOMAIN}").text
    assert len(re.findall(r'<td class="digest">', page)) == 2
    assert "Advisory check" not in page  # shown once
