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
from collections.abc import Callable
from typing import Any, TypeVar, overload

from tidings.engine.admission import Admission
from tidings.engine.context import SocketContext
from tidings.engine.cors import cors_headers, origin_allowed, preflight_headers
from tidings.engine.draining import Draining
from tidings.engine.handler import CallbackHandler, EngineHandler
from tidings.engine.hooks import EVENTS, EngineEvents
from tidings.engine.io import HttpRequest, HttpResponse, WebSocketListener, WebSocketTransport
from tidings.engine.options import EngineOptions
from tidings.engine.pending import PendingWebSocket
from tidings.engine.refusals import allowed, allowed_now, origin_context, refusal
from tidings.engine.responses import TEXT as _TEXT
from tidings.engine.responses import poll_response, post_response
from tidings.engine.session_ids import SessionIds
from tidings.engine.socket import IGNORED, EngineSocket
from tidings.engine.static import ClientFiles
from tidings.engine.timers import DeadlineHeap
from tidings.logging_limits import LogLimiter
from tidings.protocol.engineio.events import Closed
from tidings.protocol.engineio.requests import (
    FORBIDDEN,
    SERVER_FULL,
    ErrorCode,
    RequestError,
    check_request,
)
from tidings.protocol.engineio.session import POLLING, WEBSOCKET, ServerSession

__all__ = ["EngineServer"]

logger = logging.getLogger("tidings.engineio")
#: A flood of handshakes at the cap is one line a minute and a count, not a line each.
full_warnings = LogLimiter(logger, burst=10, interval=60.0)

F = TypeVar("F", bound=Callable[..., Any])

