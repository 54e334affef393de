"""Plain WebSocket routes, served next to Socket.IO by the same server.

A route's handler gets a ``WebSocket``: ``async for message in ws``, ``await
ws.send(...)``, ``await ws.ping()``, ``await ws.close(code, reason)``. The
framing is ``tidings.protocol.websocket`` run by the I/O layer; this module only
turns the synchronous contract of ``tidings.engine.io`` into awaitables, and
adds the flow control a handler needs both ways:

- reading pauses while ``max_queue`` messages wait to be read, so a slow
  handler holds the peer back instead of buffering without bound;
- ``send`` waits while more than ``write_limit`` bytes are queued for a peer
  that does not read, so a fast handler cannot either.

``WebSocket`` is the I/O layer's listener itself: one object per connection.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

from tidings.engine.cors import same_origin
from tidings.engine.io import HttpRequest, HttpResponse, WebSocketTransport
from tidings.protocol.websocket.deflate import DeflateOptions

__all__ = [
    "RouteTransport",
    "WebSocket",
    "WebSocketClosed",
    "WebSocketHandler",
    "WebSocketOptions",
    "WebSocketRoute",
    "WebSocketRoutes",
]

logger = logging.getLogger("tidings.websocket")

WebSocketHandler = Callable[["WebSocket"], Awaitable[None]]
H = TypeVar("H", bound=WebSocketHandler)


class RouteTransport(WebSocketTransport, Protocol):
    """What an I/O layer offers a raw route beyond the engine's ``WebSocketTransport``.

    The I/O layer in turn calls ``on_message``, ``on_close``, ``on_pong`` and
    ``on_drain`` on the listener ``WebSocketRoute.open_websocket`` returns.
    """

    def send_ping(self, payload: bytes) -> None: ...

    def pause_reading(self) -> None: ...

    def resume_reading(self) -> None: ...

    @property
    def writing_paused(self) -> bool:
        """True from the moment the outgoing buffer passes the high-water mark
        given to the I/O layer until ``on_drain`` is called."""
        ...


def _is_sendable_code(code: int) -> bool:
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


@dataclass(frozen=True, slots=True)
class WebSocketOptions:
    max_message_size: int = 1_048_576
    """A bigger message (counted over all its fragments) closes the connection with 1009."""
    max_queue: int = 16
    """Messages received and not yet read before reading from the peer pauses."""
    write_limit: int = 65_536
    """``send`` waits while more than this many bytes wait to be written."""
    allowed_origins: frozenset[str] | Literal["*"] | None = None
    """Origins a browser may open this route from; others are answered 403 (cross-site
    WebSocket hijacking of cookie sessions). ``None``: the page's own origin only, as on
    the Socket.IO path; ``"*"``: any. An upgrade without ``Origin`` (not a browser) is let in."""
    per_message_deflate: DeflateOptions | bool | None = None
    """permessage-deflate for clients that offer it (built-in server only); None or False: off,
    True: ``DeflateOptions()``."""

    def __post_init__(self) -> None:
        for name in ("max_message_size", "max_queue", "write_limit"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        deflate = self.per_message_deflate
        if isinstance(deflate, bool):
            object.__setattr__(self, "per_message_deflate", DeflateOptions() if deflate else None)


class WebSocketClosed(ConnectionError):
    """The connection is closed: raised by ``receive``, ``send`` and ``ping`` after the close."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"WebSocket closed with {code}" + (f": {reason}" if reason else ""))
        self.code = code
        self.reason = reason


