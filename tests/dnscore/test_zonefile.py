"""Zone files: what the fast parser accepts, what it refuses (file, line, reason), and
that it reads what dnspython reads."""

from __future__ import annotations

from pathlib import Path

import dns.name
import dns.zone
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tldsec.dnscore import names
from tldsec.dnscore.types import RRType
from tldsec.dnscore.zonefile import read_zone, read_zone_text, write_zone_atomic
from tldsec.errors import ZoneSyntaxError

SMALL = """\
$ORIGIN example.
$TTL 86400
@ IN SOA a.nic hostmaster.nic ( 2024010100 ; serial
        1800 900 1209600 3600 )
  NS a.nic            ; owner omitted: same as above
  86400 IN NS b.nic.example.
a.nic 3600 A 192.0.2.1
a.nic AAAA 2001:db8::1
foo IN 86400 NS ns1.foo
ns1.foo A 192.0.2.53
foo DS 12345 8 2 49FD46E6C4B45C55D4AC69CBD3CD34AC1AFE51DE ( 3AC2D9F6D8E8A0C04E2A85E1
   )
txt TXT "a ; not a comment" "b"
"""


def as_dnspython(text: str) -> set[tuple[str, int, int, str]]:
    z = dns.zone.from_text(text, "example.", relativize=False, check_origin=False)
    out = set()
    for owner, rdataset in z.iterate_rdatasets():
        for rd in rdataset:
            out.add(
                (
                    owner.to_text().lower(),
                    int(rdataset.rdtype),
                    rdataset.ttl,
                    rd.to_digestable(dns.name.root).hex(),
                )
            )
    return out


def as_ours(text: str) -> set[tuple[str, int, int, str]]:
    zone = read_zone_text(text, "example.")
    return {
        (names.to_text(r.owner), r.rtype, r.ttl, rd.hex()) for r in zone.rrsets() for rd in r.rdatas
    }


def test_reads_what_dnspython_reads() -> None:
    assert as_ours(SMALL) == as_dnspython(SMALL)


def test_parentheses_inside_quoted_strings_are_text_not_grouping() -> None:
    # RFC 1035 5.1: parentheses group only outside quotes. The signer's reader once
    # counted these and swallowed the next line into an open entry.
    text = (
        SMALL
        + 'paren TXT "a(b" ( "c)d(" ; a comment (\n'
        + '    "e" )\n'
        + 'txt2 TXT "(((" \n'
        + "after A 192.0.2.9\n"
    )
    assert as_ours(text) == as_dnspython(text)


label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?", fullmatch=True)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(label, st.sampled_from(["A", "AAAA", "NS", "TXT"]), st.integers(0, 255)),
        min_size=1,
        max_size=15,
    )
)
def test_generated_zones_parse_like_dnspython(rows: list[tuple[str, str, int]]) -> None:
    lines = ["example. 3600 IN SOA ns. h. 1 2 3 4 5", "example. 3600 IN NS ns.example."]
    for owner, rtype, n in rows:
        data = {
            "A": f"192.0.2.{n}",
            "AAAA": f"2001:db8::{n:x}",
            "NS": f"ns{n}.example.",
            "TXT": f'"t{n}"',
        }[rtype]
        lines.append(f"{owner}.example. 3600 IN {rtype} {data}")
    text = "\n".join(lines) + "\n"
    assert as_ours(text) == as_dnspython(text)


def test_rrset_rdatas_are_sorted_and_deduplicated() -> None:
    z = read_zone_text(
        "example. 60 IN NS b.example.\nexample. 60 IN NS a.example.\n"
        "example. 60 IN NS A.example.\n",
        "example.",
    )
    ns = z.get(z.origin, RRType.NS)
    assert ns is not None
    assert [names.to_text(r) for r in ns.rdatas] == ["a.example.", "b.example."]


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("example. 60 IN SOA a. b. 1 2 3 4\n", 1, "SOA needs"),
        ("example. 60 IN BOGUS x\n", 1, "unknown record type 'BOGUS'"),
        ("example. 60 IN NS a.example.\nexample. 1w2x IN NS b.\n", 2, "bad TTL"),
        ("other. 60 IN NS a.example.\n", 1, "outside the zone"),
        ("$INCLUDE /etc/passwd\n", 1, "$INCLUDE"),
        ("example. 60 CH TXT x\n", 1, "class CH is not IN"),
        ("example. IN NS a.example.\n", 1, "no TTL"),
        ("example. 60 IN A 300.1.2.3\n", 1, "bad A RDATA"),
        ("\n\nexample. 60 IN DS 1 8 2 zz\n", 3, "bad DS RDATA"),
        ("example. 60 IN NS a.example.\nexample. 70 IN NS b.example.\n", 2, "RFC 2181"),
        ("example. 60 IN SOA a. b. ( 1 2 3 4 5\n", 1, "unbalanced parenthesis"),
        ("a..example. 60 IN A 192.0.2.1\n", 1, "empty label"),
    ],
)
def test_errors_name_the_line_and_reason(text: str, line: int, words: str) -> None:
    with pytest.raises(ZoneSyntaxError) as err:
        read_zone_text(text, "example.", filename="t.zone")
    assert err.value.line == line
    assert words in err.value.reason
    assert str(err.value).startswith(f"t.zone:{line}: ")


