"""The verifier's own zone reader: the master-file format (RFC 1035 5), canonical wire
form (RFC 4034 6.2), what a Zone cannot hold reported as findings, and agreement with
the signer's reader (dnscore) on a real signed zone."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.verify.conftest import Case, wire
from tldsec.dnscore import rdata
from tldsec.dnscore.types import RRType
from tldsec.dnscore.zonefile import read_zone_text, write_zone_atomic
from tldsec.errors import ZoneSyntaxError
from tldsec.verify.zoneread import read_soa_serial, read_zone_file, read_zone_string


def test_it_reads_what_dnscore_reads_from_a_signed_zone(case: Case) -> None:
    write_zone_atomic(case.zone, case.signed)
    ours = read_zone_file(case.signed, "example.")
    theirs = read_zone_text(case.signed.read_text(), "example.")
    assert ours.findings == []

    def view(zone: object) -> dict[tuple[bytes, int], tuple[int, list[bytes], list[bytes]]]:
        return {
            (r.owner, r.rtype): (r.ttl, r.rdatas, sorted(r.sigs))
            for r in zone.rrsets()  # type: ignore[attr-defined]
        }

    assert view(ours.zone) == view(theirs)
    assert ours.records == sum(len(r.rdatas) + len(r.sigs) for r in theirs.rrsets())


def test_presentation_forms() -> None:
    text = """\
; a comment line
$ORIGIN Example.
$TTL 1h
@   IN  SOA  a.nic hostmaster.nic ( 7 ; serial
             1800 900 1209600 3600 )
    IN  NS   a.nic              ; owner omitted: the apex again
A.NIC 300 A  192.0.2.1
a.nic IN 300 AAAA 2001:db8::1
$ORIGIN sub.example.
www 60 TXT "hello  world" "(not a parenthesis)"
@ 60 NS ns.Hoster.NET.
"""
    zone = read_zone_string(text, "example").zone
    assert zone.origin == wire("example.")
    soa = zone.get(wire("example."), RRType.SOA)
    assert soa is not None and soa.ttl == 3600 and soa.rdatas[0][-20:-16] == (7).to_bytes(4, "big")
    assert zone.get(wire("example."), RRType.NS) is not None
    a = zone.get(wire("a.nic"), RRType.A)
    assert a is not None and a.ttl == 300
    txt = zone.get(wire("www.sub"), RRType.TXT)
    assert txt is not None
    assert rdata.to_text(RRType.TXT, txt.rdatas[0]) == '"hello  world" "(not a parenthesis)"'
    ns = zone.get(wire("sub"), RRType.NS)
    assert ns is not None and ns.rdatas == [wire("ns.hoster.net.")]  # lowercased (RFC 4034 6.2)


def test_an_rrsig_with_another_ttl_and_an_orphan_rrsig_are_findings(case: Case) -> None:
    write_zone_atomic(case.zone, case.signed)
    lines = case.signed.read_text().splitlines(keepends=True)
    out = []
    for line in lines:
        if line.startswith("a.nic.example.\t86400\tIN\tRRSIG\tA "):
            line = line.replace("\t86400\t", "\t600\t", 1)
        if line.startswith("orphan.gone.example.\t86400\tIN\tA\t"):
            continue  # the record goes, its RRSIG stays
        out.append(line)
    case.signed.write_text("".join(out))
    result = read_zone_file(case.signed, "example.")
    reasons = sorted((f.owner, f.rtype, f.reason.split(": ", 1)[1]) for f in result.findings)
    assert reasons == [
        (
            "a.nic.example.",
            "A",
            "RRSIG TTL 600 differs from the RRset TTL 86400 "
            "(RFC 4034 3; DPS 6.7: an RRSIG inherits the TTL of its RRset)",
        ),
        ("orphan.gone.example.", "RRSIG", "RRSIG covers A, which is not at this name"),
    ]


def test_two_ttls_in_one_rrset_is_a_finding() -> None:
    text = "example. 60 IN NS a.example.\nexample. 61 IN NS b.example.\n"
    result = read_zone_string(text, "example.")
    assert [f.reason for f in result.findings] == [
        "line 2: TTL 61 differs from 60 earlier in the same RRset (RFC 2181 5.2)"
    ]


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("example. 60 IN A 192.0.2.300\n", 1, "bad A RDATA"),
        ("example. 60 IN NS a.example.\nexample. 60 IN BOGUS x\n", 2, "unknown record type"),
        ("example. 60 CH A 192.0.2.1\n", 1, "not IN"),
        ("other. 60 IN A 192.0.2.1\n", 1, "outside the zone"),
        ("example. IN A 192.0.2.1\n", 1, "no TTL"),
        ("example. 60 IN SOA a b ( 1 2 3\n", 1, "unbalanced parenthesis"),
        ("$INCLUDE other.zone\n", 1, "directive"),
        ("example. 60 IN RRSIG A 8 1 60 2026120100000X 1 1 example. AAAA\n", 1, "bad RRSIG"),
    ],
)
def test_syntax_errors_name_the_line(text: str, line: int, reason: str) -> None:
    with pytest.raises(ZoneSyntaxError) as info:
        read_zone_string(text, "example.", "t.zone")
    assert info.value.line == line
    assert reason in info.value.reason
    assert str(info.value).startswith(f"t.zone:{line}: ")


def test_rrsig_times_in_both_forms_and_past_2106() -> None:
    text = (
        "example. 60 IN NS a.example.\n"
        "example. 60 IN RRSIG NS 8 1 60 20261201000000 1764547200 1 example. AAAA\n"
    )
    sig = read_zone_string(text, "example.").zone.get(wire("example."), RRType.NS).sigs[0]  # type: ignore[union-attr]
    assert int.from_bytes(sig[8:12], "big") == 1796083200  # 2026-12-01T00:00:00Z
    assert int.from_bytes(sig[12:16], "big") == 1764547200
    late = text.replace("20261201000000", "21070101000000")
    sig = read_zone_string(late, "example.").zone.get(wire("example."), RRType.NS).sigs[0]  # type: ignore[union-attr]
    # RFC 4034 3.1.5: serial number arithmetic, modulo 2**32.
    assert int.from_bytes(sig[8:12], "big") == (4323283200 & 0xFFFFFFFF)


def test_the_previous_zone_is_read_only_as_far_as_its_soa(tmp_path: Path) -> None:
    path = tmp_path / "prev.zone"
    path.write_text(
        "; header\n$TTL 60\nexample. IN SOA a.example. b.example. (\n 42 1 2 3 4 )\n"
        "this line would not parse\n"
    )
    assert read_soa_serial(path, "example.") == 42
    path.write_text("example. 60 IN NS a.example.\n")
    with pytest.raises(ZoneSyntaxError, match="no SOA"):
        read_soa_serial(path, "example.")
