"""The EPP server: asyncio over TLS (RFC 5734), one dispatcher, a pool of worker threads.

The event loop does TLS, framing and timeouts; each frame's XML, validation and
database work runs in a worker thread (``Dispatcher.handle``), so one slow command
never stalls other sessions. A session ends on logout, on a closing result code
(2500-2502), after ``idle_timeout`` seconds without a frame, or when the client goes.
Nothing a client sends can stop the server: unexpected failures are logged and
answered with 2400.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from tldsec.epp.dispatch import Answer, Connection, Dispatcher
from tldsec.epp.errors import CommandFailed, EppError
from tldsec.epp.framing import FrameError, encode, read_frame
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
        # Called when a connection's session is over (the worker tells its supervisor).
        self.on_session_end: Callable[[], None] | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        """Listen; port 0 picks a free port. Returns the bound address."""
        self._server = await asyncio.start_server(
            self._session,
            host,
            port,
            ssl=self.context,
            ssl_handshake_timeout=self.limits.handshake_timeout,
        )
        address = self._server.sockets[0].getsockname()
        _log.info("EPP server listening on %s:%s", address[0], address[1])
        return str(address[0]), int(address[1])

    async def adopt(self, sock: socket.socket) -> None:
        """Run a session on a TCP connection another process accepted (one of several
        worker processes, ``epp/workers.py``): TLS handshake, then as ``start``'s."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(loop=loop)
        protocol = asyncio.StreamReaderProtocol(reader, self._session, loop=loop)
        try:
            await loop.connect_accepted_socket(
                lambda: protocol,
                sock,
                ssl=self.context,
                ssl_handshake_timeout=self.limits.handshake_timeout,
            )
        except (OSError, ssl.SSLError, TimeoutError) as exc:
            _log.debug("EPP connection dropped before its session: %s", exc)
            sock.close()
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
        for task in list(self._sessions):
            task.cancel()
        if self._sessions:
            await asyncio.gather(*self._sessions, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        self._pool.shutdown(wait=True, cancel_futures=True)

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._sessions.add(task)
        peer = writer.get_extra_info("peername") or ("?", 0)
        conn = Connection(
            peer=f"{peer[0]}:{peer[1]}",
            cert_fingerprint=peer_fingerprint(writer.get_extra_info("ssl_object")),
        )
        loop = asyncio.get_running_loop()
        try:
            greeting = await loop.run_in_executor(self._pool, self.dispatcher.greeting)
            await self._send(writer, greeting)
            while not conn.closed:
                answer = await self._next(reader, conn, loop)
                if answer is None:
                    break
                await self._send(writer, answer.data)
                if answer.close:
                    break
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError) as exc:
            _log.debug("EPP session %s ended: %s", conn.peer, exc)
        except asyncio.CancelledError:
            # close() ends the session; the task ends here rather than re-raising
            # (asyncio's stream callback would log a cancelled session as an error).
            _log.debug("EPP session %s closed by the server's shutdown", conn.peer)
        finally:
            self.dispatcher.end_session(conn)
            if self.on_session_end is not None:
                self.on_session_end()
            if self._closing:
                # Shutting down: no TLS close_notify exchange with a client that may not
                # answer (it would hold the shutdown for ssl_shutdown_timeout).
                writer.transport.abort()
            else:
                writer.close()
                try:
                    await writer.wait_closed()
                except (ConnectionError, ssl.SSLError, TimeoutError) as exc:
                    _log.debug("closing %s: %s", conn.peer, exc)
            if task is not None:
                self._sessions.discard(task)

    async def _next(
        self, reader: asyncio.StreamReader, conn: Connection, loop: asyncio.AbstractEventLoop
    ) -> Answer | None:
        """The answer to the next frame; None when the session is over."""
        limits = self.limits
        try:
            # asyncio.timeout, not wait_for: no task of its own for every frame.
            async with asyncio.timeout(limits.idle_timeout):
                frame = await read_frame(reader, limits.max_frame_bytes, limits.drain_limit)
        except TimeoutError:
            _log.info("EPP session %s idle for %ss: closing", conn.peer, limits.idle_timeout)
            return None
        except asyncio.IncompleteReadError:
            return None
        except FrameError as exc:
            answer = await loop.run_in_executor(self._pool, self._reject, exc, conn)
            return Answer(answer.data, close=answer.close or exc.close)
        return await loop.run_in_executor(self._pool, self._handle, frame, conn)

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
