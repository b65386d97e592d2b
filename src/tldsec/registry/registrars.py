"""Registrar accounts: creation, credentials, client-certificate pinning, authentication.

The registry operator manages registrars (``tldsec registrar ...``); the EPP login
authenticates against them. Each change is audited and written to the history.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tldsec.errors import AuthenticationFailed, InvalidValue, ObjectExists, ObjectNotFound
from tldsec.registry import history
from tldsec.registry.accreditation import accredit_for_the_only_zone
from tldsec.registry.context import Actor, Tx
from tldsec.registry.models import Registrar
from tldsec.registry.passwords import verify

# RFC 5730 4 (eppcom:clIDType, epp:pwType): the EPP login limits both.
_CLIENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{2,15}$")
PASSWORD_MIN, PASSWORD_MAX = 6, 16
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass(frozen=True, slots=True)
class RegistrarView:
    """A registrar as listed: no secrets."""

    client_id: str
    name: str
    email: str
    cert_fingerprint: str | None
    enabled: bool
    created_at: datetime
    allowed_networks: tuple[str, ...] = ()  # empty: any address


def normalize_fingerprint(value: str) -> str:
    """SHA-256 certificate fingerprint as 64 lower-case hex digits (colons allowed)."""
    fp = value.replace(":", "").strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", fp):
        raise InvalidValue(f"{value!r} is not a SHA-256 fingerprint (64 hex digits)")
    return fp


def check_password(password: str) -> None:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise InvalidValue(
            f"an EPP password has {PASSWORD_MIN}-{PASSWORD_MAX} characters "
            f"(RFC 5730 pwType), not {len(password)}"
        )
    if password != password.strip() or any(c.isspace() for c in password):
        raise InvalidValue("an EPP password cannot contain white space")


def add_registrar(
    session: Session,
    tx: Tx,
    client_id: str,
    password: str,
    *,
    name: str | None = None,
    email: str = "",
    cert_fingerprint: str | None = None,
) -> RegistrarView:
    if not _CLIENT_ID.match(client_id):
        raise InvalidValue(
            f"{client_id!r} is not a client id (3-16 letters, digits, '.', '_' or '-')"
        )
    if email and not _EMAIL.match(email):
        raise InvalidValue(f"{email!r} is not an e-mail address")
    check_password(password)
    fp = normalize_fingerprint(cert_fingerprint) if cert_fingerprint else None
    registrar = Registrar(
        client_id=client_id,
        name=name or client_id,
        email=email,
        password_hash=tx.hasher.hash(password),
        cert_fingerprint=fp,
        enabled=True,
        created_at=tx.now,
    )
    session.add(registrar)
    try:
        session.flush()
    except IntegrityError as exc:
        raise ObjectExists(f"registrar {client_id!r} already exists") from exc
    accredit_for_the_only_zone(session, registrar.id, tx.now)
    history.record(session, tx, "registrar", client_id, "create", {"email": email, "cert": fp})
    tx.audit("registrar.add", actor=tx.actor.client_id, registrar=client_id, cert=fp)
    return _view(registrar)


def list_registrars(session: Session) -> list[RegistrarView]:
    rows = session.scalars(select(Registrar).order_by(Registrar.client_id))
    return [_view(r) for r in rows]


def get_registrar(session: Session, client_id: str) -> Registrar:
    registrar = session.scalar(select(Registrar).where(Registrar.client_id == client_id))
    if registrar is None:
        raise ObjectNotFound(f"no registrar {client_id!r}")
    return registrar


def set_password(session: Session, tx: Tx, client_id: str, password: str) -> None:
    check_password(password)
    registrar = get_registrar(session, client_id)
    registrar.password_hash = tx.hasher.hash(password)
    registrar.updated_at = tx.now
    history.record(session, tx, "registrar", client_id, "passwd")
    tx.audit("registrar.passwd", actor=tx.actor.client_id, registrar=client_id)


def set_cert_fingerprint(session: Session, tx: Tx, client_id: str, fingerprint: str | None) -> None:
    fp = normalize_fingerprint(fingerprint) if fingerprint else None
    registrar = get_registrar(session, client_id)
    registrar.cert_fingerprint = fp
    registrar.updated_at = tx.now
    history.record(session, tx, "registrar", client_id, "cert", {"cert": fp})
    tx.audit("registrar.cert", actor=tx.actor.client_id, registrar=client_id, cert=fp)


def normalize_networks(values: Sequence[str]) -> tuple[str, ...]:
    """CIDRs (or single addresses) in canonical form, sorted; ``InvalidValue`` names a bad one."""
    networks = set()
    for value in values:
        try:
            networks.add(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError as exc:
            raise InvalidValue(f"{value!r} is not an IP network (CIDR) or address") from exc
    return tuple(str(n) for n in sorted(networks, key=lambda n: (n.version, n)))


def networks_of(registrar: Registrar) -> tuple[str, ...]:
    """The registrar's allow-list; empty when it may log in from any address."""
    return tuple(registrar.allowed_networks.split()) if registrar.allowed_networks else ()


