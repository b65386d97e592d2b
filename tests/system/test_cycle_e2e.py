"""The running registry end to end, on loopback: ``tldsec serve`` (EPP, scheduler,
hidden primary) on a SoftHSM2 home, a real NSD as secondary, a real Unbound validating.

A registrar adds a DS over EPP; the change-driven cycle signs and verifies it; the
primary NOTIFYs; NSD pulls the new serial (IXFR, TSIG) and ``dig`` against NSD returns
the signed DS; the removal likewise. Unbound, with the trust anchor of a test root zone
(signed by tldsec's signer, served by a second NSD) that delegates to our TLD,
validates answers from the secondary (AD bit) and a secure NXDOMAIN.
"""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dns.dnssec
import dns.flags
import dns.rcode
import dns.rdatatype
import dns.zone
import pytest

from tests.distribute.homes import PASSWORD, REGISTRAR, Registry, make_home, zone_home
from tests.distribute.nameservers import (
    Daemon,
    NsdZone,
    free_port,
    nsd_available,
    start_nsd,
    start_unbound,
)
from tldsec.clock import SystemClock
from tldsec.distribute.config import TsigKey
from tldsec.dnscore.zonefile import read_zone_text, write_zone_atomic
from tldsec.epp.client import EppClient
from tldsec.epp.tls import client_context
from tldsec.hsm.memory import MemoryKeyStore
from tldsec.policy import Algorithm, load_policy
from tldsec.registry.ds_rules import DsData
from tldsec.signconf import SigningConfig, ZoneKey
from tldsec.signer import sign_zone

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not nsd_available(), reason="nsd is not installed"),
]

KEY = TsigKey("nsd-key.", "hmac-sha256", bytes(range(100, 132)))
NEW_DS = DsData.of(31589, 13, 2, "3490A6806D47F17A34C29E2CE80E8A999FFBE4BE" + "AB" * 12)


@dataclass
class Running:
    home: Path
    serve: subprocess.Popen[str]
    nsd: Daemon
    dns_port: int
    epp_port: int
    health_port: int

    def health(self) -> dict[str, object]:
        url = f"http://127.0.0.1:{self.health_port}/health"
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return dict(json.loads(r.read()))
        except urllib.error.HTTPError as exc:
            return dict(json.loads(exc.read()))


def _config(nsd_port: int, health_port: int) -> str:
    return f"""
[distribute]
keep = 5
notify_timeout_seconds = 1
notify_retry_seconds = 0.2
poll_seconds = 0.2

[[distribute.secondaries]]
name = "nsd"
allow = ["127.0.0.1"]
notify = ["127.0.0.1:{nsd_port}"]
tsig_key = "nsd-key."

[distribute.tsig_keys."nsd-key."]
secret = "{KEY.secret_b64}"

[verify]
second_sample = 200

[cycle]
check_seconds = 0.3
workers = 1

[serve]
health_listen = "127.0.0.1:{health_port}"
"""


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    base = tmp_path_factory.mktemp("e2e")
    nsd_port, dns_port, epp_port, health_port = (free_port() for _ in range(4))
    home = base / "home"
    home.mkdir()
    make_home(
        home,
        keystore="pkcs11",
        extra=_config(nsd_port, health_port),
        zone='apex_ns = ["a.nic.example."]\napex_glue = { "a.nic.example." = ["127.0.0.1"] }',
    )
    # tldsec init's demo policy (the PIN in the home) with a one-second debounce, so the
    # test need not wait 30 s.
    policy = home / "policy.toml"
    policy.write_text(
        policy.read_text("utf-8").replace("debounce_seconds = 30", "debounce_seconds = 1")
    )
    registry = Registry(home)
    registry.seed(30)
    registry.close()
    nsd = start_nsd(base / "nsd", [NsdZone("example.", ("127.0.0.1", dns_port), key=KEY)], nsd_port)
    serve = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tldsec.cli.main",
            "serve",
            "--home",
            str(home),
            "--dns-listen",
            f"127.0.0.1:{dns_port}",
            "--epp-listen",
            f"127.0.0.1:{epp_port}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    r = Running(home, serve, nsd, dns_port, epp_port, health_port)
    try:
        _wait(lambda: r.health().get("serial") is not None, serve, "the first cycle")
        yield r
    finally:
        serve.send_signal(signal.SIGINT)
        try:
            out, _ = serve.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            serve.kill()
            out, _ = serve.communicate()
        nsd.stop()
        print(out[-5000:])
        assert serve.returncode == 0, out[-5000:]
        assert "tldsec serve: stopped" in out


