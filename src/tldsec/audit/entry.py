"""The audit entry and checkpoint as values, their canonical bytes and their hashes.

The format is the contract with outside auditors (docs/audit.md repeats it so anyone can
reimplement the check):

* An entry's canonical body is JSON with sorted keys, no whitespace, UTF-8:
  ``{"actor":..,"details":{..},"event":..,"level":..,"seq":N,"time":"..Z","v":1}``,
  plus ``"zone":"tld."`` when the entry concerns one zone (issue 19; decisions.md 58).
  An entry that names no zone has no ``zone`` member, so entries written before the
  field existed hash as they did. Detail keys are ASCII, values are strings, integers
  (|n| < 2**53), booleans, null, lists and objects: no floats, so every implementation
  writes the same bytes.
* ``hash = SHA-256(prev_hash (32 bytes) || body)``; the first entry's ``prev_hash`` is 32
  zero bytes. Hashes are written as lowercase hex.
* A checkpoint is an Ed25519 signature over the canonical JSON
  ``{"head_hash":..,"kind":"tldsec-audit-checkpoint","seq":N,"time":"..Z","v":1}``; an
  archive seal also signs where its file starts (``first_seq``, ``prev_hash``).

Pure: no I/O, no clock.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import PurePath
from typing import Any

FORMAT_VERSION = 1
GENESIS_HASH = "0" * 64
TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
MAX_SAFE_INT = 2**53 - 1  # RFC 8785 3.2.2.3: integers an IEEE double holds exactly
CHECKPOINT_KIND = "tldsec-audit-checkpoint"
SEAL_KIND = "tldsec-audit-archive-seal"


# A zone's name as the entry carries it: absolute, lower case, LDH labels (IDNs as
# A-labels, RFC 5890 2.3.2.1), at most 253 characters before the root's dot
# (RFC 1035 2.3.4); "." is the root zone.
_ZONE = re.compile(r"(?:(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)\.)+|\.")


def zone_name(text: str) -> str:
    """``text`` as an entry's zone: lower case, absolute (``Example`` -> ``example.``).

    Raises ``ValueError`` for anything that is not a DNS name.
    """
    name = text.strip().lower()
    if not name:
        raise ValueError("an empty zone name (the root zone is '.')")
    if not name.endswith("."):
        name += "."
    if len(name) > 254 or not _ZONE.fullmatch(name):
        raise ValueError(f"zone {text!r} is not a DNS name such as 'example.'")
    return name


def format_time(when: datetime) -> str:
    """ISO 8601 UTC with microseconds and ``Z``: the one text form of an entry's time."""
    if when.tzinfo is None:
        raise ValueError("naive datetime: audit times are UTC")
    if when.tzinfo is not UTC:
        when = when.astimezone(UTC)
    # isoformat is the fast path; "+00:00" becomes "Z" (same text as TIME_FORMAT).
    return when.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC)


def canonical_json(value: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8 (RFC 8785 for our restricted value set)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def normalize_details(details: Mapping[str, Any]) -> dict[str, Any]:
    """Details in the restricted JSON value set; datetimes, bytes, enums, paths converted.

    Raises ``ValueError`` naming the offending key for anything else (floats included).
    """
    return {_key(k, ""): _value(v, k) for k, v in details.items()}


def _key(key: object, where: str) -> str:
    if not isinstance(key, str) or not key.isascii() or not key:
        raise ValueError(f"detail key {where}{key!r} must be a non-empty ASCII string")
    return key


def _value(value: Any, where: str) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, Enum):
        return _value(value.value, where)
    if isinstance(value, int):
        if abs(value) > MAX_SAFE_INT:
            raise ValueError(f"detail {where}: integer {value} is beyond 2**53; use a string")
        return value
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, list | tuple | frozenset | set):
        items = sorted(value) if isinstance(value, set | frozenset) else value
        return [_value(v, f"{where}[{i}]") for i, v in enumerate(items)]
    if isinstance(value, Mapping):
        return {_key(k, f"{where}."): _value(v, f"{where}.{k}") for k, v in value.items()}
    raise ValueError(
        f"detail {where}: {type(value).__name__} is not recorded in the audit log "
        "(use str, int, bool, None, list or dict; floats are not canonical)"
    )


def entry_body(
    *,
    seq: int,
    time: datetime,
    actor: str,
    event: str,
    level: str,
    details: Mapping[str, Any],
    zone: str | None = None,
) -> bytes:
    """The canonical bytes of an entry, without its hashes; ``zone`` only when named."""
    body: dict[str, Any] = {
        "v": FORMAT_VERSION,
        "seq": seq,
        "time": format_time(time),
        "actor": actor,
        "event": event,
        "level": level,
        "details": details,
    }
    if zone is not None:
        body["zone"] = zone
    return canonical_json(body)


