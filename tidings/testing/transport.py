"""The Engine.IO side of a test client: a WebSocket that exists only in memory.

The engine is reached the way the built-in server and the ASGI app reach it,
through the I/O contract of ``tidings.engine.io`` (``check_websocket``, then
``open_websocket`` with a ``WebSocketTransport``), and the client's half of the
session is the Sans-I/O ``ClientSession`` that ``tidings.Client`` runs. Only
the socket is missing: what one side writes is handed to the other in memory.

What the server writes reaches the client on the next turn of the loop, as it
would from a network, so client code never runs inside a server call. What the
client writes reaches the engine at once: the test's own coroutine is never
inside the server when it sends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from tidings.engine.io import HttpRequest, HttpResponse, PreparedFrames, WebSocketListener
from tidings.errors import ConnectionRefusedError
from tidings.hosting import EngineLike
from tidings.protocol.engineio import (
    WEBSOCKET,
    ClientSession,
    ClientSessionState,
    Closed,
    MessageReceived,
)

__all__ = ["EngineLink", "MemoryWebSocket", "refusal_error"]


@dataclass(frozen=True, slots=True)
class _Closing:
    """The engine closed the WebSocket (queued behind what it wrote before)."""

    code: int
    reason: str


class MemoryWebSocket:
    """The engine's ``WebSocketTransport``: writes are queued and handed over on the next
    loop turn, in one batch, to ``deliver``."""

    __slots__ = ("_buffered", "_deliver", "_loop", "_queue", "_scheduled", "closed")

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        deliver: Callable[[list[str | bytes | _Closing]], None],
    ) -> None:
        self._loop = loop
        self._deliver = deliver
        self._queue: list[str | bytes | _Closing] = []
        self._scheduled = False
        self._buffered = 0
        self.closed = False

    def send_text(self, data: str) -> None:
        self._push(data)

    def send_bytes(self, data: bytes) -> None:
        self._push(data)

    def send_prepared(self, prepared: PreparedFrames) -> None:
        for message in prepared.ws_messages:
            self._push(message)

    def close(self, code: int = 1000, reason: str = "") -> None:
        if not self.closed:
            self.closed = True
            self._queue.append(_Closing(code, reason))
            self._schedule()

    @property
    def buffered_amount(self) -> int:
        return self._buffered

    def watch_drain(self, callback: Callable[[], None]) -> None:
        """Everything is handed over on the next turn: called after that."""
        self._loop.call_soon(callback)

    def pause_reading(self) -> None:
        """In memory the client's sends are calls: nothing to pause."""

    def resume_reading(self) -> None:
        """See ``pause_reading``."""

    def _push(self, message: str | bytes) -> None:
        if self.closed:
            return
        self._queue.append(message)
        self._buffered += len(message)
        self._schedule()

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Hand over what is queued now (called on the next loop turn, or by ``EngineLink``)."""
        self._scheduled = False
        batch, self._queue = self._queue, []
        self._buffered = 0
        if batch:
            self._deliver(batch)


def refusal_error(response: HttpResponse) -> ConnectionRefusedError:
    """The engine's HTTP refusal of the upgrade as the error ``connect`` raises: its message,
    with ``data`` holding the status and Engine.IO's error code."""
    try:
        body = orjson.loads(response.body)
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return ConnectionRefusedError(body["message"], {"status": response.status, "code": body.get("code")})
    text = response.body.decode("utf-8", "replace").strip() or f"HTTP {response.status}"
    return ConnectionRefusedError(text, {"status": response.status})


class EngineLink:
    """One Engine.IO session with ``engine`` over a ``MemoryWebSocket``.

    ``on_message`` gets each MESSAGE the server sends; ``on_close`` the reason once the
    session is over (Engine.IO's words: "transport close", "ping timeout", ...).
    """

    __slots__ = (
        "_engine",
        "_listener",
        "_now",
        "_on_close",
        "_on_message",
        "_request",
        "_session",
        "_ws",
        "close_reason",
    )

    def __init__(
        self,
        engine: EngineLike,
        request: HttpRequest,
        *,
        on_message: Callable[[str | bytes], None],
        on_close: Callable[[str], None],
    ) -> None:
        loop = asyncio.get_running_loop()
        self._engine = engine
        self._request = request
        self._now = loop.time
        self._on_message = on_message
        self._on_close = on_close
        self._session = ClientSession(loop.time(), transport=WEBSOCKET, upgrade=False)
        self._ws = MemoryWebSocket(loop, self._receive)
        self._listener: WebSocketListener | None = None
        self.close_reason: str | None = None
        """Why the session ended, once it has."""

    @property
    def sid(self) -> str | None:
        """The Engine.IO session id, once open."""
        return self._session.sid

    @property
    def open(self) -> bool:
        return self._session.state is ClientSessionState.OPEN

    def start(self) -> None:
        """Upgrade and open: ``ConnectionRefusedError`` if the engine refuses."""
        refusal = self._engine.check_websocket(self._request)
        if refusal is not None:
            self.close_reason = "refused"
            raise refusal_error(refusal)
        self._listener = self._engine.open_websocket(self._request, self._ws)
        self._ws.flush()  # the OPEN packet, written as the engine took the WebSocket
        if not self.open:
            raise ConnectionRefusedError(
                "the engine closed the WebSocket at once", {"reason": self.close_reason}
            )

    def send(self, data: str | bytes) -> None:
        """One MESSAGE to the server (handled before this returns)."""
        self._session.send(data)
        self._pump()

    def close(self) -> None:
        """Close from the client: a CLOSE packet, then the WebSocket."""
        self._session.close()
        self._pump()
        self._drop_websocket(1000, "")

    def abort(self) -> None:
        """The WebSocket breaks as a network failure would break it: no CLOSE packet."""
        self._drop_websocket(1006, "")
        self._session.transport_failed(WEBSOCKET, self._now(), reason="transport close",
                                       detail="connection lost")
        self._pump()

    def _drop_websocket(self, code: int, reason: str) -> None:
        listener = self._listener
        self._listener = None
        self._ws.closed = True
        if listener is not None:
            listener.on_close(code, reason)

    def _receive(self, batch: list[str | bytes | _Closing]) -> None:
        session = self._session
        for item in batch:
            now = self._now()
            if isinstance(item, _Closing):
                self._listener = None
                session.transport_failed(
                    WEBSOCKET, now, reason="transport close",
                    detail=f"closed by the server ({item.code} {item.reason})".rstrip(),
                )
            else:
                session.receive_websocket(item, now)
            self._pump()

    def _pump(self) -> None:
        session = self._session
        out = session.websocket_to_send()
        listener = self._listener
        if out and listener is not None:
            limit = self._engine.options.max_payload
            for message in out:
                if len(message) > limit:
                    # As both I/O layers do: the message is refused with 1009, the session ends.
                    self._listener = None
                    self._ws.closed = True
                    listener.on_close(1009, "message too big")
                    session.transport_failed(WEBSOCKET, self._now(), reason="transport close",
                                             detail="message too big")
                    break
                listener.on_message(message)
        for event in session.events_received():
            if type(event) is MessageReceived:
                self._on_message(event.data)
            elif type(event) is Closed and self.close_reason is None:
                self.close_reason = event.reason
                self._drop_websocket(1000, "")
                self._on_close(event.reason)
