"""Several EPP server processes on one port: a supervisor and its workers.

One process runs the EPP server on one core at a time (the GIL); a registry host has
more. The supervisor binds the listening socket and starts N worker processes
(``tldsec epp worker``), each with its own event loop, database pool and threads. It
accepts every TCP connection itself and hands it (SCM_RIGHTS over a socket pair) to the
worker with the fewest open connections, which does TLS and the session: long-lived EPP
sessions spread evenly, where the kernel's choice among processes accepting on one
socket leaves one worker with more sessions than the other (12 and 8 of 20 in a trial).
The per-registrar session limit and the failed-login limits stay global: the supervisor
keeps the one ``LoginGate`` and answers the workers over a second socket pair each
(``epp/shared_gate.py``). It also caps the connections not logged in, per source address
and in total, across all workers (issue 18): one over a cap is closed before any worker
sees it.

A worker that dies is logged and replaced (its session slots are released); one that
dies before it ever accepted a connection stops the start with an error (a bad
configuration would only die again). ``close()`` sends SIGTERM to every worker, which
closes its sessions and exits, waits, and kills what is still running after the grace.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

from tldsec.epp.login import LoginGate
from tldsec.epp.shared_gate import GateService
from tldsec.errors import ConfigError

_log = logging.getLogger(__name__)

# How a worker process starts: the ``tldsec`` command line of this interpreter.
PYTHON_TLDSEC = (sys.executable, "-m", "tldsec.cli.main")


@dataclass
class _Worker:
    index: int
    process: asyncio.subprocess.Process
    gate_task: asyncio.Task[None]
    handoff: socket.socket
    ready: asyncio.Event = field(default_factory=asyncio.Event)


class EppWorkers:
    """Binds the EPP port and keeps ``processes`` workers accepting on it."""

    def __init__(
        self,
        worker_args: Sequence[str],
        processes: int,
        gate: LoginGate,
        *,
        ready_timeout: float = 60.0,
        grace: float = 30.0,
        max_unauthenticated_per_address: int | None = None,
        max_unauthenticated: int | None = None,
    ) -> None:
        """``worker_args``: the ``tldsec`` arguments that run one worker, without the
        two descriptors (``--handoff-fd``, ``--gate-fd``) added here."""
        if processes < 1:
            raise ConfigError("the EPP server needs at least one process")
        self.worker_args = tuple(worker_args)
        self.processes = processes
        self.service = GateService(
            gate,
            max_unauthenticated_per_address=max_unauthenticated_per_address,
            max_unauthenticated=max_unauthenticated,
        )
        self.ready_timeout = ready_timeout
        self.grace = grace
        self._sock: socket.socket | None = None
        self._workers: dict[int, _Worker] = {}
        self._watch: asyncio.Task[None] | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._closing = False

    @property
    def pids(self) -> list[int]:
        return [w.process.pid for w in self._workers.values()]

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Bind, start every worker and wait until each accepts. Returns the address."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._sock = socket.create_server((host, port), family=family, backlog=1024)
        self._sock.setblocking(False)
        try:
            for index in range(self.processes):
                await self._spawn(index)
            await self._all_ready()
        except BaseException:
            await self.close()
            raise
        loop = asyncio.get_running_loop()
        self._watch = loop.create_task(self._supervise())
        self._accepting = loop.create_task(self._accept())
        address = self._sock.getsockname()
        _log.info(
            "EPP server listening on %s:%s with %d processes",
            address[0],
            address[1],
            self.processes,
        )
        return str(address[0]), int(address[1])

    async def close(self) -> None:
        """SIGTERM to every worker; wait up to the grace, then kill."""
        self._closing = True
        for task in (self._accepting, self._watch):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._sock is not None:
            self._sock.close()  # no new connections while the workers stop
            self._sock = None
        workers = list(self._workers.values())
        for w in workers:
            if w.process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    w.process.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                await asyncio.wait_for(w.process.wait(), self.grace)
            except TimeoutError:
                _log.error("EPP worker %d did not stop in %ss: killing it", w.index, self.grace)
                w.process.kill()
                await w.process.wait()
            await w.gate_task
            w.handoff.close()
        self._workers.clear()

    async def _spawn(self, index: int) -> None:
        parent_end, child_end = socket.socketpair()
        handoff, child_handoff = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            process = await asyncio.create_subprocess_exec(
                *PYTHON_TLDSEC,
                *self.worker_args,
                "--handoff-fd",
                str(child_handoff.fileno()),
                "--gate-fd",
                str(child_end.fileno()),
                pass_fds=(child_handoff.fileno(), child_end.fileno()),
                stdin=asyncio.subprocess.DEVNULL,
            )
        except BaseException:
            parent_end.close()
            handoff.close()
            raise
        finally:
            child_end.close()
            child_handoff.close()
        ready = asyncio.Event()
        task = asyncio.get_running_loop().create_task(self.service.serve(index, parent_end, ready))
        self._workers[index] = _Worker(index, process, task, handoff, ready)

    async def _accept(self) -> None:
        """Hand every new connection to the ready worker with the fewest open ones."""
        assert self._sock is not None
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, peer = await loop.sock_accept(self._sock)
            except OSError as exc:  # e.g. out of file descriptors: keep serving the rest
                _log.error("EPP accept failed: %s", exc)
                await asyncio.sleep(0.1)
                continue
            with conn:
                address = str(peer[0])
                if not self.service.admissible(address):
                    # issue 18: closed before TLS, like a worker's own cap (epp/server.py).
                    _log.warning("EPP connection from %s refused: too many not logged in", address)
                    continue
                ready = [
                    w
                    for w in self._workers.values()
                    if w.ready.is_set() and w.process.returncode is None
                ]
                if not ready:
                    _log.error("EPP connection refused: no worker is running")
                    continue
                w = min(ready, key=lambda w: self.service.connections(w.index))
                try:
                    socket.send_fds(w.handoff, [b"c"], [conn.fileno()])
                except OSError as exc:
                    _log.error("EPP connection lost handing it to worker %d: %s", w.index, exc)
                    continue
                self.service.handed(w.index, address)

    async def _all_ready(self) -> None:
        for w in list(self._workers.values()):
            readiness = asyncio.ensure_future(w.ready.wait())
            exited = asyncio.ensure_future(w.process.wait())
            await asyncio.wait(
                {readiness, exited},
                timeout=self.ready_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
            readiness.cancel()
            exited.cancel()
            if not w.ready.is_set():
                code = w.process.returncode
                why = f"exited with status {code}" if code is not None else "did not start"
                raise ConfigError(
                    f"EPP worker {w.index} {why} before accepting connections (see its log)"
                )

    async def _supervise(self) -> None:
        """Replace a worker that dies while the server runs."""
        while not self._closing:
            waits = {asyncio.ensure_future(w.process.wait()): w for w in self._workers.values()}
            try:
                done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for f in waits:
                    f.cancel()
            for future in done:
                w = waits[future]
                _log.error(
                    "EPP worker %d (pid %d) exited with status %s: starting another",
                    w.index,
                    w.process.pid,
                    w.process.returncode,
                )
                await w.gate_task  # its slots are released when its channel closes
                w.handoff.close()
                try:
                    await self._spawn(w.index)
                    await self._all_ready()
                except ConfigError as exc:
                    _log.error("%s; trying again in 5 s", exc)
                    await asyncio.sleep(5)
