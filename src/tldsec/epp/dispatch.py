"""One EPP frame in, one response out: classify, validate, authorize, run, log.

Order of checks (each failure answers with its RFC 5730 code and the session goes on):
well-formed XML without DOCTYPE (2001) -> a known command (2000) -> an object service
the server offers (2307) -> known extensions (2103) -> the schemas (2001) -> logged in
(2002) -> the command module, in one database transaction. A failed command changes
nothing: its transaction is rolled back. Every command is written to the EPP
transaction log, in the command's own transaction when it succeeds. A command's audit
entries are held and committed in one append of the audit log just before the command's
COMMIT (decision 56); if that COMMIT then fails, a ``registry.change_not_committed``
entry names the audited changes that did not happen. A refused command's attempts (DS
received and refused, access denied) are written in one append with its refusal.

A command whose COMMIT was sent on a connection that was then lost (the primary killed,
a failover to the other site; decision 50) is settled through a new connection before it
is answered: the failed command's log row, with the same svTRID, is written there. The
svTRID is unique, so that insert waits for the first transaction if it still runs on
that server, and fails if it committed (the change was made: 1000); once it is written,
the first transaction can never commit (2400, nothing changed). A 1000 is only ever sent
after PostgreSQL returned from the COMMIT that holds the change (with synchronous
replication, once the standby has it too).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import cast

from argon2 import PasswordHasher
from lxml import etree
from sqlalchemy import Table, insert
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from tldsec.clock import Clock
from tldsec.db.pgwire import Prepared, commit_with
from tldsec.epp import login as login_flow
from tldsec.epp.command import Command, Handler
from tldsec.epp.commands import (
    contact_check,
    contact_create,
    contact_delete,
    contact_info,
    contact_update,
    domain_check,
    domain_create,
    domain_delete,
    domain_info,
    domain_renew,
    domain_transfer,
    domain_update,
    host_check,
    host_create,
    host_delete,
    host_info,
    host_update,
    poll,
)
from tldsec.epp.errors import (
    CommandFailed,
    CommandSyntaxError,
    CommandUseError,
    EppError,
    ResultCode,
    UnimplementedCommand,
    UnimplementedExtension,
    UnimplementedObjectService,
    UnknownCommand,
    from_registry_error,
)
from tldsec.epp.login import Gate
from tldsec.epp.xml.codec import (
    CONTACT,
    DOMAIN,
    EPP,
    EXTENSION_NAMESPACES,
    HOST,
    OBJECT_NAMESPACES,
    PREFIXES,
    SECDNS,
    Codec,
    Element,
    Reply,
    children,
    local,
    q,
    text_of,
)
from tldsec.errors import CommitOutcomeUnknown, RegistryError
from tldsec.registry.audit import AuditRecorder, AuditTrail, log_audit
from tldsec.registry.context import Actor, RegistryRules, Tx
from tldsec.registry.database import RegistryDatabase
from tldsec.registry.models import EppTransaction
from tldsec.registry.routing import (
    NO_ACCREDITATIONS,
    Access,
    Accreditations,
    ZoneRoutes,
    load_accreditations,
)

LOG_ROW = insert(cast(Table, EppTransaction.__table__))  # built once: see registry/ds_update.py
PG_LOG_ROW = Prepared.of(
    "epp_log_row",
    "INSERT INTO epp_transaction (at, client_id, peer, command, object_name, cl_trid, sv_trid,"
    " result_code, duration_us) VALUES (%(at)s, %(client_id)s, %(peer)s, %(command)s,"
    " %(object_name)s, %(cl_trid)s, %(sv_trid)s, %(result_code)s, %(duration_us)s)",
)

_log = logging.getLogger(__name__)

VERBS = frozenset(
    {"check", "create", "delete", "info", "login", "logout", "poll", "renew", "transfer", "update"}
)
VERB_TAGS = frozenset(q(EPP, v) for v in VERBS)  # built once, not per command
ANONYMOUS = "-"

COMMANDS: dict[tuple[str, str], Handler] = {
    ("check", DOMAIN): domain_check.handle,
    ("info", DOMAIN): domain_info.handle,
    ("create", DOMAIN): domain_create.handle,
    ("update", DOMAIN): domain_update.handle,
    ("delete", DOMAIN): domain_delete.handle,
    ("renew", DOMAIN): domain_renew.handle,
    ("transfer", DOMAIN): domain_transfer.handle,
    ("check", HOST): host_check.handle,
    ("info", HOST): host_info.handle,
    ("create", HOST): host_create.handle,
    ("update", HOST): host_update.handle,
    ("delete", HOST): host_delete.handle,
    ("check", CONTACT): contact_check.handle,
    ("info", CONTACT): contact_info.handle,
    ("create", CONTACT): contact_create.handle,
    ("update", CONTACT): contact_update.handle,
    ("delete", CONTACT): contact_delete.handle,
    # Contact transfer is not offered (2101): contacts are not what registrars move.
    ("poll", ""): poll.handle,
}


# Decision 57's table: which commands make or change (refused once an accreditation
# ended) and which let a domain go (still allowed then). domain:check routes per name.
_ACCESS: dict[str, Access] = {
    "domain:create": Access.CHANGE,
    "domain:renew": Access.CHANGE,
    "domain:update": Access.CHANGE,
    "domain:transfer:request": Access.CHANGE,
    "domain:info": Access.LET_GO,
    "domain:delete": Access.LET_GO,
    "domain:transfer:query": Access.LET_GO,
    "domain:transfer:None": Access.LET_GO,
    "domain:transfer:approve": Access.LET_GO,
    "domain:transfer:reject": Access.LET_GO,
    "domain:transfer:cancel": Access.LET_GO,
    "host:create": Access.CHANGE,
}


@dataclass
class Connection:
    """What the server knows about one client connection (mutable: login changes it)."""

    peer: str
    cert_fingerprint: str | None = None
    actor: Actor | None = None
    objects: frozenset[str] = frozenset()
    extensions: frozenset[str] = frozenset()
    failed_logins: int = 0
    closed: bool = False
    # Read at login when the registry has zones (decision 61): what each command of the
    # session weighs at its own ``now``.
    accreditations: Accreditations = NO_ACCREDITATIONS


@dataclass(frozen=True, slots=True)
class Answer:
    """The response bytes and whether the server closes the connection after sending them."""

    data: bytes
    close: bool = False


@dataclass
class Dispatcher:
    """Everything a command needs, built once by the server."""

    db: RegistryDatabase
    rules: RegistryRules
    clock: Clock
    hasher: PasswordHasher
    gate: Gate
    server_id: str = "tldsec"
    codec: Codec = field(default_factory=Codec)
    audit: AuditRecorder = log_audit
    commands: dict[tuple[str, str], Handler] = field(default_factory=lambda: dict(COMMANDS))
    # How long a command whose commit was cut off waits for a primary to settle it
    # (a failover's promotion included), before answering that the outcome is unknown.
    settle_seconds: float = 30.0
    # The registry's zones, read once at start (``routing.load_routes``); None: a
    # registry without a zone row runs every command under ``rules``, as before 57.
    routes: ZoneRoutes | None = None

    def greeting(self) -> bytes:
        return self.codec.greeting(self.server_id, self.clock.now())

    def new_sv_trid(self) -> str:
        return f"{self.server_id[:40]}-{secrets.token_hex(8)}"

    def handle(self, frame: bytes, conn: Connection) -> Answer:
        """Answer one frame; never raises for anything a client can send."""
        started = self.clock.now()
        sv_trid = self.new_sv_trid()
        cl_trid: str | None = None
        label, object_name = "unknown", None
        try:
            root = self.codec.parse(frame)
            top = _top(root)
            if top.tag == q(EPP, "hello"):
                return Answer(self.greeting())
            cl_trid = _cl_trid(top)
            cmd, label, object_name = self._classify(top, conn, cl_trid)
            self.codec.validate(root)
            reply = self._run(cmd, conn, sv_trid, started, label, object_name)
        except EppError as exc:
            reply = Reply.of_error(exc)
            if not exc.logged:
                client = conn.actor.client_id if conn.actor else None
                self._log(client, conn, label, object_name, cl_trid, sv_trid, reply.code, started)
        if reply.code.closes_session:
            conn.closed = True
        return Answer(self.codec.response(reply, cl_trid, sv_trid), close=conn.closed)

    def _classify(
        self, top: Element, conn: Connection, cl_trid: str | None
    ) -> tuple[Command, str, str | None]:
        if top.tag != q(EPP, "command"):
            raise UnknownCommand(f"a client sends <hello> or <command>, not <{local(top)}>")
        parts = children(top)
        verb_element = parts[0] if parts else None
        if verb_element is None or verb_element.tag not in VERB_TAGS:
            what = local(verb_element) if verb_element is not None else "nothing"
            raise UnknownCommand(f"<{what}> is not an EPP command")
        verb = local(verb_element)
        extensions: tuple[Element, ...] = ()
        extension = top.find(q(EPP, "extension"))
        if extension is not None:
            extensions = tuple(children(extension))
            for element in extensions:
                ns = etree.QName(element).namespace
                if ns not in EXTENSION_NAMESPACES:
                    raise UnimplementedExtension(f"extension {ns} is not offered by this server")
        if verb in ("login", "logout", "poll"):
            cmd = Command(
                verb,
                verb_element if verb == "login" else None,
                extensions,
                cl_trid,
                op=verb_element.get("op"),
                msg_id=verb_element.get("msgID"),
                secdns=SECDNS in conn.extensions,
            )
            return cmd, verb, None
        objects = children(verb_element)
        if not objects:
            raise CommandSyntaxError(f"<{verb}> needs an object element")
        element = objects[0]
        ns = etree.QName(element).namespace or ""
        if ns not in OBJECT_NAMESPACES:
            raise UnimplementedObjectService(f"object service {ns or 'none'} is not offered")
        if conn.actor is not None and ns not in conn.objects:
            raise UnimplementedObjectService(f"{ns} was not requested at login (RFC 5730 2.9.1.1)")
        label = f"{PREFIXES[ns]}:{verb}"
        name = text_of(element.find(q(ns, "id" if ns == CONTACT else "name")))[:253] or None
        cmd = Command(
            verb,
            element,
            extensions,
            cl_trid,
            op=verb_element.get("op"),
            secdns=SECDNS in conn.extensions,
        )
        return cmd, label, name

    def _run(
        self,
        cmd: Command,
        conn: Connection,
        sv_trid: str,
        started: datetime,
        label: str,
        object_name: str | None,
    ) -> Reply:
        if cmd.verb == "login":
            if conn.actor is not None:
                raise CommandUseError("already logged in; log out first (RFC 5730 2.9.1.1)")
            return self._login(cmd, conn, sv_trid, started)
        if conn.actor is None:
            raise CommandUseError("log in first: only <hello> and <login> are allowed before")
        if cmd.verb == "logout":
            # DPS 4.4.1: a session's end is an access event like its start.
            self.audit("access.logout", actor=conn.actor.client_id, channel="epp", sv_trid=sv_trid)
            self._log(
                conn.actor.client_id,
                conn,
                "logout",
                None,
                cmd.cl_trid,
                sv_trid,
                ResultCode.SUCCESS_ENDING_SESSION,
                started,
            )
            self.end_session(conn)
            return Reply(code=ResultCode.SUCCESS_ENDING_SESSION)
        handler = self._handler(cmd)
        actor = conn.actor
        # The command's entries are held and written in one append just before its
        # COMMIT (decision 56): still committed before the change, one audit
        # transaction per DS change instead of three.
        routes = self.routes
        zone = (
            routes.index.zone_of(object_name)
            if routes is not None and object_name and label.startswith(("domain:", "host:"))
            else None
        )
        trail = AuditTrail(self.audit, hold=True, zone=zone)
        tx = self._tx(actor, sv_trid, cmd.cl_trid, started, trail)
        ds = carries_ds(cmd)
        if ds:
            # DPS 4.4.1 "receipt and validation of signed public key material": received
            # now, then accepted with the change or refused with the rule.
            trail(
                "ds.received",
                actor=actor.client_id,
                domain=object_name,
                command=label,
                sv_trid=sv_trid,
            )

        def work(session: Session) -> Reply:
            reply = self._routed(handler, label, cmd, conn, object_name)(session, tx, cmd)
            if ds:
                trail(
                    "ds.accepted",
                    actor=actor.client_id,
                    domain=object_name,
                    command=label,
                    sv_trid=sv_trid,
                )
            trail.flush()
            return reply

        return self._unit_of_work(
            work,
            actor.client_id,
            conn,
            label,
            object_name,
            cmd.cl_trid,
            sv_trid,
            started,
            trail,
            ds=ds,
        )

    def _routed(
        self, handler: Handler, label: str, cmd: Command, conn: Connection, name: str | None
    ) -> Handler:
        """The handler, under the rules of its name's zone once the registrar may act
        there (decision 57's table; ``registry/routing.py``): in memory, no query."""
        routes = self.routes
        if routes is None or conn.actor is None:
            return handler
        client_id, held = conn.actor.client_id, conn.accreditations
        if label == "domain:check":

            def route_each(session: Session, tx: Tx, cmd: Command) -> Reply:
                return domain_check.handle_zones(
                    session, tx, cmd, lambda n: routes.check_refusal(n, held, tx.now)
                )

            return route_each
        access = _ACCESS.get(label if label != "domain:transfer" else f"{label}:{cmd.op}")
        if access is None:
            if not label.startswith("host:"):
                return handler

            def under_its_zone(session: Session, tx: Tx, cmd: Command) -> Reply:
                # A host's other commands: its zone's rules (glue), no accreditation.
                origin = routes.index.zone_of(name or ".")
                if origin is None:
                    return handler(session, tx, cmd)
                return handler(session, replace(tx, rules=routes.routes[origin].rules), cmd)

            return under_its_zone

        def routed(session: Session, tx: Tx, cmd: Command) -> Reply:
            if label == "host:create" and routes.index.zone_of(name or ".") is None:
                # A host outside every zone needs no accreditation and has no glue.
                rules = replace(next(iter(routes.routes.values())).rules, zone_id=None)
                return handler(session, replace(tx, rules=rules), cmd)
            route = routes.route(name or "", access, client_id, held, tx.now)
            return handler(session, replace(tx, rules=route.rules), cmd)

        return routed

    def end_session(self, conn: Connection) -> None:
        """Release the registrar's session slot (at logout, or when the connection ends)."""
        if conn.actor is not None:
            self.gate.close_session(conn.actor.client_id)
            conn.actor = None

    def _handler(self, cmd: Command) -> Handler:
        ns = etree.QName(cmd.element).namespace or "" if cmd.element is not None else ""
        handler = self.commands.get((cmd.verb, ns))
        if handler is None:
            raise UnimplementedCommand(
                f"<{PREFIXES.get(ns, ns)}:{cmd.verb}> is not offered by this server"
            )
        return handler

    def _login(self, cmd: Command, conn: Connection, sv_trid: str, started: datetime) -> Reply:
        trail = AuditTrail(self.audit)
        tx = self._tx(Actor(ANONYMOUS, None), sv_trid, cmd.cl_trid, started, trail)
        client_id = text_of(cmd.object_element.find(q(EPP, "clID")))[:16]
        opened: list[login_flow.LoginResult] = []
        failures: list[tuple[str, ...]] = []

        def work(session: Session) -> Reply:
            opened.append(login_flow.login(session, tx, cmd, conn, self.gate, failures))
            registrar_id = opened[-1].actor.registrar_id
            if self.routes is not None and registrar_id is not None:
                conn.accreditations = load_accreditations(session, registrar_id)
            return Reply()

        try:
            reply = self._unit_of_work(
                work, client_id, conn, "login", None, cmd.cl_trid, sv_trid, started, trail
            )
        except EppError:
            for result in opened:  # the slot was taken but the transaction failed
                self.gate.close_session(result.actor.client_id)
            raise
        finally:
            for keys in failures:  # counted after the login's transaction (login.py)
                self.gate.failed(*keys)
        result = opened[0]
        conn.actor, conn.objects, conn.extensions = result.actor, result.objects, result.extensions
        return reply

    def _unit_of_work(
        self,
        work: Callable[[Session], Reply],
        client_id: str | None,
        conn: Connection,
        label: str,
        object_name: str | None,
        cl_trid: str | None,
        sv_trid: str,
        started: datetime,
        trail: AuditTrail,
        *,
        ds: bool = False,
    ) -> Reply:
        """Run ``work`` in one transaction with its log row; on failure, roll back and log,
        say in the audit log that the changes it audited did not happen, and record the
        refusal itself when it matters to security (``_audit_refusal``)."""
        cause: Exception | None = None
        try:
            with self.db.write() as session:
                reply = work(session)
                session.flush()  # the command's ORM changes first, then the log row
                row = self._log_row(
                    client_id, conn, label, object_name, cl_trid, sv_trid, reply.code, started
                )
                db = session.connection()
                if db.dialect.name == "postgresql":
                    # The command's deferred writes, this row and COMMIT: one round trip.
                    commit_with(session, (PG_LOG_ROW, row))
                else:
                    db.execute(LOG_ROW, row)
            return reply
        except CommitOutcomeUnknown:
            _log.warning("%s (svTRID %s): connection lost while committing", label, sv_trid)
            row = self._log_row(
                client_id, conn, label, object_name, cl_trid, sv_trid,
                ResultCode.COMMAND_FAILED, started,
            )  # fmt: skip
            settled = self._settle(row)
            if settled:
                return reply  # committed: what the command answered
            failed = CommandFailed(
                "the registry database connection was lost while committing and no primary "
                f"answered within {self.settle_seconds:g} s: the change may or may not have "
                "been made; <info> the object before sending it again"
                if settled is None
                else "the registry database connection was lost while committing; the change "
                "was not made (a new connection settled it): send the command again"
            )
            if settled is not None:
                trail.not_committed(label, sv_trid)
                _audit_refusal(trail, client_id, label, object_name, sv_trid, failed, None, ds=ds)
                trail.flush_attempts(label, sv_trid)
            failed.logged = True
            raise failed from None
        except RegistryError as exc:
            cause = exc
            error = from_registry_error(exc)
        except SQLAlchemyError:
            _log.exception("database failure in %s (svTRID %s)", label, sv_trid)
            error = CommandFailed("the registry database failed; nothing was changed")
        except (ValueError, TypeError) as exc:
            # A value the schema let through but Python refused (e.g. an out-of-range date).
            error = CommandSyntaxError(f"a value could not be read: {exc}")
        except EppError as exc:
            error = exc
        trail.not_committed(label, sv_trid)
        _audit_refusal(trail, client_id, label, object_name, sv_trid, error, cause, ds=ds)
        trail.flush_attempts(label, sv_trid)
        self._log(client_id, conn, label, object_name, cl_trid, sv_trid, error.code, started)
        error.logged = True
        raise error

    def _settle(self, row: dict[str, object]) -> bool | None:
        """Whether the transaction whose log row ``row`` would have been committed, asked
        through new connections until a primary answers or ``settle_seconds`` pass (None).

        ``row`` (the same svTRID, code 2400) is inserted: the unique svTRID makes the
        insert wait for the lost transaction if it still runs on that server, and fail
        if it committed (True). Once the insert is committed the lost transaction can
        never commit (False). On a promoted standby the lost transaction is either there,
        committed (the standby confirmed it before the COMMIT returned: synchronous
        replication), or will never be."""
        deadline = time.monotonic() + self.settle_seconds
        pause = 0.1
        while True:
            try:
                with self.db.write() as session:
                    session.connection().execute(LOG_ROW, row)
                return False
            except IntegrityError:
                return True
            except SQLAlchemyError as exc:
                if time.monotonic() + pause > deadline:
                    _log.error(
                        "svTRID %s: no primary to settle its commit: %s", row["sv_trid"], exc
                    )
                    return None
            time.sleep(pause)
            pause = min(pause * 2, 2.0)

    def _tx(
        self, actor: Actor, sv_trid: str, cl_trid: str | None, now: datetime, trail: AuditTrail
    ) -> Tx:
        return Tx(
            actor=actor,
            now=now,
            sv_trid=sv_trid,
            rules=self.rules,
            hasher=self.hasher,
            cl_trid=cl_trid,
            audit=trail,
        )

    def _log_row(
        self,
        client_id: str | None,
        conn: Connection,
        label: str,
        object_name: str | None,
        cl_trid: str | None,
        sv_trid: str,
        code: ResultCode,
        started: datetime,
    ) -> dict[str, object]:
        """The ``epp_transaction`` row's values."""
        elapsed = self.clock.now() - started
        return {
            "at": started,
            "client_id": client_id,
            "peer": conn.peer[:64],
            "command": label[:32],
            "object_name": object_name,
            "cl_trid": cl_trid,
            "sv_trid": sv_trid,
            "result_code": int(code),
            "duration_us": max(0, int(elapsed.total_seconds() * 1_000_000)),
        }

    def _log(
        self,
        client_id: str | None,
        conn: Connection,
        label: str,
        object_name: str | None,
        cl_trid: str | None,
        sv_trid: str,
        code: ResultCode,
        started: datetime,
    ) -> None:
        """The transaction-log row of a failed command, in a transaction of its own."""
        try:
            with self.db.write() as session:
                session.connection().execute(
                    LOG_ROW,
                    self._log_row(
                        client_id, conn, label, object_name, cl_trid, sv_trid, code, started
                    ),
                )
        except SQLAlchemyError:
            _log.exception("cannot write the EPP transaction log (svTRID %s)", sv_trid)


def _top(root: Element) -> Element:
    if root.tag != q(EPP, "epp"):
        raise CommandSyntaxError(f"the root element must be <epp> in {EPP}")
    parts = children(root)
    if len(parts) != 1:
        raise CommandSyntaxError("<epp> holds exactly one element")
    return parts[0]


def _cl_trid(command: Element) -> str | None:
    """The client transaction id, if it is a well-formed one (RFC 5730 2.5: 3-64)."""
    value = text_of(command.find(q(EPP, "clTRID")))
    return value if 3 <= len(value) <= 64 and value.isprintable() else None


# Refusals that are access failures (DPS 4.4.1 "unsuccessful system access").
ACCESS_REFUSALS = (ResultCode.AUTHORIZATION_ERROR, ResultCode.INVALID_AUTHORIZATION_INFO)


def carries_ds(cmd: Command) -> bool:
    """Whether the command brings DS data (a secDNS-1.1 extension element)."""
    return any(etree.QName(e).namespace == SECDNS for e in cmd.extensions)


def _audit_refusal(
    trail: AuditTrail,
    client_id: str | None,
    label: str,
    object_name: str | None,
    sv_trid: str,
    error: EppError,
    cause: Exception | None,
    *,
    ds: bool,
) -> None:
    """Record a refused command as the failed attempt it is (never as "not committed"):
    DS data refused with the rule it broke, an authorization failure as access denied.
    A failure to record is logged: the registrar's reply is the refusal either way."""
    if client_id is None:
        return
    entries: list[tuple[str, dict[str, object]]] = []
    if ds and error.code != ResultCode.COMMAND_FAILED:
        rules = [str(getattr(v, "rule", v)) for v in getattr(cause, "violations", ())]
        entries.append(
            (
                "ds.rejected",
                {
                    "domain": object_name,
                    "command": label,
                    "code": int(error.code),
                    "rules": rules,
                    "reason": str(error),
                },
            )
        )
    if error.code in ACCESS_REFUSALS:
        entries.append(
            (
                "access.denied",
                {
                    "channel": "epp",
                    "command": label,
                    "object": object_name,
                    "code": int(error.code),
                    "reason": str(error),
                },
            )
        )
    for event, details in entries:
        try:
            trail(event, actor=client_id, sv_trid=sv_trid, **details)
        except Exception:
            _log.exception(
                "%s (svTRID %s) refused; its audit entry %s failed", label, sv_trid, event
            )
