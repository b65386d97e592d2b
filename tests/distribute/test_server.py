"""The hidden primary on loopback, asked by dnspython and dig: SOA, AXFR (RFC 5936),
IXFR (RFC 1995), refusals, the allow-list and TSIG (RFC 8945)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdata
import dns.rdatatype
import dns.tsig
import dns.zone
import pytest

from tests.distribute.conftest import (
    DOMAINS,
    DS2,
    TSIG,
    LoopThread,
    Primary,
    ZoneMaker,
    publish,
    start_primary,
)
from tldsec.distribute.config import LOOPBACK, Secondary, TsigKey
from tldsec.distribute.server import ServerLimits, Transfer
from tldsec.distribute.store import ZoneStore

NEXT = {**DOMAINS, "d1": DS2, "fresh": DS2}


@pytest.fixture
def primary(zones: ZoneMaker, tmp_path: Path, loop_thread: LoopThread) -> Iterator[Primary]:
    store = ZoneStore(tmp_path / "dist", "example.", keep=3)
    publish(store, zones, 100, DOMAINS)
    running = start_primary(loop_thread, store)
    yield running
    loop_thread.run(running.server.close())


@pytest.fixture
def tsig_primary(zones: ZoneMaker, tmp_path: Path, loop_thread: LoopThread) -> Iterator[Primary]:
    store = ZoneStore(tmp_path / "dist", "example.", keep=3)
    publish(store, zones, 100, DOMAINS)
    running = start_primary(
        loop_thread,
        store,
        secondaries=(Secondary("ns1", LOOPBACK, tsig_key=TSIG.name),),
        keys=(TSIG,),
    )
    yield running
    loop_thread.run(running.server.close())


def zone_records(path: Path) -> set[str]:
    zone = dns.zone.from_file(str(path), "example.", relativize=False)
    return {
        f"{name} {rds.ttl} {rd.to_text()} {dns.rdatatype.to_text(rds.rdtype)}"
        for name, node in zone.nodes.items()
        for rds in node.rdatasets
        for rd in rds
    }


def transfer_records(messages: list[dns.message.Message]) -> list[str]:
    return [
        f"{rrset.name} {rrset.ttl} {rd.to_text()} {dns.rdatatype.to_text(rrset.rdtype)}"
        for m in messages
        for rrset in m.answer
        for rd in rrset
    ]


def query(
    p: Primary,
    qtype: str,
    name: str = "example.",
    *,
    tcp: bool = False,
    key: dns.tsig.Key | None = None,
    serial: int | None = None,
) -> dns.message.Message:
    q = dns.message.make_query(name, qtype)
    if serial is not None:
        add_soa(q, serial)
    if key is not None:
        q.use_tsig(key)
    send = dns.query.tcp if tcp else dns.query.udp
    return send(q, p.host, port=p.port, timeout=5)


def add_soa(q: dns.message.Message, serial: int) -> None:
    """The client's SOA in the authority section of an IXFR query (RFC 1995 3)."""
    soa = dns.rdata.from_text("IN", "SOA", f"a.nic.example. h.nic.example. {serial} 1 1 1 1")
    rrset = q.find_rrset(
        q.authority, dns.name.from_text("example."), soa.rdclass, soa.rdtype, create=True
    )
    rrset.add(soa, 0)


def axfr(p: Primary, key: dns.tsig.Key | None = None) -> list[dns.message.Message]:
    keyring = None if key is None else {key.name: key}
    q = dns.message.make_query("example.", "AXFR")
    if key is not None:
        q.use_tsig(key)
    return list(_xfr(p, q, keyring))


def _xfr(p: Primary, q: dns.message.Message, keyring: object) -> Iterator[dns.message.Message]:
    yield from dns.query.xfr(
        p.host,
        "example.",
        port=p.port,
        timeout=5,
        relativize=False,
        keyring=keyring,
        keyname=None if q.keyname is None else q.keyname,
        keyalgorithm=q.keyalgorithm if q.had_tsig else dns.tsig.default_algorithm,
        rdtype=q.question[0].rdtype,
    )


def test_soa_over_udp_and_tcp_is_authoritative(primary: Primary) -> None:
    for tcp in (False, True):
        r = query(primary, "SOA", tcp=tcp)
        assert r.rcode() == dns.rcode.NOERROR and r.flags & dns.flags.AA
        assert r.answer[0][0].serial == 100


def test_axfr_is_the_whole_verified_zone(primary: Primary) -> None:
    messages = axfr(primary)
    records = transfer_records(messages)
    soa = records[0]
    assert soa.endswith(" SOA") and records[-1] == soa  # RFC 5936 2.2: SOA first and last
    assert set(records[1:-1]) | {soa} == zone_records(primary.store.zone_path(100))
    assert len(records) - 1 == len(zone_records(primary.store.zone_path(100)))


def test_axfr_over_udp_is_not_done(primary: Primary) -> None:
    assert query(primary, "AXFR").rcode() == dns.rcode.NOTIMP


def test_ixfr_brings_a_copy_of_the_old_serial_to_the_new_one(
    primary: Primary, zones: ZoneMaker
) -> None:
    publish(primary.store, zones, 101, NEXT)
    assert primary.refresh() and primary.server.serial == 101
    old = dns.zone.from_file(str(primary.store.zone_path(100)), "example.", relativize=False)
    q = dns.message.make_query("example.", "IXFR")
    add_soa(q, 100)
    dns.query.inbound_xfr(primary.host, old, q, port=primary.port, timeout=5)
    new = dns.zone.from_file(str(primary.store.zone_path(101)), "example.", relativize=False)
    assert old == new