def address_allowed(registrar: Registrar, address: str) -> bool:
    """Whether ``address`` may log in as ``registrar`` (any, without an allow-list)."""
    networks = networks_of(registrar)
    if not networks:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped  # a dual-stack listener sees IPv4 peers as ::ffff:a.b.c.d
    return any(ip in ipaddress.ip_network(n) for n in networks)


def set_allowed_networks(
    session: Session, tx: Tx, client_id: str, networks: Sequence[str]
) -> tuple[str, ...]:
    """Restrict EPP logins of ``client_id`` to ``networks`` (empty: any address). A login
    from elsewhere is refused before its password is looked at, and never counts
    against the registrar's failed-login limit (issue 18)."""
    normalized = normalize_networks(networks)
    registrar = get_registrar(session, client_id)
    registrar.allowed_networks = " ".join(normalized) or None
    registrar.updated_at = tx.now
    history.record(session, tx, "registrar", client_id, "allow", {"networks": list(normalized)})
    tx.audit(
        "registrar.allow", actor=tx.actor.client_id, registrar=client_id, networks=list(normalized)
    )
    return normalized


def find_registrar(session: Session, client_id: str) -> Registrar | None:
    """The registrar with this client id, if any (no error: the login asks)."""
    return session.scalar(select(Registrar).where(Registrar.client_id == client_id))


def authenticate(
    session: Session,
    tx: Tx,
    client_id: str,
    password: str,
    cert_fingerprint: str | None,
    *,
    new_password: str | None = None,
) -> Actor:
    """The registrar for these credentials, or ``AuthenticationFailed`` (one message for all).

    A registrar with a pinned certificate must present exactly that certificate.
    ``new_password`` changes the password on success (RFC 5730 2.9.1.1 ``<newPW>``).
    """
    registrar = session.scalar(select(Registrar).where(Registrar.client_id == client_id))
    failure = None
    if registrar is None or not registrar.enabled:
        # Hash anyway, so the answer takes as long for unknown ids as for wrong passwords.
        tx.hasher.hash(password)
        failure = "unknown or disabled client id"
    elif not verify(tx.hasher, registrar.password_hash, password):
        failure = "wrong password"
    elif registrar.cert_fingerprint and registrar.cert_fingerprint != cert_fingerprint:
        failure = "client certificate missing or not the pinned one"
    if failure or registrar is None:
        tx.audit("epp.login.failed", actor=client_id, reason=failure)
        raise AuthenticationFailed("authentication failed")
    if new_password is not None:
        check_password(new_password)
        registrar.password_hash = tx.hasher.hash(new_password)
        registrar.updated_at = tx.now
        as_registrar = replace(tx, actor=Actor(client_id, registrar.id))
        history.record(session, as_registrar, "registrar", client_id, "passwd", {"via": "epp"})
    tx.audit("epp.login", actor=client_id)
    return Actor(client_id, registrar.id)


def _view(r: Registrar) -> RegistrarView:
    return RegistrarView(
        r.client_id,
        r.name,
        r.email,
        r.cert_fingerprint,
        r.enabled,
        r.created_at,
        networks_of(r),
    )
