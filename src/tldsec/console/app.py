"""The console's pages and forms (Starlette, server-rendered with Jinja2, no JavaScript).

Every state-changing request is a POST carrying the session's CSRF token (the login form
a double-submit token of its own); a missing or wrong token is 403 and changes nothing.
Cookies are Secure, HttpOnly and SameSite=Strict; responses forbid framing, caching and
any script (Content-Security-Policy). Database work runs in Starlette's thread pool.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route
from starlette.templating import Jinja2Templates

from tldsec.clock import Clock
from tldsec.console.actions import DsChanger, Outcome
from tldsec.console.auth import LoginRefused, LoginService
from tldsec.console.dsinput import COMPUTABLE_DIGESTS, DsInputError, parse_line
from tldsec.console.live import LiveSource, traced_live
from tldsec.console.queries import DomainPage, Reader, domain_detail, domains_of
from tldsec.console.sessions import COOKIE, PRE_LOGIN_COOKIE, ConsoleSession, SessionStore
from tldsec.console.zones import list_zone, page_zones
from tldsec.errors import NotAccredited, RegistryError
from tldsec.registry.advisory import Advice, Advisor
from tldsec.registry.audit import AuditRecorder
from tldsec.registry.database import RegistryDatabase
from tldsec.registry.ds_rules import DS_DIGEST_TYPES, DsData
from tldsec.registry.routing import (
    NO_ACCREDITATIONS,
    Access,
    Accreditations,
    ZoneRoutes,
    load_accreditations,
)

TEMPLATES = Path(__file__).parent / "templates"
CSS = (Path(__file__).parent / "console.css").read_text("utf-8")
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Strict-Transport-Security": "max-age=31536000",
}


@dataclass
class Console:
    """Everything the pages need, built once by the entry point (``console/server.py``)."""

    db: RegistryDatabase
    login: LoginService
    changer: DsChanger
    sessions: SessionStore
    advisor: Advisor
    clock: Clock
    audit: AuditRecorder
    origin: str
    digest_types: tuple[int, ...]  # offered when a DS is computed from a key
    live: LiveSource | None = None
    page_size: int = 50
    # The registry's zones (decision 69): None for a registry without a zone row, whose
    # one zone is ``origin``; else the pages show the zone a session selects.
    routes: ZoneRoutes | None = None
    # Each zone's change states, by origin, where a home has several (else ``live``).
    live_by_zone: dict[str, LiveSource] = field(default_factory=dict)
    # Advice and notices to show once on the next page, by session id.
    _flash: dict[str, dict[str, Any]] = field(default_factory=dict)


def build_app(console: Console) -> Starlette:
    templates = Jinja2Templates(directory=str(TEMPLATES))
    templates.env.auto_reload = False  # the templates are part of the release: no stat per page
    # The pages' reads on PostgreSQL: each statement on its own (autocommit), so a page
    # costs its statements' round trips and no BEGIN and ROLLBACK (at READ COMMITTED
    # every statement had its own snapshot anyway; the domain page is one statement).
    autocommit = (
        None
        if console.db.is_sqlite
        else console.db.engine.execution_options(isolation_level="AUTOCOMMIT")
    )

    @contextmanager
    def reading() -> Iterator[Reader]:
        if autocommit is None:
            with console.db.read() as session:
                yield session
        else:
            with autocommit.connect() as conn:
                yield conn

    def page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
        if console.routes is None:
            context.setdefault("origin", console.origin.rstrip("."))
        else:  # the title names the selected zone; the selector offers the session's
            zones = page_zones(console.routes, context.get("who"), console.clock.now())
            context = {**zones, **context}
        response = templates.TemplateResponse(request, name, context, status_code=status)
        response.headers.update(SECURITY_HEADERS)
        return response

    def forbidden(reason: str) -> Response:
        response = PlainTextResponse(f"403 Forbidden: {reason}\n", status_code=403)
        response.headers.update(SECURITY_HEADERS)
        return response

    def current(request: Request) -> ConsoleSession | None:
        return console.sessions.get(request.cookies.get(COOKIE))

    def to_login(expired: bool = False) -> Response:
        response = RedirectResponse("/login?expired=1" if expired else "/login", 303)
        response.headers.update(SECURITY_HEADERS)
        return response

    async def form_of(request: Request, who: ConsoleSession | None) -> dict[str, str] | None:
        """The form's fields, or None when its CSRF token is missing or wrong."""
        form = await request.form()
        fields = {k: v for k, v in form.items() if isinstance(v, str)}
        sent = fields.get("csrf", "")
        expected = who.csrf if who is not None else request.cookies.get(PRE_LOGIN_COOKIE, "")
        if not sent or not expected or not hmac.compare_digest(sent, expected):
            return None
        return fields

    async def home(request: Request) -> Response:
        return RedirectResponse("/domains" if current(request) else "/login", 303)

    async def login_form(request: Request, error: str | None = None) -> Response:
        token = secrets.token_urlsafe(32)
        context: dict[str, Any] = {
            "csrf": token,
            "error": error,
            "expired": request.query_params.get("expired") == "1",
            "values": {},
        }
        response = page(request, "login.html", context, 401 if error else 200)
        response.set_cookie(
            PRE_LOGIN_COOKIE, token, max_age=900, secure=True, httponly=True, samesite="strict"
        )
        return response

    async def login_get(request: Request) -> Response:
        if current(request) is not None:
            return RedirectResponse("/domains", 303)
        return await login_form(request)

    async def login_post(request: Request) -> Response:
        fields = await form_of(request, None)
        if fields is None:
            return forbidden("the login form's CSRF token is missing or wrong; reload the page")
        source = request.client.host if request.client else "unknown"
        try:
            identity = await run_in_threadpool(
                console.login.log_in,
                fields.get("client_id", "")[:64],
                fields.get("user", "")[:64],
                fields.get("password", "")[:256],
                fields.get("code", "")[:16],
                source,
            )
        except LoginRefused as exc:
            return await login_form(request, str(exc))
        held = NO_ACCREDITATIONS
        if console.routes is not None:
            # Read once per login, as an EPP session's (decision 61).
            held = await run_in_threadpool(accreditations_of, identity.registrar_id)
        session_id = console.sessions.open(
            identity.client_id, identity.registrar_id, identity.user, source, held
        )
        response = RedirectResponse("/domains", 303)
        response.headers.update(SECURITY_HEADERS)
        response.set_cookie(COOKIE, session_id, secure=True, httponly=True, samesite="strict")
        response.delete_cookie(PRE_LOGIN_COOKIE, secure=True, httponly=True, samesite="strict")
        return response

    def accreditations_of(registrar_id: int) -> Accreditations:
        with console.db.read() as session:
            return load_accreditations(session, registrar_id)

    async def logout(request: Request) -> Response:
        who = current(request)
        if who is None:
            return to_login()
        if await form_of(request, who) is None:
            return forbidden("CSRF token missing or wrong")
        console.sessions.close(request.cookies.get(COOKIE))
        console._flash.pop(request.cookies.get(COOKIE, ""), None)
        await run_in_threadpool(console.audit, "console.logout", actor=who.actor, peer=who.source)
        response = to_login()
        response.delete_cookie(COOKIE, secure=True, httponly=True, samesite="strict")
        return response

    async def domains(request: Request) -> Response:
        who = current(request)
        if who is None:
            return to_login(expired=COOKIE in request.cookies)
        search = request.query_params.get("q", "")[:253]
        try:
            number = int(request.query_params.get("page", "1"))
        except ValueError:
            number = 1

        zone_id: int | None = None
        if console.routes is not None:
            asked = request.query_params.get("zone")
            now = console.clock.now()
            chosen, refusal = list_zone(console.routes, who, asked and asked[:254], now)
            if refusal is not None:
                return forbidden(refusal)
            if chosen is None:  # accredited for no zone: nothing to list
                listing = DomainPage((), 0, 1, 1)
                context = {"who": who, "listing": listing, "q": "", "no_zones": True}
                return page(request, "domains.html", context)
            zone_id = chosen.zone_id

        def read() -> Any:
            with reading() as conn:
                return domains_of(
                    conn, who.registrar_id, search, number, console.page_size, zone_id
                )

        listing = await run_in_threadpool(read)
        return page(request, "domains.html", {"who": who, "listing": listing, "q": search})

    def domain_context(who: ConsoleSession, name: str) -> dict[str, Any] | None:
        """The domain page's values, or None when the registrar sponsors no such domain;
        ``NotAccredited`` (or ``ObjectNotFound`` for a name under no zone) where 57's
        table refuses even to look (info)."""
        live = console.live
        if console.routes is not None:
            route = console.routes.route(
                name, Access.LET_GO, who.client_id, who.accreditations, console.clock.now()
            )
            who.zone = route.rules.origin  # the page shows its domain's zone
            live = console.live_by_zone.get(route.rules.origin, live)
        with reading() as conn:
            domain = domain_detail(conn, who.registrar_id, name)
            traced = traced_live(conn, [c.id for c in domain.changes]) if domain is not None else {}
        if domain is None:
            return None
        context: dict[str, Any] = {
            "who": who,
            "name": domain.name,
            "ds": domain.ds,
            "ns": domain.ns,
            "changes": [
                (
                    c,
                    live.state(c.id, traced.get(c.id)) if live is not None else None,
                )
                for c in domain.changes
            ],
            "pending_transfer": domain.transfer_status == "pending",
        }
        context["digest_types"] = [(d, DS_DIGEST_TYPES[d].name) for d in console.digest_types]
        context["errors"] = []
        context["line"] = ""
        context["digest_type"] = console.digest_types[0] if console.digest_types else 2
        return context

    def domain_or_refusal(
        who: ConsoleSession, name: str
    ) -> tuple[dict[str, Any] | None, tuple[dict[str, Any], int] | None]:
        """The domain page's values, or the refusal page's values and status."""
        try:
            return domain_context(who, name), None
        except RegistryError as exc:
            # EPP's answer would be 2201 (not accredited) or 2303 (under no zone).
            status = 403 if isinstance(exc, NotAccredited) else 404
            return None, ({"who": who, "name": name, "reason": str(exc)}, status)

    async def domain_page(request: Request) -> Response:
        who = current(request)
        if who is None:
            return to_login(expired=COOKIE in request.cookies)
        name = request.path_params["name"]
        context, refused = await run_in_threadpool(domain_or_refusal, who, name)
        if refused is not None:
            return page(request, "missing.html", *refused)
        if context is None:
            return page(request, "missing.html", {"who": who, "name": name}, 404)
        context["flash"] = console._flash.pop(request.cookies.get(COOKIE, ""), None)
        return page(request, "domain.html", context)

    async def ds_action(request: Request) -> Response:
        who = current(request)
        if who is None:
            return to_login(expired=COOKIE in request.cookies)
        fields = await form_of(request, who)
        if fields is None:
            return forbidden("CSRF token missing or wrong")
        name = request.path_params["name"]
        action = request.path_params["action"]
        context, refused = await run_in_threadpool(domain_or_refusal, who, name)
        if refused is not None:
            return page(request, "missing.html", *refused)
        if context is None:
            return page(request, "missing.html", {"who": who, "name": name}, 404)
        note = None
        if action == "add":
            line = fields.get("line", "")[:4096]
            try:
                digest_type = int(fields.get("digest_type", "2"))
                ds, note = parse_line(line, context["name"] + ".", digest_type)
            except (DsInputError, ValueError) as exc:
                context.update(line=line, errors=[str(exc)], error_field="line")
                return page(request, "domain.html", context, 422)
            outcome = await run_in_threadpool(
                console.changer.change, who, context["name"], add=(ds,)
            )
        elif action == "remove":
            try:
                ds = DsData.of(
                    int(fields.get("key_tag", "")),
                    int(fields.get("algorithm", "")),
                    int(fields.get("digest_type", "")),
                    fields.get("digest", ""),
                )
            except ValueError:
                return PlainTextResponse(
                    "400 Bad Request: the DS to remove is not a DS\n",
                    status_code=400,
                    headers=SECURITY_HEADERS,
                )
            outcome = await run_in_threadpool(
                console.changer.change, who, context["name"], remove=(ds,)
            )
        elif action == "remove-all":
            if fields.get("confirm") != "yes":
                context.update(
                    errors=[
                        "tick the box to confirm: removing every DS removes the chain of "
                        "trust to the domain at the next zone build (DPS 3.5)"
                    ],
                    error_field="confirm",
                )
                return page(request, "domain.html", context, 422)
            outcome = await run_in_threadpool(
                console.changer.change, who, context["name"], remove_all=True
            )
        else:
            return PlainTextResponse("404 Not Found\n", status_code=404)
        if outcome.refusal is not None:
            context.update(
                line=fields.get("line", ""),
                errors=[f"{m} (EPP {outcome.refusal.code})" for m in outcome.refusal.messages],
                error_field="line" if action == "add" else "remove",
            )
            return page(request, "domain.html", context, 422)
        flash = await run_in_threadpool(advise, context, outcome, action, note)
        console._flash[request.cookies.get(COOKIE, "")] = flash
        response = RedirectResponse(f"/domains/{context['name']}", 303)
        response.headers.update(SECURITY_HEADERS)
        return response

    def advise(
        context: dict[str, Any], outcome: Outcome, action: str, note: str | None
    ) -> dict[str, Any]:
        done = {
            "add": f"DS {outcome.added[0] if outcome.added else ''} added.",
            "remove": "DS removed.",
            "remove-all": "Every DS removed: the chain of trust ends at the next zone build.",
        }[action]
        advice: Advice | None = None
        if action == "add" and outcome.added:
            advice = console.advisor.check(
                context["name"] + ".", outcome.added[0], context["ns"], console.clock.now()
            )
        return {"done": done, "note": note, "advice": advice, "change_id": outcome.change_id}

    async def stylesheet(request: Request) -> Response:
        return Response(CSS, media_type="text/css", headers={"Cache-Control": "max-age=3600"})

    routes = [
        Route("/", home),
        Route("/login", login_get, methods=["GET"]),
        Route("/login", login_post, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/domains", domains, methods=["GET"]),
        Route("/domains/{name}", domain_page, methods=["GET"]),
        Route("/domains/{name}/ds/{action}", ds_action, methods=["POST"]),
        Route("/console.css", stylesheet, methods=["GET"]),
    ]
    return Starlette(routes=routes)


def offered_digest_types(allowed: frozenset[int] | tuple[int, ...]) -> tuple[int, ...]:
    """The digest types a DS can be computed with here that the policy allows, best first."""
    return tuple(d for d in COMPUTABLE_DIGESTS if d in allowed)
