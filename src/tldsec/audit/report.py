"""What ``verify_chain`` reports: findings (kind and place), anchors, the report itself.

Pure values; ``tldsec.audit.chain`` produces them and re-exports them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from tldsec.audit.entry import GENESIS_HASH


class FindingKind(StrEnum):
    MODIFIED = "modified"
    DELETED = "deleted"
    INSERTED = "inserted"
    REORDERED = "reordered"
    TRUNCATED = "truncated"
    REWOUND = "rewound"  # an anchor outside the database saw entries the log lacks
    ARCHIVE = "archive"  # an archive the log mentions is missing, changed or unproven
    REPLACED = "replaced"
    BAD_SIGNATURE = "bad-signature"
    UNTRUSTED_KEY = "untrusted-key"
    UNSIGNED = "unsigned"
    BAD_START = "bad-start"
    MALFORMED = "malformed"


@dataclass(frozen=True, slots=True)
class Finding:
    """One broken place: what kind, which sequence numbers, and what was seen."""

    kind: FindingKind
    first_seq: int | None
    last_seq: int | None
    detail: str

    @property
    def where(self) -> str:
        if self.first_seq is None:
            return "log"
        if self.last_seq is None or self.last_seq == self.first_seq:
            return f"seq {self.first_seq}"
        return f"seq {self.first_seq}-{self.last_seq}"

    def __str__(self) -> str:
        return f"{self.kind.value} at {self.where}: {self.detail}"


@dataclass(frozen=True, slots=True)
class Anchor:
    """A known (sequence number, hash) the chain must continue from, or end at."""

    seq: int
    hash: str
    source: str


GENESIS = Anchor(0, GENESIS_HASH, "the start of the log")


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """What ``verify_chain`` found; ``ok`` when nothing."""

    findings: tuple[Finding, ...]
    entries: int
    first_seq: int | None
    last_seq: int | None
    checkpoints_total: int
    checkpoints_valid: int
    signed_upto: int | None  # newest sequence number a trusted checkpoint vouches for

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def unsigned_tail(self) -> tuple[int, int] | None:
        """Entries after the newest valid checkpoint: intact, but not yet vouched for."""
        if self.last_seq is None:
            return None
        start = (self.signed_upto or (self.first_seq or 1) - 1) + 1
        return (start, self.last_seq) if start <= self.last_seq else None
