"""Checks "content" and "serial": the signer changed nothing but DNSSEC records (DPS 6.6).

"content": the signed zone minus the records a signer adds (DNSKEY, RRSIG, NSEC3,
NSEC3PARAM, NSEC) equals the unsigned input exactly: same names, types, TTLs and RDATA;
nothing lost, added or changed. "serial": the SOA serial increased over the previous
signed zone, in RFC 1982 serial number arithmetic.
"""

from __future__ import annotations

import hashlib
import struct
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from tldsec.dnscore import names, rdata
from tldsec.dnscore.types import RRType, type_text
from tldsec.dnscore.zone import RRset, Zone
from tldsec.errors import ZoneSyntaxError
from tldsec.verify.report import CheckResult, Finding
from tldsec.verify.structure import DNSSEC_ADDED
from tldsec.verify.zoneread import read_soa_serial, read_zone_file

CONTENT = "content"
SERIAL = "serial"
_SHOW = 3  # records quoted per finding
_HEAD = struct.Struct("!HIH")


def check_content(signed: Zone, unsigned: Zone) -> CheckResult:
    t0 = time.perf_counter()
    findings = list(_differences(signed, unsigned))
    return CheckResult.from_findings(CONTENT, findings, time.perf_counter() - t0)


def _differences(signed: Zone, unsigned: Zone) -> Iterator[Finding]:
    if signed.origin != unsigned.origin:
        yield Finding(
            names.to_text(signed.origin),
            "",
            f"the unsigned zone's origin is {names.to_text(unsigned.origin)}",
        )
        return
    snodes = signed.nodes
    for owner, unode in unsigned.nodes.items():
        snode = snodes.get(owner)
        if snode is None:
            for u in unode:
                yield _f(u, f"lost: {_count(u)} record(s) of the unsigned zone are missing")
            continue
        if len(unode) == 1 and len(snode) == 1:
            u, s = unode[0], snode[0]
            if u.rtype == s.rtype and u.ttl == s.ttl and u.rdatas == s.rdatas:
                continue
        yield from _compare_node(unode, snode)
    for owner in snodes.keys() - unsigned.nodes.keys():
        for s in snodes[owner]:
            if s.rtype not in DNSSEC_ADDED:
                yield _f(s, f"added: {_count(s)} record(s) not in the unsigned zone")


def owner_digests(zone: Zone) -> dict[bytes, bytes]:
    """Owner -> a digest of its data without DNSSEC records (types, TTLs, RDATA).

    Two zones hold the same non-DNSSEC data exactly when these maps are equal; parts of
    a big zone are digested apart and the maps compared at once.
    """
    out: dict[bytes, bytes] = {}
    blake2b = hashlib.blake2b
    for owner, node in zone.nodes.items():
        parts = []
        for r in node:
            if r.rtype not in DNSSEC_ADDED:
                parts.append((r.rtype, r.ttl, r.rdatas))
        if not parts:
            continue
        h = blake2b(digest_size=16)
        parts.sort()
        for rtype, ttl, rdatas in parts:
            h.update(_HEAD.pack(rtype, ttl, len(rdatas)))
            for rd in rdatas:
                h.update(len(rd).to_bytes(2, "big"))
                h.update(rd)
        out[owner] = h.digest()
    return out


def _compare_node(unode: list[RRset], snode: list[RRset]) -> Iterator[Finding]:
    by_type = {s.rtype: s for s in snode if s.rtype not in DNSSEC_ADDED}
    for u in unode:
        s = by_type.pop(u.rtype, None)
        if s is None:
            yield _f(u, f"lost: {_count(u)} record(s) of the unsigned zone are missing")
            continue
        if s.ttl != u.ttl:
            yield _f(u, f"TTL changed from {u.ttl} to {s.ttl}")
        if s.rdatas != u.rdatas:
            lost = sorted(set(u.rdatas) - set(s.rdatas))
            added = sorted(set(s.rdatas) - set(u.rdatas))
            parts = []
            if lost:
                parts.append(f"lost {len(lost)} record(s): {_show(u.rtype, lost)}")
            if added:
                parts.append(f"added {len(added)} record(s): {_show(u.rtype, added)}")
            yield _f(u, "; ".join(parts))
    for s in by_type.values():
        yield _f(s, f"added: {_count(s)} record(s) not in the unsigned zone")


