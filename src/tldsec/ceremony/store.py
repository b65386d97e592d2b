"""Ceremonies, roster versions and the roster draft, as files in the home.

``HOME/ceremony/<id>.json`` is one ceremony: its statement and the approvals collected.
Whether it was used is not in the file but in the audit log (``ceremony/gate.py``).
``HOME/ceremony/roster/NNNN.json`` is roster version NNNN with the ceremony that approved
it (``ceremony/roster.py``); ``HOME/ceremony/roster-draft.json`` is the next version
being prepared (enrol, retire, change a role), with no authority until a ceremony adopts
it. ``HOME/tldsec.toml`` ``[ceremony]`` says which operations need a ceremony, how long
approvals last, the quorum of each class and the founding roster's hash. Every file is
replaced atomically.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tldsec.atomicfile import replacing
from tldsec.ceremony.policy import (
    CONFIGURABLE,
    DEFAULT_QUORUMS,
    OPERATIONS,
    OperationClass,
)
from tldsec.ceremony.quorum import Approval, Quorum, Statement
from tldsec.ceremony.record import CeremonyRecord
from tldsec.ceremony.roster import RosterVersion, SignedVersion
from tldsec.errors import CeremonyRefused, ConfigError
from tldsec.settings import Settings
from tldsec.settings.strict import nearest

DIRECTORY = "ceremony"
ROSTER_DIRECTORY = "roster"
DRAFT = "roster-draft.json"
LEGACY_ROSTER = "roster.toml"
ROOT = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class CeremonySettings:
    """``[ceremony]``: which operations need a ceremony, how long an approval lasts, the
    quorum of each class (DPS 4.2.2) and the pinned founding roster hash."""

    required: frozenset[str] = frozenset()
    valid_minutes: int = 60
    quorums: Mapping[OperationClass, Quorum] = field(default_factory=lambda: dict(DEFAULT_QUORUMS))
    roster_root: str | None = None


def load_ceremony_settings(settings: Settings) -> CeremonySettings:
    """The ``[ceremony]`` table of the settings (typed by ``settings.tables``), checked
    for what the schema cannot say: operation names, quorum slots, the root's form."""
    table = settings.config.ceremony
    source = str(settings.source)
    required = table.required
    if required == "all":
        required = CONFIGURABLE
    unknown = sorted(set(required) - set(CONFIGURABLE)) if isinstance(required, tuple) else []
    if isinstance(required, str) or unknown:
        wrong = unknown[0] if unknown else str(required)
        raise ConfigError(
            f"{source}: [ceremony] required lists operations from {', '.join(CONFIGURABLE)} "
            f"(or is 'all'); unknown: {', '.join(unknown) or repr(required)}"
            f"{nearest(wrong, CONFIGURABLE)}"
        )
    quorums = dict(DEFAULT_QUORUMS)
    for name, slots in (table.quorum or {}).items():
        try:
            cls = OperationClass(name)
            quorum = Quorum.of(*slots)
        except ValueError as exc:
            raise ConfigError(
                f"{source}: [ceremony.quorum] {name} = {list(slots)!r}: {exc} (classes: "
                f"{', '.join(c.value for c in OperationClass)}; slots of sa, so, wi)"
            ) from None
        default = DEFAULT_QUORUMS[cls]
        if len(quorum.slots) < len(default.slots):
            raise ConfigError(
                f"{source}: [ceremony.quorum] {name} needs at least {len(default.slots)} "
                f"people ({default.describe()}, DPS 4.2.2), not {len(quorum.slots)}"
            )
        quorums[cls] = quorum
    root = table.roster_root
    if root is not None and not ROOT.fullmatch(root):
        raise ConfigError(
            f"{source}: [ceremony] roster_root is the founding roster's SHA-256 (64 hex "
            "digits, as 'tldsec ceremony found' printed it)"
        )
    return CeremonySettings(frozenset(required), table.valid_minutes, quorums, root)


@dataclass(frozen=True, slots=True)
class Ceremony:
    statement: Statement
    approvals: tuple[Approval, ...] = ()


