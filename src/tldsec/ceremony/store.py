"""Ceremonies and the roster of trusted people, as files in the home.

``HOME/ceremony/roster.toml`` lists the trusted people (DPS 5.1: name, role, Ed25519
public key); ``HOME/ceremony/<id>.json`` is one ceremony: its statement, the approvals
collected, and whether it was used (each ceremony authorises one run of its operation).
Every file is replaced atomically. ``HOME/tldsec.toml`` ``[ceremony] required`` names
the operations that may only run under a ceremony.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import tomllib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tldsec.atomicfile import replacing
from tldsec.ceremony.quorum import Approval, Person, Role, Statement
from tldsec.errors import CeremonyRefused, ConfigError
from tldsec.settings import Settings
from tldsec.settings.strict import nearest

OPERATIONS = (
    "backup.smk-create",
    "backup.smk-install",
    "backup.keys",
    "backup.restore",
    "keys.rollover",
)
NAME = re.compile(r"[A-Za-z0-9._-]{1,64}")
DIRECTORY = "ceremony"
ROSTER = "roster.toml"


@dataclass(frozen=True, slots=True)
class CeremonySettings:
    """``[ceremony]``: which operations need a ceremony, how long an approval lasts."""

    required: frozenset[str] = frozenset()
    valid_minutes: int = 60


def load_ceremony_settings(settings: Settings) -> CeremonySettings:
    """The ``[ceremony]`` table of the settings (checked by ``settings.tables``)."""
    required = settings.config.ceremony.required
    if required == "all":
        required = OPERATIONS
    unknown = sorted(set(required) - set(OPERATIONS)) if isinstance(required, tuple) else []
    if isinstance(required, str) or unknown:
        wrong = unknown[0] if unknown else str(required)
        raise ConfigError(
            f"{settings.source}: [ceremony] required lists operations from "
            f"{', '.join(OPERATIONS)} (or is 'all'); unknown: "
            f"{', '.join(unknown) or repr(required)}{nearest(wrong, OPERATIONS)}"
        )
    return CeremonySettings(frozenset(required), settings.config.ceremony.valid_minutes)


@dataclass(frozen=True, slots=True)
class Ceremony:
    statement: Statement
    approvals: tuple[Approval, ...] = ()
    used: str | None = None  # when it authorised its operation (ISO time)


class CeremonyStore:
    """The ceremony files of one home."""

    def __init__(self, home: Path) -> None:
        self.directory = home / DIRECTORY

    # -- the roster -----------------------------------------------------------------

    def roster(self) -> dict[str, Person]:
        path = self.directory / ROSTER
        try:
            data = tomllib.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        people: dict[str, Person] = {}
        for i, entry in enumerate(data.get("person", []), start=1):
            try:
                person = Person(
                    str(entry["name"]),
                    Role(entry["role"]),
                    base64.b64decode(entry["public_key"], validate=True),
                )
            except (KeyError, ValueError, TypeError) as exc:
                raise ConfigError(f"{path}: person {i}: {exc}") from exc
            if len(person.public_key) != 32:
                raise ConfigError(f"{path}: {person.name}: not an Ed25519 public key")
            if person.name in people:
                raise ConfigError(f"{path}: {person.name} is listed twice")
            people[person.name] = person
        return people

    def roster_digest(self) -> str:
        """SHA-256 of the roster file, recorded with every completed ceremony."""
        try:
            return hashlib.sha256((self.directory / ROSTER).read_bytes()).hexdigest()
        except FileNotFoundError:
            return "none"

    def add_person(self, person: Person) -> None:
        if not NAME.fullmatch(person.name):
            raise ConfigError(f"{person.name!r}: a name is letters, digits, '.', '_' or '-'")
        people = self.roster()
        if person.name in people:
            raise ConfigError(f"{person.name} is already on the ceremony roster")
        people[person.name] = person
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        lines = []
        for p in people.values():
            key = base64.b64encode(p.public_key).decode()
            lines.append(
                f'[[person]]\nname = "{p.name}"\nrole = "{p.role}"\npublic_key = "{key}"\n'
            )
        with replacing(self.directory / ROSTER, "w", encoding="utf-8") as f:
            f.write("# Trusted people for key ceremonies (DPS 5.1); tldsec ceremony enrol\n")
            f.write("\n".join(lines))

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

    def get(self, ceremony_id: str) -> Ceremony:
        if not ceremony_id.replace("-", "").isalnum():
            raise CeremonyRefused(f"{ceremony_id!r} is not a ceremony id")
        path = self.directory / f"{ceremony_id}.json"
        try:
            return _ceremony(json.loads(path.read_text("utf-8")))
        except FileNotFoundError:
            raise CeremonyRefused(f"no ceremony {ceremony_id} in {self.directory}") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CeremonyRefused(f"{path}: not a readable ceremony: {exc}") from exc

    def add_approval(self, ceremony: Ceremony, approval: Approval) -> Ceremony:
        if ceremony.used:
            raise CeremonyRefused(f"ceremony {ceremony.statement.ceremony_id} was already used")
        if any(a.person == approval.person for a in ceremony.approvals):
            raise CeremonyRefused(
                f"{approval.person} already approved ceremony {ceremony.statement.ceremony_id}"
            )
        updated = replace(ceremony, approvals=(*ceremony.approvals, approval))
        self._write(updated)
        return updated

    def mark_used(self, ceremony: Ceremony, now: datetime) -> None:
        current = self.get(ceremony.statement.ceremony_id)
        if current.used:
            raise CeremonyRefused(
                f"ceremony {ceremony.statement.ceremony_id} was already used at {current.used}"
            )
        self._write(replace(current, used=now.isoformat()))

    def _write(self, ceremony: Ceremony) -> None:
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        s = ceremony.statement
        data = {
            "id": s.ceremony_id,
            "operation": s.operation,
            "params": dict(s.params),
            "created": s.created.isoformat(),
            "expires": s.expires.isoformat(),
            "approvals": [
                {"person": a.person, "signature": base64.b64encode(a.signature).decode()}
                for a in ceremony.approvals
            ],
            "used": ceremony.used,
        }
        with replacing(self.directory / f"{s.ceremony_id}.json", "w", encoding="utf-8") as f:
            f.write(json.dumps(data, indent=1) + "\n")


def _ceremony(data: dict[str, Any]) -> Ceremony:
    statement = Statement(
        str(data["id"]),
        str(data["operation"]),
        {str(k): str(v) for k, v in data["params"].items()},
        datetime.fromisoformat(data["created"]),
        datetime.fromisoformat(data["expires"]),
    )
    approvals = tuple(
        Approval(str(a["person"]), base64.b64decode(a["signature"], validate=True))
        for a in data["approvals"]
    )
    return Ceremony(statement, approvals, data.get("used"))
