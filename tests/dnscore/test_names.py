"""Names: wire form, canonical order (RFC 4034 6.1) and presentation, against dnspython."""

from __future__ import annotations

import dns.name
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tldsec.dnscore import names
from tldsec.dnscore.rdatatext import RdataText
from tldsec.dnscore.types import RRType
from tldsec.errors import BadName, BadRdata, TldsecError

# Labels with any octet, upper case included: the ordering must lowercase ASCII only.
label = st.binary(min_size=1, max_size=12)
plain_label = st.from_regex(r"[A-Za-z0-9-]{1,20}", fullmatch=True)
name = st.lists(label, min_size=0, max_size=4).map(
    lambda ls: dns.name.Name([*ls, b""]).canonicalize()
)


@given(st.lists(name, min_size=2, max_size=30))
def test_canonical_key_orders_like_rfc4034_6_1(ns: list[dns.name.Name]) -> None:
    wires = [n.to_wire() for n in ns]
    ours = sorted(wires, key=names.canonical_key)
    theirs = [n.to_wire() for n in sorted(ns)]  # dnspython compares canonically
    assert ours == theirs


@given(name)
def test_presentation_round_trips_through_dnspython(n: dns.name.Name) -> None:
    wire = n.to_wire()
    assert wire is not None
    text = names.to_text(wire)
    assert dns.name.from_text(text) == n
    assert names.to_wire(text) == wire


@given(name)
def test_presentation_has_no_white_space(n: dns.name.Name) -> None:
    """A zone file's fields are split at white space (RFC 1035 5.1): a space octet in a
    label is written \\032, as dnspython writes it, never as a backslash and a space."""
    wire = n.to_wire()
    assert wire is not None
    text = names.to_text(wire)
    assert not any(c.isspace() for c in text)
    assert names.text_under(names.to_wire("example."))(wire) == text


@given(st.lists(plain_label, min_size=1, max_size=4))
def test_plain_names_take_the_fast_path_and_agree(ls: list[str]) -> None:
    text = ".".join(ls) + ".example."
    assert names.to_wire(text) == dns.name.from_text(text).canonicalize().to_wire()


def test_relative_names_and_the_origin() -> None:
    origin = names.to_wire("example.")
    assert names.to_wire("@", origin) == origin
    assert names.to_wire("ns1.foo", origin) == names.to_wire("ns1.foo.example.")
    assert names.to_wire("NS1.Foo.EXAMPLE.") == names.to_wire("ns1.foo.example.")


def test_idn_labels_are_plain_ascii_punycode() -> None:
    wire = names.to_wire("xn--bcher-kva.example.")
    assert names.to_text(wire) == "xn--bcher-kva.example."


def test_escapes_take_the_slow_path() -> None:
    wire = names.to_wire(r"a\.b.example.")
    assert names.labels(wire) == [b"a.b", b"example"]
    assert names.to_text(wire) == r"a\.b.example."
    assert names.to_wire(r"\065.example.") == names.to_wire("a.example.")


@pytest.mark.parametrize(
    ("text", "words"),
    [("a..example.", "empty label"), ("x" * 64 + ".example.", "63"), (("a" * 60 + ".") * 5, "255")],
)
def test_bad_names_are_refused_with_the_reason(text: str, words: str) -> None:
    with pytest.raises(BadName, match=words):
        names.to_wire(text)


def test_label_count_ignores_a_leading_wildcard() -> None:
    # RFC 4034 3.1.3
    assert names.label_count(names.to_wire("*.w.example.")) == 2
    assert names.label_count(names.to_wire("x.w.example.")) == 3
    assert names.label_count(names.ROOT) == 0


def test_is_subdomain_respects_label_boundaries() -> None:
    example = names.to_wire("example.")
    assert names.is_subdomain(names.to_wire("a.example."), example)
    assert names.is_subdomain(example, example)
    assert not names.is_subdomain(names.to_wire("notexample."), example)


origin = st.sampled_from(["example.", "co.example.", "."]).map(names.to_wire)


@given(origin, st.lists(st.lists(label, min_size=0, max_size=3), min_size=1, max_size=30))
def test_key_and_text_under_an_origin_agree_with_the_general_ones(
    apex: bytes, relatives: list[list[bytes]]
) -> None:
    """The one-label fast paths return exactly canonical_key / to_text, for names at,
    one label under and deeper under the origin (any octets, "*" and escapes included)."""
    key, text = names.canonical_key_under(apex), names.text_under(apex)
    wires = [apex]
    for rel in relatives:
        wire = b"".join(bytes((len(x),)) + x.lower() for x in rel) + apex
        if len(wire) <= 255:
            wires.append(wire)
    wires += [b"\x01*" + apex, b"\x01\x00" + apex, b"\x02\x01a" + apex]
    for wire in wires:
        assert key(wire) == names.canonical_key(wire)
        assert text(wire) == names.to_text(wire)
    assert sorted(wires, key=key) == sorted(wires, key=names.canonical_key)


@given(plain_label, origin)
def test_one_label_wire_is_to_wire(lbl: str, apex: bytes) -> None:
    assert names.one_label_wire(lbl, apex) == names.to_wire(lbl + ".", apex)[:-1] + apex


def test_a_bad_name_or_rdata_is_a_tldsec_error_and_still_a_value_error() -> None:
    # STYLE 6: one error root; callers that catch ValueError keep catching it.
    with pytest.raises(TldsecError) as caught:
        names.to_wire("a..example.")
    assert isinstance(caught.value, ValueError)
    with pytest.raises(TldsecError) as caught:
        RdataText().rdata_from_text(RRType.A, "not-an-address")
    assert isinstance(caught.value, BadRdata) and isinstance(caught.value, ValueError)
