"""``tidings.ASGIApp``: Engine.IO over ASGI http and websocket scopes.

Everything that is not for the engine goes to ``other_app`` (a FastAPI or
Starlette app); lifespan events are forwarded to it too. The protocol logic is the
engine's; this module only moves bytes between ASGI messages and it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl

from tidings.engine import EngineServer
from tidings.engine.io import HttpRequest, HttpResponse, PreparedFrames, WebSocketListener

logger = logging.getLogger("tidings.asgi")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApplication = Callable[[Scope, Receive, Send], Awaitable[None]]


def _engine_of(app: Any) -> EngineServer:
    if isinstance(app, EngineServer):
        return app
    engine = getattr(app, "engine", None)
    if not isinstance(engine, EngineServer):
        raise TypeError("ASGIApp needs a tidings Server or EngineServer")
    return engine


def _request_from_scope(scope: Scope, path: str, body: bytes = b"") -> HttpRequest:
    query_string = scope.get("query_string", b"").decode("latin-1")
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        headers[name] = headers[name] + ", " + value if name in headers else value
    client = scope.get("client")
    return HttpRequest(
        method=scope.get("method", "GET"),
        path=path,
        query_string=query_string,
        query=dict(parse_qsl(query_string, keep_blank_values=True)),
        headers=headers,
        body=body,
        client=(client[0], client[1]) if client else None,
        scheme=scope.get("scheme", "http"),
    )


class ASGIApp:
    """Mount a tidings ``Server`` (or a bare ``EngineServer``) in any ASGI server."""

    def __init__(
        self,
        app: Any,
        other_app: ASGIApplication | None = None,
        *,
        socketio_path: str | None = None,
        on_startup: Callable[[], Awaitable[None]] | None = None,
        on_shutdown: Callable[[], Awaitable[None]] | None = None,
        shutdown_timeout: float = 10.0,
    ) -> None:
        self.app = app
        self.engine = _engine_of(app)
        if socketio_path is not None:
            wanted = "/" + socketio_path.strip("/") + "/"
            if wanted != self.engine.options.path:
                raise ValueError(
                    f"socketio_path {wanted!r} differs from the server's path "
                    f"{self.engine.options.path!r}: set path= on the Server instead"
                )
        self.other_app = other_app
        self.on_startup = on_startup
        self.on_shutdown = on_shutdown
        self.shutdown_timeout = shutdown_timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        path = scope.get("path", "/")
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root):] or "/"
        if self.engine.matches(path):
            if kind == "http":
                await self._http(scope, receive, send, path)
                return
            if kind == "websocket":
                await self._websocket(scope, receive, send, path)
                return
        if self.other_app is not None:
            await self.other_app(scope, receive, send)
            return
        if kind == "http":
            await _send_response(send, HttpResponse(404, [("content-type", "text/plain")], b"Not Found"))
        elif kind == "websocket":
            await send({"type": "websocket.close", "code": 1000})

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.other_app is not None:
            async def wrapped_receive() -> Message:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await self._startup()
                elif message["type"] == "lifespan.shutdown":
                    await self._shutdown()
                return message

            await self.other_app(scope, wrapped_receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self._startup()
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self._shutdown()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _startup(self) -> None:
        startup = getattr(self.app, "startup", None)
        if startup is not None:
            await startup()
        if self.on_startup is not None:
            await self.on_startup()

    async def _shutdown(self) -> None:
        shutdown = getattr(self.app, "shutdown", None)
        if shutdown is not None:
            await shutdown(self.shutdown_timeout)
        if self.on_shutdown is not None:
            await self.on_shutdown()

    async def _http(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        limit = self.engine.options.max_payload
        length = next((v for k, v in scope.get("headers", ()) if k.lower() == b"content-length"), None)
        if length is not None and length.isdigit() and int(length) > limit:
            await _send_response(send, HttpResponse(413, [("content-type", "text/plain")], b"Payload Too Large"))
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
                await _send_response(send, HttpResponse(413, [("content-type", "text/plain")], b"Payload Too Large"))
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        request = _request_from_scope(scope, path, b"".join(chunks))
        response = await self.engine.handle_http(request)
        await _send_response(send, response)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        request = _request_from_scope(scope, path)
        rejection = self.engine.check_websocket(request)
        if rejection is not None:
            if "websocket.http.response" in scope.get("extensions", {}):
                await send({"type": "websocket.http.response.start", "status": rejection.status,
                            "headers": [(k.encode(), v.encode()) for k, v in rejection.headers]})
                await send({"type": "websocket.http.response.body", "body": rejection.body})
            else:
                await send({"type": "websocket.close", "code": 1008})
            return
        await send({"type": "websocket.accept"})
        transport = ASGIWebSocket(send, self.engine.options.max_payload)
        listener = self.engine.open_websocket(request, transport)
        writer = asyncio.get_running_loop().create_task(transport.run())
        await _pump(receive, listener, transport)
        transport.finish()
        await writer


async def _pump(receive: Receive, listener: WebSocketListener, transport: ASGIWebSocket) -> None:
    while True:
        message = await receive()
        kind = message["type"]
        if kind == "websocket.receive":
            text = message.get("text")
            data: str | bytes | None = text if text is not None else message.get("bytes")
            if data is None:
                continue
            if len(data) > transport.max_message:
                transport.close(1009, "message too big")
                listener.on_close(1009, "message too big")
                return
            listener.on_message(data)
        elif kind == "websocket.disconnect":
            listener.on_close(message.get("code", 1005), message.get("reason", "") or "")
            return


class ASGIWebSocket:
    """``WebSocketTransport`` over ASGI: the ASGI server frames, we queue whole messages."""

    __slots__ = ("_send", "_queue", "_wakeup", "_closed", "_buffered", "max_message")

    def __init__(self, send: Send, max_message: int) -> None:
        self._send = send
        self._queue: deque[Message] = deque()
        self._wakeup = asyncio.Event()
        self._closed = False
        self._buffered = 0
        self.max_message = max_message

    def _push(self, message: Message, size: int) -> None:
        if self._closed:
            return
        self._queue.append(message)
        self._buffered += size
        self._wakeup.set()

    def send_text(self, data: str) -> None:
        self._push({"type": "websocket.send", "text": data}, len(data))

    def send_bytes(self, data: bytes) -> None:
        self._push({"type": "websocket.send", "bytes": data}, len(data))

    def send_prepared(self, prepared: PreparedFrames) -> None:
        for part in prepared.ws_messages:
            if isinstance(part, str):
                self.send_text(part)
            else:
                self.send_bytes(part)

    def close(self, code: int = 1000, reason: str = "") -> None:
        if not self._closed:
            self._queue.append({"type": "websocket.close", "code": code, "reason": reason})
            self._closed = True
            self._wakeup.set()

    def finish(self) -> None:
        self._closed = True
        self._wakeup.set()

    @property
    def buffered_amount(self) -> int:
        return self._buffered

    async def run(self) -> None:
        """Write queued messages in order until closed."""
        queue = self._queue
        while True:
            while queue:
                message = queue.popleft()
                self._buffered -= len(message.get("text") or message.get("bytes") or b"")
                try:
                    await self._send(message)
                except Exception:  # the peer went away; the receive side reports it
                    queue.clear()
                    return
                if message["type"] == "websocket.close":
                    queue.clear()
                    return
            if self._closed:
                return
            self._wakeup.clear()
            await self._wakeup.wait()


async def _send_response(send: Send, response: HttpResponse) -> None:
    headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in response.headers]
    if not any(k.lower() == b"content-length" for k, _ in headers):
        headers.append((b"content-length", str(len(response.body)).encode()))
    await send({"type": "http.response.start", "status": response.status, "headers": headers})
    await send({"type": "http.response.body", "body": response.body})
