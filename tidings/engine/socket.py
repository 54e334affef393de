"""``EngineSocket``: one client connection, the asyncio side of a ``ServerSession``.

Every input is handed to the Sans-I/O session, then ``_pump`` carries out what
it asks for: WebSocket writes, releasing a held poll, events for the handler,
the next deadline. The only shortcut is the send path on an open WebSocket,
which writes straight to the transport (the broadcast hot path): ``_pump``
keeps that transport in ``_fast`` while the session says it may be written to.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from tidings.engine.handshake import KeptRequest
from tidings.engine.io import HttpRequest, WebSocketTransport
from tidings.protocol.engineio.events import Closed, MessageReceived, Upgraded, UpgradeFailed
from tidings.protocol.engineio.requests import RequestError
from tidings.protocol.engineio.session import ServerSession, State
from tidings.protocol.prepared import PreparedMessage

if TYPE_CHECKING:
    from tidings.engine.server import EngineServer

__all__ = ["EngineSocket"]

logger = logging.getLogger("tidings.engineio")

#: A WebSocket with less than this queued for the kernel counts as writable (volatile emits).
WS_WRITABLE_HIGH_WATER = 64 * 1024
#: The broadcast path asks the transport for its buffered amount once every this many sends.
CHECK_EVERY = 16


class _Listener:
    """Routes one accepted WebSocket's events to its socket until detached."""

    __slots__ = ("_socket", "active")

    def __init__(self, socket: EngineSocket | None) -> None:
        self._socket = socket
        self.active = socket is not None

    def on_message(self, data: str | bytes) -> None:
        if self.active and self._socket is not None:
            self._socket._ws_message(data)

    def on_close(self, code: int, reason: str) -> None:
        if self.active and self._socket is not None:
            self.active = False
            self._socket._ws_closed(code)


#: For WebSockets the engine closed at once: their later events mean nothing.
IGNORED = _Listener(None)