def chain_hash(prev_hash: str, body: bytes) -> str:
    """SHA-256 over the previous entry's hash (raw 32 bytes) and this entry's body."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + body).hexdigest()


@dataclass(frozen=True, slots=True, eq=True)
class Entry:
    """One audit entry, as stored: content, the hash it commits to, and its own hash.

    ``zone`` is the zone the entry concerns, or ``None`` for an installation-wide event
    and for every entry written before entries named their zone.
    """

    seq: int
    time: datetime
    actor: str
    event: str
    level: str
    details: Mapping[str, Any]
    prev_hash: str
    hash: str
    zone: str | None = None

    def body(self, seq: int | None = None) -> bytes:
        """Canonical bytes; ``seq`` overrides the number (to test a renumbering)."""
        return entry_body(
            seq=self.seq if seq is None else seq,
            time=self.time,
            actor=self.actor,
            event=self.event,
            level=self.level,
            details=self.details,
            zone=self.zone,
        )

    def computed_hash(self, seq: int | None = None) -> str:
        return chain_hash(self.prev_hash, self.body(seq))

    def to_record(self) -> dict[str, Any]:
        """The JSON Lines form used by exports and archives (``zone`` only when named)."""
        record: dict[str, Any] = {
            "record": "entry",
            "seq": self.seq,
            "time": format_time(self.time),
            "actor": self.actor,
            "event": self.event,
            "level": self.level,
            "details": dict(self.details),
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }
        if self.zone is not None:
            record["zone"] = self.zone
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Entry:
        details = record["details"]
        if not isinstance(details, dict):
            raise ValueError("details must be an object")
        zone = record.get("zone")
        if zone is not None and not isinstance(zone, str):
            raise ValueError("zone must be a string")
        return cls(
            seq=int(record["seq"]),
            time=parse_time(str(record["time"])),
            actor=str(record["actor"]),
            event=str(record["event"]),
            level=str(record["level"]),
            details=details,
            prev_hash=str(record["prev_hash"]),
            hash=str(record["hash"]),
            zone=zone,
        )


def make_entry(
    *,
    seq: int,
    time: datetime,
    actor: str,
    event: str,
    level: str,
    details: Mapping[str, Any],
    prev_hash: str,
    zone: str | None = None,
) -> Entry:
    """A new entry chained to ``prev_hash``."""
    body = entry_body(
        seq=seq, time=time, actor=actor, event=event, level=level, details=details, zone=zone
    )
    digest = chain_hash(prev_hash, body)
    return Entry(seq, time, actor, event, level, details, prev_hash, digest, zone)


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signed statement "the entry with sequence ``seq`` has hash ``head_hash``".

    With ``start`` set it is an archive seal: it also signs that the file begins after
    entry ``start[0]``, whose hash is ``start[1]``.
    """

    seq: int
    head_hash: str
    time: datetime
    key_id: str
    signature: bytes
    start: tuple[int, str] | None = None

    def message(self) -> bytes:
        return checkpoint_message(self.seq, self.head_hash, self.time, self.start)

    def to_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "record": "checkpoint" if self.start is None else "seal",
            "seq": self.seq,
            "head_hash": self.head_hash,
            "time": format_time(self.time),
            "key_id": self.key_id,
            "signature": self.signature.hex(),
        }
        if self.start is not None:
            record["first_seq"] = self.start[0] + 1
            record["prev_hash"] = self.start[1]
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Checkpoint:
        start = None
        if record.get("record") == "seal":
            start = (int(record["first_seq"]) - 1, str(record["prev_hash"]))
        return cls(
            seq=int(record["seq"]),
            head_hash=str(record["head_hash"]),
            time=parse_time(str(record["time"])),
            key_id=str(record["key_id"]),
            signature=bytes.fromhex(str(record["signature"])),
            start=start,
        )


def checkpoint_message(
    seq: int, head_hash: str, time: datetime, start: tuple[int, str] | None = None
) -> bytes:
    """The bytes an audit key signs: domain-separated, so a seal is never a checkpoint."""
    statement: dict[str, Any] = {
        "v": FORMAT_VERSION,
        "kind": CHECKPOINT_KIND if start is None else SEAL_KIND,
        "seq": seq,
        "head_hash": head_hash,
        "time": format_time(time),
    }
    if start is not None:
        statement["first_seq"] = start[0] + 1
        statement["prev_hash"] = start[1]
    return canonical_json(statement)
