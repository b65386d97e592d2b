"""The signed-file format: the one text form of a zone file tldsec writes, and the
tokenising every reader of zone files shares.

tldsec writes a zone (``zonefile.write_zone``, ``signer``) as a header of "; " comment
lines, then one record per line, ``owner<TAB>TTL<TAB>IN<TAB>TYPE<TAB>RDATA``, owners
written out absolute, in canonical order (RFC 4034 6.1), SOA first, each RRset followed
by its RRSIGs. Because the form is fixed, the incremental verifier, the sharded verifier
and the IXFR difference read it straight from the bytes: the patterns and scans for that
are here, in one place, beside the line forms the writer produces.

Any other master file (RFC 1035 5: comments, parentheses, quoted strings, omitted
owners) is cut into entries by ``Joiner``, for the one zone reader (``zoneread``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from tldsec.errors import ZoneSyntaxError

CHUNK = 32 << 20  # ``chunks`` reads in pieces of about this size, cut at line ends

# --- the line forms the writer produces -------------------------------------------------


def header_text(header: str | None) -> str:
    """The comment header written before the records: each line as "; line"."""
    return "".join(f"; {line}\n" for line in header.splitlines()) if header else ""


def record_head(ttl: int, rtype_text: str) -> str:
    """What follows the owner on a record line, up to the RDATA."""
    return f"\t{ttl}\tIN\t{rtype_text}\t"


def split_record(line: str) -> tuple[str, str, str, str] | None:
    """(owner, TTL, type, RDATA) of one ``owner TTL IN TYPE RDATA`` line, or None if
    the line is not in that form."""
    fields = line.split(None, 4)
    if len(fields) != 5 or fields[2] != "IN":
        return None
    owner, ttl, _, rtype, rest = fields
    return owner, ttl, rtype, rest


# --- reading the signed form from its bytes ---------------------------------------------

# The owner of a record line that follows a newline (the form every line after the
# header has), and the owner at the start of any line.
OWNER_AFTER_NEWLINE = re.compile(rb"\n([^\t\n;$]*)\t")
OWNER_LINE = re.compile(rb"(?m)^([^\t\n ;$][^\t\n ]*)[\t ]")
FIRST_FIELD = re.compile(rb"[^\t \n]*")
# The owner of any master-file line that writes one (not led by a blank: RFC 1035 5.1's
# "same owner as before"; not a comment or a blank line).
OWNER_WRITTEN = re.compile(rb"(?m)^[^\s;]\S*")
# An RRSIG's expiration (RFC 4034 3.2: YYYYMMDDHHmmSS) on a signed line.
RRSIG_EXPIRY = re.compile(rb"\tIN\tRRSIG\t[A-Za-z0-9]+ \d+ \d+ \d+ (\d{14}) ")
RRSIG_MARK = b"\tIN\tRRSIG\t"
NSEC3_MARK = b"\tIN\tNSEC3\t"
# A record line of an unsigned zone (the owner written out, any blanks).
UNSIGNED_LINE = re.compile(rb"\n(([^\s;$][^\s]*)[ \t][^\n]*)")


def rrsig_expiring(expiry: bytes) -> re.Pattern[bytes]:
    """The RRSIG lines that expire at ``expiry`` (14 digits)."""
    return re.compile(rb"\tIN\tRRSIG\t[A-Za-z0-9]+ \d+ \d+ \d+ " + expiry + b" ")


def nsec3_lines(origin: str) -> re.Pattern[bytes]:
    """NSEC3 lines of the zone ``origin``: (hashed owner label, "alg flags iterations
    salt", next hashed owner, type bitmap as written) each."""
    return re.compile(
        rb"\n([0-9a-v]{32})"
        + re.escape(zone_suffix(origin))
        + rb"\t\d+\tIN\tNSEC3\t(\d+ \d+ \d+ \S+) ([0-9a-v]{32})((?: [A-Za-z0-9]+)*)[ \t]*(?=\n)"
    )


def zone_suffix(origin: str) -> bytes:
    """b".origin." in lowercase: what every owner below the apex ends with."""
    return ("." + origin.lower().rstrip(".") + ".").encode()


def top_label(owner: bytes, apex: bytes, suffix: bytes) -> bytes | None:
    """The label just below the apex (lowercase owner text), b"" for the apex itself,
    None for a name outside the zone."""
    if owner == apex:
        return b""
    if not owner.endswith(suffix):
        return None
    return owner[: -len(suffix)].rsplit(b".", 1)[-1]


def is_top_level(owner: bytes, suffix: bytes) -> bool:
    """One label below the apex, written absolute or relative."""
    if owner.endswith(b"."):
        return owner.endswith(suffix) and b"." not in owner[: -len(suffix)]
    return b"." not in owner and owner != b"@"


def tops_in(text: bytes, origin: str) -> set[bytes]:
    """The labels below the apex of the owners of these lines (b"" for the apex)."""
    apex = origin.lower().encode()
    suffix = b"." + apex
    return {
        top
        for owner in OWNER_LINE.findall(text)
        if (top := top_label(owner.lower(), apex, suffix)) is not None
    }


def skip_header(chunk: bytes) -> int | None:
    """The offset of the first record line (comments, blank lines and a leading $TTL or
    $ORIGIN skipped); the offset points at the newline before it."""
    pos = 0
    while True:
        end = chunk.find(b"\n", pos + 1)
        if end < 0:
            return None
        line = chunk[pos + 1 : end].strip()
        if line and not line.startswith((b";", b"$")):
            return pos
        pos = end


def header_directives(chunk: bytes, body: int) -> list[list[bytes]]:
    """The fields of each $ directive in the header ``chunk[:body]`` (``skip_header``'s
    offset), the directive's name in capitals."""
    out = []
    for line in chunk[:body].split(b"\n"):
        fields = line.split()
        if fields and fields[0].startswith(b"$"):
            out.append([fields[0].upper(), *fields[1:]])
    return out


_UNCUTTABLE = (
    (b"\n$", "a directive after the header"),
    (b"(", "an entry over several lines"),
    (b'"', "a quoted string"),
    (b"\\", "an escaped character"),
    (b"\n ", "a line without its owner"),
    (b"\n\t", "a line without its owner"),
    (b"\n;", "a comment after the header"),
    (b"\n\n", "a blank line after the header"),
)
UNSIGNED_UNCUTTABLE = (
    (b"\n$", "a directive after the header"),
    (b"(", "an entry over several lines"),
    (b"\n ", "a line without its owner"),
    (b"\n\t", "a line without its owner"),
)


def syntax_problem(lines: bytes) -> str | None:
    """What in these lines (after the header, following a newline) is not in the
    signed form, or None: each line must be one record, its owner written out and
    followed by a tab."""
    for bad, why in _UNCUTTABLE:
        if bad in lines:
            return f"the file has {why}"
    records = lines.count(b"\n") - (1 if lines.endswith(b"\n") else 0)
    if len(OWNER_AFTER_NEWLINE.findall(lines)) != records:
        return "the file has a line whose owner is not followed by a tab"
    return None


def chunks(
    path: Path, size: int = CHUNK, start: int = 0, end: int | None = None
) -> Iterator[bytes]:
    """Bytes ``start:end`` of the file (``start`` at a line start) in pieces of whole
    lines, each starting with a newline (so that every line, the first included, follows
    one)."""
    with open(path, "rb") as f:
        f.seek(start)
        left = (end - start) if end is not None else None
        rest = b""
        while True:
            block = f.read(size if left is None else min(size, left))
            if left is not None:
                left -= len(block)
            if not block:
                if rest:
                    yield b"\n" + rest
                return
            block = rest + block
            cut = block.rfind(b"\n") + 1
            if cut == 0:
                rest = block
                continue
            rest = block[cut:]
            yield b"\n" + block[:cut]


# --- master-file entries (RFC 1035 5.1) -------------------------------------------------


def strip_comment(line: str) -> str:
    """Drop a ';' comment that is not inside quotes or escaped."""
    if ";" not in line:
        return line.rstrip("\n")
    out = []
    quoted = False
    escaped = False
    for ch in line:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == ";" and not quoted:
            break
        out.append(ch)
    return "".join(out).rstrip("\n")


class Joiner:
    """Turns lines with comments, parentheses or quotes into entries (RFC 1035 5.1),
    parentheses inside quoted strings kept."""

    def __init__(self) -> None:
        self.pending: list[str] = []
        self.start = 0
        self.depth = 0

    def feed(self, number: int, line: str) -> tuple[int, str] | None:
        """The complete entry this line ends, or None while parentheses stay open."""
        if not self.pending:
            self.start = number
        text = strip_comment(line)
        self.depth += count_outside_quotes(text)
        self.pending.append(text)
        if self.depth > 0:
            return None
        joined = " ".join(self.pending)
        self.pending = []
        self.depth = 0
        if not joined.strip():
            return None
        # A leading blank stays: it means "same owner as before".
        return self.start, drop_parentheses(joined)

    def finish(self) -> None:
        if self.pending:
            raise ZoneSyntaxError("", self.start, "unbalanced parenthesis")


def rest_after(line: str, rest: list[str]) -> str:
    """The raw text of the RDATA whose whitespace-split fields are ``rest``: quoted
    strings keep their inner blanks."""
    if not rest:
        return ""
    pos = line.rfind(rest[0])
    # The first RDATA field may also appear earlier in the line (as the owner, say):
    # find the occurrence after which the remaining text splits into exactly ``rest``.
    while pos > 0 and line[pos:].split() != rest:
        pos = line.rfind(rest[0], 0, pos)
    return line[pos:].strip() if pos >= 0 else " ".join(rest)


def drop_parentheses(text: str) -> str:
    """Grouping parentheses become blanks; those inside quoted strings stay."""
    if '"' not in text:
        return text.replace("(", " ").replace(")", " ")
    out = []
    quoted = False
    escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif not quoted and ch in "()":
            ch = " "
        out.append(ch)
    return "".join(out)


def count_outside_quotes(text: str) -> int:
    """Open minus closed parentheses outside quoted strings."""
    if '"' not in text:
        return text.count("(") - text.count(")")
    depth = 0
    quoted = False
    escaped = False
    for ch in text:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif not quoted and ch == "(":
            depth += 1
        elif not quoted and ch == ")":
            depth -= 1
    return depth
