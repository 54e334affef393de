"""A raw WebSocket route over an ASGI ``websocket`` scope.

The ASGI server frames and answers pings itself; this module moves whole
messages between ASGI and a route's ``WebSocket`` through the
``tidings.websocket.RouteTransport`` contract, so a route behaves the same
under uvicorn as on the built-in server, flow control included: reading
pauses by not calling ``receive()``, and ``send`` waits for the writer task.
ASGI cannot send a ping: ``WebSocket.ping`` raises ``NotImplementedError``
there (the ASGI server's own keep-alive pings still run).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from tidings.asgi.transport import ASGIWebSocket
from tidings.engine.io import HttpRequest
from tidings.websocket import WebSocket, WebSocketRoute

__all__ = ["ASGIRouteTransport", "serve_route"]

logger = logging.getLogger("tidings.websocket")

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


class ASGIRouteTransport(ASGIWebSocket):
    """``RouteTransport`` over ASGI ``send``: the engine's ASGI writer, plus flow control."""

    __slots__ = ("_draining", "_listener", "_may_read", "write_limit")

    def __init__(self, send: Send, write_limit: int) -> None:
        super().__init__(send, max_message=0)  # routes check sizes in WebSocket itself
        self._may_read = asyncio.Event()
        self._may_read.set()
        self._listener: WebSocket | None = None
        self._draining = False
        self.write_limit = write_limit

    def _push(self, message: Message, size: int) -> None:
        super()._push(message, size)
        if self.writing_paused:
            self._draining = True

    def send_ping(self, payload: bytes) -> None:
        raise NotImplementedError("ASGI has no message for sending a ping")

    def close(self, code: int = 1000, reason: str = "") -> None:
        super().close(code, reason)
        self._may_read.set()  # the peer's answer to the close must get through

    def pause_reading(self) -> None:
        self._may_read.clear()

    def resume_reading(self) -> None:
        self._may_read.set()

    @property
    def writing_paused(self) -> bool:
        return self._buffered > self.write_limit

    def finish(self) -> None:
        super().finish()
        self._may_read.set()

    def _sent(self) -> None:
        if self._draining and not self.writing_paused:
            self._draining = False
            if self._listener is not None:
                self._listener.on_drain()


async def serve_route(
    route: WebSocketRoute, request: HttpRequest, receive: Receive, send: Send
) -> None:
    """Serve one ``websocket`` scope on ``route``, from ``websocket.connect`` to the end.

    ``request`` is the scope as an ``HttpRequest`` (``tidings.asgi.request_from_scope``).
    """
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    rejection = route.check_websocket(request)
    if rejection is not None:
        await send({"type": "websocket.close", "code": 1008})  # the ASGI server answers 403
        return
    await send({"type": "websocket.accept"})
    transport = ASGIRouteTransport(send, route.write_limit)
    ws = route.open_websocket(request, transport)
    transport._listener = ws
    writer = asyncio.ensure_future(transport.run())
    peer_gone = True
    try:
        peer_gone = await _pump(receive, ws, transport, route.max_message_size)
    finally:
        if peer_gone:
            transport.finish()
        await writer  # else it sends our close frame first


async def _pump(
    receive: Receive, ws: WebSocket, transport: ASGIRouteTransport, max_message: int
) -> bool:
    """Feed the WebSocket until the peer leaves (True) or we close on it (False)."""
    may_read = transport._may_read
    while True:
        if not may_read.is_set():
            await may_read.wait()
        message = await receive()
        kind = message["type"]
        if kind == "websocket.receive":
            text = message.get("text")
            data: str | bytes | None = text if text is not None else message.get("bytes")
            if data is None:
                continue
            if len(data) > max_message:
                # The ASGI server read it whole already; what the built-in server does early.
                transport.close(1009, "message too big")
                ws.on_close(1009, "message too big")
                return False
            ws.on_message(data)
        elif kind == "websocket.disconnect":
            ws.on_close(int(message.get("code", 1005)), message.get("reason") or "")
            return True
