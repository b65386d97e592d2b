"""Property tests: for random TLD-shaped zones (delegations with and without DS, in- and
out-of-bailiwick glue, orphan glue, empty non-terminals, IDN labels), the signer signs
exactly the authoritative data, chains exactly the right names, and every RRSIG validates
with dnspython."""

from __future__ import annotations

import dns.dnssec
import dns.name
import dns.rrset
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.signer.conftest import NOW, Keys
from tldsec.dnscore import names, nsec3, rdata
from tldsec.dnscore.types import RRType
from tldsec.dnscore.zone import RRset
from tldsec.dnscore.zonefile import read_zone_text
from tldsec.signer import sign_zone

KEYS = Keys()
label = st.one_of(
    st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True),
    st.from_regex(r"xn--[a-z0-9]{2,8}", fullmatch=True),
)


@st.composite
def zones(draw: st.DrawFn) -> tuple[str, dict[str, set[str]], set[tuple[str, str]]]:
    """(zone text, expected NSEC3 names -> types, expected signed (owner, type))."""
    lines = [
        "example. 86400 IN SOA a.nic.example. h.example. 1 1800 900 1209600 3600",
        "example. 86400 IN NS a.nic.example.",
        "a.nic.example. 86400 IN A 192.0.2.1",
    ]
    chained = {
        "example.": {"SOA", "NS", "DNSKEY", "NSEC3PARAM", "RRSIG"},
        "a.nic.example.": {"A", "RRSIG"},
        "nic.example.": set(),
    }
    signed = {
        ("example.", "SOA"),
        ("example.", "NS"),
        ("example.", "DNSKEY"),
        ("example.", "NSEC3PARAM"),
        ("a.nic.example.", "A"),
    }
    used = {"nic"}
    for parts in draw(st.lists(st.tuples(label, st.lists(label, max_size=2)), max_size=12)):
        head, below = parts
        owner_labels = [*below, head]
        if owner_labels[-1] in used:
            continue
        used.add(owner_labels[-1])
        owner = ".".join(owner_labels) + ".example."
        kind = draw(st.sampled_from(["insecure", "secure", "glue", "orphan"]))
        # Every ancestor between the owner and the apex is an empty non-terminal.
        for i in range(1, len(owner_labels)):
            chained.setdefault(".".join(owner_labels[i:]) + ".example.", set())
        if kind == "orphan":
            lines.append(f"{owner} 86400 IN A 192.0.2.9")
            chained[owner] = {"A", "RRSIG"}
            signed.add((owner, "A"))
            continue
        lines.append(f"{owner} 86400 IN NS ns.hoster.net.")
        chained[owner] = {"NS"}
        if kind == "secure":
            lines.append(f"{owner} 86400 IN DS 1 13 2 {'AB' * 32}")
            chained[owner] = {"NS", "DS", "RRSIG"}
            signed.add((owner, "DS"))
        if kind == "glue":
            lines.append(f"{owner} 86400 IN NS ns1.{owner}")
            lines.append(f"ns1.{owner} 86400 IN A 192.0.2.53")  # glue: not chained
            lines.append(f"x.ns1.{owner} 86400 IN AAAA 2001:db8::1")  # occluded
    return "\n".join(lines) + "\n", chained, signed


def dnspython_rrset(r: RRset, sigs: bool = False) -> dns.rrset.RRset:
    rtype = RRType.RRSIG if sigs else r.rtype
    return dns.rrset.from_text_list(
        names.to_text(r.owner),
        r.ttl,
        "IN",
        dns.rdatatype.RdataType.make(rtype).name,
        [rdata.to_text(rtype, d) for d in (r.sigs if sigs else r.rdatas)],
    )


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(zones())
def test_signer_covers_exactly_the_authoritative_data(
    case: tuple[str, dict[str, set[str]], set[tuple[str, str]]],
) -> None:
    text, chained, signed = case
    zone = sign_zone(read_zone_text(text, "example."), KEYS.config, KEYS.store, NOW).zone
    got_signed = {
        (names.to_text(r.owner), dns.rdatatype.to_text(r.rtype))  # type: ignore[arg-type]
        for r in zone.rrsets()
        if r.sigs and r.rtype != RRType.NSEC3
    }
    assert got_signed == signed
    by_hash = {rdata.base32hex(nsec3.nsec3_hash(names.to_wire(n), b"", 0)): n for n in chained}
    chain = {names.labels(r.owner)[0].decode(): r for r in zone.rrsets() if r.rtype == RRType.NSEC3}
    assert set(chain) == set(by_hash)
    for hashed, r in chain.items():
        types = set(rdata.nsec3_to_text(r.rdatas[0]).split()[5:])
        assert types == chained[by_hash[hashed]], by_hash[hashed]
    dnskey = zone.get(zone.origin, RRType.DNSKEY)
    assert dnskey is not None
    keyset = {dns.name.from_text("example."): dnspython_rrset(dnskey)}
    for r in zone.rrsets():
        if r.sigs:
            dns.dnssec.validate(
                dnspython_rrset(r), dnspython_rrset(r, sigs=True), keyset, now=NOW.timestamp()
            )