class WebSocket:
    """One accepted WebSocket on a raw route, as its handler sees it."""

    __slots__ = (
        "_closed",
        "_drain",
        "_loop",
        "_options",
        "_pings",
        "_queue",
        "_reader",
        "_reading_paused",
        "_transport",
        "close_code",
        "close_reason",
        "id",
        "request",
    )

    def __init__(
        self, request: HttpRequest, transport: RouteTransport, options: WebSocketOptions
    ) -> None:
        self.request = request
        self.id = os.urandom(6).hex()
        self.close_code: int | None = None
        """The peer's close code once closed (1005: it sent none, 1006: TCP ended without one)."""
        self.close_reason = ""
        self._transport = transport
        self._options = options
        self._loop = asyncio.get_running_loop()
        self._queue: deque[str | bytes] = deque()
        self._reader: asyncio.Future[None] | None = None
        self._drain: asyncio.Future[None] | None = None
        self._reading_paused = False
        self._pings: dict[bytes, tuple[asyncio.Future[float], float]] = {}
        self._closed: asyncio.Future[None] = self._loop.create_future()

    def __repr__(self) -> str:
        state = "open" if self.close_code is None else f"closed {self.close_code}"
        return f"<WebSocket {self.id} {self.request.path} {self.request.client} {state}>"

    @property
    def closed(self) -> bool:
        return self.close_code is not None

    @property
    def buffered_amount(self) -> int:
        """Bytes sent and not yet handed to the kernel, as in the browser's API."""
        return self._transport.buffered_amount

    # -- reading ---------------------------------------------------------------

    async def receive(self) -> str | bytes:
        """The next message: ``str`` for a text message, ``bytes`` for a binary one."""
        while not self._queue:
            if self.close_code is not None:
                raise WebSocketClosed(self.close_code, self.close_reason)
            if self._reader is not None:
                raise RuntimeError("another task is already waiting in receive()")
            self._reader = self._loop.create_future()
            try:
                await self._reader
            finally:
                self._reader = None
        message = self._queue.popleft()
        if self._reading_paused and len(self._queue) <= self._options.max_queue // 4:
            self._reading_paused = False
            self._transport.resume_reading()
        return message

    def __aiter__(self) -> WebSocket:
        return self

    async def __anext__(self) -> str | bytes:
        """Iteration ends when the connection closes, whatever the code (see ``close_code``)."""
        try:
            return await self.receive()
        except WebSocketClosed:
            raise StopAsyncIteration from None

    # -- writing ---------------------------------------------------------------

    async def send(self, message: str | bytes | bytearray | memoryview) -> None:
        """Queue one message; wait while the peer has too much left to read."""
        if self.close_code is not None:
            raise WebSocketClosed(self.close_code, self.close_reason)
        transport = self._transport
        if isinstance(message, str):
            transport.send_text(message)
        elif isinstance(message, bytes):
            transport.send_bytes(message)
        elif isinstance(message, (bytearray, memoryview)):
            transport.send_bytes(bytes(message))
        else:
            raise TypeError(f"a WebSocket message is str or bytes, not {type(message).__name__}")
        if transport.buffered_amount > self._options.write_limit:
            await self._wait_drained()

    async def _wait_drained(self) -> None:
        # One turn first: the I/O layer writes what was queued at the end of the turn,
        # and only then knows whether the peer keeps up.
        await asyncio.sleep(0)
        while self._transport.writing_paused and self.close_code is None:
            if self._drain is None or self._drain.done():
                self._drain = self._loop.create_future()
            await asyncio.shield(self._drain)  # several senders may wait on one drain

    def ping(self, data: bytes | None = None) -> asyncio.Future[float]:
        """Send a ping now; the result is the round-trip time in seconds, when the pong comes.

        ``data`` (up to 125 bytes) defaults to 4 random bytes; a pong answers its
        own ping and every earlier one, as RFC 6455 lets peers skip pongs.
        """
        if self.close_code is not None:
            raise WebSocketClosed(self.close_code, self.close_reason)
        if data is None:
            data = os.urandom(4)
            while data in self._pings:
                data = os.urandom(4)
        elif len(data) > 125:
            raise ValueError("a ping carries at most 125 bytes")
        elif data in self._pings:
            raise ValueError("a ping with this payload is already waiting for its pong")
        waiter: asyncio.Future[float] = self._loop.create_future()
        self._transport.send_ping(bytes(data))
        self._pings[bytes(data)] = (waiter, self._loop.time())
        return waiter

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the close handshake and wait until it is over (or timed out by the server)."""
        self.start_close(code, reason)
        await asyncio.shield(self._closed)

    def start_close(self, code: int = 1000, reason: str = "") -> None:
        """``close`` without the wait: called by ``WebSocketRoutes`` at shutdown."""
        if not _is_sendable_code(code):
            raise ValueError(f"close code {code} may not be sent")
        if len(reason.encode("utf-8")) > 123:
            raise ValueError("a close reason is at most 123 UTF-8 bytes")
        if self.close_code is None:
            self._transport.close(code, reason)
            if self._reading_paused:  # the peer's close frame must get through
                self._reading_paused = False
                self._transport.resume_reading()

    async def wait_closed(self) -> None:
        await asyncio.shield(self._closed)

    # -- listener: called by the I/O layer -------------------------------------

    def on_message(self, data: str | bytes) -> None:
        queue = self._queue
        queue.append(data)
        reader = self._reader
        if reader is not None and not reader.done():
            reader.set_result(None)
        if len(queue) >= self._options.max_queue and not self._reading_paused:
            self._reading_paused = True
            self._transport.pause_reading()

    def on_close(self, code: int, reason: str) -> None:
        if self.close_code is not None:
            return
        self.close_code = code
        self.close_reason = reason
        for wakeup in (self._reader, self._drain):
            if wakeup is not None and not wakeup.done():
                wakeup.set_result(None)
        pings = self._pings
        self._pings = {}
        for waiter, _ in pings.values():
            if not waiter.done():
                waiter.set_exception(WebSocketClosed(code, reason))
                waiter.exception()  # nobody has to await a ping: no "never retrieved"
        self._closed.set_result(None)

    def on_pong(self, data: bytes) -> None:
        pings = self._pings
        if data not in pings:
            return  # unsolicited: allowed as a heartbeat
        now = self._loop.time()
        for payload in list(pings):
            waiter, sent = pings.pop(payload)
            if not waiter.done():
                waiter.set_result(now - sent)
            if payload == data:
                break

    def on_drain(self) -> None:
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_result(None)


@dataclass(frozen=True, slots=True, eq=False)
class WebSocketRoute:
    """A path, its handler and its limits; the I/O layer opens connections on it."""

    path: str
    handler: WebSocketHandler
    options: WebSocketOptions
    routes: WebSocketRoutes

    @property
    def max_message_size(self) -> int:
        return self.options.max_message_size

    @property
    def write_limit(self) -> int:
        return self.options.write_limit

    def check_websocket(self, request: HttpRequest) -> HttpResponse | None:
        """A refusal to answer instead of the 101, or None to accept."""
        if not self._origin_allowed(request):
            logger.info(
                "websocket %s from %s: origin %r refused",
                self.path,
                request.client,
                request.headers.get("origin"),
            )
            return HttpResponse(403, [("Content-Type", "text/plain")], b"origin not allowed\n")
        return None

    def _origin_allowed(self, request: HttpRequest) -> bool:
        origin = request.headers.get("origin")
        allowed = self.options.allowed_origins
        if origin is None or allowed == "*":
            return True
        if allowed is None:
            return same_origin(origin, request)
        return origin in allowed

    def open_websocket(self, request: HttpRequest, transport: RouteTransport) -> WebSocket:
        """Called by the I/O layer once the 101 is written: starts the handler's task."""
        ws = WebSocket(request, transport, self.options)
        self.routes.run_handler(self, ws)
        return ws


