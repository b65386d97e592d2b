"""The lines of an unsigned zone file that the incremental mode compares (DPS 6.6).

The regions an incremental run reads again are whole subtrees below the apex; their data
must equal the same subtrees of the unsigned zone. ``unsigned_subtrees`` picks those
lines out of the unsigned file with one compiled pattern per piece, in a worker process
(``BackgroundUnsigned``) while the run checks the signed regions.
"""

from __future__ import annotations

from pathlib import Path

from tldsec.dnscore.signedfile import (
    UNSIGNED_LINE,
    UNSIGNED_UNCUTTABLE,
    chunks,
    header_directives,
    skip_header,
    zone_suffix,
)
from tldsec.verify.workers import Background


def unsigned_subtrees(path: Path, origin: str, tops: frozenset[bytes]) -> bytes | str:
    """The lines of an unsigned zone file whose owners lie in the subtrees below the
    labels ``tops`` (b"" for the apex itself), after its leading $ORIGIN and $TTL; or why
    the file cannot be read this way (relative owners, omitted owners, directives or
    entries over several lines after the header)."""
    suffix = zone_suffix(origin)
    apex = suffix[1:]
    cut = len(suffix)
    out: list[bytes] = []
    header = True
    for chunk in chunks(path):
        if header:
            body = skip_header(chunk)
            if body is None:
                return "the unsigned zone has no records"
            for fields in header_directives(chunk, body):
                if fields[0] == b"$ORIGIN" and fields[1:] != [apex]:
                    return "the unsigned zone's $ORIGIN is not the zone's origin"
                out.append(b" ".join(fields) + b"\n")
            chunk = chunk[body:]
            header = False
        for bad, why in UNSIGNED_UNCUTTABLE:
            if bad in chunk:
                return f"the unsigned zone has {why}"
        for line, owner in UNSIGNED_LINE.findall(chunk):
            owner = owner.lower()
            if owner == apex:
                top = b""
            elif owner.endswith(suffix):
                top = owner[:-cut].rpartition(b".")[2]
            elif owner.endswith(b"."):
                continue  # not in the zone: the content check of a full run reports it
            elif owner == b"@":
                top = b""
            else:  # relative to the origin (any $ORIGIN in the header is the origin)
                top = owner.rpartition(b".")[2]
            if top in tops:
                out.append(line + b"\n")
    return b"".join(out)


class BackgroundUnsigned:
    """``unsigned_subtrees`` in a forked worker process."""

    def __init__(self, path: Path, origin: str, tops: frozenset[bytes]) -> None:
        self._job: Background[bytes | str] = Background(unsigned_subtrees, [(path, origin, tops)])

    def result(self) -> bytes | str:
        (found,) = self._job.results()
        return found

    def close(self) -> None:
        self._job.close()
