"""The one zone-file reader (decision 73): its problems go to one callback, strict for
the signer (``zonefile.read_zone_text``), collected for the verifier; and the cases
where the two readers it replaced disagreed."""

from __future__ import annotations

import pytest

from tldsec.dnscore import names, rdata
from tldsec.dnscore.types import RRType
from tldsec.dnscore.zonefile import read_zone_text
from tldsec.dnscore.zoneread import Kind, Problem, read_zone_string
from tldsec.errors import ZoneSyntaxError

NS = "example. 60 IN NS a.example.\n"
SIG = "example. {ttl} IN RRSIG {covered} 8 1 60 20261201000000 20261101000000 1 example. AAAA\n"


def test_problems_are_collected_or_handed_to_the_callback() -> None:
    text = (
        NS
        + "example. 61 IN NS b.example.\n"
        + SIG.format(ttl=600, covered="NS")
        + SIG.format(ttl=60, covered="A")
    )
    read = read_zone_string(text, "example.")
    apex = names.to_wire("example.")
    assert read.problems == [
        Problem(
            Kind.RRSET_TTL,
            2,
            apex,
            RRType.NS,
            "TTL 61 differs from 60 earlier in the same RRset (RFC 2181 5.2)",
        ),
        Problem(
            Kind.RRSIG_TTL,
            3,
            apex,
            RRType.NS,
            "RRSIG TTL 600 differs from the RRset TTL 60 "
            "(RFC 4034 3; DPS 6.7: an RRSIG inherits the TTL of its RRset)",
        ),
        Problem(
            Kind.RRSIG_ORPHAN, 4, apex, RRType.RRSIG, "RRSIG covers A, which is not at this name"
        ),
    ]
    seen: list[Problem] = []
    again = read_zone_string(text, "example.", on_problem=seen.append)
    assert seen == read.problems and again.problems == []
    ns = read.zone.get(apex, RRType.NS)
    assert ns is not None and ns.ttl == 60 and len(ns.sigs) == 1  # the first TTL kept


def test_the_signer_reads_strictly_but_takes_an_rrsig_ttl() -> None:
    zone = read_zone_text(NS + SIG.format(ttl=600, covered="NS"), "example.")
    ns = zone.get(zone.origin, RRType.NS)
    assert ns is not None and len(ns.sigs) == 1
    with pytest.raises(ZoneSyntaxError) as err:
        read_zone_text(NS + SIG.format(ttl=60, covered="A"), "example.", "t.zone")
    assert str(err.value) == ("t.zone:2: example. RRSIG: RRSIG covers A, which is not at this name")


def test_quoted_text_keeps_its_blanks_and_escaped_owners_are_unescaped() -> None:
    # The signer's old reader joined a quoted string's fields with one blank; the
    # verifier's took "\065bc" for a plain label. Both read it as dnspython does.
    text = NS + 'www.example. 60 IN TXT "hello  world"\n\\065bc.example. 60 IN A 192.0.2.1\n'
    zone = read_zone_text(text, "example.")
    txt = zone.get(names.to_wire("www.example."), RRType.TXT)
    assert txt is not None and rdata.to_text(RRType.TXT, txt.rdatas[0]) == '"hello  world"'
    assert zone.get(names.to_wire("abc.example."), RRType.A) is not None
    assert read_zone_string(text, "example.").zone.nodes.keys() == zone.nodes.keys()


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (NS + "example. 60 IN DNSKEY 256 3 8 AwEA!AAB\n", "Only base64 data"),
        (NS + SIG.format(ttl=60, covered="BOGUS"), "unknown record type 'BOGUS'"),
        ("$INCLUDE other.zone\n", "$INCLUDE directive is not accepted"),
    ],
)
def test_refused_lines(text: str, words: str) -> None:
    with pytest.raises(ZoneSyntaxError) as err:
        read_zone_string(text, "example.", "t.zone")
    assert words in err.value.reason


def test_a_repeated_rrsig_is_kept_once() -> None:
    # RFC 2181 5: duplicate RRs in an RRset are dropped, its RRSIGs alike.
    sig = SIG.format(ttl=60, covered="NS")
    zone = read_zone_text(NS + sig + sig, "example.")
    ns = zone.get(zone.origin, RRType.NS)
    assert ns is not None and len(ns.sigs) == 1