def _normalize(path: str) -> str:
    if not path.startswith("/"):
        raise ValueError(f"a route path starts with '/': {path!r}")
    return path


class WebSocketRoutes:
    """Raw WebSocket routes by exact path.

    Serve them alone (``tidings.standalone.run(routes)``) or beside a Socket.IO
    server: ``tidings.standalone.run(WebSocketRoutes(sio))`` hands everything
    that is not an upgrade to one of these paths to ``sio``. An upgrade to a
    route's path is the route's; a plain GET to the same path still reaches
    static files (a page and its WebSocket can share "/").
    """

    def __init__(self, app: Any = None, *, options: WebSocketOptions | None = None) -> None:
        self.app = app
        self.options = options or WebSocketOptions()
        self._routes: dict[str, WebSocketRoute] = {}
        self._tasks: dict[asyncio.Task[None], WebSocket] = {}
        self._closing = False
        if app is not None:
            self.engine = app.engine  # what the built-in server serves besides the routes
            static = getattr(app, "static_files", None)
            if static:
                self.static_files: Mapping[str, Any] = static

    @property
    def websocket_routes(self) -> WebSocketRoutes:
        """What the I/O layers look for on the app they serve."""
        return self

    def route(
        self,
        path: str,
        *,
        max_message_size: int | None = None,
        max_queue: int | None = None,
        write_limit: int | None = None,
        allowed_origins: Iterable[str] | Literal["*"] | None = None,
        per_message_deflate: bool | DeflateOptions | None = None,
    ) -> Callable[[H], H]:
        """Decorator: ``@routes.route("/echo", max_message_size=2**24)``."""

        def decorator(handler: H) -> H:
            self.add(
                path,
                handler,
                max_message_size=max_message_size,
                max_queue=max_queue,
                write_limit=write_limit,
                allowed_origins=allowed_origins,
                per_message_deflate=per_message_deflate,
            )
            return handler

        return decorator

    def add(
        self,
        path: str,
        handler: WebSocketHandler,
        *,
        max_message_size: int | None = None,
        max_queue: int | None = None,
        write_limit: int | None = None,
        allowed_origins: Iterable[str] | Literal["*"] | None = None,
        per_message_deflate: bool | DeflateOptions | None = None,
    ) -> WebSocketRoute:
        path = _normalize(path)
        if not inspect.iscoroutinefunction(handler):
            raise TypeError(f"a WebSocket handler is an async function, not {handler!r}")
        if path in self._routes:
            raise ValueError(f"a WebSocket route for {path!r} exists already")
        base = self.options
        options = WebSocketOptions(
            max_message_size=base.max_message_size if max_message_size is None else max_message_size,
            max_queue=base.max_queue if max_queue is None else max_queue,
            write_limit=base.write_limit if write_limit is None else write_limit,
            allowed_origins=(
                base.allowed_origins if allowed_origins is None
                else "*" if allowed_origins == "*"
                else frozenset([allowed_origins] if isinstance(allowed_origins, str) else allowed_origins)
            ),
            per_message_deflate=(
                base.per_message_deflate if per_message_deflate is None else per_message_deflate
            ),
        )
        route = WebSocketRoute(path, handler, options, self)
        self._routes[path] = route
        return route

    def match(self, path: str) -> WebSocketRoute | None:
        return self._routes.get(path)

    @property
    def sockets(self) -> list[WebSocket]:
        """The connections whose handler is still running."""
        return list(self._tasks.values())

    def run_handler(self, route: WebSocketRoute, ws: WebSocket) -> None:
        """Called by ``WebSocketRoute.open_websocket``: the handler's task, tracked for shutdown."""
        if self._closing:
            ws.start_close(1001, "server shutting down")
            return
        logger.debug("websocket %s: open on %s from %s", ws.id, route.path, ws.request.client)
        task = asyncio.get_running_loop().create_task(self._run(route, ws))
        self._tasks[task] = ws
        task.add_done_callback(self._tasks.pop)

    async def _run(self, route: WebSocketRoute, ws: WebSocket) -> None:
        code, reason = 1000, ""
        try:
            await route.handler(ws)
        except WebSocketClosed:
            pass  # a send after the peer left: the handler's normal way out
        except asyncio.CancelledError:
            ws.start_close(1001, "server shutting down")
            raise
        except Exception:
            logger.exception("websocket %s: handler for %s raised", ws.id, route.path)
            code, reason = 1011, "internal error"
        if not ws.closed:
            await ws.close(code, reason)
        logger.debug("websocket %s: closed with %s %r", ws.id, ws.close_code, ws.close_reason)

    async def shutdown(self, timeout: float = 10.0) -> None:
        """Close every connection with 1001, give handlers ``timeout`` seconds, then cancel them.

        Also shuts down the wrapped Socket.IO server, if any.
        """
        self._closing = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        inner = getattr(self.app, "shutdown", None)
        if inner is not None:
            await inner(timeout)
        for ws in list(self._tasks.values()):
            ws.start_close(1001, "server shutting down")
        tasks = list(self._tasks)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=max(0.0, deadline - loop.time()))
        ids = [str(left.id) for task in pending if (left := self._tasks.get(task)) is not None]
        if pending:  # one line, not one per connection
            logger.warning("%d websocket handlers still running at shutdown, cancelling: %s",
                           len(pending), ", ".join(ids[:10]) + (" ..." if len(ids) > 10 else ""))
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending, timeout=1.0)
