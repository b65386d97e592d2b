"""The DS advisory over EPP (issue 18, decision 51): after a DS add over EPP (real TLS),
the registrar's poll queue gets a message saying whether the DS matches a published,
validated KSK of the child, asked of a real NSD serving the child: a signed child whose
KSK's DS was added (match), a signed child given another key's DS (no-match), an
unsigned child (unknown: no DNSKEY set). The add is answered 1000 before any check
(never blocking); each message is queued once, dequeued with ack, valid against the
RFC schemas; a DS removal gets none."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.dnssec
import dns.name
import dns.zone
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from dns.dnssectypes import Algorithm, DSDigest
from dns.rdtypes.ANY.DNSKEY import DNSKEY
from sqlalchemy import select

from tests.distribute.nameservers import Daemon, NsdZone, nsd_available, start_nsd
from tests.fixtures.epp import RunningServer, assert_valid
from tests.fixtures.registry import START, RegistryWorld
from tldsec.epp.client import EppClient
from tldsec.registry.advisory import Advisor
from tldsec.registry.domains import DomainCreate, create_domain
from tldsec.registry.ds_rules import DsData
from tldsec.registry.ds_update import DsUpdate, update_ds
from tldsec.registry.models import PollMessage
from tldsec.trace.advice import BATCH, AdvisoryPass

pytestmark = pytest.mark.skipif(not nsd_available(), reason="nsd is not installed")

SIGNED, UNSIGNED, HOSTS = "child.example.", "plain.example.", "dns-host.test."
NS = f"ns1.{HOSTS}"


@dataclass
class Children:
    daemon: Daemon
    ksk: DNSKEY
    zsk: DNSKEY


def ds_of(key: DNSKEY, owner: str = SIGNED) -> DsData:
    made = dns.dnssec.make_ds(dns.name.from_text(owner), key, DSDigest.SHA256)
    return DsData.of(made.key_tag, int(made.algorithm), int(made.digest_type), made.digest.hex())


def _zone(origin: str, *lines: str) -> dns.zone.Zone:
    soa = f"{origin} 3600 IN SOA {NS} hostmaster.{origin} 1 1800 900 604800 300"
    text = "\n".join([soa, f"{origin} 3600 IN NS {NS}", *lines]) + "\n"
    return dns.zone.from_text(text, origin=origin, relativize=False)


@pytest.fixture
def children(tmp_path: Path) -> Iterator[Children]:
    """One NSD serving the signed child (a KSK and a ZSK, ECDSA P-256, signed by
    dnspython), the unsigned child and the zone of their name server."""
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(2)]
    ksk = dns.dnssec.make_dnskey(keys[0].public_key(), Algorithm.ECDSAP256SHA256, flags=257)
    zsk = dns.dnssec.make_dnskey(keys[1].public_key(), Algorithm.ECDSAP256SHA256, flags=256)
    signed = _zone(SIGNED, f"www.{SIGNED} 3600 IN A 192.0.2.80")
    dns.dnssec.sign_zone(
        signed,
        keys=[(keys[0], ksk), (keys[1], zsk)],
        inception=START.replace(day=1, month=2),
        expiration=START.replace(month=4),
    )
    files = {}
    for origin, zone in (
        (SIGNED, signed),
        (UNSIGNED, _zone(UNSIGNED)),
        (HOSTS, _zone(HOSTS, f"{NS} 3600 IN A 127.0.0.1")),
    ):
        files[origin] = tmp_path / f"{origin}zone"
        files[origin].write_text(zone.to_text(relativize=False))
    daemon = start_nsd(
        tmp_path / "nsd", [NsdZone(origin, zonefile=path) for origin, path in files.items()]
    )
    yield Children(daemon, ksk, zsk)
    daemon.stop()


def drain(client: EppClient) -> list[str]:
    """Every message in the queue, each acknowledged."""
    texts = []
    while True:
        response = client.command('<poll op="req"/>')
        assert_valid(response)
        if response.code == 1300:
            return texts
        assert response.code == 1301, response.message
        queue = response.find("epp:response/epp:msgQ")
        assert queue is not None
        texts.append(response.text("epp:response/epp:msgQ/epp:msg"))
        ack = client.command(f'<poll op="ack" msgID="{queue.get("id")}"/>')
        assert ack.code == 1000
        assert_valid(ack)


def test_the_advisory_arrives_as_a_poll_message(epp_any: RunningServer, children: Children) -> None:
    epp = epp_any
    port = children.daemon.port
    advisory = AdvisoryPass(
        epp.world.db,
        Advisor(timeout=2.0, port=port, resolver=("127.0.0.1", port)),
        epp.world.clock,  # START: inside the child's signature validity
    )
    assert advisory.run_once() == 0
    with epp.logged_in("alpha") as alpha:
        assert alpha.host_create(NS.rstrip(".")).code == 1000
        for name in (SIGNED, UNSIGNED):
            assert alpha.domain_create(name.rstrip("."), ns=(NS.rstrip("."),)).code == 1000
        added = {
            alpha.domain_update_ds(SIGNED.rstrip("."), add=(ds_of(children.ksk),)),
            alpha.domain_update_ds(UNSIGNED.rstrip("."), add=(ds_of(children.ksk, UNSIGNED),)),
        }
        assert {r.code for r in added} == {1000}  # answered before any check
        assert drain(alpha) == []  # nothing queued by the commands themselves

        assert advisory.run_once() == 2
        assert advisory.run_once() == 0  # once
        signed, unsigned = drain(alpha)
        ksk = ds_of(children.ksk)
        assert signed.startswith("DS advisory for child.example (")
        assert f"DS {ksk}: match: DS {ksk.key_tag} matches the published KSK" in signed
        assert "(validated)" in signed
        assert "DS advisory for plain.example (" in unsigned
        assert ": unknown: no name server of plain.example. returned its DNSKEY set" in unsigned

        # Another key's DS next to the KSK's, then a removal: advice for the add only.
        zsk = ds_of(children.zsk)
        assert alpha.domain_update_ds(SIGNED.rstrip("."), add=(zsk,)).code == 1000
        assert alpha.domain_update_ds(SIGNED.rstrip("."), remove=(zsk,)).code == 1000
        assert advisory.run_once() == 1
        (other,) = drain(alpha)
        assert f"DS {zsk}: no-match: DS {zsk.key_tag} matches no published KSK" in other
        assert "fine for a key not yet published (DPS 3.3)" in other

    with epp.logged_in("beta") as beta:
        assert drain(beta) == []  # another registrar's queue holds none of it


def test_a_fresh_pass_does_not_repeat_what_another_queued(
    epp: RunningServer, children: Children
) -> None:
    port = children.daemon.port
    advisor = Advisor(timeout=2.0, port=port, resolver=("127.0.0.1", port))
    with epp.logged_in("alpha") as alpha:
        assert alpha.host_create(NS.rstrip(".")).code == 1000
        assert alpha.domain_create(SIGNED.rstrip("."), ns=(NS.rstrip("."),)).code == 1000
        assert alpha.domain_update_ds(SIGNED.rstrip("."), add=(ds_of(children.ksk),)).code == 1000
        assert AdvisoryPass(epp.world.db, advisor, epp.world.clock).run_once() == 1
        # a restarted serve: a new pass over the same window queues nothing again
        assert AdvisoryPass(epp.world.db, advisor, epp.world.clock).run_once() == 0
        assert len(drain(alpha)) == 1


def test_a_burst_larger_than_a_pass_is_worked_through(registry_world: RegistryWorld) -> None:
    """More DS adds than one pass reads (``BATCH``) within the late-commit window: each
    gets its advice, over a few passes (a pass that read only what it had seen would
    stop after the first)."""
    world = registry_world
    world.add_registrar("alpha")
    with world.db.write() as s:
        create_domain(s, world.tx("alpha"), DomainCreate("burst.example", "pw-1"))
    ds = DsData.of(4242, 13, 2, "AB" * 32)
    adds = 0
    for i in range(2 * BATCH + 50):
        with world.db.write() as s:
            change = DsUpdate("burst.example", add=(ds,)) if i % 2 == 0 else DsUpdate(
                "burst.example", remove=(ds,))  # fmt: skip
            update_ds(s, world.tx("alpha"), change)
        adds += i % 2 == 0
    advisory = AdvisoryPass(world.db, Advisor(timeout=0.2), world.clock)
    advisory.cursor = 0
    queued = [advisory.run_once() for _ in range(6)]
    assert sum(queued) == adds and queued[-1] == 0, queued
    with world.db.read() as s:
        texts = list(s.scalars(select(PollMessage.text)))
    assert len(texts) == adds
    assert all(": unknown: the domain has no name servers" in t for t in texts)