def _show(rtype: int, rdatas: list[bytes]) -> str:
    shown = []
    for rd in rdatas[:_SHOW]:
        try:
            shown.append(rdata.to_text(rtype, rd))
        except (ValueError, IndexError):
            shown.append(rd.hex())
    more = f" (+{len(rdatas) - _SHOW} more)" if len(rdatas) > _SHOW else ""
    return ", ".join(shown) + more


def _count(rrset: RRset) -> int:
    return len(rrset.rdatas)


def _f(rrset: RRset, reason: str) -> Finding:
    return Finding(names.to_text(rrset.owner), type_text(rrset.rtype), reason)


def serial_gt(a: int, b: int) -> bool:
    """a > b in RFC 1982 serial number arithmetic (SERIAL_BITS = 32)."""
    a &= 0xFFFFFFFF
    b &= 0xFFFFFFFF
    return a != b and ((a - b) & 0xFFFFFFFF) < 0x80000000


def check_serial(zone: Zone, previous_serial: int) -> CheckResult:
    """The candidate's SOA serial is greater than the previous zone's (RFC 1982 3.2)."""
    t0 = time.perf_counter()
    soa = zone.get(zone.origin, RRType.SOA)
    apex = names.to_text(zone.origin)
    findings = []
    if soa is None or len(soa.rdatas) != 1:
        findings.append(Finding(apex, "SOA", "the zone has no single SOA record"))
    else:
        serial = soa_serial(soa.rdatas[0])
        if not serial_gt(serial, previous_serial):
            what = "is the same as" if serial == previous_serial else "is not greater than"
            findings.append(
                Finding(
                    apex,
                    "SOA",
                    f"serial {serial} {what} the previous zone's {previous_serial} "
                    "(RFC 1982): secondaries would not load it",
                )
            )
    return CheckResult.from_findings(
        SERIAL,
        findings,
        time.perf_counter() - t0,
        notes=(f"previous serial {previous_serial}",),
    )


def check_serial_from_file(zone: Zone, previous: Path | None, origin: str) -> CheckResult:
    """``check_serial`` against the previous zone file's SOA (skipped without one)."""
    if previous is None:
        return CheckResult.skipped(SERIAL, "no previous zone given (--previous)")
    t0 = time.perf_counter()
    try:
        serial = read_soa_serial(previous, origin)
    except ZoneSyntaxError as exc:
        return CheckResult.from_findings(
            SERIAL, [Finding("", "", f"previous zone unusable: {exc}")], time.perf_counter() - t0
        )
    return replace(check_serial(zone, serial), seconds=time.perf_counter() - t0)


def check_content_from_file(signed: Zone, unsigned: Path | None, origin: str) -> CheckResult:
    """``check_content`` against the unsigned zone file read whole (skipped without one)."""
    if unsigned is None:
        return CheckResult.skipped(CONTENT, "no unsigned zone given (--unsigned)")
    t0 = time.perf_counter()
    try:
        theirs = read_zone_file(unsigned, origin).zone
    except ZoneSyntaxError as exc:
        return CheckResult.from_findings(
            CONTENT, [Finding("", "", f"unsigned zone unusable: {exc}")], time.perf_counter() - t0
        )
    result = check_content(signed, theirs)
    del theirs
    return replace(result, seconds=time.perf_counter() - t0)


def soa_serial(soa_rdata: bytes) -> int:
    """SERIAL: the first of the five 32-bit fields ending SOA RDATA (RFC 1035 3.3.13)."""
    return int.from_bytes(soa_rdata[-20:-16], "big")
