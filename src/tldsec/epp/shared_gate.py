"""One login gate for several EPP worker processes: the session limit and the failed-login
rate limits hold across all of them.

The supervising process keeps the only ``LoginGate`` and serves it to each worker over
a Unix stream socket of its own (``GateService``); a worker's ``RemoteGate`` asks it,
one JSON line per question, one line per answer. Only logins, logouts and ends of
sessions ask, never the transforms. The service also counts each worker's open
connections, so the supervisor can hand a new one to the least busy worker. When a
worker's socket closes (the worker stopped or died) the service releases every session
slot that worker held, so a crash never leaves a registrar locked out.
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import threading
from collections import Counter
from typing import Any

from tldsec.epp.login import LoginGate
from tldsec.errors import TldsecError

_log = logging.getLogger(__name__)

READY = "ready"
ENDED = "ended"  # a connection the worker was handed is over (no answer)
LEFT = "left"  # a connection logged in, or ended without (no answer): see GateService
_COUNTER_OPS = frozenset({"blocked", "failed", "tracked"})


class GateChannelError(TldsecError):
    """The EPP worker lost its channel to the supervising process."""


class GateService:
    """The supervisor's side: answers workers' questions from one ``LoginGate``."""

    def __init__(
        self,
        gate: LoginGate,
        *,
        max_unauthenticated_per_address: int | None = None,
        max_unauthenticated: int | None = None,
    ) -> None:
        self.gate = gate
        self.max_unauthenticated_per_address = max_unauthenticated_per_address
        self.max_unauthenticated = max_unauthenticated
        self._held: dict[int, Counter[str]] = {}
        self._connections: Counter[int] = Counter()
        # Connections handed out and not logged in yet, by address, in all and per worker
        # (issue 18: the caps hold across every worker process).
        self._unauthenticated: Counter[str] = Counter()
        self._unauthenticated_of: dict[int, Counter[str]] = {}

    def admissible(self, address: str) -> bool:
        """Whether a new connection from ``address`` stays within the caps on connections
        not logged in (per address and in total, across every worker)."""
        per_address, total = self.max_unauthenticated_per_address, self.max_unauthenticated
        if per_address is not None and self._unauthenticated[address] >= per_address:
            return False
        return total is None or self._unauthenticated.total() < total

    def unauthenticated(self) -> int:
        return self._unauthenticated.total()

    def connections(self, worker: int) -> int:
        """How many connections handed to ``worker`` are still open."""
        return self._connections[worker]

    def handed(self, worker: int, address: str | None = None) -> None:
        """A connection (from ``address``) was handed to ``worker``."""
        self._connections[worker] += 1
        if address is not None:
            self._unauthenticated[address] += 1
            self._unauthenticated_of.setdefault(worker, Counter())[address] += 1

    def _left(self, worker: int, address: str) -> None:
        mine = self._unauthenticated_of.setdefault(worker, Counter())
        if mine[address] > 0:  # only what this worker was handed
            mine[address] -= 1
            self._unauthenticated[address] -= 1
            if self._unauthenticated[address] <= 0:
                del self._unauthenticated[address]

    def held(self, worker: int) -> int:
        """How many session slots ``worker`` holds now."""
        return sum(self._held.get(worker, Counter()).values())

    async def serve(self, worker: int, sock: socket.socket, ready: asyncio.Event) -> None:
        """Answer ``worker`` until its socket closes; set ``ready`` when it says so."""
        reader, writer = await asyncio.open_unix_connection(sock=sock)
        held = self._held.setdefault(worker, Counter())
        try:
            while line := await reader.readline():
                request = json.loads(line)
                if request.get("op") == READY:
                    ready.set()
                    continue
                if request.get("op") == ENDED:
                    self._connections[worker] = max(0, self._connections[worker] - 1)
                    continue
                if request.get("op") == LEFT:
                    self._left(worker, str(request["address"]))
                    continue
                if request.get("op") in _COUNTER_OPS:
                    # The failure counter may be the database (registry/login_failures.py):
                    # off the event loop, which accepts every connection of every worker.
                    answer = await asyncio.to_thread(self._answer, held, request)
                else:
                    answer = self._answer(held, request)
                writer.write(json.dumps(answer).encode() + b"\n")
                await writer.drain()
        except (ConnectionError, ValueError, KeyError, TypeError) as exc:
            _log.warning("EPP worker %d: gate channel failed: %s", worker, exc)
        finally:
            for client_id, count in held.items():
                for _ in range(count):
                    self.gate.close_session(client_id)
            if sum(held.values()):
                _log.info("EPP worker %d gone: released %d sessions", worker, sum(held.values()))
            held.clear()
            self._connections[worker] = 0
            # Its connections died with it: they no longer count.
            for address, count in self._unauthenticated_of.pop(worker, Counter()).items():
                self._unauthenticated[address] -= count
                if self._unauthenticated[address] <= 0:
                    del self._unauthenticated[address]
            writer.close()

    def _answer(self, held: Counter[str], request: dict[str, Any]) -> Any:
        op, gate = request.get("op"), self.gate
        if op == "blocked":
            return gate.blocked(*request["keys"])
        if op == "failed":
            gate.failed(*request["keys"])
            return None
        if op == "open":
            opened = gate.open_session(request["client_id"])
            if opened:
                held[request["client_id"]] += 1
            return opened
        if op == "close":
            client_id = request["client_id"]
            if held[client_id] > 0:  # only slots this worker holds
                held[client_id] -= 1
                gate.close_session(client_id)
            return None
        if op == "sessions":
            return gate.sessions(request["client_id"])
        if op == "tracked":
            return gate.tracked()
        raise ValueError(f"unknown gate request {op!r}")


class RemoteGate:
    """A worker's side: the ``LoginGate`` methods, answered by the supervisor."""

    def __init__(
        self, sock: socket.socket, *, max_sessions: int, max_failures_per_session: int = 3
    ) -> None:
        self.max_sessions = max_sessions
        self.max_failures_per_session = max_failures_per_session
        self._sock = sock
        self._file = sock.makefile("rwb")
        self._lock = threading.Lock()

    def ready(self) -> None:
        """Tell the supervisor this worker accepts connections."""
        with self._lock:
            self._send({"op": READY})

    def session_ended(self) -> None:
        """A connection handed to this worker is over (for the supervisor's balancing)."""
        with self._lock:
            self._send({"op": ENDED})

    def unauthenticated_end(self, address: str) -> None:
        """A connection from ``address`` logged in, or ended without (for the caps)."""
        with self._lock:
            self._send({"op": LEFT, "address": address})

    def blocked(self, *keys: str) -> bool:
        return bool(self._ask({"op": "blocked", "keys": list(keys)}))

    def failed(self, *keys: str) -> None:
        self._ask({"op": "failed", "keys": list(keys)})

    def open_session(self, client_id: str) -> bool:
        return bool(self._ask({"op": "open", "client_id": client_id}))

    def close_session(self, client_id: str) -> None:
        self._ask({"op": "close", "client_id": client_id})

    def sessions(self, client_id: str) -> int:
        return int(self._ask({"op": "sessions", "client_id": client_id}))

    def tracked(self) -> int:
        return int(self._ask({"op": "tracked"}))

    def close(self) -> None:
        self._file.close()
        self._sock.close()

    def _ask(self, request: dict[str, Any]) -> Any:
        with self._lock:
            self._send(request)
            line = self._file.readline()
        if not line:
            raise GateChannelError("the EPP supervisor closed the gate channel")
        return json.loads(line)

    def _send(self, request: dict[str, Any]) -> None:
        try:
            self._file.write(json.dumps(request).encode() + b"\n")
            self._file.flush()
        except OSError as exc:
            raise GateChannelError(f"cannot reach the EPP supervisor: {exc}") from exc
