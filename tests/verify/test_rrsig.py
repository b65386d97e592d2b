"""The verifier's RFC 4034 arithmetic: signed data (3.1.8.1) accepted by dnspython's
validator, key tags (Appendix B) against the RFC's example, RSA keys from DNSKEY
(RFC 3110 2), serial-number time comparisons (3.1.5), and each RRSIG field check."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import dns.dnssec
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from tests.verify.conftest import NOW, Keys, wire
from tldsec.dnscore import names
from tldsec.dnscore.types import RRType
from tldsec.dnscore.zone import RRset
from tldsec.verify.keys import KeySet, key_tag, parse_dnskey, rsa_public_key
from tldsec.verify.rrsig import (
    RRSIG_FIXED,
    SignatureContext,
    check_rrsig,
    owner_labels,
    parse_rrsig,
    serial_lt,
    signed_data,
    signed_owner,
)

VECTORS = Path(__file__).parent.parent / "vectors"
T0 = int(NOW.timestamp())


def _sign(keys: Keys, rrset: RRset, labels: int | None = None, ttl: int | None = None) -> bytes:
    """An RRSIG over ``rrset`` whose signed data is built by the verifier's code."""
    zsk = keys.zone_key(keys.zsk, ksk=False)
    head = RRSIG_FIXED.pack(
        rrset.rtype,
        8,
        owner_labels(rrset.owner) if labels is None else labels,
        rrset.ttl if ttl is None else ttl,
        T0 + 86400,
        T0 - 3600,
        key_tag(zsk.dnskey_rdata),
    ) + wire("example.")
    return head + keys.store.sign(keys.zsk.key_id, signed_data(parse_rrsig(head), rrset))


def _dnspython(rrset: RRset, owner: str | None = None) -> dns.rrset.RRset:
    name = dns.name.from_text(owner or names.to_text(rrset.owner))
    out = dns.rrset.RRset(name, dns.rdataclass.IN, dns.rdatatype.RdataType.make(rrset.rtype))
    for rd in rrset.rdatas:
        out.add(dns.rdata.from_wire(dns.rdataclass.IN, out.rdtype, rd, 0, len(rd)), rrset.ttl)
    return out


def _keyset(keys: Keys) -> dict[dns.name.Name, dns.rrset.RRset]:
    zsk = keys.zone_key(keys.zsk, ksk=False).dnskey_rdata
    rr = dns.rrset.RRset(dns.name.from_text("example."), dns.rdataclass.IN, dns.rdatatype.DNSKEY)
    rr.add(dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.DNSKEY, zsk, 0, len(zsk)), 43200)
    return {dns.name.from_text("example."): rr}


def _rrsig_rrset(owner: str, ttl: int, sig: bytes) -> dns.rrset.RRset:
    rr = dns.rrset.RRset(dns.name.from_text(owner), dns.rdataclass.IN, dns.rdatatype.RRSIG)
    rr.add(dns.rdata.from_wire(dns.rdataclass.IN, dns.rdatatype.RRSIG, sig, 0, len(sig)), ttl)
    return rr


@pytest.mark.parametrize(
    ("owner", "rtype", "rdatas"),
    [
        # Several RRs given out of canonical order (RFC 4034 6.3).
        ("example.", RRType.NS, [wire("b.nic"), wire("a.nic"), wire("ns.hoster.net.")]),
        ("a.nic.example.", RRType.A, [bytes([192, 0, 2, 9]), bytes([192, 0, 2, 1])]),
        ("*.example.", RRType.A, [bytes([192, 0, 2, 7])]),  # a wildcard owner: labels 1
    ],
)
def test_signed_data_is_what_dnspython_validates(
    keys: Keys, owner: str, rtype: int, rdatas: list[bytes]
) -> None:
    rrset = RRset(names.to_wire(owner), rtype, 3600, rdatas)
    sig = _sign(keys, rrset)
    dns.dnssec.validate(_dnspython(rrset), _rrsig_rrset(owner, 3600, sig), _keyset(keys), now=T0)


