"""The EPP server as ``tldsec serve`` runs it (docs/epp.md): in this process, or in
worker processes sharing the port, each auditing to the log; the embedded default makes
a self-signed certificate in the home."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from tldsec.clock import Clock
from tldsec.errors import ConfigError
from tldsec.settings import Settings

log = logging.getLogger("tldsec.serve")


async def start_epp(
    settings: Settings, clock: Clock, listen: str | None, processes: int = 1
) -> tuple[tuple[str, int], Callable[[], Awaitable[None]]]:
    """Start the EPP server (``processes`` > 1: worker processes sharing the port); its
    address and the call that closes it."""
    from tldsec.audit.adapters import registry_recorder
    from tldsec.audit.config import open_audit_log
    from tldsec.cli.epp import login_gate, parse_listen, server_limits
    from tldsec.epp.dispatch import Dispatcher
    from tldsec.epp.server import EppServer
    from tldsec.epp.tls import server_context
    from tldsec.epp.tlscert import make_self_signed
    from tldsec.epp.xml.codec import Codec
    from tldsec.registry.context import rules_from_settings
    from tldsec.registry.database import RegistryDatabase
    from tldsec.registry.passwords import production_hasher

    epp = settings.epp
    if epp.tls_cert is None or epp.tls_key is None:
        raise ConfigError("[epp] tls_cert and tls_key are needed to serve EPP")
    if not epp.tls_cert.exists() and not epp.tls_key.exists():
        # The embedded default: a self-signed certificate in the home.
        fp = make_self_signed(epp.tls_cert, epp.tls_key, "localhost", clock=clock)
        log.info("EPP: made a self-signed certificate %s (SHA-256 %s)", epp.tls_cert, fp)
    if processes > 1:
        # Several EPP processes on one port (docs/epp.md); each audits to the log.
        from tldsec.cli.epp import worker_args
        from tldsec.epp.workers import EppWorkers

        open_audit_log(settings, clock).close()  # made once, not by N workers
        shared = login_gate(settings, clock)
        workers = EppWorkers(
            worker_args(settings.home, audit=True),
            processes,
            shared,
            max_unauthenticated_per_address=epp.unauthenticated_per_address,
            max_unauthenticated=epp.unauthenticated_total,
        )
        try:
            address = await workers.start(*parse_listen(listen or epp.listen))
        except BaseException:
            shared.close()
            raise

        async def close_workers() -> None:
            await workers.close()
            shared.close()

        return address, close_workers
    context = server_context(
        epp.tls_cert,
        epp.tls_key,
        client_ca=epp.client_ca,
        require_client_cert=epp.require_client_cert,
    )
    db = RegistryDatabase.from_url(settings.registry_db_url)
    durability = db.durability_warning()
    if durability is not None:
        log.warning("EPP: %s", durability)
    audit = open_audit_log(settings, clock)
    gate = login_gate(settings, clock)
    dispatcher = Dispatcher(
        db=db,
        rules=rules_from_settings(settings),
        clock=clock,
        hasher=production_hasher(),
        gate=gate,
        server_id=epp.server_id,
        codec=Codec(max_bytes=epp.max_frame_bytes),
        audit=registry_recorder(audit),
    )
    server = EppServer(dispatcher, context, server_limits(epp))
    host, port = parse_listen(listen or epp.listen)
    address = await server.start(host, port)

    async def close() -> None:
        await server.close()
        db.dispose()
        gate.close()
        audit.close()

    return address, close
