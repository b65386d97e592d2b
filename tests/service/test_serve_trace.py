"""One trace per DS change through a real ``tldsec serve`` (issue 20 item 5, issue 18
"live", decision 51): a registrar adds a DS over EPP (real TLS); real cycles build, sign,
verify and publish it; two real NSD secondaries take it from the hidden primary by NOTIFY
and IXFR (TSIG). The registrar's poll queue then says "DS change SVTRID for DOMAIN is live
in serial N, served by all secondaries at T" (dequeued with ack), ``tldsec trace SVTRID``
shows every step with both secondaries, and /metrics has the change-to-served histogram.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest

from tests.distribute.homes import PASSWORD, REGISTRAR, Registry, make_home, tldsec
from tests.distribute.nameservers import Daemon, NsdZone, free_port, nsd_available, start_nsd
from tests.fixtures.epp import assert_valid
from tests.service.running import KEY_NAME, KEY_SECRET, Serve
from tldsec.distribute.config import TsigKey
from tldsec.epp.client import EppClient
from tldsec.epp.tls import client_context
from tldsec.epp.tlscert import make_self_signed
from tldsec.registry.ds_rules import DsData

pytestmark = pytest.mark.skipif(not nsd_available(), reason="nsd is not installed")

DS = DsData.of(4243, 13, 2, "CD" * 32)
TSIG = TsigKey(KEY_NAME, "hmac-sha256", __import__("base64").b64decode(KEY_SECRET))


def config(epp_port: int, secondaries: dict[str, int]) -> str:
    tables = "".join(
        f'[[distribute.secondaries]]\nname = "{name}"\nallow = ["127.0.0.1"]\n'
        f'notify = ["127.0.0.1:{port}"]\ntsig_key = "{KEY_NAME}"\n\n'
        for name, port in secondaries.items()
    )
    return f"""
[epp]
listen = "127.0.0.1:{epp_port}"

[distribute]
poll_seconds = 0.2
notify_retry_seconds = 0.5

{tables}
[distribute.tsig_keys."{KEY_NAME}"]
secret = "{KEY_SECRET}"

[cycle]
check_seconds = 0.3
workers = 1

[serve]
audit_watch_seconds = 0.5

[verify]
external = []
second_sample = 50
"""


def test_a_ds_change_traced_to_every_secondary(tmp_path: Path) -> None:
    ports = {"ns-a": free_port(), "ns-b": free_port()}
    epp_port = free_port()
    home = make_home(tmp_path / "home", extra=config(epp_port, ports))
    registry = Registry(home)
    try:
        registry.seed(2, ds_every=0)
    finally:
        registry.close()
    make_self_signed(home / "epp-cert.pem", home / "epp-key.pem", "localhost")
    tldsec("cycle", "--home", str(home))
    serve = Serve.start(home, tmp_path / "serve.log")
    nsds: list[Daemon] = []
    try:
        first = serve.health()[1]["serial"]
        assert isinstance(first, int)
        for name, port in ports.items():
            zone = NsdZone("example.", ("127.0.0.1", serve.dns_port), key=TSIG)
            nsds.append(start_nsd(tmp_path / name, [zone], port))
        for nsd in nsds:
            nsd.wait_serial("example.", first, timeout=60)

        with EppClient("127.0.0.1", epp_port, client_context(home / "epp-cert.pem")) as epp:
            assert epp.login(REGISTRAR, PASSWORD).code == 1000
            added = epp.domain_update_ds("dom0.example", add=(DS,))
            assert added.code == 1000, added.message
            sv_trid = added.text("epp:response/epp:trID/epp:svTRID")
            messages: list[str] = []
            live = re.compile(
                rf"DS change {re.escape(sv_trid)} for dom0\.example is live in serial (\d+), "
                r"served by all secondaries at (\S+)$"
            )

            def live_message() -> bool:
                response = epp.command('<poll op="req"/>')
                assert_valid(response)
                if response.code == 1301:
                    queue = response.find("epp:response/epp:msgQ")
                    assert queue is not None
                    messages.append(response.text("epp:response/epp:msgQ/epp:msg"))
                    assert epp.command(f'<poll op="ack" msgID="{queue.get("id")}"/>').code == 1000
                return any(live.match(m) for m in messages)

            serve.wait(live_message, "the live poll message", timeout=180)
        found = next(m for m in (live.match(x) for x in messages) if m)
        serial = int(found.group(1))
        for nsd in nsds:
            served = nsd.serial("example.")
            assert served is not None and served >= serial  # no wrap in a test

        out = tldsec("trace", sv_trid, "--home", str(home)).stdout
        assert f"domain-update of dom0.example by {REGISTRAR} (svTRID {sv_trid}" in out
        for step in ("built", "signed", "verified", "published"):
            assert f"{step} serial {serial}" in out, out
        assert f"served by ns-a (serial {serial})" in out
        assert f"served by ns-b (serial {serial})" in out
        assert f"live: serial {serial} served by every secondary" in out
        (trail,) = json.loads(tldsec("trace", sv_trid, "--home", str(home), "--json").stdout)
        stages = [s["stage"] for s in trail["steps"]]
        assert stages[:5] == ["accepted", "built", "signed", "verified", "published"]
        assert stages[-1] == "live" and stages.count("served") == 2
        assert trail["to_served_seconds"] > 0
        assert found.group(2) == trail["steps"][-1]["at"][:19] + "Z"

        samples = {}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            samples = serve.metrics()
            if samples.get("tldsec_ds_change_to_served_seconds_count", [({}, 0.0)])[0][1]:
                break
            time.sleep(0.2)
        count = samples["tldsec_ds_change_to_served_seconds_count"][0][1]
        assert count >= 1  # the seeded creates of the first serial count too
        assert samples["tldsec_ds_change_to_served_seconds_sum"][0][1] > 0
    finally:
        serve.stop()
        for nsd in nsds:
            nsd.stop()
