"""An accepted WebSocket: the asyncio side of ``ServerConnection``.

The protocol object is the connection's whole Python footprint once upgraded:
the HTTP parser and request buffers are gone. Frames queued during one
event-loop turn leave in one ``transport.write``: a connection marks itself
dirty once and the server's single ``Flusher`` writes every dirty connection
at the end of the turn (one ``call_soon`` per turn, not one per connection).
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from tidings.engine.io import PreparedFrames, WebSocketListener
from tidings.protocol.websocket import (
    BinaryMessage,
    CloseCode,
    Closed,
    Event,
    ServerConnection,
    State,
    TextMessage,
)

if TYPE_CHECKING:
    from tidings.standalone.server import Server

logger = logging.getLogger("tidings.standalone")

_OPEN = State.OPEN
_CLOSING = State.CLOSING
_CLOSED = State.CLOSED


class Flusher:
    """One end-of-turn write pass for all connections that queued frames this turn."""

    __slots__ = ("_dirty", "_loop", "_scheduled")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._dirty: list[WebSocketProtocol] = []
        self._scheduled = False

    def add(self, ws: WebSocketProtocol) -> None:
        self._dirty.append(ws)
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        dirty = self._dirty
        self._dirty = []
        for ws in dirty:
            try:
                ws.flush()
            except Exception:  # one broken connection must not starve the others
                logger.exception("websocket %s: flush failed", ws.peer)
                ws.abort()


def _fit_reason(reason: str) -> str:
    """Close reasons are capped at 123 UTF-8 bytes on the wire: cut, never raise."""
    raw = reason.encode("utf-8")
    if len(raw) <= 123:
        return reason
    return raw[:123].decode("utf-8", "ignore")


class WebSocketProtocol(asyncio.Protocol):
    """Implements ``tidings.engine.io.WebSocketTransport`` on an asyncio transport."""

    __slots__ = (
        "_conn",
        "_dirty",
        "_listener",
        "_paused",
        "_peer",
        "_server",
        "_timer",
        "_transport",
    )

    def __init__(
        self,
        server: Server,
        transport: asyncio.Transport,
        max_message_size: int,
        peer: tuple[str, int] | None,
    ) -> None:
        self._server = server
        self._transport = transport
        self._conn = ServerConnection(max_message_size)
        self._listener: WebSocketListener | None = None
        self._dirty = False
        self._paused = False
        self._peer = peer
        self._timer: asyncio.TimerHandle | None = None

    @property
    def peer(self) -> tuple[str, int] | None:
        return self._peer

    def start(self, listener: WebSocketListener, leftover: bytes) -> None:
        """Take over the transport from the HTTP protocol; feed bytes read past the 101."""
        self._listener = listener
        self._transport.set_protocol(self)
        if leftover:
            self.data_received(leftover)

    # -- WebSocketTransport ---------------------------------------------------

    def send_text(self, data: str) -> None:
        if self._conn.state is _OPEN:
            self._conn.send_text(data)
            if not self._dirty:
                self._dirty = True
                self._server.flusher.add(self)

    def send_bytes(self, data: bytes) -> None:
        if self._conn.state is _OPEN:
            self._conn.send_bytes(data)
            if not self._dirty:
                self._dirty = True
                self._server.flusher.add(self)

    def send_prepared(self, prepared: PreparedFrames) -> None:
        if self._conn.state is _OPEN:
            self._conn.send_frames(prepared.ws_frames)
            if not self._dirty:
                self._dirty = True
                self._server.flusher.add(self)

    def close(self, code: int = 1000, reason: str = "") -> None:
        if self._conn.state is not _OPEN:
            return
        self._conn.close(code, _fit_reason(reason))
        self._arm_close_timer()
        self._mark_dirty()

    def abort(self) -> None:
        """Drop the connection now (shutdown past its deadline)."""
        self._cancel_timer()
        self._conn.abort(CloseCode.ABNORMAL, "server shutting down")
        self._transport.abort()
        events = self._conn.events_received()
        if events:
            self._dispatch(events)

    @property
    def buffered_amount(self) -> int:
        return self._conn.bytes_pending + self._transport.get_write_buffer_size()

    # -- asyncio.Protocol ------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        conn = self._conn
        conn.receive_data(data)
        events = conn.events_received()
        if events:
            self._dispatch(events)
        if conn.bytes_pending or conn.state is _CLOSED:
            self._mark_dirty()

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        self._conn.receive_eof()
        events = self._conn.events_received()
        if events:
            self._dispatch(events)
        self._server.connection_closed(self)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._conn.bytes_pending:
            self._mark_dirty()

    # -- internals -------------------------------------------------------------

    def _dispatch(self, events: list[Event]) -> None:
        listener = self._listener
        assert listener is not None
        for event in events:
            if isinstance(event, (TextMessage, BinaryMessage)):
                if self._conn.state is _CLOSING:
                    continue  # the listener closed us while this batch was delivered
                try:
                    listener.on_message(event.data)
                except Exception:
                    logger.exception("websocket %s: on_message raised", self._peer)
                    self._internal_error()
                    return
            elif isinstance(event, Closed):
                if self._conn.error is not None:
                    logger.info(
                        "websocket %s failed with %d: %s", self._peer, event.code, self._conn.error
                    )
                self._listener_close(listener, event.code, event.reason)

    def _internal_error(self) -> None:
        conn = self._conn
        conn.fail(CloseCode.INTERNAL_ERROR, "internal error")
        self._mark_dirty()
        events = conn.events_received()
        if events:
            self._dispatch(events)

    def _listener_close(self, listener: WebSocketListener, code: int, reason: str) -> None:
        try:
            listener.on_close(code, reason)
        except Exception:
            logger.exception("on_close of websocket %s raised", self._peer)

    def _mark_dirty(self) -> None:
        if not self._dirty:
            self._dirty = True
            self._server.flusher.add(self)

    def flush(self) -> None:
        """Write what was queued this turn in one write (called by the Flusher)."""
        self._dirty = False
        transport = self._transport
        if transport.is_closing():
            return
        conn = self._conn
        if self._paused and conn.state is not _CLOSED:
            if (
                conn.bytes_pending + transport.get_write_buffer_size()
                > self._server.options.ws_max_buffered
            ):
                self._overflow()
            return  # resume_writing marks us dirty again
        data = conn.data_to_send()
        if data:
            transport.write(data[0] if len(data) == 1 else b"".join(data))
        if conn.state is _CLOSED:
            transport.close()
            self._arm_close_timer()

    def _overflow(self) -> None:
        conn = self._conn
        logger.warning(
            "websocket %s: more than %d bytes buffered, closing",
            self._peer,
            self._server.options.ws_max_buffered,
        )
        conn.fail(CloseCode.POLICY_VIOLATION, "too much data buffered")
        events = conn.events_received()
        self._transport.write(b"".join(conn.data_to_send()))
        self._transport.close()
        self._arm_close_timer()
        if events:
            self._dispatch(events)

    def _arm_close_timer(self) -> None:
        if self._timer is None:
            loop = self._server.loop
            self._timer = loop.call_later(
                self._server.options.ws_close_timeout, self._close_timeout
            )

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _close_timeout(self) -> None:
        self._timer = None
        logger.info("websocket %s: close handshake timed out", self._peer)
        self._conn.abort(CloseCode.ABNORMAL, "close timeout")
        self._transport.abort()
        events = self._conn.events_received()
        if events:
            self._dispatch(events)
