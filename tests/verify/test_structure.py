"""The verifier's own reading of zone structure (RFC 1034 4.2.1, RFC 4035 2.2, RFC 5155
7.1): apex and authoritative names, delegations, occluded names and glue, empty
non-terminals, NSEC3 owners; and the NSEC3 type bitmap each name must have."""

from __future__ import annotations

from tests.verify.conftest import Case, wire
from tldsec.dnscore import names
from tldsec.dnscore.types import RRType
from tldsec.verify.structure import analyse, expected_bitmap_types


def _names(owners: list[bytes]) -> set[str]:
    return {names.to_text(o) for o in owners}


def test_every_name_of_the_signed_zone_is_classified(case: Case) -> None:
    s = analyse(case.zone)
    assert _names(s.authoritative) == {
        "example.",
        "a.nic.example.",
        "b.nic.example.",
        "orphan.gone.example.",  # orphan glue is authoritative data (DPS 6.6)
    }
    assert _names(s.delegations) == {
        "secure.example.",
        "insecure.example.",
        "xn--bcher-kva.example.",
        "a.b.c.ent.example.",
        "glue-at-cut.example.",
    }
    assert _names(s.occluded) == {"ns1.secure.example.", "ns1.deep.secure.example."}
    assert _names(s.empty_non_terminals) == {
        "nic.example.",
        "gone.example.",
        "b.c.ent.example.",
        "c.ent.example.",
        "ent.example.",
    }
    assert len(s.nsec3_owners) == len(s.authoritative) + len(s.delegations) + len(
        s.empty_non_terminals
    )
    assert s.nsec3_with_data == []


def test_the_types_an_nsec3_bitmap_must_list(case: Case) -> None:
    nodes = case.zone.nodes
    assert expected_bitmap_types("delegation", nodes[wire("secure")]) == {
        RRType.NS,
        RRType.DS,
        RRType.RRSIG,
    }
    # Glue at a cut is not the parent's data (RFC 4035 2.3).
    assert expected_bitmap_types("delegation", nodes[wire("glue-at-cut")]) == {RRType.NS}
    assert expected_bitmap_types("authoritative", nodes[wire("example.")]) == {
        RRType.SOA,
        RRType.NS,
        RRType.DNSKEY,
        RRType.NSEC3PARAM,
        RRType.RRSIG,
    }
    assert expected_bitmap_types("ent", None) == frozenset()
