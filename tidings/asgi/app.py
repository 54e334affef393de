"""``ASGIApp``: Engine.IO over ASGI http and websocket scopes.

Everything that is not for the engine goes to static files, then to
``other_app`` (a FastAPI or Starlette app); lifespan events are forwarded to it
too. The protocol logic is the engine's; this module only moves bytes between
ASGI messages and it, through the contract of ``tidings.engine.io``.

The ASGI server frames every WebSocket message itself, so a broadcast here
hands the same message objects to each socket (``PreparedFrames.ws_messages``)
rather than the pre-framed bytes the built-in server writes.
"""


from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from tidings.asgi.conversions import headers_of, request_from_scope, route_path, send_response
from tidings.asgi.types import ASGIApplication, Message, Receive, Scope, Send
from tidings.asgi.websocket_scope import ASGIWebSocket, serve_route, serve_websocket
from tidings.engine.io import HttpRequest, HttpResponse, text_response
from tidings.hosting import HostedApp, StaticFilesMap

__all__ = ["ASGIApp"]

logger = logging.getLogger("tidings.asgi")

#: ``on_startup`` / ``on_shutdown``: plain functions or coroutine functions.
Hook = Callable[[], Awaitable[None] | None]


def _normalize_prefix(path: str) -> str:
    return "/" + path.strip("/") + "/" if path.strip("/") else "/"


