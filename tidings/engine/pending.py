"""A WebSocket whose session waits for an ``async`` hook: ``allow_request`` deciding it, or
``generate_id`` naming it.

Both I/O layers await ``EngineServer.websocket_verdict`` before the 101; an I/O layer
that does not (the in-process test transport) upgrades first. An ``async`` ``generate_id``
is awaited after the 101, as in Node. Meanwhile ``PendingWebSocket`` keeps what arrives
(a client sends nothing before the OPEN packet, but nothing is lost if one does, up to
``MAX_EARLY`` messages) and, once the answer is in, opens the session and hands it all,
or refuses it (the WebSocket is closed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from tidings.engine.io import WebSocketListener
from tidings.protocol.engineio.requests import ErrorCode, RequestError

__all__ = ["MAX_EARLY", "PendingWebSocket"]

#: Messages kept before the session exists; more is not a client following the protocol.
MAX_EARLY = 16


class PendingWebSocket:
    """The listener of a WebSocket whose session waits for ``verdict``."""

    __slots__ = ("_closed", "_listener", "_messages", "_refuse", "_verdict")

    def __init__(
        self,
        verdict: asyncio.Future[RequestError | None],
        open_session: Callable[[], WebSocketListener],
        refuse: Callable[[RequestError], None],
    ) -> None:
        self._messages: list[str | bytes] = []
        self._listener: WebSocketListener | None = None
        self._closed = False
        self._refuse = refuse
        # Held here, so what it waits for lives as long as the connection does.
        self._verdict = verdict

        def decided(future: asyncio.Future[RequestError | None]) -> None:
            if self._closed:
                return  # the client left before the answer: no session
            error = future.result() if not future.cancelled() else RequestError.of(ErrorCode.BAD_REQUEST)
            if error is not None:
                self._closed = True
                refuse(error)
                return
            listener = self._listener = open_session()
            messages, self._messages = self._messages, []
            for message in messages:
                listener.on_message(message)

        verdict.add_done_callback(decided)

    def on_message(self, data: str | bytes) -> None:
        if self._listener is not None:
            self._listener.on_message(data)
        elif not self._closed:
            if len(self._messages) >= MAX_EARLY:
                self._closed = True
                self._messages = []
                self._refuse(RequestError.of(ErrorCode.BAD_REQUEST))
                return
            self._messages.append(data)

    def on_close(self, code: int, reason: str) -> None:
        if self._listener is not None:
            self._listener.on_close(code, reason)
        self._closed = True
        self._messages = []
