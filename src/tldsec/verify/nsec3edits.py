"""Check "nsec3" in the incremental mode: the reduce of the edited regions' NSEC3 parts
against the whole-file scan, both in the run's merged ``Summary``.

The chain's order and closure and every NSEC3's parameters come from the fast scan of
the whole candidate (``filescan``, ``Summary.scanned``). The names in the re-read regions
are hashed as in the full check (``nsec3chain.nsec3_part``, ``Summary.nsec3``) and each
must find its NSEC3 in the scan with the type bitmap its types give (RFC 5155 3.2.1,
7.1); names that left the zone, or became glue or occluded below a new cut, must have
lost theirs. An NSEC3 record in a region that belongs to no re-read name must be one the
previous verified zone had (``Summary.previous``), with the same type bitmap (only its
next hashed owner may move), and none of those may disappear.
"""

from __future__ import annotations

from tldsec.dnscore import names, rdata
from tldsec.dnscore.rdatatext import type_from_text
from tldsec.dnscore.types import type_text
from tldsec.verify.nsec3chain import Nsec3Params, b32hex
from tldsec.verify.report import Collector, Finding
from tldsec.verify.summary import Summary


def reduce_edits(found: Collector, merged: Summary, params: Nsec3Params, origin: bytes) -> str:
    """The NSEC3 findings of an incremental run into ``found`` (after the apex's
    NSEC3PARAM check gave ``params``); returns the check's note."""
    apex = names.to_text(origin)
    scan = merged.scanned
    want = f"1 0 {params.iterations} {params.salt.hex() or '-'}".encode()
    for p in sorted(scan.params):
        if p.lower() != want:
            found.add(
                Finding(
                    apex,
                    "NSEC3",
                    f"NSEC3 records with parameters {p.decode()}; the NSEC3PARAM gives "
                    f"{want.decode()} and no opt-out (RFC 5155 7.1, DPS 6.2)",
                )
            )
    for problem in scan.problems():
        found.add(Finding(apex, "NSEC3", problem))

    for part in merged.nsec3:
        found.merge(part.findings)
    expected: dict[bytes, tuple[bytes, bytes]] = {}
    for part in merged.nsec3:
        for digest, name, bitmap in part.expected:
            if digest in expected:
                other = names.to_text(expected[digest][0])
                found.add(
                    Finding(
                        names.to_text(name), "NSEC3", f"hash collides with {other} (RFC 5155 7.1)"
                    )
                )
            expected[digest] = (name, bitmap)
    starts = scan.bitmap_starts()
    for digest, (name, bitmap) in expected.items():
        label = b32hex(digest).encode()
        i = scan.find(label)
        if i is None:
            found.add(
                Finding(
                    names.to_text(name),
                    "NSEC3",
                    f"no NSEC3 for this name (expected at {label.decode()}.{apex})",
                )
            )
            continue
        have = _types(scan.bitmap(i, starts))
        need = set(rdata.bitmap_types(bitmap))
        if have != need:
            found.add(
                Finding(
                    f"{label.decode()}.{apex}",
                    "NSEC3",
                    f"type bitmap for {names.to_text(name)} lists {_show(have)}; the name "
                    f"has {_show(need)}",
                )
            )
    for digest, name in (h for part in merged.nsec3 for h in part.hidden):
        if digest not in expected and scan.find(b32hex(digest).encode()) is not None:
            found.add(
                Finding(
                    f"{b32hex(digest)}.{apex}",
                    "NSEC3",
                    f"NSEC3 for {names.to_text(name)}, which is glue or occluded below a "
                    "delegation (RFC 5155 7.1)",
                )
            )
    previous_names = {d: name for part in merged.previous for d, name, _ in part.expected}
    for digest, name in previous_names.items():
        if digest not in expected and scan.find(b32hex(digest).encode()) is not None:
            found.add(
                Finding(
                    f"{b32hex(digest)}.{apex}",
                    "NSEC3",
                    f"NSEC3 for {names.to_text(name)}, which no longer needs one (removed, "
                    "or now below a zone cut)",
                )
            )
    previous_records = {d: bitmap for part in merged.previous for d, _, _, bitmap in part.present}
    present = [r for part in merged.nsec3 for r in part.present]
    for digest, owner, _next, bitmap in present:
        if digest in expected:
            continue
        old_bitmap = previous_records.get(digest)
        if old_bitmap is None:
            found.add(
                Finding(
                    names.to_text(owner),
                    "NSEC3",
                    "NSEC3 that matches no edited name and was not in the previous zone",
                )
            )
        elif old_bitmap != bitmap:
            found.add(
                Finding(
                    names.to_text(owner),
                    "NSEC3",
                    "type bitmap changed, but the name it belongs to was not edited",
                )
            )
    for digest, owner, _next, _bitmap in (r for part in merged.previous for r in part.present):
        if digest in previous_names or digest in expected:
            continue
        if scan.find(b32hex(digest).encode()) is None:
            found.add(
                Finding(
                    names.to_text(owner),
                    "NSEC3",
                    "the NSEC3 of a name that was not edited is gone",
                )
            )
    return (
        f"chain of {len(scan.owners) // 32} NSEC3 records scanned whole; {len(expected)} "
        f"edited names' NSEC3 looked up, {len(present)} NSEC3 records in the edited regions"
    )


def _types(text: bytes) -> set[int]:
    out = set()
    for token in text.split():
        try:
            out.add(type_from_text(token.decode("ascii")))
        except ValueError:  # BadRdata, or not ASCII
            out.add(-1)
    return out


def _show(types: set[int]) -> str:
    return " ".join(type_text(t) if t >= 0 else "?" for t in sorted(types)) or "no types"
