"""An ASGI ``websocket`` scope, served for the engine or for a raw WebSocket route.

The ASGI server frames, answers pings and reassembles messages; this module moves
whole messages between ASGI and a listener (the engine's session, or a route's
``WebSocket``) through the contract of ``tidings.engine.io``. Both go through the
same accept, the same writer task and the same receive loop, so a route behaves
under uvicorn as on the built-in server, flow control included: reading pauses
by not calling ``receive()``, and a route's ``send`` waits for the writer task.
ASGI cannot send a ping: ``WebSocket.ping`` raises ``NotImplementedError`` there
(the ASGI server's own keep-alive pings still run).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, cast

from tidings.asgi.conversions import raw_headers
from tidings.asgi.types import Message, Receive, Send
from tidings.engine.hooks import EngineEvents
from tidings.engine.io import HttpRequest, PreparedFrames, WebSocketListener, WebSocketTarget
from tidings.hosting import RouteListener, WebSocketRouteLike

__all__ = ["ASGIWebSocket", "serve_route", "serve_websocket"]


#: ``watch_drain`` calls back once no more than this is queued.
DRAINED = 16 * 1024


class ASGIWebSocket:
    """One accepted ASGI WebSocket: the engine's ``WebSocketTransport``.

    With a ``write_limit`` it is also a raw route's ``RouteTransport``: the
    listener's ``on_drain`` is called once the queued bytes fall back under the
    limit. The engine's writes are synchronous; one writer task per socket sends
    them in order, so ``await send`` back-pressure shows up in ``buffered_amount``.
    """

    __slots__ = (
        "_buffered",
        "_closed",
        "_queue",
        "_send",
        "_wakeup",
        "_may_read",
        "_on_drain",
        "_on_drained",
        "max_message",
        "write_limit",
    )

    def __init__(self, send: Send, max_message: int, write_limit: int | None = None) -> None:
        self._send = send
        self._queue: deque[Message] = deque()
        self._wakeup = asyncio.Event()
        self._closed = False
        self._buffered = 0
        # Made by the first pause_reading: the engine's receive loop then tests only for None.
        self._may_read: asyncio.Event | None = None
        self._on_drain: Callable[[], None] | None = None
        self._on_drained: Callable[[], None] | None = None  # see watch_drain
        self.max_message = max_message
        """A bigger message closes with 1009, as the built-in server's framing does."""
        self.write_limit = write_limit

    # -- WebSocketTransport: called by the engine or the route's WebSocket ------------------

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

    def flush(self) -> None:
        """Nothing to do: every message is its own ``websocket.send`` already."""

    def close(self, code: int = 1000, reason: str = "") -> None:
        if not self._closed:
            self._queue.append({"type": "websocket.close", "code": code, "reason": reason})
            self._closed = True
            self._wakeup.set()
            self.resume_reading()  # the peer's answer to the close must get through

    @property
    def buffered_amount(self) -> int:
        return self._buffered

    def watch_drain(self, callback: Callable[[], None]) -> None:
        if self._buffered <= DRAINED:
            asyncio.get_running_loop().call_soon(callback)
        else:
            self._on_drained = callback  # called by ``run``

    # -- RouteTransport: called by a route's WebSocket --------------------------------------

    def send_ping(self, payload: bytes) -> None:
        raise NotImplementedError("ASGI has no message for sending a ping")

    def pause_reading(self) -> None:
        if self._may_read is None:
            self._may_read = asyncio.Event()
        self._may_read.clear()

    def resume_reading(self) -> None:
        if self._may_read is not None:
            self._may_read.set()

    @property
    def writing_paused(self) -> bool:
        return self.write_limit is not None and self._buffered > self.write_limit

    # -- the connection's two tasks ---------------------------------------------------------

    async def serve(self, receive: Receive, listener: WebSocketListener) -> None:
        """Called by ``serve_websocket`` once accepted: write and read until the connection ends."""
        if self.write_limit is not None:
            self._on_drain = cast(RouteListener, listener).on_drain
        writer = asyncio.ensure_future(self.run())
        peer_gone = True
        try:
            peer_gone = await self._read(receive, listener)
        except BaseException:
            # Cancelled, or a server that raises instead of reporting the disconnect:
            # the listener must still learn that its WebSocket is gone.
            listener.on_close(1006, "")
            raise
        finally:
            if peer_gone:
                self.finish()
            await writer  # else it sends our close first

    def finish(self) -> None:
        """The peer is gone: drop what is queued and let ``run`` return."""
        self._on_drained = None
        self._closed = True
        self._queue.clear()
        self._buffered = 0
        self._wakeup.set()
        self.resume_reading()

    async def run(self) -> None:
        """The writer: send queued messages in order until closed (started by ``serve``)."""
        queue = self._queue
        limit = self.write_limit
        while True:
            while queue:
                message = queue.popleft()
                try:
                    await self._send(message)
                except Exception:  # the peer went away; the receive side reports it
                    self.finish()
                    return
                size = len(message.get("text") or message.get("bytes") or b"")
                self._buffered -= size
                if message["type"] == "websocket.close":
                    self.finish()
                    return
                if limit is not None and self._buffered <= limit < self._buffered + size:
                    on_drain = self._on_drain
                    if on_drain is not None:
                        on_drain()
                on_drained = self._on_drained
                if on_drained is not None and self._buffered <= DRAINED:
                    self._on_drained = None
                    on_drained()
            if self._closed:
                return
            self._wakeup.clear()
            await self._wakeup.wait()

    async def _read(self, receive: Receive, listener: WebSocketListener) -> bool:
        """Feed the listener until the peer leaves (True) or we close on it (False)."""
        on_message = listener.on_message
        max_message = self.max_message
        while True:
            may_read = self._may_read
            if may_read is not None and not may_read.is_set():
                await may_read.wait()
            message = await receive()
            kind = message["type"]
            if kind == "websocket.receive":
                text = message.get("text")
                data: str | bytes | None = text if text is not None else message.get("bytes")
                if data is None:
                    continue
                if len(data) > max_message:
                    # The ASGI server read it whole already; the built-in server stops earlier.
                    self.close(1009, "message too big")
                    listener.on_close(1009, "message too big")
                    return False
                on_message(data)
            elif kind == "websocket.disconnect":
                listener.on_close(int(message.get("code", 1005)), message.get("reason") or "")
                return True