def test_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ZoneSyntaxError, match="cannot read"):
        read_zone(tmp_path / "nope.zone", "example.")


def test_atomic_write_leaves_the_old_file_on_failure(tmp_path: Path) -> None:
    out = tmp_path / "out.zone"
    out.write_text("old\n")
    zone = read_zone_text("example. 60 IN NS a.example.\n", "example.")
    zone.nodes[zone.origin][0].rdatas.append(b"\xff")  # not a valid name: writing fails
    with pytest.raises(Exception):  # noqa: B017 - any failure must leave the file alone
        write_zone_atomic(zone, out)
    assert out.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.zone"]


def test_an_owner_with_a_space_octet_is_written_so_that_it_reads_back(tmp_path: Path) -> None:
    text = SMALL + "a\\032b 3600 A 192.0.2.7\n"
    zone = read_zone_text(text, "example.")
    owner = names.to_wire("a\\032b.example.")
    assert names.labels(owner)[0] == b"a b"
    path = tmp_path / "z"
    write_zone_atomic(zone, path)
    again = read_zone(path, "example.")
    assert again.get(owner, RRType.A) is not None
    assert set(again.nodes) == set(zone.nodes)


def test_written_zone_reads_back_identically(tmp_path: Path) -> None:
    zone = read_zone_text(SMALL, "example.")
    out = tmp_path / "out.zone"
    write_zone_atomic(zone, out)
    again = read_zone(out, "example.")
    assert {(r.owner, r.rtype, r.ttl, tuple(r.rdatas)) for r in zone.rrsets()} == {
        (r.owner, r.rtype, r.ttl, tuple(r.rdatas)) for r in again.rrsets()
    }
    assert out.read_text().splitlines()[0].split()[3] == "SOA"


def as_records(zone: object) -> set[tuple[bytes, int, int, tuple[bytes, ...]]]:
    from tldsec.dnscore.zone import Zone

    assert isinstance(zone, Zone)
    return {(r.owner, r.rtype, r.ttl, tuple(r.rdatas)) for r in zone.rrsets()}


odd_label = st.one_of(
    label,
    st.from_regex(r"[A-Z][a-zA-Z0-9]{0,5}", fullmatch=True),  # case folds to the same owner
    st.sampled_from(["*", "_dmarc", "a\\.b", "\\065bc", "x\\040y", "0"]),  # escapes: slow path
)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            odd_label,
            st.booleans(),  # a second label: "ns1.<label>", not the one-label fast path
            st.sampled_from(["A", "AAAA", "NS", "DS"]),
            st.integers(0, 255),
        ),
        min_size=1,
        max_size=25,
    )
)
def test_fast_reader_and_general_parser_agree(rows: list[tuple[str, bool, str, int]]) -> None:
    """Absolute one-record-per-line text (the owner fast path) and the same records in
    the general form (relative owners, omitted owners, $TTL, parentheses) read the same."""
    fast = ["example. 3600 IN SOA ns. h. 1 2 3 4 5", "example. 3600 IN NS ns.example."]
    general = ["$ORIGIN example.", "$TTL 3600", "@ IN SOA ( ns. h. 1 2 3 4 5 )", "  NS ns"]
    previous = None
    for owner, deeper, rtype, n in rows:
        data = {
            "A": f"192.0.2.{n}",
            "AAAA": f"2001:db8::{n:x}",
            "NS": f"ns{n}.example.",
            "DS": f"{n} 8 2 {n:02X}" + "AB" * 31,
        }[rtype]
        relative = f"ns1.{owner}" if deeper else owner
        fast.append(f"{relative}.example. 3600 IN {rtype} {data}")
        shown = "" if relative == previous else relative
        general.append(f"{shown} {rtype} {data}" if shown else f"   {rtype} {data}")
        previous = relative
    fast_zone = read_zone_text("\n".join(fast) + "\n", "example.")
    general_zone = read_zone_text("\n".join(general) + "\n", "example.")
    assert as_records(fast_zone) == as_records(general_zone)


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        ("example. 60 IN NS a.example.\nx.other. 60 IN A 192.0.2.1\n", 2, "outside the zone"),
        ("example. 60 IN NS a.example.\n" + "a" * 64 + ".example. 60 IN A 192.0.2.1\n", 2, "63"),
        (
            "example. 60 IN NS a.example.\na.example. 60 IN A 192.0.2.1\na.example. 60 IN A x\n",
            3,
            "bad A RDATA",
        ),
    ],
)
def test_owner_fast_path_errors_name_the_line(text: str, line: int, words: str) -> None:
    with pytest.raises(ZoneSyntaxError) as err:
        read_zone_text(text, "example.", filename="t.zone")
    assert err.value.line == line
    assert words in err.value.reason
