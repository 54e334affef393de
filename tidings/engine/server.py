"""``EngineServer``: Engine.IO v4 over asyncio, behind the I/O contract of ``tidings.engine.io``.

Usable on its own like Node's ``engine.io`` package, and the base of the
Socket.IO server. The protocol decisions live in ``tidings.protocol.engineio``;
this module routes requests, holds polls, and runs every session's timers from
one deadline heap.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
from collections.abc import Callable
from typing import Any, TypeVar, overload

from tidings.engine.context import SocketContext
from tidings.engine.cors import cors_headers, origin_allowed, preflight_headers
from tidings.engine.handler import CallbackHandler, EngineHandler
from tidings.engine.io import HttpRequest, HttpResponse, WebSocketListener, WebSocketTransport
from tidings.engine.options import EngineOptions
from tidings.engine.socket import IGNORED, EngineSocket
from tidings.engine.static import ClientFiles
from tidings.engine.timers import DeadlineHeap
from tidings.protocol.engineio.events import Closed
from tidings.protocol.engineio.requests import (
    FORBIDDEN,
    SERVER_FULL,
    RequestError,
    check_request,
)
from tidings.protocol.engineio.session import POLLING, WEBSOCKET, ServerSession

__all__ = ["EngineServer"]

logger = logging.getLogger("tidings.engineio")

F = TypeVar("F", bound=Callable[..., Any])

_TEXT = ("Content-Type", "text/plain; charset=UTF-8")
_JSON = ("Content-Type", "application/json")
_NO_STORE = ("Cache-Control", "no-store")
_ERROR_REASONS = frozenset({"transport error", "parse error"})
#: Seconds a polling client has, at shutdown, to come back for its CLOSE packet.
POLL_GRACE = 1.0


class EngineServer:
    """An Engine.IO server; give it a handler, or set callbacks with ``on``."""

    def __init__(
        self,
        handler: EngineHandler[EngineSocket] | None = None,
        options: EngineOptions | None = None,
        **option_overrides: Any,
    ) -> None:
        if options is None:
            options = EngineOptions(**option_overrides)
        elif option_overrides:
            options = dataclasses.replace(options, **option_overrides)
        self.options: EngineOptions = options
        self._sid_prefix = f"{options.owner}." if options.owner is not None else ""
        self._config = options.session_config()
        self._client_files = ClientFiles(options.path) if options.serve_client else None
        self._callbacks: CallbackHandler[EngineSocket] | None = None
        if handler is None:
            handler = self._callbacks = CallbackHandler()
        self.sockets: dict[str, EngineSocket] = {}
        # All a socket sees of this server.
        self._context: SocketContext[EngineSocket] = SocketContext(
            handler=handler,
            options=options,
            now=self._now,
            schedule=self._schedule,
            release_soon=self._release_soon,
            socket_closed=self._socket_closed,
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._heap: DeadlineHeap | None = None
        self._ready: list[EngineSocket] = []
        self._ready_handle: asyncio.Handle | None = None
        self._shutting_down = False
        self._drained: asyncio.Event | None = None

    @property
    def owner(self) -> str | None:
        """The owner tag in front of this engine's session ids (``EngineOptions.owner``)."""
        return self.options.owner

    def set_owner(self, owner: str | None) -> None:
        """Set the owner tag (the built-in server does, from its ``HandoffOptions``);
        only while no session is open, since open ones keep the ids they were given."""
        if owner == self.options.owner:
            return
        if self.sockets:
            raise RuntimeError("the owner tag cannot change while sessions are open")
        options = self.options = dataclasses.replace(self.options, owner=owner)
        self._context.options = options
        self._sid_prefix = f"{owner}." if owner is not None else ""

    @property
    def handler(self) -> EngineHandler[EngineSocket]:
        """The layer above, told of every connection's opening, messages and close."""
        return self._context.handler

    # -- bare-engine callbacks -------------------------------------------------------------

    @overload
    def on(self, event: str) -> Callable[[F], F]: ...

    @overload
    def on(self, event: str, callback: F) -> F: ...

    def on(self, event: str, callback: F | None = None) -> F | Callable[[F], F]:
        """Set the "connection", "message" or "close" callback; usable as a decorator."""
        callbacks = self._callbacks
        if callbacks is None:
            raise RuntimeError("this engine was given a handler; callbacks are not used")

        def register(fn: F) -> F:
            callbacks.set(event, fn)
            return fn

        if callback is None:
            return register
        return register(callback)

    # -- the I/O contract ------------------------------------------------------------------

    def matches(self, path: str) -> bool:
        base = self.options.path
        return path.startswith(base) or path == base[:-1]

    async def handle_http(self, request: HttpRequest) -> HttpResponse:
        """Answer one HTTP request under the Engine.IO path (a held poll waits here)."""
        self._bind()
        if not self.matches(request.path):
            return HttpResponse(404, [_TEXT], b"Not Found")
        options = self.options
        method = request.method.upper()
        client_files = self._client_files
        if client_files is not None and request.path in client_files:
            # A public script: served to any origin, readable cross-origin (an ESM
            # import) by the allowed ones only.
            cors = cors_headers(options, request) if origin_allowed(options, request) else []
            served = await client_files.handle(method, request.path, request.headers, cors)
            if served is not None:
                return served
        if not origin_allowed(options, request):
            logger.info("refused origin %r", request.headers.get("origin"))
            return self._refuse(FORBIDDEN, [])
        if method == "OPTIONS":
            return HttpResponse(204, preflight_headers(options, request))
        cors = cors_headers(options, request)
        sid = request.query.get("sid")
        socket = self.sockets.get(sid) if sid is not None else None
        error = check_request(
            method,
            request.query,
            websocket=False,
            transports=options.transports,
            session_transport=socket.transport_name if socket is not None else None,
        )
        if error is not None:
            return self._refuse(error, cors)
        if socket is None:
            return self._handshake(request, cors)
        if method == "GET":
            result = await socket.receive_poll()
            if isinstance(result, RequestError):
                return self._refuse(result, cors)
            return HttpResponse(200, [_TEXT, _NO_STORE, *cors], result.encode("utf-8"))
        error = socket.receive_post(request.body)
        if error is not None:
            return self._refuse(error, cors)
        return HttpResponse(200, [_TEXT, *cors], b"ok")

    def check_websocket(self, request: HttpRequest) -> HttpResponse | None:
        """None to accept a WebSocket upgrade request, else the HTTP refusal to send."""
        if not self.matches(request.path):
            return HttpResponse(404, [_TEXT], b"Not Found")
        if not origin_allowed(self.options, request):
            logger.info("refused WebSocket origin %r", request.headers.get("origin"))
            return self._refuse(FORBIDDEN, [])
        error = self._websocket_error(request)
        if error is not None:
            return self._refuse(error, [])
        return None

    def open_websocket(
        self, request: HttpRequest, transport: WebSocketTransport
    ) -> WebSocketListener:
        """Take an accepted WebSocket: a new session, or an upgrade of a polling one."""
        self._bind()
        if self._websocket_error(request) is not None:
            transport.close(1008, "")
            return IGNORED
        sid = request.query.get("sid")
        if sid is None:
            session = ServerSession(self._new_sid(), self._config, self._now(), transport=WEBSOCKET)
            socket = EngineSocket(self._context, request, session)
            listener = socket.attach_websocket(transport)
            self._open(socket)
            return listener
        socket_ = self.sockets.get(sid)
        upgrade = socket_.start_upgrade(transport) if socket_ is not None else None
        if upgrade is None:
            logger.debug("sid=%s refused a second WebSocket", sid)
            transport.close(1000, "")
            return IGNORED
        return upgrade

    async def shutdown(self, timeout: float = 5.0) -> None:
        """Close every session with "server shutting down"; refuse new ones until ``startup``.

        A polling client collects its CLOSE with its next poll, which a live client
        sends at once: one that has not come within ``POLL_GRACE`` seconds is gone,
        and is not waited for up to ``timeout``.
        """
        self._shutting_down = True
        for socket in list(self.sockets.values()):
            socket.close("server shutting down")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if await self._wait_drained(min(timeout, POLL_GRACE)):
            for socket in list(self.sockets.values()):
                if socket.transport_name == "polling" and not socket.session.poll_held:
                    socket.abort("server shutting down", "client did not poll again")
            await self._wait_drained(deadline - loop.time())
        for socket in list(self.sockets.values()):
            socket.abort("server shutting down", "shutdown timeout")
        if self._ready:
            self._release_polls()
        if self._heap is not None:
            self._heap.close()
        # A later startup() may serve it again, on this loop or another.
        self._unbind()

    async def startup(self) -> None:
        """Accept sessions (again, after a shutdown); the I/O layers call it when they start."""
        self._shutting_down = False

    async def _wait_drained(self, timeout: float) -> bool:
        """Wait until no session is left; True if some still are after ``timeout``."""
        if not self.sockets:
            return False
        drained = self._drained = asyncio.Event()
        try:
            await asyncio.wait_for(drained.wait(), max(timeout, 0.0))
        except TimeoutError:
            pass
        finally:
            self._drained = None
        return bool(self.sockets)

    # -- internals -------------------------------------------------------------------------

    def _bind(self) -> None:
        if self._loop is None:
            loop = self._loop = asyncio.get_running_loop()
            heap = self._heap = DeadlineHeap(loop)
            # Sockets call the loop's clock and the heap with no wrapper in between.
            self._context.now = loop.time
            self._context.schedule = heap.schedule

    def _unbind(self) -> None:
        self._heap = None
        self._loop = None
        self._context.now = self._now
        self._context.schedule = self._schedule

    def _now(self) -> float:
        if self._loop is None:
            self._bind()
        assert self._loop is not None
        return self._loop.time()

    def _new_sid(self) -> str:
        prefix = self._sid_prefix
        while True:
            sid = secrets.token_urlsafe(15)  # 20 characters, like Node's ids
            if prefix:
                sid = prefix + sid
            if sid not in self.sockets:
                return sid

    def _full(self) -> bool:
        return self._shutting_down or len(self.sockets) >= self.options.max_connections

    def _websocket_error(self, request: HttpRequest) -> RequestError | None:
        sid = request.query.get("sid")
        socket = self.sockets.get(sid) if sid is not None else None
        error = check_request(
            "GET",
            request.query,
            websocket=True,
            transports=self.options.transports,
            session_transport=socket.transport_name if socket is not None else None,
        )
        if error is None and sid is None and self._full():
            return SERVER_FULL
        return error

    def _refuse(self, error: RequestError, cors: list[tuple[str, str]]) -> HttpResponse:
        return HttpResponse(error.status, [_JSON, *cors], error.body)

    def _handshake(self, request: HttpRequest, cors: list[tuple[str, str]]) -> HttpResponse:
        if self._full():
            if self._shutting_down:
                logger.info("handshake refused: shutting down")
            else:
                logger.warning("handshake refused: %d sessions open", len(self.sockets))
            return self._refuse(SERVER_FULL, cors)
        session = ServerSession(self._new_sid(), self._config, self._now(), transport=POLLING)
        socket = EngineSocket(self._context, request, session)
        body = session.receive_poll(self._now())  # the handshake answers with the OPEN packet
        assert isinstance(body, str)
        self._open(socket)
        return HttpResponse(200, [_TEXT, _NO_STORE, *cors], body.encode("utf-8"))

    def _open(self, socket: EngineSocket) -> None:
        self.sockets[socket.sid] = socket
        logger.debug("sid=%s opened over %s", socket.sid, socket.transport_name)
        socket.start()
        if socket.closed:
            return
        try:
            self._context.handler.connection_opened(socket)
        except Exception:
            logger.exception("sid=%s connect handler failed", socket.sid)

    def _socket_closed(self, socket: EngineSocket, event: Closed) -> None:
        """Forget ``socket`` and tell the handler (``SocketContext.socket_closed``)."""
        if self.sockets.get(socket.sid) is socket:
            del self.sockets[socket.sid]
        if event.reason in _ERROR_REASONS:
            logger.info("sid=%s closed: %s (%s)", socket.sid, event.reason, event.detail)
        else:
            logger.debug("sid=%s closed: %s %s", socket.sid, event.reason, event.detail)
        try:
            self._context.handler.connection_closed(socket, event.reason)
        except Exception:
            logger.exception("sid=%s disconnect handler failed", socket.sid)
        if self._drained is not None and not self.sockets:
            self._drained.set()

    def _schedule(self, socket: EngineSocket, when: float | None) -> None:
        """``SocketContext.schedule`` while no loop is bound (the heap's own once one is)."""
        heap = self._heap
        if heap is not None:
            heap.schedule(socket, when)

    def _release_soon(self, socket: EngineSocket) -> None:
        """Answer ``socket``'s held poll on the next loop turn, with all it was sent meanwhile."""
        self._ready.append(socket)
        if self._ready_handle is None:
            assert self._loop is not None
            self._ready_handle = self._loop.call_soon(self._release_polls)

    def _release_polls(self) -> None:
        self._ready_handle = None
        ready, self._ready = self._ready, []
        for socket in ready:
            socket.release_poll()