class ASGIApp:
    """Mount a tidings ``Server`` (or a bare ``EngineServer``, or ``WebSocketRoutes``) in
    any ASGI server; it is read as the built-in server reads it (``tidings.hosting``).

    ``socketio_path`` is where Engine.IO answers, relative to where this app is
    mounted; by default the Server's own ``path`` ("/socket.io/"). ``static_files``
    maps URL paths to files or directories, added to the app's own ``static_files``
    and served before ``other_app`` is asked.
    """

    def __init__(
        self,
        app: Any,
        other_app: ASGIApplication | None = None,
        *,
        socketio_path: str | None = None,
        static_files: StaticFilesMap | None = None,
        on_startup: Hook | None = None,
        on_shutdown: Hook | None = None,
        shutdown_timeout: float = 10.0,
    ) -> None:
        self.app = app
        hosted = self._hosted = HostedApp(app)
        self.engine = hosted.engine
        engine_path = self.engine.options.path
        self.socketio_path = (
            engine_path if socketio_path is None else _normalize_prefix(socketio_path)
        )
        # Requests are handed to the engine under its own path whatever the mount.
        self._rewrite = self.socketio_path != engine_path
        self._has_engine = hosted.has_engine
        self._routes = hosted.routes
        self.other_app = other_app
        # The built-in server's resolver and mounts: the same rules for both.
        self.static = hosted.static(static_files)
        self.on_startup = on_startup
        self.on_shutdown = on_shutdown
        self.shutdown_timeout = shutdown_timeout

    def _engine_path(self, path: str) -> str | None:
        prefix = self.socketio_path
        if self._has_engine and (path.startswith(prefix) or path == prefix[:-1]):
            if self._rewrite:
                return self.engine.options.path + path[len(prefix):]
            return path
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        path = route_path(scope)
        engine_path = self._engine_path(path)
        if engine_path is not None:
            if kind == "http":
                await self._http(scope, receive, send, engine_path)
                return
            if kind == "websocket":
                await self._websocket(scope, receive, send, engine_path)
                return
        if kind == "websocket":
            routes = self._routes
            route = routes.match(path) if routes is not None else None
            if route is not None:
                request = request_from_scope(scope, path)
                await serve_route(route, request, receive, send, extensions=scope.get("extensions"))
                return
        if kind == "http" and self.static is not None and self.static.match(path) is not None:
            response = await self.static.handle(scope.get("method", "GET"), path, headers_of(scope))
            if response is not None:
                await send_response(send, response)
                return
        if self.other_app is not None:
            await self.other_app(scope, receive, send)
            return
        if kind == "http":
            await send_response(send, text_response(404))
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1000})  # before accept: a 403

    # -- lifespan ----------------------------------------------------------------------------

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        # We start first and stop first (clients are told the server is going before the
        # other app's resources close). Our startup runs before the other app sees the
        # startup message: a failure is then reported as ``lifespan.startup.failed`` with
        # its cause, so the ASGI server stops, instead of escaping from the other app's
        # ``receive()`` (which ASGI servers read as "lifespan unsupported" and carry on).
        message = await receive()
        if message["type"] == "lifespan.shutdown":  # a server that skipped startup
            await self._finish(send)
            return
        try:
            await self._startup()
        except Exception as exc:
            logger.exception("startup failed")
            await send({"type": "lifespan.startup.failed", "message": f"tidings startup failed: {exc!r}"})
            return
        if self.other_app is None:
            await send({"type": "lifespan.startup.complete"})
            message = await receive()
            await self._finish(send)
            return
        await self._lifespan_with_other(scope, message, receive, send)

    async def _lifespan_with_other(self, scope: Scope, startup: Message, receive: Receive, send: Send) -> None:
        assert self.other_app is not None
        pending: list[Message] = [startup]
        stopped = False
        answered = False  # whether the other app has said anything of its lifespan

        async def wrapped_receive() -> Message:
            nonlocal stopped
            if pending:
                return pending.pop()
            message = await receive()
            if message["type"] == "lifespan.shutdown" and not stopped:
                stopped = True
                await self._shutdown()
            return message

        async def wrapped_send(message: Message) -> None:
            nonlocal answered
            answered = True
            await send(message)

        try:
            await self.other_app(scope, wrapped_receive, wrapped_send)
        except BaseException as exc:
            if isinstance(exc, Exception) and not answered and pending:
                # It refused the lifespan scope before reading it (Django does): it has no
                # lifespan, so ours is the whole of it.
                logger.info("the app behind tidings does not handle lifespan: tidings answers it alone")
                await send({"type": "lifespan.startup.complete"})
                await receive()
                await self._finish(send)
                return
            # The other app failed its own startup or shutdown (it has told the server), or
            # we were cancelled: release what ours holds before the failure goes on.
            if not stopped:
                stopped = True
                with contextlib.suppress(Exception):
                    await self._shutdown()
            raise

    async def _finish(self, send: Send) -> None:
        try:
            await self._shutdown()
        except Exception as exc:
            logger.exception("shutdown failed")
            await send({"type": "lifespan.shutdown.failed", "message": f"tidings shutdown failed: {exc!r}"})
            return
        await send({"type": "lifespan.shutdown.complete"})

    async def _startup(self) -> None:
        await self._hosted.startup()
        await _call(self.on_startup)

    async def _shutdown(self) -> None:
        await self._hosted.shutdown(self.shutdown_timeout)
        await _call(self.on_shutdown)

    # -- http --------------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        limit = self.engine.options.max_payload
        length = next(
            (v for k, v in scope.get("headers", ()) if k.lower() == b"content-length"), None
        )
        if length is not None and length.isdigit() and int(length) > limit:
            await send_response(send, text_response(413))
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await send_response(send, text_response(413))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        request = request_from_scope(scope, path, b"".join(chunks))
        if request.method.upper() == "GET" and "sid" in request.query:
            response = await self._held_poll(request, receive)
            if response is None:
                return
        else:
            response = await self.engine.handle_http(request)
        await send_response(send, response)

    async def _held_poll(self, request: HttpRequest, receive: Receive) -> HttpResponse | None:
        """A poll may wait up to ``ping_interval``. If the client leaves meanwhile, the poll is
        cancelled and the engine ends the session at once (as Node's does), rather than
        later answering a connection nobody reads with messages it took from the queue."""
        poll = asyncio.ensure_future(self.engine.handle_http(request))
        gone = asyncio.ensure_future(_disconnected(receive))
        try:
            await asyncio.wait((poll, gone), return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not poll.done():
                poll.cancel()
            gone.cancel()
        if poll.cancelled() or not poll.done():
            with contextlib.suppress(asyncio.CancelledError):
                await poll
            return None
        with contextlib.suppress(asyncio.CancelledError):
            await gone
        return poll.result()

    # -- websocket ---------------------------------------------------------------------------

    async def _websocket(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        transport = ASGIWebSocket(send, self.engine.options.max_payload)
        request = request_from_scope(scope, path)
        await serve_websocket(
            self.engine, request, transport, receive, send, extensions=scope.get("extensions")
        )


async def _call(hook: Hook | None) -> None:
    if hook is not None:
        result = hook()
        if inspect.isawaitable(result):
            await result


async def _disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