_JSON = ("Content-Type", "application/json")
BAD_REQUEST = RequestError.of(ErrorCode.BAD_REQUEST)
_ERROR_REASONS = frozenset({"transport error", "parse error"})


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
        self._config = options.session_config()
        self._client_files = ClientFiles(options.path) if options.serve_client else None
        self.admission = Admission(
            options.max_sessions_per_address, options.handshakes_per_second, options.handshake_burst
        )
        """New sessions per client address (``max_sessions_per_address``, ``handshakes_per_second``)."""
        self.events = EngineEvents()
        """Listeners of "connection_error", "initial_headers" and "headers" (``on``)."""
        # WebSocket handshakes upgraded while an async allow_request decides, by id(request)
        # (kept with the request, so that id names no other until it is taken).
        self._pending: dict[int, tuple[HttpRequest, asyncio.Future[RequestError | None]]] = {}
        self._callbacks: CallbackHandler[EngineSocket] | None = None
        if handler is None:
            handler = self._callbacks = CallbackHandler()
        self.sockets: dict[str, EngineSocket] = {}
        self._ids = SessionIds(options.generate_id, options.owner, self.sockets)
        self.context: SocketContext[EngineSocket] = SocketContext(
            handler=handler,
            options=options,
            now=self._now,
            schedule=self._schedule,
            release_soon=self._release_soon,
            socket_closed=self._socket_closed,
        )
        """All a socket sees of this server (and its ``slow_consumers`` counts)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._heap: DeadlineHeap | None = None
        self._ready: list[EngineSocket] = []
        self._ready_handle: asyncio.Handle | None = None
        self._shutting_down = False
        self._draining = Draining(self.sockets)

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
        self.context.options = options
        self._ids.set_owner(owner)

    @property
    def handler(self) -> EngineHandler[EngineSocket]:
        """The layer above, told of every connection's opening, messages and close."""
        return self.context.handler

    # -- bare-engine callbacks -------------------------------------------------------------

    @overload
    def on(self, event: str) -> Callable[[F], F]: ...

    @overload
    def on(self, event: str, callback: F) -> F: ...

    def on(self, event: str, callback: F | None = None) -> F | Callable[[F], F]:
        """Add a "connection_error", "initial_headers" or "headers" listener (Node's
        ``io.engine.on``), or, on a bare engine, set the "connection", "message" or "close"
        callback; usable as a decorator."""
        callbacks = self._callbacks
        if event not in EVENTS and callbacks is None:
            raise RuntimeError("this engine was given a handler; callbacks are not used")

        def register(fn: F) -> F:
            if event in EVENTS:
                self.events.add(event, fn)
            elif callbacks is not None:
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
            return self._refuse(FORBIDDEN, [], request, origin_context(request))
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
            transport = socket.transport_name if socket is not None else None
            return self._refuse(error, cors, request, session_transport=transport)
        if socket is None:
            return await self._handshake(request, cors)
        if method == "GET":
            result = await socket.receive_poll()
            if isinstance(result, RequestError):
                return self._refuse(result, cors, request)
            body, compressible = result
            return poll_response(
                self.options, self.events, request, body, cors, compressible=compressible
            )
        if socket.reading_held and not await socket.wait_readable():
            socket.abort("transport error", "data request overlap from client")
            return self._refuse(BAD_REQUEST, cors, request, {"name": "DATA_REQUEST_OVERLAP"})
        error = socket.receive_post(request.body)
        if error is not None:
            return self._refuse(error, cors, request)
        return post_response(self.events, request, cors)

    def check_websocket(self, request: HttpRequest) -> HttpResponse | None:
        """None to accept a WebSocket upgrade request, else the HTTP refusal to send."""
        if not self.matches(request.path):
            return HttpResponse(404, [_TEXT], b"Not Found")
        if not origin_allowed(self.options, request):
            logger.info("refused WebSocket origin %r", request.headers.get("origin"))
            return self._refuse(FORBIDDEN, [], request, origin_context(request))
        error = self._websocket_error(request)
        if error is None and "sid" not in request.query:
            error = self._admit(request)
            allow = self.options.allow_request
            if error is None and allow is not None:
                verdict = allowed_now(allow, request)
                if isinstance(verdict, asyncio.Future):  # decided after the 101
                    self._pending[id(request)] = (request, verdict)
                else:
                    error = verdict
        if error is not None:
            socket = self.sockets.get(request.query.get("sid", ""))
            transport = socket.transport_name if socket is not None else None
            return self._refuse(error, [], request, session_transport=transport)
        return None

    async def websocket_verdict(self, request: HttpRequest) -> HttpResponse | None:
        """For the I/O layers, which wait here before the 101: the refusal of an ``async``
        ``allow_request`` deciding ``request``, else None (``check_websocket`` let it
        through). A wait cancelled (the connection dropped) forgets the request too."""
        pending = self._pending.get(id(request))
        if pending is None or pending[0] is not request:
            return None
        try:
            error = await asyncio.shield(pending[1])
        finally:
            if self._pending.get(id(request)) is pending:
                del self._pending[id(request)]
        return self._refuse(error, [], request) if error is not None else None

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
            pending = self._pending.pop(id(request), None)
            if pending is not None and pending[0] is request:

                def refuse(error: RequestError) -> None:
                    self._refused(error, request)
                    transport.close(1008, "")

                def opened() -> WebSocketListener:  # unless the server filled up meanwhile
                    if self._full():
                        refuse(SERVER_FULL)
                        return IGNORED
                    return self._open_websocket(request, transport)

                return PendingWebSocket(pending[1], opened, refuse)
            return self._open_websocket(request, transport)
        socket_ = self.sockets.get(sid)
        upgrade = socket_.start_upgrade(transport) if socket_ is not None else None
        if upgrade is None:
            logger.debug("sid=%s refused a second WebSocket", sid)
            transport.close(1000, "")
            return IGNORED
        return upgrade

    def _open_websocket(self, request: HttpRequest, transport: WebSocketTransport) -> WebSocketListener:
        """A new session over an accepted WebSocket (none if ``generate_id`` fails). An
        ``async`` ``generate_id`` is awaited after the 101, as in Node: what the client
        sends meanwhile waits in a ``PendingWebSocket``."""
        made = self._ids.new(request)
        if not isinstance(made, asyncio.Future):
            return self._websocket_session(self._sid_or_refusal(made, request), request, transport)
        decided: asyncio.Future[RequestError | None] = asyncio.get_running_loop().create_future()

        def made_done(_: object) -> None:
            if not decided.done():
                decided.set_result(None)

        def opened() -> WebSocketListener:
            result = RuntimeError("generate_id was cancelled") if made.cancelled() else made.result()
            sid = self._sid_or_refusal(self._ids.made(result), request)
            if isinstance(sid, str) and self._full():
                self._refused(SERVER_FULL, request)
                transport.close(1008, "")
                return IGNORED
            return self._websocket_session(sid, request, transport)

        made.add_done_callback(made_done)
        return PendingWebSocket(decided, opened, lambda error: transport.close(1011, ""))

    def _websocket_session(
        self, sid: str | RequestError, request: HttpRequest, transport: WebSocketTransport
    ) -> WebSocketListener:
        if isinstance(sid, RequestError):
            transport.close(1011, "")
            return IGNORED
        session = ServerSession(sid, self._config, self._now(), transport=WEBSOCKET)
        socket = EngineSocket(self.context, request, session)
        listener = socket.attach_websocket(transport)
        self._open(socket, request)
        return listener

    async def shutdown(self, timeout: float = 5.0) -> None:
        """Close every session with "server shutting down" within ``timeout`` seconds (as
        ``Draining.close_all`` says); refuse new ones until ``startup``."""
        self._shutting_down = True
        self._pending.clear()
        await self._draining.close_all(timeout)
        if self._ready:
            self._release_polls()
        if self._heap is not None:
            self._heap.close()
        # A later startup() may serve it again, on this loop or another.
        self._unbind()

    async def startup(self) -> None:
        """Accept sessions (again, after a shutdown); the I/O layers call it when they start."""
        self._shutting_down = False

    # -- internals -------------------------------------------------------------------------

    def _bind(self) -> None:
        if self._loop is None:
            loop = self._loop = asyncio.get_running_loop()
            heap = self._heap = DeadlineHeap(loop)
            # Sockets call the loop's clock and the heap with no wrapper in between.
            self.context.now = loop.time
            self.context.schedule = heap.schedule

    def _unbind(self) -> None:
        self._heap = None
        self._loop = None
        self.context.now = self._now
        self.context.schedule = self._schedule

    def _now(self) -> float:
        if self._loop is None:
            self._bind()
        assert self._loop is not None
        return self._loop.time()

    def _sid_or_refusal(self, sid: str | Exception, request: HttpRequest) -> str | RequestError:
        if isinstance(sid, Exception):
            logger.error("generate_id failed, the handshake is refused: %r", sid)
            return self._refused(BAD_REQUEST, request, {"name": "ID_GENERATION_ERROR", "error": sid})
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

    def _refused(
        self,
        error: RequestError,
        request: HttpRequest,
        context: dict[str, Any] | None = None,
        session_transport: str | None = None,
    ) -> RequestError:
        """Tell the ``connection_error`` listeners of ``error`` (Node's codes); returns it."""
        if self.events.connection_error:
            self.events.refused(refusal(error, request, context, session_transport))
        return error

    def _refuse(
        self,
        error: RequestError,
        cors: list[tuple[str, str]],
        request: HttpRequest,
        context: dict[str, Any] | None = None,
        session_transport: str | None = None,
    ) -> HttpResponse:
        self._refused(error, request, context, session_transport)
        return HttpResponse(error.status, [_JSON, *cors], error.body)

    async def _handshake(self, request: HttpRequest, cors: list[tuple[str, str]]) -> HttpResponse:
        if self._full():
            if self._shutting_down:
                logger.info("handshake refused: shutting down")
            else:
                full_warnings.warning("handshake refused at the session cap",
                                      "handshake refused: %d sessions open", len(self.sockets))
            return self._refuse(SERVER_FULL, cors, request)
        refused = self._admit(request)
        allow = self.options.allow_request
        if refused is None and allow is not None:
            refused = await allowed(allow, request)
            if refused is None and self._full():  # sessions opened while it was deciding
                refused = SERVER_FULL
        if refused is not None:
            return self._refuse(refused, cors, request)
        made = self._ids.new(request)
        if isinstance(made, asyncio.Future):
            made = self._ids.made(await made)
            if isinstance(made, str) and self._full():  # sessions opened while it was naming
                return self._refuse(SERVER_FULL, cors, request)
        sid = self._sid_or_refusal(made, request)
        if isinstance(sid, RequestError):
            return HttpResponse(sid.status, [_JSON, *cors], sid.body)
        session = ServerSession(sid, self._config, self._now(), transport=POLLING)
        socket = EngineSocket(self.context, request, session)
        body = session.receive_poll(self._now())  # the handshake answers with the OPEN packet
        assert isinstance(body, str)
        self._open(socket, request)
        return poll_response(self.options, self.events, request, body, cors, sid)

    def _admit(self, request: HttpRequest) -> RequestError | None:
        """The per-address bounds on new sessions (``Admission``); refusals are logged at
        the 1st, 10th, 100th... so a flood of them writes a handful of lines."""
        admission = self.admission
        if not admission.active:
            return None
        address = request.client[0] if request.client is not None else None
        error = admission.check(address, self._now())
        if error is not None:
            refused = admission.refused
            if refused == 10 ** (len(str(refused)) - 1):
                logger.warning("new session from %s refused: %s (%d refused so far)",
                               address, error.message.lower(), refused)
        return error

    def _open(self, socket: EngineSocket, request: HttpRequest) -> None:
        if self.admission.active:
            client = request.client
            self.admission.opened(socket.sid, client[0] if client is not None else None)
        self.sockets[socket.sid] = socket
        logger.debug("sid=%s opened over %s", socket.sid, socket.transport_name)
        socket.start()
        if socket.closed:
            return
        try:
            self.context.handler.connection_opened(socket)
        except Exception:
            logger.exception("sid=%s connect handler failed", socket.sid)

    def _socket_closed(self, socket: EngineSocket, event: Closed) -> None:
        """Forget ``socket`` and tell the handler (``SocketContext.socket_closed``)."""
        if self.sockets.get(socket.sid) is socket:
            del self.sockets[socket.sid]
            self.admission.closed(socket.sid)
        if event.reason in _ERROR_REASONS:
            logger.info("sid=%s closed: %s (%s)", socket.sid, event.reason, event.detail)
        else:
            logger.debug("sid=%s closed: %s %s", socket.sid, event.reason, event.detail)
        try:
            self.context.handler.connection_closed(socket, event.reason)
        except Exception:
            logger.exception("sid=%s disconnect handler failed", socket.sid)
        self._draining.check()

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
