"""``tldsec ceremony``: enrol, start, approve, show — key ceremonies (DPS 5.1, 5.2.2).

A sensitive operation that the home requires a ceremony for (``[ceremony] required``)
runs only with ``--ceremony ID`` of a ceremony that three trusted people approved, one
per role (system administrator, security officer, witness), each signing with their own
key. ``enrol`` puts a person on the roster and writes their private key for their card or
medium; ``start`` writes down the operation and its parameters; ``approve`` signs it as
one person; ``show`` prints a ceremony and who approved it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tldsec.atomicfile import replacing
from tldsec.audit.config import open_audit_log
from tldsec.ceremony.quorum import Approval, Person, Role
from tldsec.ceremony.store import OPERATIONS, CeremonyStore, load_ceremony_settings
from tldsec.cli.common import add_home_argument, operator_actor, settings_from_args
from tldsec.clock import SystemClock
from tldsec.errors import CeremonyRefused, ConfigError
from tldsec.settings import Settings


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "ceremony",
        help="key ceremonies: three trusted people approve a sensitive operation",
        description="Sensitive operations run under a ceremony that three trusted people "
        "approve, one per role (DPS 5.1, 5.2.2).",
    )
    acts = p.add_subparsers(dest="ceremony_action", metavar="ACTION", required=True)

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        a = acts.add_parser(name, help=help_text, description=help_text)
        add_home_argument(a)
        return a

    a = action("enrol", "put a trusted person on the roster; write their private key")
    a.add_argument("person", help="their name (letters, digits, '.', '_', '-')")
    a.add_argument("--role", required=True, choices=[r.value for r in Role])
    a.add_argument("--key-out", type=Path, required=True, help="their private key (new file)")
    a.set_defaults(handler=_enrol)
    a = action("start", "write down an operation and its parameters for approval")
    a.add_argument("operation", choices=OPERATIONS)
    a.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    a.set_defaults(handler=_start)
    a = action("approve", "approve a ceremony as one trusted person (signs it)")
    a.add_argument("ceremony")
    a.add_argument("--person", required=True)
    a.add_argument("--key", type=Path, required=True, help="the person's private key file")
    a.set_defaults(handler=_approve)
    a = action("show", "a ceremony: what it authorises, who approved, whether it was used")
    a.add_argument("ceremony")
    a.set_defaults(handler=_show)


def _enrol(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    if args.key_out.exists():
        raise ConfigError(f"{args.key_out} exists: a private key is never overwritten")
    key = Ed25519PrivateKey.generate()
    person = Person(args.person, Role(args.role), key.public_key().public_bytes_raw())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # The key first: a person on the roster whose key was never written could not approve.
    with replacing(args.key_out, "wb", permissions=0o600) as f:
        f.write(pem)
    store = CeremonyStore(settings.home)
    try:
        store.add_person(person)
    except BaseException:
        args.key_out.unlink(missing_ok=True)
        raise
    _record(settings, "personnel.action", action="ceremony roster: enrolled", person=person.name,
            role=person.role.name, roster_sha256=store.roster_digest())  # fmt: skip
    print(f"{person.name} ({person.role.name}) is on the roster; private key in {args.key_out}")
    return 0


def _start(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    params = dict(_param(text) for text in args.param)
    minutes = load_ceremony_settings(settings).valid_minutes
    ceremony = CeremonyStore(settings.home).start(
        args.operation, params, SystemClock().now(), minutes
    )
    s = ceremony.statement
    _record(settings, "ceremony.started", ceremony=s.ceremony_id, operation=s.operation,
            params=params, expires=s.expires.isoformat())  # fmt: skip
    print(f"ceremony {s.ceremony_id}: {s.operation} {params or ''}".rstrip())
    print(f"valid until {s.expires:%Y-%m-%d %H:%M:%S %Z}; three people approve it with")
    print(f"  tldsec ceremony approve {s.ceremony_id} --person NAME --key FILE")
    return 0


def _approve(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    store = CeremonyStore(settings.home)
    ceremony = store.get(args.ceremony)
    person = store.roster().get(args.person)
    if person is None:
        raise CeremonyRefused(f"{args.person!r} is not on the ceremony roster")
    key = _private_key(args.key)
    if key.public_key().public_bytes_raw() != person.public_key:
        raise CeremonyRefused(f"{args.key} is not the key of {person.name} on the roster")
    signature = key.sign(ceremony.statement.to_bytes())
    ceremony = store.add_approval(ceremony, Approval(person.name, signature))
    _record(settings, "ceremony.approved", ceremony=args.ceremony, person=person.name,
            role=person.role.name)  # fmt: skip
    print(f"{person.name} ({person.role.name}) approved ceremony {args.ceremony}: "
          f"{len(ceremony.approvals)} approvals")  # fmt: skip
    return 0


def _show(args: argparse.Namespace) -> int:
    ceremony = CeremonyStore(settings_from_args(args).home).get(args.ceremony)
    s = ceremony.statement
    shown: dict[str, Any] = {
        "id": s.ceremony_id,
        "operation": s.operation,
        "params": dict(s.params),
        "valid": [s.created.isoformat(), s.expires.isoformat()],
        "approved_by": [a.person for a in ceremony.approvals],
        "used": ceremony.used,
    }
    print(json.dumps(shown, indent=2))
    return 0


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


def _record(settings: Settings, event: str, **details: Any) -> None:
    audit = open_audit_log(settings, SystemClock())
    try:
        audit.record(event, actor=operator_actor(), **details)
    finally:
        audit.close()
