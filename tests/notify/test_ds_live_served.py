"""The "ds-live" e-mail carries the live poll message's fact (decisions 51, 56): a
registrar's DS change, built into serial 100 by the cycle's trace writer, is mailed only
once the live pass saw every secondary (a real NSD) serve it, saying "served by all
secondaries at T" with the poll message's T, to the registrar that opted in, once."""

from __future__ import annotations

import re
from datetime import timedelta
from email.message import Message as Mail
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.distribute.nameservers import nsd_available
from tests.fixtures.registry import RegistryWorld
from tests.notify.smtpserver import Mailbox, smtp_server
from tests.trace.test_live_pass import nsd_at
from tldsec.audit.log import AuditLog
from tldsec.audit.schema import upgrade
from tldsec.cycle.trace import Included, record
from tldsec.db.base import make_engine
from tldsec.notify.notices import ds_live_notices
from tldsec.notify.outbox import Outbox
from tldsec.notify.run import Audience, deliver, enqueue
from tldsec.notify.served import served_ds_changes
from tldsec.notify.smtp import SmtpConfig
from tldsec.registry.domains import DomainCreate, create_domain
from tldsec.registry.ds_rules import DsData
from tldsec.registry.ds_update import DsUpdate, update_ds
from tldsec.registry.hosts import create_host
from tldsec.registry.models import PollMessage, ZoneChange
from tldsec.settings.tables import NotifyTable
from tldsec.trace.live import LiveTracker
from tldsec.trace.secondaries import Node

pytestmark = pytest.mark.skipif(not nsd_available(), reason="nsd is not installed")

DS = DsData.of(31337, 13, 2, "EF" * 32)
OTHER = DsData.of(4242, 13, 2, "AB" * 32)


def body(m: Mail) -> str:
    payload = m.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return " ".join(payload.decode("utf-8").split())


def test_the_ds_live_mail_says_served_by_every_secondary_once(
    registry_world_any: RegistryWorld, tmp_path: Path
) -> None:
    world = registry_world_any
    world.add_registrar("alpha")
    world.add_registrar("beta")
    with world.db.write() as s:
        create_host(s, world.tx("alpha"), "ns1.hoster.net")
        create_domain(  # a change to the zone, not to its DS: no ds-live notice
            s, world.tx("alpha"), DomainCreate("one.example", "pw-1", ns=("ns1.hoster.net",))
        )
        create_domain(
            s, world.tx("beta"), DomainCreate("two.example", "pw-2", ns=("ns1.hoster.net",))
        )
    tx = world.tx("alpha")
    with world.db.write() as s:
        assert update_ds(s, tx, DsUpdate("one.example", add=(DS,)))
    with world.db.write() as s:  # beta did not opt in
        assert update_ds(s, world.tx("beta"), DsUpdate("two.example", add=(OTHER,)))
    with world.db.read() as s:
        last = max(s.scalars(select(ZoneChange.id)))
    t0 = world.clock.now()
    stages = [(st, t0 + timedelta(seconds=i)) for i, st in enumerate(
        ("built", "signed", "verified", "published"))]  # fmt: skip
    record(world.db, 1, 100, Included(after=0, upto=last), stages)

    engine = make_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    upgrade(engine)
    audit = AuditLog(engine, world.clock, signer=None)
    box, outbox = Mailbox(), Outbox(tmp_path / "spool")
    people = Audience({"alpha": "ops@alpha.test", "beta": "ops@beta.test"}, (), ())
    common = {"zone": "example.", "site": ""}

    def notify_pass() -> None:
        now = world.clock.now()
        served = served_ds_changes(world.db, now - timedelta(days=7))
        enqueue(outbox, ds_live_notices(served, ["alpha"], now), people, common, now, audit)
        config = SmtpConfig("127.0.0.1", port, "none", "dnssec@nic.example", timeout=10)
        deliver(outbox, config, NotifyTable(), now, audit)

    secondary = nsd_at(tmp_path / "ns-a", 99)
    try:
        with smtp_server(box) as port:
            tracker = LiveTracker(
                world.db, "example.", 1, (Node("ns-a", (("127.0.0.1", secondary.port),)),),
                world.clock,
            )  # fmt: skip
            world.clock.advance(timedelta(seconds=10))
            assert tracker.run_once() == []  # the secondary still serves 99
            notify_pass()
            assert box.messages == []  # published, not served: no mail yet
            secondary.stop()
            secondary = nsd_at(tmp_path / "ns-a2", 100)
            tracker.nodes = (Node("ns-a", (("127.0.0.1", secondary.port),)),)
            world.clock.advance(timedelta(seconds=5))
            assert tracker.run_once()
            notify_pass()
            world.clock.advance(timedelta(seconds=60))
            assert tracker.run_once() == []
            notify_pass()  # a later pass: the same change is not mailed again
    finally:
        secondary.stop()
        engine.dispose()

    (mail,) = box.messages
    assert str(mail["To"]) == "ops@alpha.test"
    assert str(mail["X-Tldsec-Notice"]) == f"ds-live:{tx.sv_trid}"
    with world.db.read() as s:
        texts = list(s.scalars(select(PollMessage.text)))
    (poll,) = [t for t in texts if t.startswith(f"DS change {tx.sv_trid} ")]
    served_at = re.search(r"served by all secondaries at (\S+)$", poll)
    assert (
        served_at is not None and served_at[1] == f"{t0 + timedelta(seconds=15):%Y-%m-%dT%H:%M:%SZ}"
    )
    assert "live in serial 100, served by all secondaries" in str(mail["Subject"])
    text = body(mail)
    assert f"The DS change {tx.sv_trid} for one.example" in text
    assert (
        f"is live in serial 100 of the example. zone, served by all secondaries at {served_at[1]}."
        in text
    )
    assert f"added: {DS}" in text
