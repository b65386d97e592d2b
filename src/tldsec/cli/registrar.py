"""``tldsec registrar``: add, list, passwd, cert, allow, totp, accredit, revoke — the
registry operator's registrar accounts and their accreditations per zone (decision 57).

Every change is recorded in the audit log with the operator (``person:<login>``) as actor
(DPS 4.4.1); a change whose commit fails is retracted there
(``registry.change_not_committed``)."""

from __future__ import annotations

import argparse
import json
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy.orm import Session

from tldsec.audit.adapters import registry_recorder
from tldsec.audit.config import open_audit_log
from tldsec.cli.common import add_home_argument, operator_actor, settings_from_args
from tldsec.clock import SystemClock
from tldsec.epp.tls import fingerprint
from tldsec.errors import ConfigError
from tldsec.registry import accreditation, registrars
from tldsec.registry.audit import AuditTrail
from tldsec.registry.context import Actor, Tx, rules_by_zone
from tldsec.registry.database import RegistryDatabase
from tldsec.registry.passwords import production_hasher
from tldsec.settings import Settings


def register(sub: Any) -> None:
    group = sub.add_parser("registrar", help="registrar accounts for EPP")
    actions = group.add_subparsers(dest="registrar_command", metavar="ACTION", required=True)

    add = actions.add_parser("add", help="create a registrar account")
    add.add_argument("client_id", metavar="ID", help="the EPP client id (3-16 characters)")
    add.add_argument("--password-file", required=True, type=Path, metavar="FILE")
    add.add_argument("--cert-fingerprint", metavar="FP", help="pin a SHA-256 client certificate")
    add.add_argument("--email", default="", help="contact e-mail for notices (DPS 2)")
    add.add_argument("--name", help="display name (default: the id)")
    add.set_defaults(handler=_add)

    listing = actions.add_parser("list", help="list registrars")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=_list)

    passwd = actions.add_parser("passwd", help="set a registrar's EPP password")
    passwd.add_argument("client_id", metavar="ID")
    passwd.add_argument("--password-file", required=True, type=Path, metavar="FILE")
    passwd.set_defaults(handler=_passwd)

    cert = actions.add_parser("cert", help="pin or unpin a registrar's client certificate")
    cert.add_argument("client_id", metavar="ID")
    which = cert.add_mutually_exclusive_group(required=True)
    which.add_argument("--fingerprint", metavar="FP", help="SHA-256 fingerprint (hex)")
    which.add_argument("--cert-file", type=Path, metavar="PEM", help="take it from a certificate")
    which.add_argument("--clear", action="store_true", help="no pinned certificate")
    cert.set_defaults(handler=_cert)

    allow = actions.add_parser(
        "allow", help="restrict a registrar's EPP logins to some networks (or any)"
    )
    allow.add_argument("client_id", metavar="ID")
    nets = allow.add_mutually_exclusive_group(required=True)
    nets.add_argument("networks", nargs="*", default=[], metavar="CIDR", help="e.g. 192.0.2.0/24")
    nets.add_argument("--any", action="store_true", help="no allow-list: any address")
    allow.set_defaults(handler=_allow)

    totp = actions.add_parser(
        "totp",
        help="enrol a person of a registrar for the registrar console's TOTP "
        "(prints the secret once)",
    )
    totp.add_argument("client_id", metavar="ID")
    totp.add_argument(
        "--user", required=True, metavar="NAME", help="the person's console user name"
    )
    totp.add_argument(
        "--remove", action="store_true", help="revoke the person's console access instead"
    )
    totp.set_defaults(handler=_totp)

    accredit = actions.add_parser(
        "accredit", help="accredit a registrar for a zone (its EPP commands there are allowed)"
    )
    accredit.add_argument("client_id", metavar="ID")
    accredit.add_argument("zone", metavar="ZONE", help="the zone's origin, e.g. shop.")
    accredit.add_argument(
        "--from", dest="since", type=_instant, metavar="DATE",
        help="from this date or instant (ISO 8601, UTC unless it says; default: now)",
    )  # fmt: skip
    accredit.set_defaults(handler=_accredit)

    revoke = actions.add_parser(
        "revoke", help="end a registrar's accreditation for a zone (its domains stay)"
    )
    revoke.add_argument("client_id", metavar="ID")
    revoke.add_argument("zone", metavar="ZONE", help="the zone's origin, e.g. shop.")
    revoke.add_argument(
        "--at", type=_instant, metavar="DATE",
        help="at this date or instant (ISO 8601, UTC unless it says; default: now)",
    )  # fmt: skip
    revoke.set_defaults(handler=_revoke)

    for parser in (add, listing, passwd, cert, allow, totp, accredit, revoke):
        add_home_argument(parser)


@contextmanager
def _unit_of_work(args: argparse.Namespace, command: str) -> Iterator[tuple[Session, Tx]]:
    """A write session and its ``Tx``, with the registry's changes recorded in the audit
    log as the operator's (DPS 4.4.1); if the commit fails after an entry was written,
    the log says that change did not happen."""
    settings = settings_from_args(args)
    db = _database(settings)
    clock = SystemClock()
    audit = open_audit_log(settings, clock)
    recorder = registry_recorder(audit)
    person = operator_actor()

    def as_operator(event: str, *, actor: str, **details: object) -> None:
        recorder(event, actor=person, **details)

    trail = AuditTrail(as_operator)
    tx = Tx(
        actor=Actor.registry(),
        now=clock.now(),
        sv_trid=f"cli-{secrets.token_hex(6)}",
        # A registrar's account is the installation's, not a zone's: any zone's rules
        # do (rules_from_settings would refuse a home of several zones).
        rules=next(iter(rules_by_zone(settings).values())),
        hasher=production_hasher(),
        audit=trail,
    )
    try:
        with db.write() as session:
            yield session, tx
    except BaseException:
        trail.not_committed(f"registrar {command}", tx.sv_trid)
        raise
    finally:
        audit.close()
        db.dispose()