async def serve_websocket(
    target: WebSocketTarget[ASGIWebSocket, WebSocketListener],
    request: HttpRequest,
    transport: ASGIWebSocket,
    receive: Receive,
    send: Send,
    *,
    extensions: Mapping[str, Any] | None = None,
) -> None:
    """Serve one ``websocket`` scope on ``target``, from ``websocket.connect`` to the end.

    ``extensions`` are the scope's: with ``websocket.http.response`` a refusal is
    sent as the target's own response, else as a close before accept (a 403).
    """
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    rejection = target.check_websocket(request)
    # An engine whose async allow_request is still deciding: wait for it before the accept,
    # so a refusal is the 403 Node answers.
    verdict = getattr(target, "websocket_verdict", None)
    if rejection is None and verdict is not None:
        rejection = await verdict(request)
    if rejection is not None:
        if extensions is not None and "websocket.http.response" in extensions:
            await send({
                "type": "websocket.http.response.start",
                "status": rejection.status,
                "headers": raw_headers(rejection),
            })
            await send({"type": "websocket.http.response.body", "body": rejection.body})
        else:
            await send({"type": "websocket.close", "code": 1008})
        return
    accept: dict[str, Any] = {"type": "websocket.accept"}
    events = getattr(target, "events", None)
    if isinstance(events, EngineEvents):  # the engine's "initial_headers"/"headers" listeners
        added = events.upgrade_headers(request)
        if added:
            accept["headers"] = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in added]
    await send(accept)
    await transport.serve(receive, target.open_websocket(request, transport))


async def serve_route(
    route: WebSocketRouteLike,
    request: HttpRequest,
    receive: Receive,
    send: Send,
    *,
    extensions: Mapping[str, Any] | None = None,
) -> None:
    """Serve one ``websocket`` scope on a raw route (``WebSocketRoutes.match(path)``).

    ``request`` is the scope as an ``HttpRequest`` (``tidings.asgi.request_from_scope``).
    """
    transport = ASGIWebSocket(send, route.max_message_size, route.write_limit)
    await serve_websocket(route, request, transport, receive, send, extensions=extensions)
