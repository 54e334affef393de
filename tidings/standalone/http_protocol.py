"""HTTP/1.1 for the built-in server: one ``HttpProtocol`` per connection.

``httptools`` (llhttp) parses; this module enforces the limits around it
(``HttpOptions``) and keeps responses in request order when requests are
pipelined: complete requests queue up and one task per connection answers
them in turn. Reading pauses while ``max_pipelined`` requests wait, and no
request is answered while more than ``write_buffer_limit`` answered bytes wait
for a client that does not read: so a client that pipelines without reading
holds the server to a bounded buffer. Building requests and
serializing responses is ``http_messages``'s. A WebSocket upgrade hands the transport to a
``WebSocketProtocol`` and drops this object, parser included, so an idle
WebSocket carries none of it.

Deadlines: a request's headers must arrive within ``header_timeout`` of its
first byte (slowloris), its body within ``body_timeout``, and an idle
keep-alive connection is closed after ``keep_alive_timeout``. Header bytes are
counted as they arrive, so a header that never ends is answered 431 at
``max_header_bytes`` rather than held until its deadline.

A server with ``HandoffOptions`` uses the subclass ``HandoffHttpProtocol``
(``handoff_protocol``), which queues a ``HAND_OFF`` item where this class
would queue a request; nothing here costs a server without it anything.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from typing import cast

import httptools

from tidings.engine.io import HttpRequest, HttpResponse, text_response
from tidings.hosting import EngineLike, WebSocketRouteLike, hooks_of
from tidings.protocol.websocket import (
    CloseCode,
    HandshakeError,
    accept_response,
    encode_close,
    is_upgrade_request,
    validate_upgrade,
)
from tidings.standalone.context import ConnectionContext
from tidings.standalone.http_messages import (
    CONTINUE,
    RequestRejected,
    body_expected,
    build_request,
    encode_response,
)
from tidings.standalone.options import HttpOptions
from tidings.standalone.websocket_deflate import deflate_for, protocol_for

logger = logging.getLogger("tidings.standalone")
access_logger = logging.getLogger("tidings.access")


# One queued item: (request, keep_alive, upgrade) or an error to answer then close
# (request None, the status and message), or a hand-off (request None, HAND_OFF).
_Item = tuple[HttpRequest | None, bool, bool, int, str]

#: The status of a queued item that hands the connection to another process.
HAND_OFF = -1


class HttpProtocol(asyncio.Protocol):
    """One accepted connection while it speaks HTTP/1.1."""

    __slots__ = (
        "_body",
        "_body_size",
        "_context",
        "_drained",
        "_head_seen",
        "_header_bytes",
        "_headers",
        "_in_head",
        "_leftover",
        "_max_body",
        "_options",
        "_parser",
        "_peer",
        "_queue",
        "_read_paused",
        "_receiving",
        "_requests_done",
        "_task",
        "_timer",
        "_deadline",
        "_transport",
        "_url",
        "_write_paused",
        "draining",
    )

    def __init__(self, context: ConnectionContext) -> None:
        self._context = context
        # Read per request or per parser callback: kept here, one attribute away.
        self._options: HttpOptions = context.options
        self._max_body = context.max_body
        self._transport: asyncio.Transport | None = None
        self._parser: httptools.HttpRequestParser | None = httptools.HttpRequestParser(self)
        self._peer: tuple[str, int] | None = None
        self._url = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._header_bytes = 0
        # The head being read: its raw bytes so far, and whether it is unfinished.
        self._head_seen = 0
        self._in_head = False
        self._requests_done = 0
        self._body: list[bytes] = []
        self._body_size = 0
        self._queue: deque[_Item] = deque()
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._deadline: float | None = None
        self._receiving = False
        self._read_paused = False
        self._write_paused = False
        self._drained: asyncio.Future[None] | None = None
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
        if not self._context.connection_made(self):
            transport.abort()
            return
        transport.set_write_buffer_limits(high=self._options.write_buffer_limit)
        self._arm(self._options.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        self._parser = None
        if self._task is not None:
            self._task.cancel()
        self._context.connection_closed(self)

    def data_received(self, data: bytes) -> None:
        parser = self._parser
        if parser is None:
            # After an upgrade request (bytes for the WebSocket) or a fatal error.
            if len(self._leftover) < self._max_body:
                self._leftover += data
            return
        done = self._requests_done
        try:
            parser.feed_data(data)
        except httptools.HttpParserUpgrade as exc:
            self._parser = None
            self._leftover = data[exc.args[0] :]
            self._pause_reading()
        except httptools.HttpParserCallbackError as exc:
            self._callback_failed(exc.__context__)
        except httptools.HttpParserError as exc:
            self._fail(400, str(exc) or "bad request")
        else:
            if self._in_head and done == self._requests_done:
                # A head is unfinished and no request ended in this read: all of the read
                # is head bytes (of a head begun before it or at its start). llhttp reports
                # a header only once it ends: an endless one would grow until its deadline.
                # (A head begun after a request ended in the same read is counted from the
                # next read on: at most one read more than the limit.)
                self._head_seen += len(data)
                if self._head_seen > self._options.max_header_bytes:
                    self._fail(431, "headers too large")
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
        self._in_head = True
        self._head_seen = 0
        self._url = b""
        self._headers = []
        self._header_bytes = 0
        self._body = []
        self._body_size = 0
        self._arm(self._options.header_timeout)

    def on_url(self, url: bytes) -> None:
        self._url += url
        if len(self._url) > self._options.max_url_bytes:
            raise RequestRejected(414, "request target too long")

    def on_header(self, name: bytes, value: bytes) -> None:
        options = self._options
        self._headers.append((name, value))
        self._header_bytes += len(name) + len(value) + 4
        if len(self._headers) > options.max_header_count:
            raise RequestRejected(431, "too many headers")
        if self._header_bytes + len(self._url) > options.max_header_bytes:
            raise RequestRejected(431, "headers too large")

    def on_headers_complete(self) -> None:
        self._in_head = False
        length, has_body, wants_continue = body_expected(self._headers)
        if length > self._max_body:
            raise RequestRejected(413, "payload too large")
        if has_body:
            self._arm(self._options.body_timeout)
            transport = self._transport
            if wants_continue and self._task is None and not self._queue and transport is not None:
                transport.write(CONTINUE)

    def on_body(self, body: bytes) -> None:
        self._body_size += len(body)
        if self._body_size > self._max_body:
            raise RequestRejected(413, "payload too large")
        self._body.append(body)

    def on_message_complete(self) -> None:
        parser = self._parser
        assert parser is not None
        self._receiving = False
        self._requests_done += 1
        self._disarm()
        context = self._context
        request = build_request(
            parser.get_method(), self._url, self._headers, self._body, self._peer,
            context.scheme, context.options.forwarded_allow_ips,
        )
        self._body = []
        self._headers = []
        self._url = b""
        self._queue.append((request, parser.should_keep_alive(), parser.should_upgrade(), 0, ""))
        if len(self._queue) >= self._options.max_pipelined:
            self._pause_reading()

    # -- request handling ------------------------------------------------------

    def _callback_failed(self, cause: BaseException | None) -> None:
        """A parser callback raised ``cause``: the parser is done with this connection."""
        if isinstance(cause, RequestRejected):
            self._fail(cause.status, str(cause))
        else:
            logger.error("http %s: parser callback failed", self._peer, exc_info=cause)
            self._fail(500, "internal error")

    def _fail(self, status: int, message: str) -> None:
        logger.info("http %s: %d %s", self._peer, status, message)
        self._parser = None
        self._leftover = b""
        self._cancel_timer()
        self._queue.append((None, False, False, status, message))

    def _run(self) -> None:
        if self._task is None and self._queue:
            task = self._context.loop.create_task(self._serve_queue())
            if not task.done():  # an eager task factory may have served the queue already
                self._task = task

    async def _serve_queue(self) -> None:
        transport = self._transport
        assert transport is not None
        try:
            while self._queue and not transport.is_closing():
                if self._write_paused:
                    # The client does not read what it was answered: answer no more,
                    # and so read no more past ``max_pipelined``, until it does.
                    await self._wait_drained()
                    continue
                item = self._queue.popleft()
                if self._read_paused and self._parser is not None:
                    self._read_paused = False
                    transport.resume_reading()
                if not await self._handle(item, transport):
                    return
            if self.draining:
                transport.close()
            elif not self._receiving and self._parser is not None and not transport.is_closing():
                self._arm(self._options.keep_alive_timeout)
        finally:
            self._task = None

    async def _handle(self, item: _Item, transport: asyncio.Transport) -> bool:
        """Answer one request; False when the connection is done with HTTP."""
        request, keep_alive, upgrade, error, message = item
        if request is None:
            if error == HAND_OFF:
                return await self._hand_off(transport)
            self._respond(transport, text_response(error, message), keep_alive=False)
            return False
        if upgrade and self._parser is None:
            keep_alive = False  # llhttp stopped at the upgrade: nothing more to read as HTTP
        context = self._context
        engine = context.engine
        path = request.path
        try:
            if engine.matches(path):
                if is_upgrade_request(request.headers):
                    return await self._upgrade(request, transport, engine, context.max_body)
                response = await engine.handle_http(request)
            elif (route := self._route_for(request)) is not None:
                return await self._upgrade(request, transport, route, route.max_message_size, route)
            else:
                found = None
                if context.static is not None:
                    found = await context.static.handle(request.method, path, request.headers)
                response = found if found is not None else text_response(404)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("http %s: error handling %s %s", self._peer, request.method, path)
            response = text_response(500, "internal error")
            keep_alive = False
        keep_alive = keep_alive and not (self.draining or context.closing)
        self._respond(transport, response, keep_alive=keep_alive, head=request.method == "HEAD")
        if context.access_log:
            access_logger.info('%s - "%s %s" %d', request.client, request.method, path, response.status)
        return keep_alive

    async def _hand_off(self, transport: asyncio.Transport) -> bool:
        """Move the connection to another process (a ``HAND_OFF`` item, queued by a
        subclass that knows where to); False when it has left."""
        raise NotImplementedError

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
        routes = self._context.routes
        if routes is None or not is_upgrade_request(request.headers):
            return None
        return routes.match(request.path)

    async def _upgrade(
        self,
        request: HttpRequest,
        transport: asyncio.Transport,
        target: EngineLike | WebSocketRouteLike,
        max_message_size: int,
        route: WebSocketRouteLike | None = None,
    ) -> bool:
        context = self._context
        try:
            key = validate_upgrade(request.method, request.headers)
        except HandshakeError as exc:
            response = text_response(exc.status, str(exc))
            if exc.status == 426:
                response.headers.append(("Sec-WebSocket-Version", "13"))
            logger.info("http %s: websocket handshake refused: %s", self._peer, exc)
            self._respond(transport, response, keep_alive=False)
            return False
        rejection = target.check_websocket(request)
        hooks = hooks_of(target)
        if rejection is None and hooks is not None:
            # An async allow_request still deciding is waited for before the 101, so that a
            # refusal is the 403 Node answers; without one this returns without suspending.
            rejection = await hooks.websocket_verdict(request)
            if transport.is_closing():  # closed meanwhile (the server shutting down)
                return False
        if rejection is not None:
            self._respond(transport, rejection, keep_alive=False)
            return False
        if context.closing:
            self._respond(transport, text_response(503, "shutting down"), keep_alive=False)
            return False
        codec = deflate_for(request, target, route)
        headers = [] if hooks is None else hooks.events.upgrade_headers(request)
        if codec is not None:
            headers.append(("Sec-WebSocket-Extensions", codec.agreement.response))
        transport.write(accept_response(key, headers))
        self._cancel_timer()
        self._parser = None
        leftover = self._leftover
        self._leftover = b""
        ws = protocol_for(context, transport, max_message_size, self._peer, route, codec)
        try:
            listener = target.open_websocket(request, ws)
        except Exception:
            logger.exception("http %s: open_websocket failed", self._peer)
            transport.write(encode_close(CloseCode.INTERNAL_ERROR))
            transport.close()
            return False
        context.connection_upgraded(self, ws)
        ws.start(listener, leftover)
        if self._read_paused:
            self._read_paused = False
            transport.resume_reading()
        return False

    # -- deadlines and flow control ------------------------------------------

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        drained = self._drained
        if drained is not None:
            self._drained = None
            if not drained.done():
                drained.set_result(None)

    async def _wait_drained(self) -> None:
        drained = self._drained
        if drained is None:
            drained = self._drained = self._context.loop.create_future()
        await drained

    def _pause_reading(self) -> None:
        if not self._read_paused and self._transport is not None:
            self._read_paused = True
            self._transport.pause_reading()

    def _arm(self, delay: float) -> None:
        """Time out ``delay`` from now. Moving a deadline later keeps the timer already set
        (it re-arms itself when it fires early): a keep-alive request arms three deadlines,
        and makes no timer object of its own."""
        loop = self._context.loop
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
        loop = self._context.loop
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
            transport.write(encode_response(text_response(408), keep_alive=False))
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
