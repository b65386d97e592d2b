"""``tldsec ceremony``: the roster of trusted people and the key ceremonies (DPS 4.2, 5.1).

A sensitive operation runs only with ``--ceremony ID`` of a ceremony whose approvals
fill its class's quorum (DPS 4.2.2), each person signing with their own key. The roster
changes only by ceremony: ``enrol``, ``retire`` and ``assign`` edit a draft, which a
quorum of the current roster adopts (``start ceremony.roster``, ``approve``, ``adopt``);
the first version is made by ``found``, approved by its own people (those commands are
in ``cli/roster.py``, the founding in ``cli/founding.py``). Here: ``start``, ``approve``,
``show [--verify]``, ``sign`` (the record, DPS 5.1.1) and ``script``, and the helpers
the other modules use.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
)

from tldsec.audit.config import open_audit_log
from tldsec.audit.log import AuditLog
from tldsec.audit.query import EntryFilter, iter_entries
from tldsec.ceremony.gate import verified_roster
from tldsec.ceremony.pgpwords import hex_words
from tldsec.ceremony.policy import (
    FOUND,
    FOUNDING_SMK_PARAMS,
    OPERATIONS,
    ROSTER_CHANGE,
    check_staffed,
)
from tldsec.ceremony.quorum import Approval, Role
from tldsec.ceremony.record import check_signatures
from tldsec.ceremony.records import check_record, roster_versions
from tldsec.ceremony.roster import RosterVersion, adoption_params, check_people
from tldsec.ceremony.script import render, script
from tldsec.ceremony.store import CeremonySettings, CeremonyStore, load_ceremony_settings
from tldsec.cli.common import add_home_argument, operator_actor, settings_from_args
from tldsec.clock import SystemClock
from tldsec.errors import CeremonyRefused, ConfigError
from tldsec.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    from tldsec.cli import founding, roster  # their handlers use this module's helpers

    p = sub.add_parser(
        "ceremony",
        help="key ceremonies: trusted people approve a sensitive operation (DPS 4.2.2)",
        description="Sensitive operations run under a ceremony whose approvals fill the "
        "quorum of DPS 4.2.2; the roster of trusted people changes only by ceremony.",
    )
    acts = p.add_subparsers(dest="ceremony_action", metavar="ACTION", required=True)

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        a = acts.add_parser(name, help=help_text, description=help_text)
        add_home_argument(a)
        return a

    a = action("enrol", "add a trusted person to the roster draft; write their private key")
    a.add_argument("person", help="their name (letters, digits, space, '.', '_', '-')")
    a.add_argument("--role", required=True, choices=[r.value for r in Role])
    key = a.add_mutually_exclusive_group(required=True)
    key.add_argument("--key-out", type=Path, help="make their key; private half to this new file")
    key.add_argument("--public-key", type=Path, help="their own key's public half (PEM)")
    a.add_argument(
        "--independent",
        action="store_true",
        help="a witness with no ties to the operations or IT (DPS 4.2.4; required for wi)",
    )
    a.set_defaults(handler=roster.enrol)
    a = action("retire", "remove a person from the roster draft")
    a.add_argument("person")
    a.set_defaults(handler=roster.retire)
    a = action("assign", "give a person on the roster draft another role")
    a.add_argument("person")
    a.add_argument("--role", required=True, choices=[r.value for r in Role])
    a.add_argument("--independent", action="store_true", help="(for wi) see enrol")
    a.set_defaults(handler=roster.assign)
    a = action("draft", "the roster draft, its SHA-256 and how to adopt it")
    a.set_defaults(handler=roster.show_draft)
    a = action("roster", "the verified roster: the newest version of the signed chain")
    a.set_defaults(handler=roster.show_roster)
    a = action("start", "write down an operation and its parameters for approval")
    a.add_argument("operation", choices=list(OPERATIONS))
    a.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    a.set_defaults(handler=_start)
    a = action("approve", "approve a ceremony as one trusted person (signs it)")
    a.add_argument("ceremony")
    a.add_argument("--person", required=True)
    a.add_argument("--key", type=Path, required=True, help="the person's private key file")
    a.set_defaults(handler=_approve)
    a = action("adopt", "make the roster draft the next roster version (a roster ceremony)")
    a.add_argument("--ceremony", metavar="ID", required=True)
    a.set_defaults(handler=roster.adopt)
    a = action("found", "the founding ceremony: roster version 1, the first keys, the SMK")
    a.add_argument("--ceremony", metavar="ID", required=True)
    a.add_argument(
        "--smk-holder",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="also make the SMK: a holder on the new roster and the file for their share "
        "(approved as --param smk_holders=NAME,... --param smk_threshold=N)",
    )
    a.add_argument("--smk-threshold", type=int, default=3, help="shares needed (default 3)")
    a.add_argument(
        "--so-pin-source",
        default="prompt",
        metavar="SOURCE",
        help="the security officer's PIN for the SMK: prompt, file:PATH or env:NAME",
    )
    a.set_defaults(handler=founding.found)
    a = action("show", "a ceremony: what it authorises, who approved, whether it was used")
    a.add_argument("ceremony")
    a.add_argument(
        "--verify",
        action="store_true",
        help="check its record: every participant's signature and the audit entry (DPS 5.1.1)",
    )
    a.add_argument("--json", action="store_true", help="JSON (the only form; for scripts)")
    a.set_defaults(handler=_show)
    a = action("sign", "sign a ceremony's record as one participant, after the operation")
    a.add_argument("ceremony")
    a.add_argument("--person", required=True)
    a.add_argument("--key", type=Path, required=True, help="the person's private key file")
    a.set_defaults(handler=_sign)
    a = action("script", "the step-by-step script of a ceremony, with the values read back")
    a.add_argument("operation", choices=list(OPERATIONS))
    a.add_argument("--ceremony", metavar="ID", help="fill in this ceremony's values")
    a.set_defaults(handler=_script)


@contextmanager
def audit_log(settings: Settings) -> Iterator[AuditLog]:
    audit = open_audit_log(settings, SystemClock())
    try:
        yield audit
    finally:
        audit.close()


# -- the roster draft -----------------------------------------------------------------


def _start(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    params = dict(_param(text) for text in args.param)
    with audit_log(settings) as audit:
        if args.operation in (FOUND, ROSTER_CHANGE):
            extra = set(params) - (FOUNDING_SMK_PARAMS if args.operation == FOUND else set())
            if extra:
                raise ConfigError(
                    f"{args.operation} approves the roster draft; it takes no --param "
                    f"{', '.join(sorted(extra))} (the founding takes smk_holders, smk_threshold)"
                )
            params = {**params, **adoption_params(draft_for(settings, audit, args.operation))}
        minutes = ceremony_settings(settings).valid_minutes
        ceremony = CeremonyStore(settings.home).start(
            args.operation, params, SystemClock().now(), minutes
        )
        s = ceremony.statement
        audit.record("ceremony.started", actor=operator_actor(), ceremony=s.ceremony_id,
                     operation=s.operation, params=params, expires=s.expires.isoformat(),
                     statement_sha256=s.digest())  # fmt: skip
    quorum = ceremony_settings(settings).quorums[OPERATIONS[s.operation]]
    print(f"ceremony {s.ceremony_id}: {s.operation} {params or ''}".rstrip())
    print(f"valid until {s.expires:%Y-%m-%d %H:%M:%S %Z}; {quorum.describe()} approve it with")
    print(f"  tldsec ceremony approve {s.ceremony_id} --person NAME --key FILE")
    return 0


def draft_for(settings: Settings, audit: AuditLog, operation: str) -> RosterVersion:
    """The draft a founding or roster ceremony approves, checked to fit the chain."""
    store = CeremonyStore(settings.home)
    draft = store.draft()
    if draft is None:
        raise CeremonyRefused(
            f"{operation} approves the roster draft, and there is none: enrol people first"
        )
    if operation == FOUND:
        if draft.version != 1 or store.chain():
            raise CeremonyRefused(
                "the roster was founded already (DPS 4.2.1: changes need the quorum of the "
                "current roster): start ceremony.roster instead"
            )
    else:
        current = verified_roster(settings.home, audit, ceremony_settings(settings))
        if draft.version != current.version + 1 or draft.previous != current.digest():
            raise CeremonyRefused(
                f"the roster draft follows version {draft.version - 1}, the roster is at "
                f"version {current.version}: remove {store.directory / 'roster-draft.json'}"
                " and make the changes again"
            )
    check_people(draft.people, "the roster draft")
    check_staffed(draft.people, f"roster draft version {draft.version}")
    return draft


def _approve(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    store = CeremonyStore(settings.home)
    ceremony = store.get(args.ceremony)
    with audit_log(settings) as audit:
        if ceremony.statement.operation == FOUND:
            roster = store.draft() or RosterVersion(1, "", SystemClock().now(), "", ())
        else:
            roster = verified_roster(settings.home, audit, ceremony_settings(settings))
        person = roster.by_name().get(args.person)
        if person is None:
            raise CeremonyRefused(
                f"{args.person!r} is not on the verified roster (version {roster.version})"
            )
        key = _private_key(args.key)
        if key.public_key().public_bytes_raw() != person.public_key:
            raise CeremonyRefused(f"{args.key} is not the key of {person.name} on the roster")
        signature = key.sign(ceremony.statement.to_bytes())
        ceremony = store.add_approval(ceremony, Approval(person.name, signature))
        audit.record("ceremony.approved", actor=operator_actor(), ceremony=args.ceremony,
                     person=person.name, role=person.role.name)  # fmt: skip
    print(f"{person.name} ({person.role.name}) approved ceremony {args.ceremony}: "
          f"{len(ceremony.approvals)} approvals")  # fmt: skip
    return 0


def _show(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    store = CeremonyStore(settings.home)
    ceremony = store.get(args.ceremony)
    s = ceremony.statement
    with audit_log(settings) as audit:
        used = [
            e
            for e in iter_entries(audit.engine, EntryFilter(events=("ceremony.completed",)))
            if e.details.get("ceremony") == s.ceremony_id
        ]
        checked = check_record(settings, audit, args.ceremony) if args.verify else None
    shown: dict[str, Any] = {
        "id": s.ceremony_id,
        "operation": s.operation,
        "params": dict(s.params),
        "valid": [s.created.isoformat(), s.expires.isoformat()],
        "statement_sha256": s.digest(),
        "statement_words": hex_words(s.digest()),
        "approved_by": [a.person for a in ceremony.approvals],
        "used": [{"audit_seq": e.seq, "time": e.time.isoformat()} for e in used],
    }
    if checked is not None:
        shown["record"] = checked.record.to_json()
        shown["signed_by"] = [a.person for a in checked.signatures]
    print(json.dumps(shown, indent=2))
    if checked is not None:
        if checked.missing:
            raise CeremonyRefused(
                f"the record of ceremony {args.ceremony} is not yet signed by "
                f"{', '.join(checked.missing)} (DPS 5.1.1: signed by the individuals "
                "involved): tldsec ceremony sign"
            )
        seq = checked.record.audit_seq
        print(f"verified: the record of ceremony {args.ceremony} is signed by every "
              f"participant and names the audit entry {seq} that used it")  # fmt: skip
    return 0


def _sign(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    store = CeremonyStore(settings.home)
    with audit_log(settings) as audit:
        versions = {v.version: v for v in roster_versions(settings, audit)}
        record, signatures = store.record(args.ceremony)
        if args.person not in record.participants:
            raise CeremonyRefused(
                f"{args.person} did not take part in ceremony {args.ceremony} "
                f"({', '.join(record.participants)} did): only they sign its record (DPS 5.1.1)"
            )
        if any(a.person == args.person for a in signatures):
            raise CeremonyRefused(f"{args.person} already signed the record of {args.ceremony}")
        roster = versions.get(record.roster_version)
        person = roster.by_name().get(args.person) if roster is not None else None
        key = _private_key(args.key)
        if person is None or key.public_key().public_bytes_raw() != person.public_key:
            raise CeremonyRefused(f"{args.key} is not the key of {args.person} on the roster")
        signature = Approval(args.person, key.sign(record.to_bytes()))
        check_signatures(record, (*signatures, signature), roster.by_name() if roster else {})
        store.write_record(record, (*signatures, signature))
        audit.record("ceremony.signed", actor=operator_actor(), ceremony=args.ceremony,
                     person=args.person, record_sha256=record.digest())  # fmt: skip
    left = sorted(set(record.participants) - {a.person for a in (*signatures, signature)})
    rest = f"still to sign: {', '.join(left)}" if left else "every participant signed"
    print(f"{args.person} signed the record of ceremony {args.ceremony}; {rest}")
    return 0


def _script(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    quorum = ceremony_settings(settings).quorums[OPERATIONS[args.operation]]
    digest: str | None = None
    outcome: dict[str, Any] | None = None
    if args.ceremony:
        store = CeremonyStore(settings.home)
        statement = store.get(args.ceremony).statement
        if statement.operation != args.operation:
            raise CeremonyRefused(
                f"ceremony {args.ceremony} is a {statement.operation} ceremony, not "
                f"{args.operation}"
            )
        digest = statement.digest()
        try:
            outcome = dict(store.record(args.ceremony)[0].outcome)
        except CeremonyRefused:
            outcome = None  # not run yet
    print(f"Ceremony script: {args.operation}")
    print(render(script(args.operation, quorum, ceremony_id=args.ceremony,
                        statement_sha256=digest, outcome=outcome)))  # fmt: skip
    return 0


def ceremony_settings(settings: Settings) -> CeremonySettings:
    """The home's ``[ceremony]`` settings, checked."""
    return load_ceremony_settings(settings)


def _param(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ConfigError(f"--param {text!r}: write KEY=VALUE")
    return key, value


def _private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise CeremonyRefused(f"cannot read the private key {path}: {exc}") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise CeremonyRefused(f"{path} is not an Ed25519 private key")
    return key