def _wait(ready: object, process: subprocess.Popen[str], what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"tldsec serve exited while waiting for {what}")
        try:
            if ready():  # type: ignore[operator]
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def epp(r: Running) -> EppClient:
    client = EppClient("127.0.0.1", r.epp_port, client_context(r.home / "epp-cert.pem"))
    client.connect()
    assert client.login(REGISTRAR, PASSWORD).code == 1000
    return client


def dig(port: int, *args: str) -> str:
    return subprocess.run(
        ["dig", "@127.0.0.1", "-p", str(port), "+dnssec", "+norecurse", *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout


def test_a_ds_added_over_epp_reaches_the_secondary_signed(running: Running) -> None:
    r = running
    before = int(r.health()["serial"])  # type: ignore[arg-type]
    r.nsd.wait_serial("example.", before)
    with epp(r) as client:
        assert client.domain_update_ds("dom3.example", add=(NEW_DS,)).code == 1000
        answered = time.monotonic()
    _wait(lambda: (r.nsd.serial("example.") or 0) > before, r.serve, "NSD to take the DS")
    latency = time.monotonic() - answered
    out = dig(r.nsd.port, "dom3.example.", "DS")
    assert "status: NOERROR" in out and "flags: qr aa" in out
    assert "31589 13 2 3490A6806D47F17A34C29E2CE80E8A999FFBE4BE" in out.upper()
    assert "RRSIG\tDS 8 2 86400" in out
    health = r.health()
    assert health["status"] == "ok", health
    notify = health["notify"]
    assert notify and notify[0]["acknowledged"], notify  # type: ignore[index]
    print(f"EPP response -> NSD serving the DS: {latency:.1f} s")
    log = r.nsd.log_text()
    assert "TSIG verified with key nsd-key." in log

    # ...and the removal.
    serial = r.nsd.serial("example.") or 0
    with epp(r) as client:
        assert client.domain_update_ds("dom3.example", remove=(NEW_DS,)).code == 1000
    _wait(lambda: (r.nsd.serial("example.") or 0) > serial, r.serve, "NSD to drop the DS")
    out = dig(r.nsd.port, "dom3.example.", "DS")
    assert "31589 13 2" not in out and "NSEC3" in out  # proof of no DS, signed
    assert f"from 127.0.0.1@{r.dns_port}" in r.nsd.log_text()


def test_status_of_the_running_registry(running: Running) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "tldsec.cli.main", "status", "--home", str(running.home), "--json"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)
    health = running.health()
    assert status["serial"] == health["serial"], (status, health)
    assert status["last_cycle"]["outcome"] in ("published", "unchanged"), status
    assert status["last_verification"]["passed"], status


def _root_zone(tld_dnskeys: list[str], directory: Path) -> tuple[Path, str]:
    """A test root zone delegating example. (with its DS), signed by tldsec's signer."""
    store = MemoryKeyStore("test-root")
    ksk = store.generate_key(label="root-ksk", algorithm=Algorithm.RSASHA256, bits=2048)
    zsk = store.generate_key(label="root-zsk", algorithm=Algorithm.RSASHA256, bits=1024)
    keys = (
        ZoneKey(ksk.key_id, 257, ksk.algorithm, ksk.public_key, True, True, False),
        ZoneKey(zsk.key_id, 256, zsk.algorithm, zsk.public_key, True, False, True),
    )
    config = SigningConfig.from_policy(load_policy(), keys)
    ds_lines = []
    for text in tld_dnskeys:
        rd = dns.rdata.from_text("IN", "DNSKEY", text)
        ds = dns.dnssec.make_ds("example.", rd, "SHA256")
        ds_lines.append(f"example. 86400 IN DS {ds.to_text()}")
    zone_text = (
        "\n".join(
            [
                ". 86400 IN SOA ns.root-test. hostmaster.root-test. 1 1800 900 604800 3600",
                ". 86400 IN NS ns.root-test.",
                "ns.root-test. 86400 IN A 127.0.0.1",
                "example. 86400 IN NS a.nic.example.",
                "a.nic.example. 86400 IN A 127.0.0.1",
                *ds_lines,
            ]
        )
        + "\n"
    )
    signed = sign_zone(read_zone_text(zone_text, "."), config, store, SystemClock().now()).zone
    path = directory / "root.zone"
    write_zone_atomic(signed, path)
    anchor_rd = dns.rdata.from_text(
        "IN", "DNSKEY", f"257 3 8 {base64.b64encode(ksk.public_key).decode()}"
    )
    anchor = f". IN DS {dns.dnssec.make_ds('.', anchor_rd, 'SHA256').to_text()}"
    return path, anchor


def test_a_validating_resolver_trusts_the_secondary(running: Running, tmp_path: Path) -> None:
    r = running
    serial = r.nsd.serial("example.")
    zone_file = zone_home(r.home).dist / f"{serial}.zone"
    zone = dns.zone.from_file(str(zone_file), "example.", relativize=False)
    dnskeys = [rd.to_text() for rd in zone.find_rdataset("example.", "DNSKEY") if rd.flags == 257]
    root_file, anchor = _root_zone(dnskeys, tmp_path)
    root = start_nsd(tmp_path / "root-nsd", [NsdZone(".", zonefile=root_file)])
    unbound = None
    try:
        unbound = start_unbound(
            tmp_path / "unbound", anchor, {".": root.port, "example.": r.nsd.port}
        )
        answer = _resolve(unbound, "dom0.example.", "DS")
        assert answer.rcode() == dns.rcode.NOERROR and answer.flags & dns.flags.AD, (
            answer.to_text() + unbound.log_text()[-3000:]
        )
        assert any(rrset.rdtype == dns.rdatatype.DS for rrset in answer.answer)
        missing = _resolve(unbound, "no-such-name.example.", "A")
        assert missing.rcode() == dns.rcode.NXDOMAIN and missing.flags & dns.flags.AD, (
            missing.to_text() + unbound.log_text()[-3000:]
        )
        insecure = _resolve(unbound, "dom1.example.", "DS")  # no DS: a signed denial
        assert insecure.rcode() == dns.rcode.NOERROR and insecure.flags & dns.flags.AD
        assert not insecure.answer
    finally:
        if unbound is not None:
            unbound.stop()
        root.stop()


def _resolve(unbound: Daemon, name: str, rdtype: str) -> dns.message.Message:
    q = dns.message.make_query(name, rdtype, want_dnssec=True)
    q.flags |= dns.flags.RD | dns.flags.AD
    return dns.query.udp(q, "127.0.0.1", port=unbound.port, timeout=10)


def test_a_cycle_requested_on_the_health_endpoint_runs_at_once(running: Running) -> None:
    before = int(running.health()["serial"])  # type: ignore[arg-type]
    token = (running.home / "control-token").read_text().strip()  # issue 22: no token, 401
    request = urllib.request.Request(
        f"http://127.0.0.1:{running.health_port}/cycle",
        method="POST",
        data=b"",
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=5) as r:
        assert r.status == 202
    _wait(
        lambda: (running.health()["last_cycle"] or {}).get("reason") == "forced",  # type: ignore[attr-defined]
        running.serve,
        "the requested cycle",
    )
    assert int(running.health()["serial"]) > before  # type: ignore[arg-type]
    running.nsd.wait_serial("example.", int(running.health()["serial"]))  # type: ignore[arg-type]
    last = running.health()["last_cycle"]
    assert last["reason"] == "forced" and last["stats"]["signatures_made"] < 10  # type: ignore[index]


def test_a_primary_apart_from_the_signer_serves_the_same_store(running: Running) -> None:
    """The split deployment: ``serve --no-epp --no-cycle`` reads the store, runs no cycle."""
    dns_port, health_port = free_port(), free_port()
    other = subprocess.Popen(
        [
            *(sys.executable, "-m", "tldsec.cli.main", "serve", "--home", str(running.home)),
            *("--no-epp", "--no-cycle", "--dns-listen", f"127.0.0.1:{dns_port}"),
            *("--health-listen", f"127.0.0.1:{health_port}"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        primary = Running(running.home, other, running.nsd, dns_port, 0, health_port)
        _wait(lambda: primary.health().get("serial") is not None, other, "the second primary")
        health = primary.health()
        assert health["serial"] == running.health()["serial"]
        assert health["epp"] == [] and health["last_cycle"] is None
        key = f"hmac-sha256:{KEY.name}:{KEY.secret_b64}"  # the secondaries need TSIG here
        assert "XFR size" in dig(dns_port, "-y", key, "example.", "AXFR")
    finally:
        other.send_signal(signal.SIGTERM)
        out, _ = other.communicate(timeout=30)
    assert other.returncode == 0 and "not run by this process (no signer role)" in out


def test_a_bad_row_does_not_hold_back_another_registrars_ds_removal(running: Running) -> None:
    """Issue 13, attack 6 through ``tldsec serve`` and a real secondary: a DS row with
    algorithm 300 written straight into the registry database is withheld, a DS removal
    over EPP reaches NSD all the same, and once the row is fixed in the database (no
    zone_change row) and the operator vouches for it (it was never written by the
    registry's services: decision 42), NSD gets the fixed DS, with no one touching a file."""
    from sqlalchemy import select, update

    from tldsec.registry.database import RegistryDatabase
    from tldsec.registry.models import Domain, DsRecord, ZoneChange

    r = running
    db = RegistryDatabase.from_url(f"sqlite:///{r.home / 'registry.db'}")
    try:
        with db.write() as s:
            dom7 = s.scalar(select(Domain.id).where(Domain.name == "dom7.example"))
            assert dom7 is not None
            s.add(
                DsRecord(
                    domain_id=dom7, key_tag=777, algorithm=300, digest_type=2, digest="AB" * 32
                )
            )
            s.add(ZoneChange(at=SystemClock().now(), name="dom7.example", reason="sql"))
        serial = r.nsd.serial("example.") or 0
        dom0_ds = DsData.of(10000, 13, 2, f"{1:064X}")  # tests/distribute/homes.ds_for(0)
        with epp(r) as client:
            assert client.domain_update_ds("dom0.example", remove=(dom0_ds,)).code == 1000
        _wait(lambda: (r.nsd.serial("example.") or 0) > serial, r.serve, "NSD to drop dom0's DS")
        assert "10000 13 2" not in dig(r.nsd.port, "dom0.example.", "DS")
        assert "777 300" not in dig(r.nsd.port, "dom7.example.", "DS")
        health = r.health()
        assert health["status"] == "ok", health
        listed = subprocess.run(
            [
                *(sys.executable, "-m", "tldsec.cli.main", "zone", "quarantine", "list"),
                *("--home", str(r.home), "--json"),
            ],
            capture_output=True,
            text=True,
        )
        assert listed.returncode == 0, listed.stderr
        [entry] = json.loads(listed.stdout)
        assert (entry["name"], entry["rules"]) == (
            "dom7.example",
            ["ds-algorithm-unassigned", "registry-ledger"],
        )

        serial = r.nsd.serial("example.") or 0
        with db.write() as s:
            s.execute(update(DsRecord).where(DsRecord.key_tag == 777).values(algorithm=13))
        released = subprocess.run(
            [
                *(sys.executable, "-m", "tldsec.cli.main", "zone", "quarantine", "release"),
                *("dom7.example", "--accept-rows", "--no-cycle", "--home", str(r.home)),
            ],
            capture_output=True,
            text=True,
        )
        assert released.returncode == 0, released.stderr
        _wait(lambda: (r.nsd.serial("example.") or 0) > serial, r.serve, "NSD to take the fix")
        assert "777 13 2 " + "AB" * 20 in dig(r.nsd.port, "dom7.example.", "DS").upper()
    finally:
        db.dispose()
