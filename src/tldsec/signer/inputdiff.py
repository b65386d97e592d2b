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
# After the first record: what makes a line depend on the ones before it.
_CONTEXT = re.compile(rb"(?P<paren>[()])|(?P<owner>^[ \t]+[^ \t\r\n;])|(?P<directive>^\$)", re.M)
_DIRECTIVE_LINE = re.compile(rb"\n\$")
_WHY = {
    "paren": "parentheses (records may span lines)",
    "owner": "a record without its own owner name",
    "directive": "a directive after the first record",
}
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
    """The lines that differ; ``previous`` must be line-oriented (``context_problem`` found
    nothing in it when it was signed). Only the differing regions of ``new`` and the line
    after each are checked: every other line is the same as in ``previous``, after the
    same lines, so it means the same."""
    old_data = previous.read_bytes()
    new_data = new.read_bytes()
    directives = _header_directives(old_data)
    if _header_directives(new_data) != directives:
        raise NotLineOriented("the $ORIGIN/$TTL directives changed")
    has_ttl = _has_default_ttl(directives)
    old_first, new_first = _first_record(old_data), _first_record(new_data)
    old_lines: set[bytes] = set()
    new_lines: list[bytes] = []
    for a0, a1, b0, b1 in differing_regions(old_data, new_data):
        _check_region(old_data, max(a0, old_first), a1, has_ttl, previous)
        _check_region(new_data, max(b0, new_first), b1, has_ttl, new)
        old_lines.update(old_data[a0:a1].split(b"\n"))
        new_lines += (x for x in new_data[b0:b1].split(b"\n") if _is_record(x))
    new_set = set(new_lines)
    if len(new_set) != len(new_lines):
        # A later diff could not tell the removal of one copy from the other's.
        raise NotLineOriented(f"{new}: a record line appears twice")
    removed = sorted(line for line in old_lines - new_set if _is_record(line))
    added = sorted(new_set - old_lines)
    return InputDiff(removed, added, b"\n".join(directives))


def context_problem(data: bytes) -> str | None:
    """Why this zone file cannot be diffed line by line later, or None. Checked once, when
    it is signed in full: a record spanning lines, or a directive after the first record
    (later regions would be parsed in the wrong context). Lines that inherit an owner or
    a TTL are checked where it matters, in each diff: in the regions that changed and on
    the line after each (``diff_inputs``)."""
    body = data[_first_record(data) :]
    if b"(" in body or b")" in body:
        return _WHY["paren"]
    if _DIRECTIVE_LINE.search(body) is not None:
        return _WHY["directive"]
    return None


def _check_region(data: bytes, start: int, end: int, has_ttl: bool, path: Path) -> None:
    """The region and the line after it (which could inherit from the region's last),
    from the first record on."""
    after = data.find(b"\n", end)
    text = data[start : len(data) if after < 0 else after + 1]
    if not text:
        return
    found = _CONTEXT.search(text)
    if found is not None:
        raise NotLineOriented(f"{path}: {_WHY[found.lastgroup or '']}")
    if not has_ttl and _NO_TTL.search(text):
        raise NotLineOriented(f"{path}: a record without a TTL and no $TTL")


def _first_record(data: bytes) -> int:
    first = _RECORD.search(data)
    return len(data) if first is None else first.start()


def _header_directives(data: bytes) -> list[bytes]:
    head = data[: _first_record(data)]
    return [m.group().rstrip(b"\r") for m in _DIRECTIVE.finditer(head)]


def _has_default_ttl(directives: list[bytes]) -> bool:
    return any(d.split()[0].upper() == b"$TTL" for d in directives if d.split())


def _is_record(line: bytes) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith(b";")


_GALLOP_START = 1 << 12
_GALLOP_MAX = 1 << 22
_RESYNC_LINES = 256  # lines of the previous file tried as anchors after a difference
_RESYNC_WINDOW = 1 << 20  # bytes of the new file searched for an anchor


def differing_regions(old: bytes, new: bytes) -> list[tuple[int, int, int, int]]:
    """Whole-line ranges (old start, old end, new start, new end) outside which the two
    files are the same bytes in the same order.

    The equal stretches are found by comparing ever larger blocks (memcmp, no per-line
    objects); after a difference, the next lines of the old file are looked for in the
    new one to line the two up again. Any alignment gives a correct answer: the equal
    stretches are compared byte for byte; a poor one only makes the regions larger.
    """
    mo, mn = memoryview(old), memoryview(new)
    regions: list[tuple[int, int, int, int]] = []
    i = j = 0
    while True:
        same = _common_prefix(mo, mn, i, j)
        if i + same == len(old) and j + same == len(new):
            return regions
        # Back up to the start of the line where they differ.
        start = old.rfind(b"\n", 0, i + same) + 1 if i + same > 0 else 0
        start = max(start, i)
        i, j = start, j + (start - i)
        a, b = _resync(old, new, i, j)
        if (a, b) == (i, j):
            raise NotLineOriented("the files could not be lined up")
        regions.append((i, a, j, b))
        i, j = a, b


def _common_prefix(mo: memoryview, mn: memoryview, i: int, j: int) -> int:
    """How many bytes from old[i:] and new[j:] are the same."""
    done = 0
    step = _GALLOP_START
    while True:
        n = min(step, len(mo) - i - done, len(mn) - j - done)
        if n <= 0:
            return done
        if mo[i + done : i + done + n] == mn[j + done : j + done + n]:
            done += n
            step = min(step * 2, _GALLOP_MAX)
            continue
        lo, hi = done, done + n  # the first difference is in [lo, hi)
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if mo[i + lo : i + mid] == mn[j + lo : j + mid]:
                lo = mid
            else:
                hi = mid
        return lo


def _resync(old: bytes, new: bytes, i: int, j: int) -> tuple[int, int]:
    """Line starts after old[i] and new[j] from which the files agree again, found by
    looking for a later old line (with the one after it, as an anchor) in the new file."""
    at = i
    for _ in range(_RESYNC_LINES):
        if at >= len(old):
            break
        end = old.find(b"\n", at)
        if end < 0:
            break
        nxt = old.find(b"\n", end + 1)
        anchor = old[at : (nxt + 1 if nxt >= 0 else len(old))]
        pos = new.find(anchor, j, j + _RESYNC_WINDOW + len(anchor))
        while pos >= 0 and pos > 0 and new[pos - 1] != 0x0A:
            pos = new.find(anchor, pos + 1, j + _RESYNC_WINDOW + len(anchor))
        if pos >= 0:
            return at, pos
        at = end + 1
    if len(old) - i <= _RESYNC_WINDOW or len(new) - j <= _RESYNC_WINDOW:
        return len(old), len(new)  # near the end: the rest differs
    raise NotLineOriented("the files differ too much to line them up")


def record_lines(data: bytes) -> int:
    """How many lines of a line-oriented zone file hold a record: all lines but blank,
    comment and directive lines. (Over-counts odd lines such as indented comments,
    which only makes ``has_duplicate_records`` cautious.)"""
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") or not data else 1)
    starts = (b"\n;", b"\n\n", b"\n$", b"\n\r\n")
    other = sum(data.count(s) for s in starts) + (data[:1] in (b";", b"\n", b"$"))
    trailing = 1 if data.endswith(b"\n\n") else 0  # counted as a blank line twice
    return lines - other + trailing
