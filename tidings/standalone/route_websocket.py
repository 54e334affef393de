"""The WebSocket of a plain route on the built-in server (``tidings.websocket_routes``)."""

from __future__ import annotations

import asyncio
import logging

from tidings.hosting import RouteListener
from tidings.protocol.websocket import CloseCode, WebSocketState
from tidings.protocol.websocket.deflate import PerMessageDeflate
from tidings.standalone.context import ConnectionContext
from tidings.standalone.websocket_protocol import WebSocketProtocol

__all__ = ["RouteWebSocketProtocol"]

logger = logging.getLogger("tidings.standalone")


class RouteWebSocketProtocol(WebSocketProtocol[RouteListener]):
    """The WebSocket of a raw route: what the engine's needs, plus pings, pongs and flow
    control both ways (``tidings.websocket_routes.RouteTransport``), and an idle check:
    a peer silent for ``ws_idle_timeout`` is pinged, and closed with 1001 if it stays
    silent ``ws_close_timeout`` more (Socket.IO has a heartbeat of its own)."""

    __slots__ = ("_idle_pinged",)

    def __init__(
        self,
        context: ConnectionContext,
        transport: asyncio.Transport,
        max_message_size: int,
        peer: tuple[str, int] | None,
        write_limit: int,
        deflate: PerMessageDeflate | None = None,
    ) -> None:
        super().__init__(context, transport, max_message_size, peer, deflate)
        # pause_writing comes when more than write_limit bytes wait in the transport.
        transport.set_write_buffer_limits(high=write_limit)
        self._idle_pinged = False
        idle_timeout = context.options.ws_idle_timeout
        if idle_timeout is not None:
            self._idle_timer = context.loop.call_later(idle_timeout, self._idle_check)

    def _idle_check(self) -> None:
        """One timer per idle period, not per message: a read only sets ``_heard``."""
        self._idle_timer = None
        conn = self._conn
        if conn.state is not WebSocketState.OPEN:
            return
        options = self._context.options
        loop = self._context.loop
        if self._heard:
            self._heard = self._idle_pinged = False
            assert options.ws_idle_timeout is not None
            self._idle_timer = loop.call_later(options.ws_idle_timeout, self._idle_check)
        elif not self._idle_pinged:
            self._idle_pinged = True
            conn.send_ping(b"")
            self._mark_dirty()
            self._idle_timer = loop.call_later(options.ws_close_timeout, self._idle_check)
        else:
            logger.info("websocket %s: idle, no answer to a ping: closing", self._peer)
            self.close(CloseCode.GOING_AWAY, "idle timeout")

    def send_ping(self, payload: bytes) -> None:
        if self._conn.state is WebSocketState.OPEN:
            self._conn.send_ping(payload)
            self._mark_dirty()

    @property
    def writing_paused(self) -> bool:
        return self._paused

    def resume_writing(self) -> None:
        super().resume_writing()
        listener = self._listener
        if listener is not None:
            listener.on_drain()

    def _pong_received(self, listener: RouteListener, payload: bytes) -> None:
        listener.on_pong(payload)
