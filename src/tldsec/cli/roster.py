"""``tldsec ceremony enrol|retire|assign|draft|roster|adopt``: the roster of trusted
people, changed only by ceremony (DPS 4.2.1, 4.2.4).

``enrol``, ``retire`` and ``assign`` edit a draft with no authority; a quorum of the
current roster adopts it (``adopt``); the founding's own people approve version 1
(``found``, in ``cli/founding.py``). The commands are registered with the rest in
``cli/ceremony.py``.
"""

from __future__ import annotations

import argparse
import base64
from dataclasses import replace
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from tldsec.atomicfile import replacing
from tldsec.audit.log import AuditLog
from tldsec.ceremony.gate import pass_gate, verified_roster
from tldsec.ceremony.policy import FOUND, ROSTER_CHANGE
from tldsec.ceremony.quorum import Person, Role
from tldsec.ceremony.records import write_record
from tldsec.ceremony.roster import RosterVersion, adoption_params, check_people
from tldsec.ceremony.store import CeremonyStore
from tldsec.cli.ceremony import audit_log, ceremony_settings, draft_for
from tldsec.cli.common import operator_actor, settings_from_args
from tldsec.clock import SystemClock
from tldsec.errors import CeremonyRefused, ConfigError
from tldsec.settings import Settings


def _base(settings: Settings, audit: AuditLog) -> RosterVersion:
    """The draft, or a new one following the verified roster (or empty before founding)."""
    store = CeremonyStore(settings.home)
    draft = store.draft()
    if draft is not None:
        return draft
    now = SystemClock().now()
    if not store.chain():
        return RosterVersion(1, "", now, "", ())
    current = verified_roster(settings.home, audit, ceremony_settings(settings))
    return RosterVersion(current.version + 1, current.digest(), now, "", current.people)


def _change(settings: Settings, audit: AuditLog, draft: RosterVersion, change: str) -> None:
    people = draft.people
    check_people(people, "the roster draft")
    text = f"{draft.change}; {change}" if draft.change else change
    updated = replace(draft, change=text, created=SystemClock().now())
    CeremonyStore(settings.home).write_draft(updated)
    audit.record("personnel.action", actor=operator_actor(), action=f"roster draft: {change}",
                 draft_version=updated.version, draft_sha256=updated.digest())  # fmt: skip
    print(f"roster draft version {updated.version}: {change}")
    print(f"  draft SHA-256 {updated.digest()}")


def enrol(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    role = Role(args.role)
    with audit_log(settings) as audit:
        draft = _base(settings, audit)
        key: Ed25519PrivateKey | None = None
        if args.key_out is not None:
            if args.key_out.exists():
                raise ConfigError(f"{args.key_out} exists: a private key is never overwritten")
            key = Ed25519PrivateKey.generate()
            public = key.public_key().public_bytes_raw()
        else:
            public = _public_key(args.public_key)
        person = Person(args.person, role, public, args.independent and role is Role.WI)
        if draft.find(person.name) is not None:
            raise CeremonyRefused(
                f"{person.name!r} is already on the roster draft (names compared without "
                "case and punctuation; DPS 4.2.4: no person in two roles): use assign"
            )
        check_people((*draft.people, person), "the roster draft")
        if key is not None:
            # The key first: a person on the roster whose key was never written could not
            # approve; a refusal below removes it again.
            pem = key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            with replacing(args.key_out, "wb", permissions=0o600) as f:
                f.write(pem)
        try:
            _change(settings, audit, replace(draft, people=(*draft.people, person)),
                    f"enrol {person.name} as {role.name}")  # fmt: skip
        except BaseException:
            if key is not None:
                args.key_out.unlink(missing_ok=True)
            raise
    if key is not None:
        print(f"private key of {person.name} in {args.key_out}: for their card or medium only")
    return 0


def retire(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    with audit_log(settings) as audit:
        draft = _base(settings, audit)
        person = _on(draft, args.person)
        people = tuple(p for p in draft.people if p is not person)
        _change(settings, audit, replace(draft, people=people), f"retire {person.name}")
    return 0


def assign(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    role = Role(args.role)
    with audit_log(settings) as audit:
        draft = _base(settings, audit)
        person = _on(draft, args.person)
        moved = Person(person.name, role, person.public_key, args.independent and role is Role.WI)
        people = tuple(moved if p is person else p for p in draft.people)
        _change(settings, audit, replace(draft, people=people),
                f"{person.name} from {person.role.name} to {role.name}")  # fmt: skip
    return 0


def _on(draft: RosterVersion, name: str) -> Person:
    person = draft.find(name)
    if person is None:
        raise CeremonyRefused(f"{name!r} is not on the roster draft")
    return person


def show_draft(args: argparse.Namespace) -> int:
    draft = CeremonyStore(settings_from_args(args).home).draft()
    if draft is None:
        print("no roster draft: enrol, retire or assign start one")
        return 0
    _print_roster(draft)
    what = FOUND if draft.version == 1 else ROSTER_CHANGE
    print(f"adopt it: tldsec ceremony start {what}; the approvals; tldsec ceremony "
          f"{'found' if draft.version == 1 else 'adopt'} --ceremony ID")  # fmt: skip
    return 0


def show_roster(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    with audit_log(settings) as audit:
        roster = verified_roster(settings.home, audit, ceremony_settings(settings))
    _print_roster(roster)
    print("verified: every version approved by a quorum of the one before, from the founding")
    return 0


def _print_roster(roster: RosterVersion) -> None:
    print(f"roster version {roster.version}  SHA-256 {roster.digest()}")
    if roster.change:
        print(f"  change: {roster.change}")
    for p in roster.people:
        extra = " (independent)" if p.independent else ""
        print(f"  {p.role.name:<8} {p.name}{extra}  {base64.b64encode(p.public_key).decode()}")


# -- ceremonies -----------------------------------------------------------------------


def adopt(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    store = CeremonyStore(settings.home)
    with audit_log(settings) as audit:
        draft = draft_for(settings, audit, ROSTER_CHANGE)
        authorised = pass_gate(settings, ROSTER_CHANGE, adoption_params(draft),
                               args.ceremony, now=SystemClock().now(), audit=audit,
                               actor=operator_actor())  # fmt: skip
        assert authorised is not None
        path = store.add_version(draft, authorised.ceremony)
        store.remove_draft()
        audit.record("ceremony.roster_changed", actor=operator_actor(), ceremony=args.ceremony,
                     version=draft.version, roster_sha256=draft.digest(),
                     previous_sha256=draft.previous, change=draft.change)  # fmt: skip
        write_record(settings, authorised, {"roster_version": draft.version,
                     "roster_sha256": draft.digest(), "change": draft.change},
                     now=SystemClock().now(), audit=audit, actor=operator_actor())  # fmt: skip
    print(f"roster version {draft.version} adopted ({path}): {draft.change}")
    print(f"  SHA-256 {draft.digest()}")
    return 0


def _public_key(path: Path) -> bytes:
    try:
        data = path.read_bytes()
        try:
            key: Any = serialization.load_pem_public_key(data)
        except ValueError:
            key = serialization.load_pem_private_key(data, password=None).public_key()
    except (OSError, ValueError, TypeError) as exc:
        raise CeremonyRefused(f"cannot read the public key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise CeremonyRefused(f"{path} is not an Ed25519 key")
    return key.public_bytes_raw()