def test_ixfr_condensed_form_and_fallbacks(primary: Primary, zones: ZoneMaker) -> None:
    publish(primary.store, zones, 101, NEXT)
    publish(primary.store, zones, 102, {**NEXT, "third": DS2})
    primary.refresh()
    out = subprocess.run(
        [
            "dig",
            "+nocmd",
            "+nostats",
            f"@{primary.host}",
            "-p",
            str(primary.port),
            "example.",
            "IXFR=100",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    soas = [line.split()[6] for line in out if "\tSOA\t" in line]
    # current, (old, new) per step, current (RFC 1995 4)
    assert soas == ["102", "100", "101", "101", "102", "102"]
    # A serial the history does not reach: the whole zone in AXFR form.
    records = transfer_records(list(_xfr_ixfr(primary, 7)))
    assert records[0].endswith(" SOA") and records[0] == records[-1]
    assert sum(r.endswith(" SOA") for r in records) == 2
    # Current already, or over UDP: one SOA.
    r = query(primary, "IXFR", tcp=True, serial=102)
    assert [rr.rdtype for rr in r.answer] == [dns.rdatatype.SOA]
    r = query(primary, "IXFR", serial=100)
    assert len(r.answer) == 1 and r.answer[0][0].serial == 102


def _xfr_ixfr(p: Primary, serial: int) -> Iterator[dns.message.Message]:
    yield from dns.query.xfr(
        p.host,
        "example.",
        rdtype=dns.rdatatype.IXFR,
        serial=serial,
        port=p.port,
        timeout=5,
        relativize=False,
    )


def test_everything_else_is_refused(primary: Primary) -> None:
    assert query(primary, "NS").rcode() == dns.rcode.REFUSED
    assert query(primary, "DS", "d0.example.").rcode() == dns.rcode.REFUSED
    assert query(primary, "SOA", "other.test.").rcode() == dns.rcode.REFUSED
    q = dns.message.make_query("example.", "SOA")
    q.set_opcode(dns.opcode.UPDATE)
    assert dns.query.udp(q, primary.host, port=primary.port, timeout=5).rcode() == (
        dns.rcode.NOTIMP
    )
    q = dns.message.make_query("example.", "IXFR")  # no SOA in the authority section
    assert dns.query.tcp(q, primary.host, port=primary.port, timeout=5).rcode() == (
        dns.rcode.FORMERR
    )


def test_sources_off_the_allow_list_are_refused(
    zones: ZoneMaker, tmp_path: Path, loop_thread: LoopThread
) -> None:
    import ipaddress

    store = ZoneStore(tmp_path, "example.")
    publish(store, zones, 5, DOMAINS)
    p = start_primary(
        loop_thread, store, secondaries=(Secondary("far", (ipaddress.ip_network("192.0.2.1"),)),)
    )
    try:
        assert query(p, "SOA").rcode() == dns.rcode.REFUSED
        assert query(p, "AXFR", tcp=True).rcode() == dns.rcode.REFUSED
    finally:
        loop_thread.run(p.server.close())


def test_nothing_distributed_yet_is_servfail(tmp_path: Path, loop_thread: LoopThread) -> None:
    p = start_primary(loop_thread, ZoneStore(tmp_path, "example."))
    try:
        assert query(p, "SOA").rcode() == dns.rcode.SERVFAIL
    finally:
        loop_thread.run(p.server.close())


def test_tsig_is_required_and_every_answer_signed(tsig_primary: Primary) -> None:
    key = TSIG.dns_key()
    assert query(tsig_primary, "SOA").rcode() == dns.rcode.REFUSED
    r = query(tsig_primary, "SOA", key=key)
    assert r.rcode() == dns.rcode.NOERROR and r.had_tsig  # dnspython checked the MAC
    records = transfer_records(axfr(tsig_primary, key))
    assert len(records) - 1 == len(zone_records(tsig_primary.store.zone_path(100)))


def test_a_transfer_in_many_messages_signs_each(tsig_primary: Primary) -> None:
    tsig_primary.server.limits = ServerLimits(max_message=2048)
    messages = axfr(tsig_primary, TSIG.dns_key())  # dnspython verifies the chain of MACs
    assert len(messages) > 5 and all(m.had_tsig for m in messages)


def test_wrong_tsig_is_notauth(tsig_primary: Primary) -> None:
    wrong = TsigKey(TSIG.name, "hmac-sha256", bytes(32)).dns_key()
    q = dns.message.make_query("example.", "SOA")
    q.use_tsig(wrong)
    with pytest.raises(dns.tsig.PeerBadSignature):
        dns.query.udp(q, tsig_primary.host, port=tsig_primary.port, timeout=5)
    unknown = TsigKey("other-key.", "hmac-sha256", bytes(range(32))).dns_key()
    q = dns.message.make_query("example.", "SOA")
    q.use_tsig(unknown)
    with pytest.raises(dns.tsig.PeerBadKey):
        dns.query.udp(q, tsig_primary.host, port=tsig_primary.port, timeout=5)


def test_a_stale_tsig_time_gets_a_signed_badtime(tsig_primary: Primary) -> None:
    """RFC 8945 5.2.3 and 5.3.2: the MAC was good, so the BADTIME answer is signed with
    the same key, over the request's MAC, with the request's Time Signed and the
    server's own time in Other Data."""
    import socket
    import struct
    import time

    import dns.rdtypes.ANY.TSIG

    key = TSIG.dns_key()
    q = dns.message.make_query("example.", "SOA")
    unsigned = q.to_wire()
    stale = int(time.time()) - 3600  # beyond the 300 s fudge
    template = dns.rdtypes.ANY.TSIG.TSIG(
        dns.rdataclass.ANY, dns.rdatatype.TSIG, key.algorithm, stale, 300, b"", q.id, 0, b""
    )
    rdata, _ = dns.tsig.sign(unsigned, key, template, stale)
    tsig = rdata.to_wire()
    assert tsig is not None
    arcount = int.from_bytes(unsigned[10:12], "big") + 1
    wire = (
        unsigned[:10]
        + arcount.to_bytes(2, "big")
        + unsigned[12:]
        + (key.name.to_wire() or b"")
        + struct.pack("!HHIH", dns.rdatatype.TSIG, dns.rdataclass.ANY, 0, len(tsig))
        + tsig
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(wire, (tsig_primary.host, tsig_primary.port))
        answer, _ = sock.recvfrom(65535)

    response = dns.message.from_wire(answer, keyring=False)
    assert response.rcode() == dns.rcode.NOTAUTH and response.id == q.id
    (got,) = response.tsig
    assert got.error == dns.rcode.BADTIME and got.time_signed == stale
    upper, lower = struct.unpack("!HI", got.other)
    assert abs((upper << 32 | lower) - time.time()) < 60  # the server's clock
    # The MAC: over the request MAC, the answer without its TSIG, and the TSIG variables.
    tsig_start = answer.rindex(key.name.to_wire() or b"")
    body = answer[:10] + (len(response.additional)).to_bytes(2, "big") + answer[12:tsig_start]
    ctx = dns.tsig._digest(body, key, got, None, rdata.mac)
    ctx.verify(got.mac)  # raises if the MAC is wrong


def test_dig_transfers_with_tsig(tsig_primary: Primary, zones: ZoneMaker) -> None:
    publish(tsig_primary.store, zones, 101, NEXT)
    tsig_primary.refresh()
    base = [
        "dig",
        "-y",
        f"hmac-sha256:{TSIG.name}:{TSIG.secret_b64}",
        f"@{tsig_primary.host}",
        "-p",
        str(tsig_primary.port),
        "example.",
    ]
    for qtype in ("AXFR", "IXFR=100"):
        out = subprocess.run([*base, qtype], capture_output=True, text=True, check=True).stdout
        assert "XFR size" in out and "failure" not in out, out[-2000:]
        assert "Transfer failed" not in out and "NOERROR 0" in out  # dig verified the TSIG
    bad = [
        "dig",
        "-y",
        f"hmac-sha256:{TSIG.name}:{TsigKey('k.', 'hmac-sha256', bytes(32)).secret_b64}",
        f"@{tsig_primary.host}",
        "-p",
        str(tsig_primary.port),
        "example.",
        "AXFR",
    ]
    out = subprocess.run(bad, capture_output=True, text=True).stdout
    assert "XFR size" not in out


def test_a_transfer_keeps_the_serial_it_started_on(primary: Primary, zones: ZoneMaker) -> None:
    q = dns.message.make_query("example.", "AXFR")
    started = primary.server.handle(q.to_wire(), "127.0.0.1", tcp=True)
    assert isinstance(started, Transfer)
    publish(primary.store, zones, 101, NEXT)
    primary.refresh()
    assert started.version.serial == 100 and primary.server.serial == 101


def test_a_damaged_difference_is_neither_loaded_nor_served(
    primary: Primary, zones: ZoneMaker
) -> None:
    """The store records each difference's digest as it writes it; the primary checks it
    before using the file: loading the new serial takes the (checked) zone file instead,
    and IXFR sends the whole zone instead (issue 13, attack 3)."""
    publish(primary.store, zones, 101, NEXT)
    diff = primary.store.diff_path(100, 101)
    assert diff.with_name(diff.name + ".sha256").exists()
    text = diff.read_text()
    diff.write_text(text.replace("fresh.example.", "fresX.example.", 1))
    assert diff.read_text() != text
    assert primary.refresh() and primary.server.serial == 101
    records = transfer_records(list(_xfr_ixfr(primary, 100)))
    # The whole zone in AXFR form: SOA, every record, SOA; the damaged name nowhere.
    assert sum(r.endswith(" SOA") for r in records) == 2
    assert not any("fresX" in r for r in records)
    assert any(r.startswith("fresh.example. ") for r in records)
