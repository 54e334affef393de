"""HTTP/1.1 for the built-in server: one ``HttpProtocol`` per connection.

``httptools`` (llhttp) parses; this module enforces the limits around it and
keeps responses in request order when requests are pipelined: complete
requests queue up and one task per connection answers them in turn (reading
pauses when too many wait). A WebSocket upgrade hands the transport to a
``WebSocketProtocol`` and drops this object, parser included, so an idle
WebSocket carries none of it.

Deadlines: a request's headers must arrive within ``header_timeout`` of its
first byte (slowloris), its body within ``body_timeout``, and an idle
keep-alive connection is closed after ``keep_alive_timeout``.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import parse_qsl, unquote

import httptools

from tidings.engine.io import HttpRequest, HttpResponse, join_headers
from tidings.protocol.websocket import (
    CloseCode,
    HandshakeError,
    Pong,
    State,
    accept_response,
    encode_close,
    is_upgrade_request,
    validate_upgrade,
)
from tidings.standalone.app import EngineLike, WebSocketRouteLike, routes_of
from tidings.standalone.websocket import WebSocketProtocol

if TYPE_CHECKING:
    from tidings.standalone.server import Server

logger = logging.getLogger("tidings.standalone")

_NO_BODY_STATUS = frozenset((204, 304))


class _Reject(Exception):
    """Raised from a parser callback to refuse the request with ``status``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def encode_response(response: HttpResponse, *, keep_alive: bool, head: bool = False) -> bytes:
    """Status line, headers and body in one buffer: one write per response."""
    status = response.status
    lines = [f"HTTP/1.1 {status} {_phrase(status)}"]
    has_length = False
    for name, value in response.headers:
        lname = name.lower()
        if lname == "content-length":
            has_length = True
        elif lname == "connection":
            continue  # ours to decide
        lines.append(f"{name}: {value}")
    body = response.body
    no_body = status < 200 or status in _NO_BODY_STATUS
    if not has_length and not no_body:
        lines.append(f"Content-Length: {len(body)}")
    if not keep_alive:
        lines.append("Connection: close")
    head_bytes = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    if head or no_body or not body:
        return head_bytes
    return head_bytes + body


def _error_response(status: int, message: str = "") -> HttpResponse:
    body = (message or _phrase(status)).encode("utf-8", "replace") + b"\n"
    return HttpResponse(status, [("Content-Type", "text/plain; charset=utf-8")], body)


class RouteWebSocketProtocol(WebSocketProtocol):
    """The WebSocket of a raw route: what the engine's needs, plus pings, pongs and flow
    control both ways (``tidings.websocket.RouteTransport``)."""

    __slots__ = ()

    def __init__(
        self,
        server: Server,
        transport: asyncio.Transport,
        max_message_size: int,
        peer: tuple[str, int] | None,
        write_limit: int,
    ) -> None:
        super().__init__(server, transport, max_message_size, peer)
        # pause_writing comes when more than write_limit bytes wait in the transport.
        transport.set_write_buffer_limits(high=write_limit)

    def send_ping(self, payload: bytes) -> None:
        if self._conn.state is State.OPEN:
            self._conn.send_ping(payload)
            self._mark_dirty()

    def pause_reading(self) -> None:
        if not self._transport.is_closing():
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        if not self._transport.is_closing():
            self._transport.resume_reading()

    @property
    def writing_paused(self) -> bool:
        return self._paused

    def resume_writing(self) -> None:
        super().resume_writing()
        listener: Any = self._listener
        if listener is not None:
            listener.on_drain()

    def _dispatch(self, events: list[Any]) -> None:
        listener: Any = self._listener
        for event in events:
            if isinstance(event, Pong):
                listener.on_pong(event.payload)
        super()._dispatch(events)


# One queued item: (request, keep_alive, upgrade) or an error to answer then close.
_Item = tuple[HttpRequest | None, bool, bool, int, str]


