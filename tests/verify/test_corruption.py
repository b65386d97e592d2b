"""The corruption suite (DPS 6.6): a valid signed zone passes every check; each fault
injected into it makes the verifier fail, and the report names the fault: the check,
the owner and type, and the reason."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from tests.verify.conftest import NOW, SERIAL, UNSIGNED, Case, Mutation, wire
from tests.verify.dps_faults import DPS_FAULTS
from tldsec.dnscore import nsec3
from tldsec.dnscore.types import RRType
from tldsec.dnscore.zone import RRset
from tldsec.verify.report import Status


def test_the_valid_zone_passes_every_built_in_check(case: Case) -> None:
    report = case.verify()
    assert report.passed, report.summary()
    statuses = {c.name: c.status for c in report.checks}
    assert statuses == {
        "zone-file": Status.PASSED,
        "chain-of-trust": Status.PASSED,
        "dnskey": Status.PASSED,
        "signatures": Status.PASSED,
        "coverage": Status.PASSED,
        "nsec3": Status.PASSED,
        "ttl": Status.PASSED,
        "content": Status.PASSED,
        "serial": Status.SKIPPED,
        "second-implementation": Status.PASSED,
    }


# --- the faults ----------------------------------------------------------------------


def flip_signature_byte(c: Case) -> None:
    r = c.rrset("secure", RRType.DS)
    sig = bytearray(r.sigs[0])
    sig[-10] ^= 0x01
    r.sigs = [bytes(sig)]


def expired_rrsig(c: Case) -> None:
    # Signed ten days ago with 6-8 days of validity: crypto fine, time over.
    old = c.keys.sign(now=NOW - timedelta(days=10))
    c.rrset("a.nic", RRType.A).sigs = list(old.get(wire("a.nic"), RRType.A).sigs)  # type: ignore[union-attr]


def rrsig_not_yet_valid(c: Case) -> None:
    future = c.keys.sign(now=NOW + timedelta(days=2))
    c.rrset("a.nic", RRType.AAAA).sigs = list(
        future.get(wire("a.nic"), RRType.AAAA).sigs  # type: ignore[union-attr]
    )


def rrsig_expires_before_horizon(c: Case) -> None:
    # Valid now, but gone within the next cycle plus the 48 h safety margin.
    old = c.keys.sign(now=NOW - timedelta(days=5, hours=12))
    c.rrset("b.nic", RRType.A).sigs = list(old.get(wire("b.nic"), RRType.A).sigs)  # type: ignore[union-attr]


def missing_rrsig(c: Case) -> None:
    c.rrset("orphan.gone", RRType.A).sigs = []


def rrsig_by_unknown_key(c: Case) -> None:
    stranger = c.keys.store.generate_key(
        label="stranger", algorithm=c.keys.zsk.algorithm, bits=1024
    )
    config = c.keys.config
    keys = (config.keys[0], c.keys.zone_key(stranger, ksk=False))
    other = c.keys.sign(config=replace(config, keys=keys))
    c.rrset("secure", RRType.DS).sigs = list(other.get(wire("secure"), RRType.DS).sigs)  # type: ignore[union-attr]
    c.keys.store.delete_key(stranger.key_id)


def dnskey_not_signed_by_ksk(c: Case) -> None:
    # A signer bug: the ZSK signs the DNSKEY RRset and the KSK does not.
    k = c.keys
    keys = (
        k.zone_key(k.ksk, ksk=True, signs=False),
        replace(k.zone_key(k.zsk, ksk=False), sign_dnskey=True),
    )
    other = k.sign(config=replace(k.config, keys=keys))
    c.rrset("example.", RRType.DNSKEY).sigs = list(
        other.get(wire("example."), RRType.DNSKEY).sigs  # type: ignore[union-attr]
    )


def anchor_matches_no_ksk(c: Case) -> None:
    text = c.anchor.read_text()
    digest = text.split()[-1]
    c.anchor.write_text(text.replace(digest, digest[::-1]))


def _nsec3_of(c: Case, name: str) -> RRset:
    owner = nsec3.hashed_owner(nsec3.nsec3_hash(wire(name), b"", 0), wire("example."))
    r = c.zone.get(owner, RRType.NSEC3)
    assert r is not None
    return r


def _edit_nsec3(c: Case, name: str, edit: object) -> None:
    r = _nsec3_of(c, name)
    assert callable(edit)
    r.rdatas = [edit(bytearray(r.rdatas[0]))]
    c.keys.resign(c.zone, r)


def missing_nsec3(c: Case) -> None:
    r = _nsec3_of(c, "insecure")
    del c.zone.nodes[r.owner]


def extra_nsec3(c: Case) -> None:
    r = _nsec3_of(c, "insecure")
    owner = b"\x200123456789abcdefghijklmnopqrstuv" + wire("example.")
    extra = RRset(owner, RRType.NSEC3, r.ttl, list(r.rdatas))
    c.zone.add(extra)
    c.keys.resign(c.zone, extra)


def broken_chain(c: Case) -> None:
    def point_to_self(rd: bytearray) -> bytes:
        # Next hashed owner (octets 6..26 with an empty salt) := all zeros.
        rd[6:26] = bytes(20)
        return bytes(rd)

    _edit_nsec3(c, "secure", point_to_self)


def wrong_type_bitmap(c: Case) -> None:
    r = _nsec3_of(c, "insecure")
    head = r.rdatas[0][:26]
    from tldsec.dnscore.rdata import type_bitmap

    r.rdatas = [head + type_bitmap({RRType.NS, RRType.A})]  # glue's A is not the zone's
    c.keys.resign(c.zone, r)


def opt_out_set(c: Case) -> None:
    def opt_out(rd: bytearray) -> bytes:
        rd[1] |= 0x01
        return bytes(rd)

    _edit_nsec3(c, "xn--bcher-kva", opt_out)


def wrong_nsec3param(c: Case) -> None:
    r = c.rrset("example.", RRType.NSEC3PARAM)
    r.rdatas = [nsec3.nsec3param_rdata(b"\xab\xcd", 5)]
    c.keys.resign(c.zone, r)


def injected_record(c: Case) -> None:
    # An extra name server at a delegation: unsigned data, so only the content shows it.
    c.rrset("insecure", RRType.NS).rdatas.append(wire("ns.evil.net."))
    c.rrset("insecure", RRType.NS).rdatas.sort()


def dropped_record(c: Case) -> None:
    r = c.rrset("secure", RRType.NS)
    r.rdatas = r.rdatas[:1]


def changed_ttl(c: Case) -> None:
    c.rrset("xn--bcher-kva", RRType.NS).ttl = 3600


def signed_glue(c: Case) -> None:
    c.keys.resign(c.zone, c.rrset("ns1.secure", RRType.A))


def signed_delegation_ns(c: Case) -> None:
    c.keys.resign(c.zone, c.rrset("insecure", RRType.NS))


def serial_went_backwards(c: Case) -> None:
    previous = c.dir / "previous.signed"
    previous.write_text(UNSIGNED.replace(str(SERIAL), str(SERIAL + 1)))
    c.previous = previous


def serial_unchanged(c: Case) -> None:
    previous = c.dir / "previous.signed"
    previous.write_text(UNSIGNED)
    c.previous = previous


def rrsig_wrong_original_ttl(c: Case) -> None:
    r = c.rrset("a.nic", RRType.A)
    r.ttl = 86401  # the RRSIG still says 86400
    c.unsigned.write_text(UNSIGNED.replace("a.nic A 192.0.2.1", "a.nic 86401 A 192.0.2.1"))


def nsec3_for_glue(c: Case) -> None:
    r = _nsec3_of(c, "insecure")
    owner = nsec3.hashed_owner(nsec3.nsec3_hash(wire("ns1.secure"), b"", 0), wire("example."))
    extra = RRset(owner, RRType.NSEC3, r.ttl, list(r.rdatas))
    c.zone.add(extra)
    c.keys.resign(c.zone, extra)


FAULTS: list[tuple[str, Mutation, str, str, str]] = [
    # (fault, mutation, check that fails, owner, fragment of the reason)
    (
        "flipped signature byte",
        flip_signature_byte,
        "signatures",
        "secure.example.",
        "does not verify",
    ),
    ("expired RRSIG", expired_rrsig, "signatures", "a.nic.example.", "expired at"),
    ("RRSIG not yet valid", rrsig_not_yet_valid, "signatures", "a.nic.example.", "not yet valid"),
    (
        "RRSIG expires before the horizon",
        rrsig_expires_before_horizon,
        "signatures",
        "b.nic.example.",
        "before the horizon",
    ),
    ("missing RRSIG", missing_rrsig, "coverage", "orphan.gone.example.", "not signed"),
    (
        "RRSIG by an unknown key",
        rrsig_by_unknown_key,
        "signatures",
        "secure.example.",
        "not in the apex DNSKEY RRset",
    ),
    (
        "DNSKEY RRset not signed by the KSK",
        dnskey_not_signed_by_ksk,
        "coverage",
        "example.",
        "not signed by a KSK",
    ),
    (
        "trust anchor matches no KSK",
        anchor_matches_no_ksk,
        "chain-of-trust",
        "example.",
        "matches no key",
    ),
    ("missing NSEC3", missing_nsec3, "nsec3", "insecure.example.", "no NSEC3 for this name"),
    (
        "extra NSEC3",
        extra_nsec3,
        "nsec3",
        "0123456789abcdefghijklmnopqrstuv.example.",
        "matches no name",
    ),
    ("NSEC3 chain broken", broken_chain, "nsec3", "", "chain is broken or out of order"),
    (
        "wrong type bitmap",
        wrong_type_bitmap,
        "nsec3",
        "",
        "type bitmap for insecure.example. lists A NS",
    ),
    ("opt-out flag set", opt_out_set, "nsec3", "", "opt-out"),
    ("wrong NSEC3PARAM", wrong_nsec3param, "nsec3", "example.", "the policy has 0"),
    (
        "injected record",
        injected_record,
        "content",
        "insecure.example.",
        "added 1 record(s): ns.evil.net.",
    ),
    ("dropped record", dropped_record, "content", "secure.example.", "lost 1 record(s)"),
    ("changed TTL", changed_ttl, "ttl", "xn--bcher-kva.example.", "TTL 3600"),
    ("signed glue", signed_glue, "coverage", "ns1.secure.example.", "glue or occluded data"),
    (
        "signed delegation NS",
        signed_delegation_ns,
        "coverage",
        "insecure.example.",
        "delegation NS is signed",
    ),
    ("serial went backwards", serial_went_backwards, "serial", "example.", "is not greater than"),
    ("serial unchanged", serial_unchanged, "serial", "example.", "is the same as"),
    (
        "RRSIG original TTL differs",
        rrsig_wrong_original_ttl,
        "signatures",
        "a.nic.example.",
        "original TTL 86400",
    ),
    ("NSEC3 for a glue name", nsec3_for_glue, "nsec3", "", "glue or occluded"),
    # The DPS numbers (6.1-6.7), each in a zone that is otherwise valid DNSSEC.
    *DPS_FAULTS,
]


@pytest.mark.parametrize(
    ("mutate", "check", "owner", "reason"),
    [pytest.param(m, ch, o, r, id=name) for name, m, ch, o, r in FAULTS],
)
def test_each_fault_fails_the_zone_and_is_named(
    case: Case, mutate: Mutation, check: str, owner: str, reason: str
) -> None:
    mutate(case)
    report = case.verify()
    assert not report.passed
    result = report.check(check)
    assert result.status is Status.FAILED, report.summary()
    assert any(reason in f.reason and (not owner or f.owner == owner) for f in result.findings), (
        report.summary()
    )


def test_the_suite_covers_at_least_fifteen_distinct_faults() -> None:
    assert len({name for name, *_ in FAULTS}) >= 15


def test_a_changed_ttl_is_also_a_content_change(case: Case) -> None:
    changed_ttl(case)
    content = case.verify().check("content")
    assert [str(f) for f in content.findings] == [
        "xn--bcher-kva.example. NS: TTL changed from 86400 to 3600"
    ]


def test_the_wrong_nsec3param_also_breaks_every_nsec3(case: Case) -> None:
    wrong_nsec3param(case)
    nsec = case.verify().check("nsec3")
    differ = [f for f in nsec.findings if "differ from the NSEC3PARAM" in f.reason]
    assert len(differ) == sum(1 for r in case.zone.rrsets() if r.rtype == RRType.NSEC3)


def test_every_failure_is_reported_not_only_the_first(case: Case) -> None:
    for name in ("a.nic", "b.nic", "orphan.gone"):
        for r in case.zone.nodes[wire(name)]:
            sig = bytearray(r.sigs[0])
            sig[-1] ^= 0xFF
            r.sigs = [bytes(sig)]
    report = case.verify()
    sigs = report.check("signatures")
    assert sigs.failures == 4  # a.nic A and AAAA, b.nic A, orphan.gone A
    assert {f.owner for f in sigs.findings} == {
        "a.nic.example.",
        "b.nic.example.",
        "orphan.gone.example.",
    }
    # And the other checks still ran and passed.
    assert report.failed_checks == ("signatures", "second-implementation")


def test_the_second_implementation_names_the_rrset_that_differs(case: Case) -> None:
    flip_signature_byte(case)
    second = case.verify().check("second-implementation")
    assert second.status is Status.FAILED
    assert [(f.owner, f.rtype) for f in second.findings] == [("secure.example.", "DS")]
    assert "signature differs from dnspython's" in second.findings[0].reason
