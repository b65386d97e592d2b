"""The EPP server: asyncio over TLS (RFC 5734), one dispatcher, a pool of worker threads.

The event loop does TLS, framing and timeouts; each frame's XML, validation and
database work runs in a worker thread (``Dispatcher.handle``), so one slow command
never stalls other sessions. A session ends on logout, on a closing result code
(2500-2502), after ``idle_timeout`` seconds without a frame, or when the client goes.
Nothing a client sends can stop the server: unexpected failures are logged and
answered with 2400.

What a client that never logs in may hold is bounded (issue 18): connections not yet
logged in are counted per source address and in total, and one over either cap is closed
at once, before TLS; such a connection has ``login_timeout`` seconds to complete TLS and
log in, however busy it keeps the session; and a frame, once its first byte is in, must arrive at
``min_frame_rate`` bytes per second after ``frame_grace`` seconds (one byte a second keeps
nothing). The caps hold per process; with several worker processes the supervisor also
holds them across all (``epp/workers.py``), told by ``on_unauthenticated_end``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from tldsec.epp.dispatch import Answer, Connection, Dispatcher
from tldsec.epp.errors import CommandFailed, EppError
from tldsec.epp.framing import HEADER, FrameError, encode, read_frame
from tldsec.epp.tls import peer_fingerprint
from tldsec.epp.xml.codec import Reply

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """Bounds on what one client may cost the server."""

    max_frame_bytes: int = 65536
    drain_limit: int = 16 * 2**20  # larger declared frames close the connection
    idle_timeout: float = 600.0
    handshake_timeout: float = 30.0
    workers: int = 8
    # Connections not logged in (yet): per source address, in total, and how long TLS
    # and the login may take together.
    max_unauthenticated_per_address: int = 16
    max_unauthenticated: int = 512
    login_timeout: float = 30.0
    # A frame in progress: its bytes must come at this rate after the grace.
    min_frame_rate: float = 1024.0
    frame_grace: float = 10.0


class EppServer:
    """Accepts TLS connections and runs one EPP session per connection."""

    def __init__(
        self, dispatcher: Dispatcher, context: ssl.SSLContext, limits: ServerLimits | None = None
    ) -> None:
        self.dispatcher = dispatcher
        self.context = context
        self.limits = limits or ServerLimits()
        self._pool = ThreadPoolExecutor(self.limits.workers, thread_name_prefix="epp")
        self._server: asyncio.Server | None = None
        self._sessions: set[asyncio.Task[None]] = set()
        self._closing = False
        # Connections not logged in, by source address (only the event loop touches it).
        self._unauthenticated: Counter[str] = Counter()
        # Called when a connection's session is over (the worker tells its supervisor).
        self.on_session_end: Callable[[], None] | None = None
        # Called once per connection, with its source address, when it no longer counts
        # as not logged in: at its login, or at its end without one.
        self.on_unauthenticated_end: Callable[[str], None] | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Listen; port 0 picks a free port. Returns the bound address."""
        # TLS starts in the session, after the connection caps are checked.
        self._server = await asyncio.start_server(self._session, host, port)
        address = self._server.sockets[0].getsockname()
        _log.info("EPP server listening on %s:%s", address[0], address[1])
        return str(address[0]), int(address[1])

    async def adopt(self, sock: socket.socket) -> None:
        """Run a session on a TCP connection another process accepted (one of several
        worker processes, ``epp/workers.py``): TLS handshake, then as ``start``'s."""
        loop = asyncio.get_running_loop()
        try:
            address = str(sock.getpeername()[0])
        except OSError:
            address = "?"
        reader = asyncio.StreamReader(loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, self._session, loop=loop)
        try:
            await loop.connect_accepted_socket(lambda: protocol, sock)
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            _log.debug("EPP connection dropped before its session: %s", exc)
            sock.close()
            if self.on_unauthenticated_end is not None:
                self.on_unauthenticated_end(address)
            if self.on_session_end is not None:
                self.on_session_end()

    async def serve_forever(self) -> None:
        if self._server is None:
            raise RuntimeError("start() the server first")
        await self._server.serve_forever()

    async def close(self) -> None:
        self._closing = True
        # Stop accepting, end the open sessions, then wait for the listener: since
        # Python 3.11.7/3.12.1 wait_closed() also waits for every open connection.
        if self._server is not None:
            self._server.close()
        # A connection accepted just before the close may not have started its session
        # task yet: yield once so it joins _sessions, and repeat until none is left (a
        # session left pending would be destroyed with the loop, its transport unclosed).
        for _ in range(3):
            await asyncio.sleep(0)
            tasks = list(self._sessions)
            if not tasks:
                break
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        self._pool.shutdown(wait=True, cancel_futures=True)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._sessions.add(task)
        peer = writer.get_extra_info("peername") or ("?", 0)
        address = str(peer[0])
        conn = Connection(peer=f"{peer[0]}:{peer[1]}")
        loop = asyncio.get_running_loop()
        counted = self._admit(address)
        pending = True  # for on_unauthenticated_end
        handshake_failed = False  # start_tls raised: nothing to flush, drop the transport
        try:
            if not counted:
                return
            # TLS and the login together within login_timeout of the connection.
            login_deadline = loop.time() + self.limits.login_timeout
            handshake_failed = True
            await writer.start_tls(
                self.context,
                ssl_handshake_timeout=min(self.limits.handshake_timeout, self.limits.login_timeout),
            )
            handshake_failed = False
            conn.cert_fingerprint = peer_fingerprint(writer.get_extra_info("ssl_object"))
            greeting = await loop.run_in_executor(self._pool, self.dispatcher.greeting)
            await self._send(writer, greeting)
            while not conn.closed:
                deadline = None if conn.actor is not None else login_deadline
                answer = await self._next(reader, conn, loop, deadline)
                if answer is None:
                    break
                await self._send(writer, answer.data)
                if pending and conn.actor is not None:
                    pending = False
                    if self.on_unauthenticated_end is not None:
                        self.on_unauthenticated_end(address)
                if counted and conn.actor is not None:
                    self._release(address)  # logged in: no longer counted
                    counted = False
                if answer.close:
                    break
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError, TimeoutError) as exc:
            _log.debug("EPP session %s ended: %s", conn.peer, exc)
        except asyncio.CancelledError:
            # close() ends the session; the task ends here rather than re-raising
            # (asyncio's stream callback would log a cancelled session as an error).
            _log.debug("EPP session %s closed by the server's shutdown", conn.peer)
        finally:
            if counted:
                self._release(address)
            if pending and self.on_unauthenticated_end is not None:
                self.on_unauthenticated_end(address)
            self.dispatcher.end_session(conn)
            if self.on_session_end is not None:
                self.on_session_end()
            if self._closing or handshake_failed:
                # Shutting down: no TLS close_notify exchange with a client that may not
                # answer (it would hold the shutdown for ssl_shutdown_timeout). A failed
                # handshake has nothing to flush either: the transport is dropped at once
                # (a plain close could leave it open behind the failed TLS layer until
                # the garbage collector found it).
                writer.transport.abort()
            else:
                writer.close()
                try:
                    await writer.wait_closed()
                except (ConnectionError, ssl.SSLError, TimeoutError) as exc:
                    _log.debug("closing %s: %s", conn.peer, exc)
            if task is not None:
                self._sessions.discard(task)

    def _admit(self, address: str) -> bool:
        """Count a new connection as not logged in; False when a cap is reached."""
        limits = self.limits
        if self._unauthenticated[address] >= limits.max_unauthenticated_per_address:
            _log.warning(
                "EPP connection from %s refused: %d not logged in from that address",
                address,
                self._unauthenticated[address],
            )
            return False
        if self._unauthenticated.total() >= limits.max_unauthenticated:
            _log.warning(
                "EPP connection from %s refused: %d connections not logged in",
                address,
                self._unauthenticated.total(),
            )
            return False
        self._unauthenticated[address] += 1
        return True

    def _release(self, address: str) -> None:
        self._unauthenticated[address] -= 1
        if self._unauthenticated[address] <= 0:
            del self._unauthenticated[address]

    def unauthenticated(self) -> int:
        """How many connections are not logged in now."""
        return self._unauthenticated.total()

    async def _next(
        self,
        reader: asyncio.StreamReader,
        conn: Connection,
        loop: asyncio.AbstractEventLoop,
        login_deadline: float | None = None,
    ) -> Answer | None:
        """The answer to the next frame; None when the session is over.

        The next frame must start within the idle timeout (before ``login_deadline`` for
        a session not logged in), then arrive at ``min_frame_rate`` after the grace."""
        limits = self.limits
        wait_until = loop.time() + limits.idle_timeout
        if login_deadline is not None:
            wait_until = min(wait_until, login_deadline)
        why = "idle"
        try:
            # asyncio.timeout, not wait_for: no task of its own for every frame.
            async with asyncio.timeout_at(wait_until) as timer:
                first_byte = 0.0

                def started() -> None:
                    nonlocal first_byte, why
                    first_byte = loop.time()
                    why = "sending a frame too slowly"
                    self._frame_deadline(timer, first_byte, HEADER, login_deadline)

                def announced(total: int) -> None:
                    self._frame_deadline(timer, first_byte, total, login_deadline)

                frame = await read_frame(
                    reader,
                    limits.max_frame_bytes,
                    limits.drain_limit,
                    started=started,
                    announced=announced,
                )
        except TimeoutError:
            if login_deadline is not None and loop.time() >= login_deadline - 0.001:
                why = f"not logged in after {limits.login_timeout}s"
            _log.info("EPP session %s %s: closing", conn.peer, why)
            return None
        except asyncio.IncompleteReadError:
            return None
        except FrameError as exc:
            answer = await loop.run_in_executor(self._pool, self._reject, exc, conn)
            return Answer(answer.data, close=answer.close or exc.close)
        return await loop.run_in_executor(self._pool, self._handle, frame, conn)

    def _frame_deadline(
        self, timer: asyncio.Timeout, first_byte: float, total: int, login_deadline: float | None
    ) -> None:
        """A frame of ``total`` bytes begun at ``first_byte`` must be in by: the grace plus
        its length at the minimum rate, never later than the idle timeout from its start
        nor than the login deadline."""
        limits = self.limits
        budget = min(limits.frame_grace + total / limits.min_frame_rate, limits.idle_timeout)
        when = first_byte + budget
        if login_deadline is not None:
            when = min(when, login_deadline)
        timer.reschedule(when)

    def _handle(self, frame: bytes, conn: Connection) -> Answer:
        try:
            return self.dispatcher.handle(frame, conn)
        except Exception:  # a bug must not take the session or the server down
            _log.exception("unexpected failure answering %s", conn.peer)
            return self._reject(CommandFailed("internal server error; nothing was changed"), conn)

    def _reject(self, error: EppError, conn: Connection) -> Answer:
        reply = Reply.of_error(error)
        sv_trid = self.dispatcher.new_sv_trid()
        return Answer(self.dispatcher.codec.response(reply, None, sv_trid), close=conn.closed)

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, data: bytes) -> None:
        writer.write(encode(data))
        await writer.drain()