class HttpProtocol(asyncio.Protocol):
    __slots__ = (
        "_body",
        "_body_size",
        "_header_bytes",
        "_headers",
        "_leftover",
        "_parser",
        "_peer",
        "_queue",
        "_read_paused",
        "_receiving",
        "_server",
        "_task",
        "_timer",
        "_deadline",
        "_transport",
        "_url",
        "draining",
    )

    def __init__(self, server: Server) -> None:
        self._server = server
        self._transport: asyncio.Transport | None = None
        self._parser: httptools.HttpRequestParser | None = httptools.HttpRequestParser(self)
        self._peer: tuple[str, int] | None = None
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._header_bytes = 0
        self._body: list[bytes] = []
        self._body_size = 0
        self._queue: deque[_Item] = deque()
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._deadline: float | None = None
        self._receiving = False
        self._read_paused = False
        self._leftover = b""
        self.draining = False  # server shutting down: answer what is queued, then close

    # -- asyncio.Protocol ------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not subclass asyncio.Transport, but have its methods.
        transport = cast(asyncio.Transport, transport)
        self._transport = transport
        peer = transport.get_extra_info("peername")  # (host, port), 4 items for IPv6
        if isinstance(peer, tuple):
            self._peer = peer if len(peer) == 2 else (peer[0], peer[1])
        if not self._server.connection_made(self):
            transport.abort()
            return
        self._arm(self._server.options.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        self._parser = None
        if self._task is not None:
            self._task.cancel()
        self._server.connection_closed(self)

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        if parser is None:
            # After an upgrade request (bytes for the WebSocket) or a fatal error.
            if len(self._leftover) < self._server.max_body:
                self._leftover += data
            return
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self._parser = None
            self._leftover = data[exc.args[0] :]
            self._pause_reading()
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__
            if isinstance(cause, _Reject):
                self._fail(cause.status, str(cause))
            else:
                logger.error("http %s: parser callback failed", self._peer, exc_info=cause)
                self._fail(500, "internal error")
        except httptools.HttpParserError as exc:
            self._fail(400, str(exc) or "bad request")
        self._run()

    def eof_received(self) -> bool | None:
        # Half-closed by the client: answer what is queued, then close.
        if self._task is None and not self._queue:
            return None
        self.draining = True
        return True

    # -- httptools callbacks ---------------------------------------------------

    def on_message_begin(self) -> None:
        self._receiving = True
        self._url = b""
        self._headers = []
        self._header_bytes = 0
        self._body = []
        self._body_size = 0
        self._arm(self._server.options.header_timeout)

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > self._server.options.max_url_bytes:
            raise _Reject(414, "request target too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        options = self._server.options
        self._headers.append((name, value))
        self._header_bytes += len(name) + len(value) + 4
        if len(self._headers) > options.max_header_count:
            raise _Reject(431, "too many headers")
        if self._header_bytes + len(self._url) > options.max_header_bytes:
            raise _Reject(431, "headers too large")

    def on_headers_complete(self) -> None:
        length = 0
        for name, value in self._headers:
            if name.lower() == b"content-length":
                length = int(value)  # llhttp has checked the syntax
        if length > self._server.max_body:
            raise _Reject(413, "payload too large")
        parser = self._parser
        assert parser is not None
        chunked = any(
            n.lower() == b"transfer-encoding" and b"chunked" in v.lower() for n, v in self._headers
        )
        if length or chunked:
            self._arm(self._server.options.body_timeout)
            expect = any(
                n.lower() == b"expect" and v.lower() == b"100-continue" for n, v in self._headers
            )
            if expect and self._task is None and not self._queue and self._transport is not None:
                self._transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > self._server.max_body:
            raise _Reject(413, "payload too large")
        self._body.append(body)

    def on_message_complete(self) -> None:
        parser = self._parser
        assert parser is not None
        self._receiving = False
        self._disarm()
        try:
            url = httptools.parse_url(self._url)
        except httptools.HttpParserInvalidURLError:
            raise _Reject(400, "invalid request target") from None
        headers = join_headers(self._headers)
        query_string = url.query.decode("latin-1") if url.query else ""
        request = HttpRequest(
            method=parser.get_method().decode("ascii"),
            path=unquote((url.path or b"/").decode("latin-1"), errors="replace"),
            query_string=query_string,
            query=dict(parse_qsl(query_string, keep_blank_values=True)),
            headers=headers,
            body=b"".join(self._body),
            client=self._peer,
        )
        self._body = []
        self._headers = []
        self._url = b""
        self._queue.append((request, parser.should_keep_alive(), parser.should_upgrade(), 0, ""))
        if len(self._queue) >= self._server.options.max_pipelined:
            self._pause_reading()

    # -- request handling ------------------------------------------------------

    def _fail(self, status: int, message: str) -> None:
        logger.info("http %s: %d %s", self._peer, status, message)
        self._parser = None
        self._leftover = b""
        self._cancel_timer()
        self._queue.append((None, False, False, status, message))

    def _run(self) -> None:
        if self._task is None and self._queue:
            self._task = self._server.loop.create_task(self._serve_queue())

    async def _serve_queue(self) -> None:
        transport = self._transport
        assert transport is not None
        try:
            while self._queue and not transport.is_closing():
                item = self._queue.popleft()
                if self._read_paused and self._parser is not None:
                    self._read_paused = False
                    transport.resume_reading()
                if not await self._handle(item, transport):
                    return
            if self.draining:
                transport.close()
            elif not self._receiving and self._parser is not None and not transport.is_closing():
                self._arm(self._server.options.keep_alive_timeout)
        finally:
            self._task = None

    async def _handle(self, item: _Item, transport: asyncio.Transport) -> bool:
        """Answer one request; False when the connection is done with HTTP."""
        request, keep_alive, upgrade, error, message = item
        if request is None:
            self._respond(transport, _error_response(error, message), keep_alive=False)
            return False
        if upgrade and self._parser is None:
            keep_alive = False  # llhttp stopped at the upgrade: nothing more to read as HTTP
        server = self._server
        engine = server.engine
        path = request.path
        try:
            if engine.matches(path):
                if is_upgrade_request(request.headers):
                    return self._upgrade(request, transport, engine, server.max_body)
                response = await engine.handle_http(request)
            elif (route := self._route_for(request)) is not None:
                return self._upgrade(request, transport, route, route.max_message_size, route)
            else:
                found = None
                if server.static is not None:
                    found = await server.static.handle(request.method, path, request.headers)
                response = found if found is not None else _error_response(404, "not found")
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("http %s: error handling %s %s", self._peer, request.method, path)
            response = _error_response(500, "internal error")
            keep_alive = False
        keep_alive = keep_alive and not (self.draining or server.closing)
        self._respond(transport, response, keep_alive=keep_alive, head=request.method == "HEAD")
        return keep_alive

    def _respond(
        self,
        transport: asyncio.Transport,
        response: HttpResponse,
        *,
        keep_alive: bool,
        head: bool = False,
    ) -> None:
        if transport.is_closing():
            return
        transport.write(encode_response(response, keep_alive=keep_alive, head=head))
        if not keep_alive:
            self._parser = None
            self._cancel_timer()
            transport.close()

    def _route_for(self, request: HttpRequest) -> WebSocketRouteLike | None:
        """The raw route an upgrade request is for; plain requests never match one."""
        routes = routes_of(self._server.app)
        if routes is None or not is_upgrade_request(request.headers):
            return None
        return routes.match(request.path)

    def _upgrade(
        self,
        request: HttpRequest,
        transport: asyncio.Transport,
        target: EngineLike | WebSocketRouteLike,
        max_message_size: int,
        route: WebSocketRouteLike | None = None,
    ) -> bool:
        server = self._server
        try:
            key = validate_upgrade(request.method, request.headers)
        except HandshakeError as exc:
            response = _error_response(exc.status, str(exc))
            if exc.status == 426:
                response.headers.append(("Sec-WebSocket-Version", "13"))
            logger.info("http %s: websocket handshake refused: %s", self._peer, exc)
            self._respond(transport, response, keep_alive=False)
            return False
        rejection = target.check_websocket(request)
        if rejection is not None:
            self._respond(transport, rejection, keep_alive=False)
            return False
        if server.closing:
            self._respond(transport, _error_response(503, "shutting down"), keep_alive=False)
            return False
        transport.write(accept_response(key))
        self._cancel_timer()
        self._parser = None
        leftover = self._leftover
        self._leftover = b""
        ws = (
            WebSocketProtocol(server, transport, max_message_size, self._peer)
            if route is None
            else RouteWebSocketProtocol(
                server, transport, max_message_size, self._peer, route.write_limit
            )
        )
        try:
            listener = target.open_websocket(request, ws)
        except Exception:
            logger.exception("http %s: open_websocket failed", self._peer)
            transport.write(encode_close(CloseCode.INTERNAL_ERROR))
            transport.close()
            return False
        server.connection_upgraded(self, ws)
        ws.start(listener, leftover)
        if self._read_paused:
            self._read_paused = False
            transport.resume_reading()
        return False

    # -- deadlines and flow control ------------------------------------------

    def _pause_reading(self) -> None:
        if not self._read_paused and self._transport is not None:
            self._read_paused = True
            self._transport.pause_reading()

    def _arm(self, delay: float) -> None:
        """Time out ``delay`` from now. Moving a deadline later keeps the timer already set
        (it re-arms itself when it fires early): a keep-alive request arms three deadlines,
        and makes no timer object of its own."""
        loop = self._server.loop
        due = loop.time() + delay
        self._deadline = due
        timer = self._timer
        if timer is None or timer.when() > due:
            if timer is not None:
                timer.cancel()
            self._timer = loop.call_at(due, self._on_timeout)

    def _disarm(self) -> None:
        self._deadline = None  # the timer, if any, finds nothing due when it fires

    def _cancel_timer(self) -> None:
        self._deadline = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _on_timeout(self) -> None:
        self._timer = None
        due = self._deadline
        if due is None:
            return
        loop = self._server.loop
        if loop.time() < due:
            self._timer = loop.call_at(due, self._on_timeout)
            return
        self._deadline = None
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        if self._receiving and self._task is None and not self._queue:
            logger.info("http %s: request not received in time", self._peer)
            self._parser = None
            transport.write(encode_response(_error_response(408), keep_alive=False))
        transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    def close_if_idle(self) -> None:
        """Shutdown: close now if no request is in progress, else after the current one."""
        self.draining = True
        transport = self._transport
        if self._task is None and not self._queue and transport is not None:
            transport.close()