class CeremonyStore:
    """The ceremony files of one home."""

    def __init__(self, home: Path) -> None:
        self.directory = home / DIRECTORY

    # -- the roster -----------------------------------------------------------------

    def chain(self) -> list[SignedVersion]:
        """Every roster version file, oldest first, as read (verified by the gate).

        A roster file of the old unsigned kind is refused: it has no authority."""
        legacy = self.directory / LEGACY_ROSTER
        if legacy.exists():
            raise CeremonyRefused(
                f"{legacy} is an unsigned roster and authorises nothing (DPS 4.2.1: the "
                "roster changes only by quorum): found the roster in a founding ceremony "
                "(tldsec ceremony found) and remove the file"
            )
        directory = self.directory / ROSTER_DIRECTORY
        try:
            files = sorted(directory.glob("*.json"))
        except OSError as exc:
            raise CeremonyRefused(f"cannot read the roster in {directory}: {exc}") from exc
        links = []
        for n, path in enumerate(files, start=1):
            if path.name != f"{n:04d}.json":
                raise CeremonyRefused(
                    f"{path}: roster versions are 0001.json, 0002.json, ... without gaps; "
                    f"expected {n:04d}.json: restore the signed versions"
                )
            try:
                data = json.loads(path.read_text("utf-8"))
                links.append(
                    SignedVersion(
                        RosterVersion.from_json(data["roster"]),
                        _statement(data["ceremony"]),
                        _approvals(data["ceremony"]["approvals"]),
                        str(path),
                    )
                )
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise CeremonyRefused(f"{path}: not a readable roster version: {exc}") from exc
        return links

    def add_version(self, roster: RosterVersion, ceremony: Ceremony) -> Path:
        directory = self.directory / ROSTER_DIRECTORY
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = directory / f"{roster.version:04d}.json"
        if path.exists():
            raise CeremonyRefused(f"{path} exists: roster version {roster.version} was adopted")
        data = {"roster": roster.to_json(), "ceremony": _ceremony_json(ceremony)}
        with replacing(path, "w", encoding="utf-8") as f:
            f.write(json.dumps(data, indent=1) + "\n")
        return path

    def draft(self) -> RosterVersion | None:
        path = self.directory / DRAFT
        try:
            return RosterVersion.from_json(json.loads(path.read_text("utf-8")))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CeremonyRefused(f"{path}: not a readable roster draft: {exc}") from exc

    def write_draft(self, draft: RosterVersion) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with replacing(self.directory / DRAFT, "w", encoding="utf-8") as f:
            f.write(json.dumps(draft.to_json(), indent=1) + "\n")

    def remove_draft(self) -> None:
        (self.directory / DRAFT).unlink(missing_ok=True)

    # -- ceremonies -----------------------------------------------------------------

    def start(
        self, operation: str, params: dict[str, str], now: datetime, minutes: int
    ) -> Ceremony:
        if operation not in OPERATIONS:
            raise ConfigError(f"unknown operation {operation!r} (one of {', '.join(OPERATIONS)})")
        ceremony_id = f"{now:%Y%m%d}-{secrets.token_hex(4)}"
        statement = Statement(ceremony_id, operation, params, now, now + timedelta(minutes=minutes))
        ceremony = Ceremony(statement)
        self._write(ceremony)
        return ceremony

    def path(self, ceremony_id: str) -> Path:
        if not ceremony_id.replace("-", "").isalnum():
            raise CeremonyRefused(f"{ceremony_id!r} is not a ceremony id")
        return self.directory / f"{ceremony_id}.json"

    def get(self, ceremony_id: str) -> Ceremony:
        path = self.path(ceremony_id)
        try:
            data = json.loads(path.read_text("utf-8"))
            return Ceremony(_statement(data), _approvals(data["approvals"]))
        except FileNotFoundError:
            raise CeremonyRefused(f"no ceremony {ceremony_id} in {self.directory}") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CeremonyRefused(f"{path}: not a readable ceremony: {exc}") from exc

    def add_approval(self, ceremony: Ceremony, approval: Approval) -> Ceremony:
        if any(a.person == approval.person for a in ceremony.approvals):
            raise CeremonyRefused(
                f"{approval.person} already approved ceremony {ceremony.statement.ceremony_id}"
                " (DPS 4.2.2: one person, one approval)"
            )
        updated = replace(ceremony, approvals=(*ceremony.approvals, approval))
        self._write(updated)
        return updated

    # -- records (DPS 5.1.1) --------------------------------------------------------

    def record(self, ceremony_id: str) -> tuple[CeremonyRecord, tuple[Approval, ...]]:
        path = self.path(ceremony_id).with_suffix(".record.json")
        try:
            data = json.loads(path.read_text("utf-8"))
            return CeremonyRecord.from_json(data["record"]), _approvals(data["signatures"])
        except FileNotFoundError:
            raise CeremonyRefused(
                f"ceremony {ceremony_id} has no record: its operation did not finish"
            ) from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CeremonyRefused(f"{path}: not a readable ceremony record: {exc}") from exc

    def write_record(self, record: CeremonyRecord, signatures: tuple[Approval, ...]) -> Path:
        path = self.path(record.ceremony_id).with_suffix(".record.json")
        data = {
            "record": record.to_json(),
            "signatures": [
                {"person": a.person, "signature": base64.b64encode(a.signature).decode()}
                for a in signatures
            ],
        }
        with replacing(path, "w", encoding="utf-8") as f:
            f.write(json.dumps(data, indent=1) + "\n")
        return path

    def _write(self, ceremony: Ceremony) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = self.directory / f"{ceremony.statement.ceremony_id}.json"
        with replacing(path, "w", encoding="utf-8") as f:
            f.write(json.dumps(_ceremony_json(ceremony), indent=1) + "\n")


def _ceremony_json(ceremony: Ceremony) -> dict[str, Any]:
    s = ceremony.statement
    return {
        "id": s.ceremony_id,
        "operation": s.operation,
        "params": dict(s.params),
        "created": s.created.isoformat(),
        "expires": s.expires.isoformat(),
        "approvals": [
            {"person": a.person, "signature": base64.b64encode(a.signature).decode()}
            for a in ceremony.approvals
        ],
    }


def _statement(data: dict[str, Any]) -> Statement:
    return Statement(
        str(data["id"]),
        str(data["operation"]),
        {str(k): str(v) for k, v in data["params"].items()},
        datetime.fromisoformat(data["created"]),
        datetime.fromisoformat(data["expires"]),
    )


def _approvals(items: list[dict[str, Any]]) -> tuple[Approval, ...]:
    return tuple(
        Approval(str(a["person"]), base64.b64decode(a["signature"], validate=True)) for a in items
    )
