"""Whether a signed zone file can be cut at owners one label below the apex.

The incremental mode re-reads whole subtrees below the apex, found from the bytes alone;
that is sound only in a file with one record per line, each owner written out and
followed by a tab, no directives, comments or multi-line entries after the header, the
apex first and the labels below it in canonical order (RFC 4034 6.1), each label's names
together. ``order_problem`` checks a whole file (after every full verification, for the
record the next run builds on); ``region_problems`` checks the regions an incremental
run read again, which with the unchanged bytes keeps the whole file so.
"""

from __future__ import annotations

import itertools
import mmap
from collections.abc import Iterator
from pathlib import Path

from tldsec.dnscore import names
from tldsec.dnscore.signedfile import (
    OWNER_AFTER_NEWLINE,
    OWNER_LINE,
    chunks,
    skip_header,
    syntax_problem,
    top_label,
    zone_suffix,
)
from tldsec.errors import BadName
from tldsec.verify.regions import Region
from tldsec.verify.report import Finding


def order_problem(path: Path, origin: str) -> str | None:
    """Why the file cannot be cut at owners one label below the apex, or None if it can:
    one record per line with its owner written out, no directives or multi-line entries
    after the header, the apex first, and the labels below the apex in canonical order
    (RFC 4034 6.1), each one's names together."""
    suffix = zone_suffix(origin)
    apex = origin.lower().encode() if origin.endswith(".") else origin.lower().encode() + b"."
    last_top: bytes | None = None
    header = True
    for chunk in chunks(path):
        if header:
            body = skip_header(chunk)
            if body is None:
                return "the file has no records"
            chunk = chunk[body:]
            header = False
        problem = syntax_problem(chunk)
        if problem is not None:
            return problem
        owners = [k for k, _ in itertools.groupby(OWNER_AFTER_NEWLINE.findall(chunk.lower()))]
        tops: list[bytes] = []
        cut = len(suffix)
        for owner in owners:
            if owner.endswith(suffix):
                tops.append(owner[:-cut].rpartition(b".")[2])
            elif owner == apex:
                tops.append(b"")
            else:
                return f"owner {owner.decode('utf-8', 'replace')} is not in the zone"
        runs = [k for k, _ in itertools.groupby(tops)]
        if last_top is not None and runs and runs[0] == last_top:
            runs = runs[1:]
        for i, top in enumerate(runs):
            before = runs[i - 1] if i else last_top
            if before is not None and top <= before:
                if top == b"":
                    return "the apex's records are not all at the top"
                return (
                    f"names under {top.decode('utf-8', 'replace')} are out of canonical order "
                    f"or not together (after names under {before.decode('utf-8', 'replace')})"
                )
        if runs:
            last_top = runs[-1]
    return None


def region_problems(found: list[Region], new: mmap.mmap, origin: str) -> Iterator[Finding]:
    """Each region's owners in canonical order (RFC 4034 6.1), each owner's lines
    together, and its subtrees between those of its neighbours: what lets the next
    incremental run cut the file again."""
    apex = origin.lower().encode()
    suffix = b"." + apex
    cache: dict[bytes, bytes] = {}
    for r in found:
        text = new[r.new_start : r.new_end]
        body = (
            text[text.index(b"\n" + apex) :] if r.new_start == 0 and b"\n" + apex in text else text
        )
        problem = syntax_problem(body if body.startswith(b"\n") else b"\n" + body)
        if problem is not None:
            yield Finding("", "", f"bytes {r.new_start}-{r.new_end}: {problem}")
        owners = [k for k, _ in itertools.groupby(m.lower() for m in OWNER_LINE.findall(text))]
        if len(set(owners)) != len(owners):
            yield Finding("", "", f"owners repeated apart in bytes {r.new_start}-{r.new_end}")
        previous: bytes | None = None
        for owner in owners:
            key = cache.get(owner)
            if key is None:
                try:
                    key = cache[owner] = names.canonical_key(names.to_wire(owner.decode()))
                except (BadName, UnicodeDecodeError):
                    yield Finding(owner.decode("utf-8", "replace"), "", "not a domain name")
                    continue
            if previous is not None and key <= previous:
                yield Finding(
                    owner.decode(), "", "out of canonical order (RFC 4034 6.1) in an edited region"
                )
            previous = key
        if not owners:
            continue
        first = top_label(owners[0], apex, suffix)
        last = top_label(owners[-1], apex, suffix)
        before = _top_at(new, r.new_start - 1, apex, suffix, back=True) if r.new_start else None
        after = _top_at(new, r.new_end, apex, suffix, back=False) if r.new_end < len(new) else None
        if first is not None and before is not None and not before < first:
            yield Finding(owners[0].decode(), "", "out of canonical order with the line before")
        if last is not None and after is not None and not last < after:
            yield Finding(owners[-1].decode(), "", "out of canonical order with the line after")


def _top_at(data: mmap.mmap, pos: int, apex: bytes, suffix: bytes, *, back: bool) -> bytes | None:
    start = data.rfind(b"\n", 0, pos) + 1 if back else pos
    m = OWNER_LINE.match(data, start)
    if m is None:
        return None
    return top_label(m.group(1).lower(), apex, suffix)
