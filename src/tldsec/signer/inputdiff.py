"""InputDiff: which lines differ between the previous and the new unsigned zone file,
when every line means the same wherever it stands, so that a set difference of lines is
the difference of the zones.

That holds for the files zone builders write (ours, and ``gen_tld_zone.py``): one record
per line with its own owner. It does not hold when a line inherits from the lines before
it: a blank owner (RFC 1035 5.1), parentheses across lines, a directive after the first
record, or a record without a TTL in a file without ``$TTL`` (the previous record's TTL
applies). ``diff_inputs`` raises ``NotLineOriented`` then; the caller signs in full.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_DIRECTIVE = re.compile(rb"^\$[^\n]*", re.M)
_RECORD = re.compile(rb"^[^;$\s]", re.M)
_INHERITS_OWNER = re.compile(rb"^[ \t]+[^ \t\r\n;]", re.M)
_NO_TTL = re.compile(rb"^[^;$\s]\S*[ \t]+(?=[^ \t])(?![0-9]+[ \t])", re.M)  # owner, then no number


class NotLineOriented(Exception):
    """The files' lines depend on their context; the reason says which rule."""


@dataclass(frozen=True, slots=True)
class InputDiff:
    """Lines only in the previous file, lines only in the new one, and the directives
    both files start with (to parse those lines in the same context)."""

    removed: list[bytes]
    added: list[bytes]
    directives: bytes

    @property
    def changed_lines(self) -> int:
        return len(self.removed) + len(self.added)


def diff_inputs(previous: Path, new: Path) -> InputDiff:
    old_data = previous.read_bytes()
    new_data = new.read_bytes()
    old_directives = _context(old_data, previous)
    new_directives = _context(new_data, new)
    if old_directives != new_directives:
        raise NotLineOriented("the $ORIGIN/$TTL directives changed")
    old_lines = set(old_data.split(b"\n"))
    new_lines = set(new_data.split(b"\n"))
    removed = sorted(line for line in old_lines - new_lines if _is_record(line))
    added = sorted(line for line in new_lines - old_lines if _is_record(line))
    return InputDiff(removed, added, b"\n".join(old_directives))


def _context(data: bytes, path: Path) -> list[bytes]:
    """The directives, after checking that no line depends on the lines before it."""
    if b"(" in data:
        raise NotLineOriented(f"{path}: parentheses (records may span lines)")
    if _INHERITS_OWNER.search(data):
        raise NotLineOriented(f"{path}: a record without its own owner name")
    directives = [m.group().rstrip(b"\r") for m in _DIRECTIVE.finditer(data)]
    first_record = _RECORD.search(data)
    if directives and first_record is not None:
        last = [m.start() for m in _DIRECTIVE.finditer(data)][-1]
        if last > first_record.start():
            raise NotLineOriented(f"{path}: a directive after the first record")
    has_default_ttl = any(d.split()[0].upper() == b"$TTL" for d in directives if d.split())
    if not has_default_ttl and _NO_TTL.search(data):
        raise NotLineOriented(f"{path}: a record without a TTL and no $TTL")
    return directives


def _is_record(line: bytes) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith(b";")