def test_a_wildcard_expansion_is_signed_as_the_wildcard(keys: Keys) -> None:
    # RFC 4035 5.3.2: an RRSIG with fewer labels than the owner covers "*." + suffix.
    rrset = RRset(wire("a.b"), RRType.A, 3600, [bytes([192, 0, 2, 7])])
    assert signed_owner(rrset.owner, 1) == wire("*")
    sig = _sign(keys, rrset, labels=1)
    dns.dnssec.validate(
        _dnspython(rrset), _rrsig_rrset("a.b.example.", 3600, sig), _keyset(keys), now=T0
    )


def test_key_tag_and_rsa_key_of_the_rfc_4034_example() -> None:
    line = (VECTORS / "rfc4034-5.4-keytag-ds.txt").read_text().splitlines()[2]
    flags, proto, alg, key = line.split(None, 7)[4:]
    rd = dns.rdata.from_text("IN", "DNSKEY", f"{flags} {proto} {alg} {key}")
    wire_rd = rd.to_wire()
    assert wire_rd is not None
    assert key_tag(wire_rd) == 60485  # RFC 4034 5.4
    parsed = parse_dnskey(wire_rd)
    assert parsed.tag == 60485
    assert parsed.problem == "algorithm 5 is not one tldsec signs with (8, 10, 13)"


def test_rsa_public_keys_from_dnskey_fields(keys: Keys) -> None:
    field = keys.zsk.public_key
    assert rsa_public_key(field).key_size == 1024
    # RFC 3110 2: a zero length octet means a two-octet exponent length follows.
    exponent, modulus = 65537, rsa_public_key(field).public_numbers().n
    long_form = b"\x00\x00\x03" + exponent.to_bytes(3, "big") + modulus.to_bytes(128, "big")
    assert rsa_public_key(long_form).public_numbers().e == 65537
    with pytest.raises(ValueError):
        rsa_public_key(b"\x03\x01\x00")


def test_rrsig_times_compare_in_serial_arithmetic() -> None:
    assert serial_lt(1, 2)
    assert not serial_lt(2, 2)
    assert serial_lt(0xFFFFFFF0, 5)  # across the 2106 wrap
    assert not serial_lt(5, 0xFFFFFFF0)


def test_each_field_problem_of_an_rrsig_is_reported(keys: Keys) -> None:
    rrset = RRset(wire("a.nic"), RRType.A, 86400, [bytes([192, 0, 2, 1])])
    zsk = keys.zone_key(keys.zsk, ksk=False).dnskey_rdata
    ctx = SignatureContext(wire("example."), KeySet.from_rdatas([zsk]), T0, T0 + 3600)
    good = _sign(keys, rrset)
    assert check_rrsig(rrset, good, ctx) == []
    covered, alg, labels, ttl, exp, inc, tag = RRSIG_FIXED.unpack_from(good)
    rest = good[18:]

    def variant(**change: int) -> bytes:
        values = dict(covered=covered, alg=alg, labels=labels, ttl=ttl, exp=exp, inc=inc, tag=tag)
        values.update(change)
        return struct.pack("!HBBIIIH", *values.values()) + rest

    problems = check_rrsig(rrset, variant(labels=2, ttl=60, inc=T0 + 60), ctx)
    assert problems[:3] == [
        "labels field 2, the owner has 3 (RFC 4034 3.1.3)",
        "original TTL 60 differs from the RRset TTL 86400 (RFC 4034 3.1.4)",
        f"not yet valid: inception {_iso(T0 + 60)} is after now (RFC 4035 5.3.1, DPS 6.5)",
    ]
    assert problems[-1].startswith("signature does not verify")
    other_signer = good[:18] + wire("other.") + good[18 + len(wire("example.")) :]
    assert "signer name is not the zone apex" in check_rrsig(rrset, other_signer, ctx)[0]
    assert check_rrsig(rrset, b"\x00\x01", ctx) == ["malformed RRSIG: RRSIG RDATA too short"]


def _iso(seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))