def _database(settings: Settings) -> RegistryDatabase:
    db = RegistryDatabase.from_url(settings.registry_db_url)
    if not db.is_current():
        db.dispose()
        raise ConfigError("the registry database is not up to date: run 'tldsec db upgrade'")
    return db


def _password(path: Path) -> str:
    try:
        lines = path.read_text("utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read the password file {path}: {exc.strerror}") from exc
    if not lines:
        raise ConfigError(f"the password file {path} is empty")
    return lines[0].strip()


def _add(args: argparse.Namespace) -> int:
    password = _password(args.password_file)
    with _unit_of_work(args, "add") as (session, tx):
        view = registrars.add_registrar(
            session,
            tx,
            args.client_id,
            password,
            name=args.name,
            email=args.email,
            cert_fingerprint=args.cert_fingerprint,
        )
    print(
        f"registrar {view.client_id} added"
        + (" (certificate pinned)" if view.cert_fingerprint else "")
    )
    return 0


def _list(args: argparse.Namespace) -> int:
    db = _database(settings_from_args(args))
    try:
        with db.read() as session:
            rows = registrars.list_registrars(session)
    finally:
        db.dispose()
    if args.json:
        print(json.dumps([_registrar_json(r) for r in rows], indent=2))
        return 0
    print(f"{'ID':16} {'ENABLED':7} {'E-MAIL':30} {'CERTIFICATE':19} NETWORKS")
    for r in rows:
        cert = r.cert_fingerprint[:16] + "..." if r.cert_fingerprint else "-"
        nets = " ".join(r.allowed_networks) or "any"
        print(
            f"{r.client_id:16} {'yes' if r.enabled else 'no':7} {r.email or '-':30} "
            f"{cert:19} {nets}"
        )
    return 0


def _registrar_json(r: registrars.RegistrarView) -> dict[str, Any]:
    return {
        "client_id": r.client_id,
        "name": r.name,
        "email": r.email,
        "enabled": r.enabled,
        "cert_fingerprint": r.cert_fingerprint,
        "allowed_networks": list(r.allowed_networks),
        "created_at": r.created_at.isoformat(),
    }


def _passwd(args: argparse.Namespace) -> int:
    password = _password(args.password_file)
    with _unit_of_work(args, "passwd") as (session, tx):
        registrars.set_password(session, tx, args.client_id, password)
    print(f"password of {args.client_id} changed")
    return 0


def _allow(args: argparse.Namespace) -> int:
    if not args.any and not args.networks:
        raise ConfigError("name the networks (CIDR) the registrar logs in from, or --any")
    with _unit_of_work(args, "allow") as (session, tx):
        networks = registrars.set_allowed_networks(
            session, tx, args.client_id, [] if args.any else args.networks
        )
    print(f"{args.client_id}: EPP logins from " + (" ".join(networks) or "any address"))
    return 0


def _cert(args: argparse.Namespace) -> int:
    value: str | None = args.fingerprint
    if args.cert_file is not None:
        try:
            cert = x509.load_pem_x509_certificate(args.cert_file.read_bytes())
        except (OSError, ValueError) as exc:
            raise ConfigError(
                f"cannot read a PEM certificate from {args.cert_file}: {exc}"
            ) from exc
        value = fingerprint(cert.public_bytes(Encoding.DER))
    with _unit_of_work(args, "cert") as (session, tx):
        registrars.set_cert_fingerprint(session, tx, args.client_id, value)
    print(
        f"{args.client_id}: "
        + (f"certificate {value} pinned" if value else "no pinned certificate")
    )
    return 0


def _instant(text: str) -> datetime:
    """``2027-01-01`` (midnight UTC) or ``2027-01-01T12:00:00+09:00``."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 date or time") from exc
    return value.astimezone(UTC) if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _accredit(args: argparse.Namespace) -> int:
    with _unit_of_work(args, "accredit") as (session, tx):
        row = accreditation.accredit(session, tx, args.client_id, args.zone, args.since)
        zone = accreditation.zone_named(session, args.zone).origin
    print(f"{args.client_id} accredited for {zone} from {row.accredited_at.isoformat()}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    with _unit_of_work(args, "revoke") as (session, tx):
        row = accreditation.revoke(session, tx, args.client_id, args.zone, args.at)
        zone = accreditation.zone_named(session, args.zone).origin
        assert row.revoked_at is not None
    print(f"{args.client_id}'s accreditation for {zone} ends {row.revoked_at.isoformat()}")
    return 0


def _totp(args: argparse.Namespace) -> int:
    """A new console TOTP secret for one person (replacing theirs): shown once, stored
    sealed with the console's key file (created 0600 at the first enrolment)."""
    from tldsec.console.totp import TotpKey, enrol, remove

    if args.remove:
        with _unit_of_work(args, "totp") as (session, tx):
            remove(session, tx, args.client_id, args.user)
        print(f"console user {args.client_id}/{args.user} removed")
        return 0
    with _unit_of_work(args, "totp") as (session, tx):
        settings: Settings = args.loaded_settings
        key = TotpKey.load(settings.home / settings.config.console.totp_key, create=True)
        enrolment = enrol(session, tx, key, args.client_id, args.user)
    print(f"console user {enrolment.client_id}/{enrolment.user} enrolled; shown once, hand it over")
    print(f"  secret: {enrolment.secret}")
    print(f"  URI:    {enrolment.uri}")
    return 0
