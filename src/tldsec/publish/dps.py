"""The DNSSEC Policy Statement's versions and its text as sections (DPS 1.4.3).

A ``DpsVersion`` is one version of the statement (``[[publish.dps]]``): its number, the
day it takes effect, its text and what changed. The version in force at an instant is
the one with the latest effective day not after it; a later one is upcoming and is
announced ahead (``notify``). ``parse_sections`` turns the plain text (as extracted from
the published PDF, /work/shared/dps.txt is the model) into numbered sections of
paragraphs and list items for the HTML page.

Pure: no clock, no I/O.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

# "1.4.3 Specification Change Procedures", "3.5.1. Who can request removal": a number,
# then a capitalised title on one short line.
_HEADING = re.compile(r"\A(\d{1,2}(?:\.\d{1,2}){0,3})\.?\s+([A-Z][^\n]{0,70}?)\s*\Z")
_BULLETS = ("\uf0b7", "\u2022", "- ", "* ")


@dataclass(frozen=True, slots=True)
class DpsVersion:
    """One version of the DPS and when it takes effect (00:00 UTC of ``effective``)."""

    version: str
    effective: date
    text: str
    summary: str = ""
    significant: bool = True
    source: str = ""

    def __post_init__(self) -> None:
        if not self.version.strip():
            raise ValueError("a DPS version needs a version number")
        if not self.text.strip():
            raise ValueError(f"DPS version {self.version}: the text is empty ({self.source})")

    @property
    def effective_at(self) -> datetime:
        return datetime(self.effective.year, self.effective.month, self.effective.day, tzinfo=UTC)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    @property
    def slug(self) -> str:
        """The version as a file-name part: ``dps-1.2.html``."""
        return re.sub(r"[^A-Za-z0-9._-]", "-", self.version)


def ordered(versions: Sequence[DpsVersion]) -> list[DpsVersion]:
    """Oldest first; two versions on one day or with one number are refused."""
    out = sorted(versions, key=lambda v: v.effective)
    for a, b in itertools.pairwise(out):
        if a.effective == b.effective:
            raise ValueError(f"DPS versions {a.version} and {b.version} take effect the same day")
    if len({v.slug for v in out}) != len(out):
        raise ValueError("two DPS versions have the same version number")
    return out


def in_force(versions: Sequence[DpsVersion], now: datetime) -> DpsVersion | None:
    """The version in force at ``now``: the latest that took effect."""
    past = [v for v in ordered(versions) if v.effective_at <= now]
    return past[-1] if past else None


def upcoming(versions: Sequence[DpsVersion], now: datetime) -> list[DpsVersion]:
    """Versions that take effect after ``now``, soonest first."""
    return [v for v in ordered(versions) if v.effective_at > now]


@dataclass(frozen=True, slots=True)
class Block:
    """A paragraph (``p``) or a list item (``li``)."""

    kind: str
    text: str


@dataclass(frozen=True, slots=True)
class Section:
    """A numbered section ("1.4.3") or the untitled text before the first one ("")."""

    number: str
    title: str
    blocks: tuple[Block, ...]

    @property
    def anchor(self) -> str:
        return "s" + self.number if self.number else "top"

    @property
    def depth(self) -> int:
        return self.number.count(".") + 1 if self.number else 0


def parse_sections(text: str) -> list[Section]:
    """Numbered sections of paragraphs and list items.

    Text extracted from a PDF breaks lines anywhere and puts blank lines between them,
    so a paragraph ends at a line ending in ``.``, ``:`` or ``;``, a bullet (or the one
    space a lost bullet glyph leaves) starts a list item, and a heading line starts a
    section; other line breaks are spaces."""
    sections: list[Section] = []
    number, title = "", ""
    blocks: list[Block] = []
    words: list[str] = []
    kind = "p"

    def flush_block() -> None:
        nonlocal words, kind
        joined = " ".join(words).strip()
        if joined:
            blocks.append(Block(kind, joined))
        words, kind = [], "p"

    def flush_section() -> None:
        nonlocal blocks
        flush_block()
        if number or blocks:
            sections.append(Section(number, title, tuple(blocks)))
        blocks = []

    seen: set[str] = set()
    for raw in text.replace("\f", "\n").splitlines():
        line = " ".join(raw.split())
        if not line:
            continue
        heading = _HEADING.match(line)
        if heading and heading.group(1) not in seen and len(line) <= 80:
            flush_section()
            number, title = heading.group(1), heading.group(2)
            seen.add(number)
            continue
        bullet = next((b for b in _BULLETS if line.startswith(b)), None)
        # A PDF extraction that dropped the bullet glyph leaves its one leading space.
        if bullet is not None or (raw.startswith(" ") and not raw.startswith("  ")):
            flush_block()
            kind = "li"
            line = line[len(bullet or "") :].strip()
        words.append(line)
        if line.endswith((".", ":", ";")):
            flush_block()
    flush_section()
    return sections
