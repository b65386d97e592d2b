"""A real NSD as secondary of the primary on loopback: the first serial by AXFR, each
next one by IXFR after our NOTIFY, every transfer TSIG-signed and verified by NSD."""

from __future__ import annotations

import logging
from pathlib import Path

import dns.rdatatype
import pytest

from tests.distribute.conftest import (
    DOMAINS,
    DS2,
    TSIG,
    LoopThread,
    ZoneMaker,
    publish,
    start_primary,
)
from tests.distribute.nameservers import NsdZone, free_port, nsd_available, running_nsd
from tldsec.distribute.config import LOOPBACK, NotifySettings, Secondary
from tldsec.distribute.notify import NotifyTarget
from tldsec.distribute.server import ServerLimits
from tldsec.distribute.store import ZoneStore

pytestmark = pytest.mark.skipif(not nsd_available(), reason="nsd is not installed")


def test_nsd_follows_the_primary_by_notify_and_ixfr(
    zones: ZoneMaker, tmp_path: Path, loop_thread: LoopThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "tldsec.distribute")
    store = ZoneStore(tmp_path / "dist", "example.", keep=2)
    publish(store, zones, 100, DOMAINS)
    nsd_port = free_port()
    primary = start_primary(
        loop_thread,
        store,
        secondaries=(Secondary("nsd", LOOPBACK, tsig_key=TSIG.name),),
        keys=(TSIG,),
        targets=(NotifyTarget("nsd", "127.0.0.1", nsd_port, TSIG.dns_key()),),
        notify=NotifySettings(timeout=1, attempts=5, retry=0.2),
    )
    primary.server.limits = ServerLimits(max_message=4096)  # many messages, each signed
    zone = NsdZone("example.", (primary.host, primary.port), key=TSIG)
    try:
        with running_nsd(tmp_path / "nsd", [zone], nsd_port) as nsd:
            nsd.wait_serial("example.", 100)
            assert "TSIG verified with key xfr-key." in nsd.log_text()

            # A DS added: NOTIFY, then NSD asks for IXFR from 100.
            publish(store, zones, 101, {**DOMAINS, "d1": DS2})
            primary.refresh()
            nsd.wait_serial("example.", 101)
            answer = nsd.query("d1.example.", "DS", dnssec=True)
            types = sorted(dns.rdatatype.to_text(r.rdtype) for r in answer.answer)
            assert types == ["DS", "RRSIG"]
            assert answer.answer[0][0].key_tag in (54321, 12345)

            # The DS removed again.
            publish(store, zones, 102, DOMAINS)
            primary.refresh()
            nsd.wait_serial("example.", 102)
            answer = nsd.query("d1.example.", "DS", dnssec=True)
            assert not any(r.rdtype == dns.rdatatype.DS for r in answer.answer)

            # Two serials while NSD cannot hear: its IXFR from 102 still has a path...
            loop_thread.run(primary.server.notifier.close())  # type: ignore[union-attr]
            publish(store, zones, 103, {**DOMAINS, "x1": DS2})
            publish(store, zones, 104, {**DOMAINS, "x2": DS2})
            publish(store, zones, 105, {**DOMAINS, "x3": DS2})
            primary.refresh()  # ...no: keep = 2, the history no longer reaches 102
            nsd.wait_serial("example.", 105)
            log = nsd.log_text()
        assert log.count("TSIG verified") >= 4
        assert "IXFR of example. serial 101 from 100" in caplog.text
        assert "IXFR (as AXFR) of example. serial 105 from 102" in caplog.text
    finally:
        loop_thread.run(primary.server.close())
