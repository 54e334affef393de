"""``WebSocketTransport`` over ASGI ``send``: the ASGI server frames, we queue whole messages."""

from __future__ import annotations

import asyncio
from collections import deque

from tidings.asgi.scope import Message, Send
from tidings.engine.io import PreparedFrames


class ASGIWebSocket:
    """``WebSocketTransport`` over ASGI: the ASGI server frames, we queue whole messages.

    The engine's writes are synchronous; one writer task per socket sends them
    in order, so ``await send`` back-pressure shows up in ``buffered_amount``.
    """

    __slots__ = ("_buffered", "_closed", "_queue", "_send", "_wakeup", "max_message")

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
        """The peer is gone: drop what is queued and let ``run`` return."""
        self._closed = True
        self._queue.clear()
        self._buffered = 0
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
                try:
                    await self._send(message)
                except Exception:  # the peer went away; the receive side reports it
                    self.finish()
                    return
                self._buffered -= len(message.get("text") or message.get("bytes") or b"")
                if message["type"] == "websocket.close":
                    self.finish()
                    return
                self._sent()
            if self._closed:
                return
            self._wakeup.clear()
            await self._wakeup.wait()

    def _sent(self) -> None:
        """A queued message went out (subclasses watch for the buffer draining)."""