class EngineSocket:
    """An Engine.IO connection as seen by the layer above (``sid``, ``send``, ``close``)."""

    __slots__ = (
        "__weakref__",
        "_core",
        "_dispatching",
        "_fast",
        "_listener",
        "_poll_waiter",
        "_release_pending",
        "_request",
        "_unchecked",
        "_ws",
        "heap_deadline",
        "server",
        "sid",
    )

    def __init__(self, server: EngineServer, request: HttpRequest, session: ServerSession) -> None:
        self.sid: str = session.sid
        self._request = kept = KeptRequest(request, server.options.path, server._last_query_string)
        server._last_query_string = kept.query_string
        self.server = server
        self.heap_deadline: float | None = None
        self._core = session
        self._ws: WebSocketTransport | None = None
        # The WebSocket while the session lets messages go straight to it, else None.
        self._fast: WebSocketTransport | None = None
        # Fast sends since the transport was last asked how much it holds (a small int:
        # no object churn on the hot path). See ``send_prepared``.
        self._unchecked = 0
        self._listener: _Listener | None = None
        self._poll_waiter: asyncio.Future[str] | None = None
        self._release_pending = False
        self._dispatching = False

    def __repr__(self) -> str:
        return f"<EngineSocket sid={self.sid} {self._core.transport} {self._core.state.name}>"

    # -- public API ------------------------------------------------------------------------

    @property
    def request(self) -> HttpRequest:
        """The request that opened the session (rebuilt from a compact copy; no body)."""
        return self._request.request()

    @property
    def transport_name(self) -> str:
        return self._core.transport

    @property
    def session(self) -> ServerSession:
        """The Sans-I/O session (read it; drive it through this socket only)."""
        return self._core

    @property
    def closed(self) -> bool:
        return self._core.state is State.CLOSED

    @property
    def buffered_amount(self) -> int:
        ws = self._fast
        if ws is not None:
            return ws.buffered_amount
        return self._core.buffered_bytes

    @property
    def writable(self) -> bool:
        """Whether a message sent now leaves at once (volatile emits skip the socket otherwise)."""
        ws = self._fast
        if ws is not None:
            return ws.buffered_amount < WS_WRITABLE_HIGH_WATER
        core = self._core
        return core.state is State.OPEN and core.poll_held

    def send(self, data: str | bytes) -> None:
        """Send one Engine.IO MESSAGE (str: text, bytes: binary). Never blocks."""
        ws = self._fast
        if ws is not None:
            if isinstance(data, str):
                ws.send_text("4" + data)
            elif isinstance(data, (bytes, bytearray, memoryview)):
                ws.send_bytes(bytes(data))
            else:
                raise TypeError(f"an Engine.IO message is str or bytes, not {type(data).__name__}")
            # Checked as in ``send_prepared``: every CHECK_EVERY sends, and at once when big.
            n = self._unchecked
            if n < CHECK_EVERY and len(data) <= self.server._unchecked_size >> 2:  # str: 4 B/char
                self._unchecked = n + 1
            else:
                self._check_buffered(ws)
            return
        self._core.send(data)
        self._pump()

    def send_prepared(self, prepared: PreparedMessage) -> None:
        """Send a message encoded once for many sockets (the broadcast hot path)."""
        ws = self._fast
        if ws is not None:
            ws.send_prepared(prepared)
            # The buffer limit is checked every CHECK_EVERY sends, and at once for a message
            # of more than limit / CHECK_EVERY bytes: what goes unchecked stays under the limit.
            n = self._unchecked
            if n < CHECK_EVERY and len(prepared.ws_frames) <= self.server._unchecked_size:
                self._unchecked = n + 1
            else:
                self._check_buffered(ws)
            return
        self._core.send_encoded(prepared.encoded, prepared.nbytes)
        self._pump()

    def _check_buffered(self, ws: WebSocketTransport) -> None:
        limit = self.server.options.max_buffered_bytes
        buffered = ws.buffered_amount
        self._unchecked = 0
        if buffered > limit:
            self._overflow()

    def close(self, reason: str = "forced close") -> None:
        """Close from the server; what is already queued is still delivered."""
        self._core.close(self.server._now(), reason)
        self._pump()

    # -- driven by the server --------------------------------------------------------------

    def on_deadline(self, now: float) -> None:
        self._core.handle_timer(now)
        self._pump()

    async def _poll(self) -> str | RequestError:
        core = self._core
        result = core.receive_poll(self.server._now())
        if result is not None:
            self._pump()
            return result
        waiter: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._poll_waiter = waiter
        self._pump()
        try:
            return await waiter
        except asyncio.CancelledError:
            if self._poll_waiter is waiter:
                self._poll_waiter = None
            if waiter.done() and not waiter.cancelled():
                core.abort("transport error", "poll response lost")
            else:
                core.poll_aborted(self.server._now())
            self._pump()
            raise

    def _post(self, body: bytes) -> RequestError | None:
        result = self._core.receive_post(body, self.server._now())
        self._pump()
        return result

    def _release_poll(self) -> None:
        self._release_pending = False
        waiter = self._poll_waiter
        if waiter is None or waiter.done() or not self._core.poll_ready:
            return
        self._poll_waiter = None
        waiter.set_result(self._core.take_poll_response())
        self._pump()

    def _attach_ws(self, transport: WebSocketTransport) -> _Listener:
        self._ws = transport
        listener = self._listener = _Listener(self)
        return listener

    def _start_upgrade(self, transport: WebSocketTransport) -> _Listener | None:
        if self._ws is not None or not self._core.start_upgrade(self.server._now()):
            return None
        listener = self._attach_ws(transport)
        logger.debug("sid=%s upgrade started", self.sid)
        self._pump()
        return listener

    def _ws_message(self, data: str | bytes) -> None:
        core = self._core
        now = self.server._now()
        if not self._dispatching:
            # A plain MESSAGE changes nothing the pump looks after: straight to the handler.
            message = core.take_message(data, now)
            if message is not None:
                try:
                    self.server.handler.on_message(self, message)
                except Exception:
                    logger.exception("sid=%s message handler failed", self.sid)
                return
        core.receive_websocket(data, now)
        self._pump()

    def _ws_closed(self, code: int) -> None:
        self._ws = None
        self._fast = None
        self._listener = None
        self._core.websocket_closed(self.server._now(), code)
        self._pump()

    def _overflow(self) -> None:
        self._core.abort("transport error", "outgoing buffer limit exceeded")
        self._pump()

    def _pump(self) -> None:
        core = self._core
        ws = self._ws
        out = core.data_to_send()
        if ws is not None:
            if out:
                self._unchecked = CHECK_EVERY  # not counted: the next fast send checks
                for message in out:
                    if isinstance(message, str):
                        ws.send_text(message)
                    else:
                        ws.send_bytes(message)
            if core.close_websocket_requested():
                listener = self._listener
                if listener is not None:
                    listener.active = False
                self._ws = None
                self._listener = None
                self._fast = None
                ws.close(1000, "")
                ws = None
        else:
            core.close_websocket_requested()
        # Before any handler runs: whatever it sends sees the session as it is now.
        self._fast = ws if ws is not None and core.websocket_writable else None
        if self._poll_waiter is not None and not self._release_pending and core.poll_ready:
            self._release_pending = True
            self.server._release_soon(self)
        if not self._dispatching:
            self._dispatch()
        self.server._schedule(self, core.next_deadline())

    def _dispatch(self) -> None:
        core = self._core
        handler = self.server.handler
        self._dispatching = True
        try:
            while events := core.events_received():
                for event in events:
                    if type(event) is MessageReceived:
                        try:
                            handler.on_message(self, event.data)
                        except Exception:
                            logger.exception("sid=%s message handler failed", self.sid)
                    elif type(event) is Closed:
                        self.server._closed(self, event)
                    elif type(event) is Upgraded:
                        logger.debug("sid=%s upgraded to %s", self.sid, event.transport)
                    elif type(event) is UpgradeFailed:
                        logger.debug("sid=%s upgrade abandoned: %s", self.sid, event.detail)
        finally:
            self._dispatching = False
