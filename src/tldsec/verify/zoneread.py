"""The verifier's reading of a zone file: ``dnscore.zoneread``, every problem a finding.

The verifier reports every fault, not only the first: what the file says that a
``Zone`` cannot hold (two TTLs in one RRset, an RRSIG whose TTL is not its RRset's,
an RRSIG covering nothing) becomes a ``zone-file`` finding and the reading goes on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from tldsec.dnscore import names, zoneread
from tldsec.dnscore.types import type_text
from tldsec.dnscore.zoneread import read_soa_serial as read_soa_serial
from tldsec.verify.report import Finding


@dataclass(slots=True)
class ReadResult(zoneread.ReadResult):
    """A zone as read, with each of its ``problems`` as a ``zone-file`` finding."""

    findings: list[Finding] = field(default_factory=list)


def read_zone_file(path: Path, origin: str) -> ReadResult:
    """Read a zone file; ``ZoneSyntaxError`` names the file, line and reason."""
    return _with_findings(zoneread.read_zone_file(path, origin))


def read_zone_string(
    text: str,
    origin: str,
    filename: str = "<text>",
    *,
    default_ttl: int | None = None,
    first_line: int = 1,
) -> ReadResult:
    """Read zone text; a part of a bigger file gives its $TTL and first line number."""
    read = zoneread.read_zone_string(
        text, origin, filename, default_ttl=default_ttl, first_line=first_line
    )
    return _with_findings(read)


def _with_findings(read: zoneread.ReadResult) -> ReadResult:
    findings = [
        Finding(names.to_text(p.owner), type_text(p.rtype), f"line {p.line}: {p.reason}")
        for p in read.problems
    ]
    return ReadResult(read.zone, read.problems, read.records, read.regrouped, findings)
