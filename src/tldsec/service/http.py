"""serve's HTTP endpoints, a Starlette app under uvicorn in the service's event loop:

* ``GET /health`` (and ``/status``, ``/``): the health report as JSON; 200 when signing
  can happen, 503 with ``faults`` otherwise (``health.py``);
* ``GET /metrics``: the Prometheus exposition (``metrics.py``);
* ``POST /cycle``: run a cycle now, with ``Authorization: Bearer`` and the home's
  control token (issue 22; decision 27); 401 without it.

Reading needs no token: the port listens on the loopback by default ([serve]
health_listen), and what it shows is what a monitoring system needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable, Generator
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tldsec.service.control import authorised
from tldsec.service.metrics import CONTENT_TYPE

log = logging.getLogger("tldsec.serve")


def make_app(
    *,
    health: Callable[[], dict[str, Any]],
    metrics: Callable[[], bytes],
    trigger: Callable[[], bool],
    token: str,
    token_file: str,
) -> Starlette:
    """The app; ``trigger()`` requests a cycle (False: this service runs none)."""

    async def get_health(request: Request) -> Response:
        body = health()
        return _json(body, 200 if body["status"] == "ok" else 503)

    async def get_metrics(request: Request) -> Response:
        return Response(metrics(), media_type=CONTENT_TYPE)

    async def post_cycle(request: Request) -> Response:
        if not authorised(request.headers.get("authorization"), token):
            error = f"send 'Authorization: Bearer' with the token in {token_file}"
            return _json({"error": error}, 401)
        if not trigger():
            return _json({"error": "this service runs no cycles (no signer role)"}, 404)
        return _json({"cycle": "requested"}, 202)

    async def not_found(request: Request, exc: Exception) -> Response:
        return _json({"error": "GET /health, GET /status, GET /metrics, POST /cycle"}, 404)

    routes = [
        Route("/health", get_health, methods=["GET"]),
        Route("/status", get_health, methods=["GET"]),
        Route("/", get_health, methods=["GET"]),
        Route("/metrics", get_metrics, methods=["GET"]),
        Route("/cycle", post_cycle, methods=["POST"]),
    ]
    return Starlette(routes=routes, exception_handlers={404: not_found, 405: not_found})


def _json(body: dict[str, Any], status: int) -> Response:
    return JSONResponse(body, status_code=status)


class _Server(uvicorn.Server):
    """uvicorn inside a loop it does not own: the service handles SIGINT and SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class HttpServer:
    """The app served on one address until ``close()``."""

    def __init__(self, app: Starlette) -> None:
        self.app = app
        self.address: tuple[str, int] | None = None
        self._server: _Server | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Listen (a bind error is raised here, naming the address) and serve."""
        try:
            sock = socket.create_server((host, port), family=_family(host), reuse_port=False)
        except OSError as exc:
            from tldsec.errors import ConfigError

            raise ConfigError(
                f"cannot listen for /health on {host} port {port} ([serve] health_listen, "
                f"--health-listen): {exc.strerror or exc}"
            ) from exc
        sock.setblocking(False)
        config = uvicorn.Config(
            self.app,
            lifespan="off",
            log_config=None,
            access_log=False,
            http="h11",
            ws="none",
            timeout_graceful_shutdown=5,
        )
        self._server = server = _Server(config)
        self._task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
        while not server.started:
            if self._task.done():
                self._task.result()  # raises why it stopped
                raise OSError(f"the HTTP server on {host} port {port} stopped at start")
            await asyncio.sleep(0.01)
        address = sock.getsockname()
        self.address = (address[0], address[1])
        return self.address

    async def close(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET
