"""What cycles leave for the next one and for ``tldsec status``: ``CycleState`` in the
zone's ``zones/NAME/cycle.json`` (written atomically), and ``Pending``, why a cycle must
run; ``zone_paths``, where a zone's cycle keeps its files (decision 57)."""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from tldsec.atomicfile import replacing
from tldsec.settings import Settings
from tldsec.zonehome import ZoneHome

log = logging.getLogger("tldsec.cycle")

STATE_FILE = "cycle.json"
LAST_REPORT = "last-report.json"
UNSIGNED_NAME = "unsigned.zone"  # the build's output in the cycle's work directory


def zone_paths(settings: Settings) -> ZoneHome:
    """The directory of the settings' zone, ``zones/NAME/`` (``settings.zone_dir``): its
    cycle state, reports, work files and store. ``settings`` are narrowed to one zone
    (``Settings.one_zone``); a home of several zones un-narrowed raises ``ConfigError``."""
    return ZoneHome(settings.zones_dir, settings.origin)


@dataclass(frozen=True, slots=True)
class Pending:
    """Why a cycle must run: ``kind`` is first, interrupted, registry, keys, config,
    refresh or forced; ``reason`` says it in words."""

    kind: str
    reason: str
    since: datetime | None = None  # registry: when the oldest change not yet in the zone was made

    def __str__(self) -> str:
        return self.reason


@dataclass(frozen=True, slots=True)
class CycleState:
    """What the last cycles left for the next one and for ``tldsec status``."""

    serial: int | None = None  # the serial the last published cycle distributed
    change_id: int = 0  # the newest registry zone_change row in that serial
    fingerprint: str = ""  # keys, policy and apex that serial was signed with
    resign_at: int | None = None  # epoch: a signature falls below the refresh threshold
    earliest_expiry: int | None = None  # epoch: the first RRSIG expiration
    last: dict[str, Any] | None = None  # the last cycle's result, whatever its outcome
    last_published: dict[str, Any] | None = None
    incident: dict[str, Any] | None = None  # the last refusal, hold or integrity failure
    held: dict[str, Any] | None = None  # the change the collapse guards hold (``guard``)
    # The unsigned zone the last build wrote and reconciled with the registry: the next
    # build starts from it only if it is still that file (``reconcile``).
    unsigned_sha256: str | None = None
    reconciled_full_at: int | None = None  # epoch: the last whole-zone reconciliation
    # The registry's running digest and the digest of that unsigned zone (``ledger``).
    ledger: dict[str, Any] | None = None

    @classmethod
    def load(cls, path: Path) -> CycleState:
        try:
            data = json.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            return cls()
        except (OSError, ValueError) as exc:
            log.warning("cycle state %s unreadable (%s): the next cycle runs in full", path, exc)
            return cls()
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})

    def save(self, path: Path) -> None:
        write_atomic(path, json.dumps(asdict(self), indent=2) + "\n")


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path, "w", encoding="utf-8") as out:
        out.write(text)
