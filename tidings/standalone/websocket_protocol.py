"""An accepted WebSocket: the asyncio side of ``ServerConnection``.

The protocol object is the connection's whole Python footprint once upgraded:
the HTTP parser and request buffers are gone. Frames queued during one
event-loop turn leave in one ``transport.write``: a connection adds itself to
the shared ``Flusher`` once a turn, which hands all of them to ``flush_batch``
at the end of it.

Data frames are framed here and wait in the protocol's own ``_pending`` (a
broadcast appends the very bytes it framed once); ``ServerConnection`` keeps
the state machine and what it queues itself: pongs and the close frame, which
leave after the data frames queued before them. The flush of a connection that
only has data frames waiting is inlined in ``flush_batch``: the fan-out hot path.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from tidings.engine.io import PreparedFrames, WebSocketListener
from tidings.logging_limits import LogLimiter
from tidings.protocol.websocket import (
    BinaryMessage,
    CloseCode,
    Closed,
    Event,
    Opcode,
    Pong,
    ServerConnection,
    TextMessage,
    WebSocketState,
)
from tidings.protocol.websocket.deflate import PerMessageDeflate
from tidings.protocol.websocket.frames import encode_frame
from tidings.standalone.context import ConnectionContext
from tidings.standalone.speedups import masker

logger = logging.getLogger("tidings.standalone")
#: Peers that do not read are one line each up to a burst a minute, then a count.
peer_warnings = LogLimiter(logger, burst=10, interval=60.0)

_OPEN = WebSocketState.OPEN
_CLOSING = WebSocketState.CLOSING
_CLOSED = WebSocketState.CLOSED
_TEXT = int(Opcode.TEXT)
_BINARY = int(Opcode.BINARY)

# ``WebSocketProtocol._dirty``: not waiting for the Flusher / waiting with data frames only
# (the short flush) / waiting with something that needs the full ``flush``.
_CLEAN = 0
_DATA = 1
_FULL = 2


ListenerT = TypeVar("ListenerT", bound=WebSocketListener)


#: Messages of one connection served in one loop turn: a read that brings more (uvloop
#: reads up to 256 KiB: thousands of small messages) is served over several turns.
MAX_MESSAGES_PER_TURN = 64


def _fit_reason(reason: str) -> str:
    """Close reasons are capped at 123 UTF-8 bytes on the wire: cut, never raise."""
    raw = reason.encode("utf-8")
    if len(raw) <= 123:
        return reason
    return raw[:123].decode("utf-8", "ignore")


class WebSocketProtocol(asyncio.Protocol, Generic[ListenerT]):
    """Implements ``tidings.engine.io.WebSocketTransport`` on an asyncio transport."""

    __slots__ = (
        "_backlog",
        "_conn",
        "_context",
        "_dirty",
        "_held",
        "_heard",
        "_serving",
        "_idle_timer",
        "_listener",
        "_on_drained",
        "_open",
        "_paused",
        "_peer",
        "_pending",
        "_pending_size",
        "_timer",
        "_transport",
        "_waiting",
    )

    def __init__(
        self,
        context: ConnectionContext,
        transport: asyncio.Transport,
        max_message_size: int,
        peer: tuple[str, int] | None,
        deflate: PerMessageDeflate | None = None,
    ) -> None:
        self._context = context
        self._transport = transport
        self._conn = ServerConnection(
            max_message_size,
            masker=masker,
            max_fragments=context.options.ws_max_fragments,
            deflate=deflate,
        )
        self._listener: ListenerT | None = None
        # Read per message: kept here, one attribute away.
        self._waiting = context.flusher.waiting
        # ``self._conn.state is OPEN``, kept here so the hot path reads one object, not two.
        self._open = True
        # Data frames queued this turn: one as is, more in a list (whose size is kept).
        self._pending: bytes | list[bytes] | None = None
        self._pending_size = 0
        self._dirty = _CLEAN
        self._paused = False
        self._peer = peer
        self._timer: asyncio.TimerHandle | None = None
        # Set by every read: what a raw route's idle check looks at (one store per read).
        self._heard = False
        self._idle_timer: asyncio.TimerHandle | None = None  # a raw route's idle check
        # Messages of one read past MAX_MESSAGES_PER_TURN, delivered over the next turns
        # while the transport is not read; ``_held``: the listener asked not to be fed.
        self._backlog: list[Event] | None = None
        self._held = False
        self._serving = False  # a _serve_backlog call is scheduled
        self._on_drained: Callable[[], None] | None = None  # see watch_drain

    @property
    def peer(self) -> tuple[str, int] | None:
        return self._peer

    def start(self, listener: ListenerT, leftover: bytes) -> None:
        """Take over the transport (called by the HTTP protocol after the 101);
        feed the bytes it read past the handshake."""
        self._listener = listener
        self._transport.set_protocol(self)
        if leftover:
            self.data_received(leftover)

    # -- WebSocketTransport ---------------------------------------------------

    def send_text(self, data: str) -> None:
        if self._open:
            self._queue_frame(encode_frame(_TEXT, data.encode("utf-8")))

    def send_bytes(self, data: bytes) -> None:
        if self._open:
            self._queue_frame(encode_frame(_BINARY, data))

    def send_prepared(self, prepared: PreparedFrames) -> None:
        """The broadcast hot path: the same framed bytes for every recipient.

        Its body is ``_queue_frame``'s, inlined, so a broadcast makes no call per
        recipient (``test_standalone_frames`` checks that both queue alike)."""
        if self._open:
            frame = prepared.ws_frames
            pending = self._pending
            if pending is None:
                self._pending = frame
                if not self._dirty:
                    self._dirty = _DATA
                    waiting = self._waiting  # Flusher.add, inlined
                    if not waiting:
                        self._context.flusher.schedule()
                    waiting.append(self)
            elif isinstance(pending, bytes):
                self._pending = [pending, frame]
                self._pending_size = len(pending) + len(frame)
            else:
                pending.append(frame)
                self._pending_size += len(frame)

    def _queue_frame(self, frame: bytes) -> None:
        # One frame is kept as is (no list: nothing for the garbage collector to track).
        # ``send_prepared`` holds a copy of this body: change both.
        pending = self._pending
        if pending is None:
            self._pending = frame
            if not self._dirty:
                self._dirty = _DATA
                waiting = self._waiting  # Flusher.add, inlined
                if not waiting:
                    self._context.flusher.schedule()
                waiting.append(self)
        elif isinstance(pending, bytes):
            self._pending = [pending, frame]
            self._pending_size = len(pending) + len(frame)
        else:
            pending.append(frame)
            self._pending_size += len(frame)

    def close(self, code: int = 1000, reason: str = "") -> None:
        if self._conn.state is not _OPEN:
            return
        self._conn.close(code, _fit_reason(reason))
        self._open = False
        self._arm_close_timer()
        self._mark_dirty()

    def abort(self) -> None:
        """Drop the connection now (called by the server past its shutdown deadline,
        and by the Flusher when a flush failed)."""
        self._cancel_timer()
        self._pending = None
        self._open = False
        self._conn.abort(CloseCode.ABNORMAL, "server shutting down")
        self._transport.abort()
        events = self._conn.events_received()
        if events:
            self._dispatch(events)

    def watch_drain(self, callback: Callable[[], None]) -> None:
        """``callback`` once the transport is not paused after a flush (at the end of this
        turn if the kernel takes everything, else at ``resume_writing``)."""
        self._on_drained = callback
        self._mark_dirty()  # so that ``flush`` runs at the end of the turn and looks

    def pause_reading(self) -> None:
        """Flow control asked by the engine (its input is full) or by a route's reader:
        nothing more is read, and what a read brought past the turn's share waits too;
        what the current turn is delivering still arrives."""
        self._held = True
        if not self._transport.is_closing():
            self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._held = False
        if self._backlog is not None:  # served first; reading resumes when it is done
            self._schedule_backlog()
        elif not self._transport.is_closing():
            self._transport.resume_reading()

    @property
    def buffered_amount(self) -> int:
        pending = self._pending
        if pending is None:
            queued = 0
        elif isinstance(pending, bytes):
            queued = len(pending)
        else:
            queued = self._pending_size
        return queued + self._conn.bytes_pending + self._transport.get_write_buffer_size()

    # -- asyncio.Protocol ------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self._heard = True
        conn = self._conn
        conn.receive_data(data)
        if conn.state is not _OPEN:
            self._open = False
        if conn.bytes_pending:
            # Pongs and a close reply go out ahead of what the events below make us send.
            for frame in conn.data_to_send():
                self._queue_frame(frame)
            self._mark_dirty()
        events = conn.events_received()
        if events:
            if self._backlog is not None:
                self._backlog += events  # read before the pause took effect: after the rest
            elif len(events) > MAX_MESSAGES_PER_TURN:
                self._start_backlog(events)
            else:
                self._dispatch(events)
        if conn.state is _CLOSED:
            self._mark_dirty()

    def _start_backlog(self, events: list[Event]) -> None:
        """One read brought more messages than a turn serves (a flood, or a burst of
        small ones): serve MAX_MESSAGES_PER_TURN now and the rest over the next turns,
        reading nothing meanwhile, so other connections are served in between."""
        self._backlog = events[MAX_MESSAGES_PER_TURN:]
        if not self._transport.is_closing():
            self._transport.pause_reading()
        self._schedule_backlog()
        self._dispatch(events[:MAX_MESSAGES_PER_TURN])

    def _schedule_backlog(self) -> None:
        if not self._serving:
            self._serving = True
            asyncio.get_running_loop().call_soon(self._serve_backlog)

    def _serve_backlog(self) -> None:
        self._serving = False
        backlog = self._backlog
        if backlog is None or self._held:
            return  # held: the listener is full; ``resume_reading`` serves it later
        if len(backlog) > MAX_MESSAGES_PER_TURN:
            self._backlog = backlog[MAX_MESSAGES_PER_TURN:]
            self._schedule_backlog()
            self._dispatch(backlog[:MAX_MESSAGES_PER_TURN])
            return
        self._backlog = None
        self._dispatch(backlog)
        if not self._held and self._backlog is None and not self._transport.is_closing():
            self._transport.resume_reading()

    def eof_received(self) -> bool | None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timer()
        self._pending = None
        self._on_drained = None
        self._open = False
        backlog, self._backlog = self._backlog, None
        if backlog:  # read before the peer went: delivered before its close, as sent
            self._dispatch(backlog)
        self._conn.receive_eof()
        events = self._conn.events_received()
        if events:
            self._dispatch(events)
        self._context.connection_closed(self)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        callback = self._on_drained
        if callback is not None:
            self._on_drained = None
            callback()

    # -- the end-of-turn write -------------------------------------------------

    @staticmethod
    def flush_batch(batch: list[WebSocketProtocol[Any]]) -> None:
        """Write what each connection queued this turn, one write each (called by the
        Flusher at the end of the turn).

        The flush of data frames only is inlined here, reading the slots of the other
        instances of this class: a call per recipient would cost the fan-out about a
        fifth of its Python time per recipient."""
        for ws in batch:
            try:
                if ws._dirty == _DATA and not ws._paused:
                    ws._dirty = _CLEAN
                    pending = ws._pending
                    if pending is not None:
                        ws._pending = None
                        ws._transport.write(
                            pending if isinstance(pending, bytes) else b"".join(pending)
                        )
                else:
                    ws.flush()
            except Exception:  # one broken connection must not starve the others
                logger.exception("websocket %s: flush failed", ws.peer)
                ws.abort()

    def flush(self) -> None:
        """Write what was queued this turn in one write (called by ``flush_batch`` for a
        connection with more than data frames waiting, or whose peer does not keep up, and
        by the engine for a message that must not wait for the end of the turn)."""
        self._dirty = _CLEAN
        transport = self._transport
        if transport.is_closing():
            self._pending = None
            return
        conn = self._conn
        pending = self._pending
        self._pending = None
        data = conn.data_to_send()  # pongs and the close frame: after the data queued before
        if pending is not None:
            data = ([pending] if isinstance(pending, bytes) else pending) + data
        if data:
            # Written even while the peer does not keep up (the transport holds it),
            # so the limit below is checked at the end of every turn that adds to it.
            transport.write(data[0] if len(data) == 1 else b"".join(data))
        if conn.state is _CLOSED:
            transport.close()
            self._arm_close_timer()
        elif not self._paused:
            callback = self._on_drained
            if callback is not None:
                self._on_drained = None
                self._context.loop.call_soon(callback)
        elif (
            transport.get_write_buffer_size() > self._context.options.ws_max_buffered
        ):
            self._overflow()

    def _mark_dirty(self) -> None:
        """Something beyond data frames waits (a pong, a close frame, a state change)."""
        if not self._dirty:
            self._context.flusher.add(self)
        self._dirty = _FULL

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
            elif isinstance(event, Pong):
                self._pong_received(listener, event.payload)

    def _pong_received(self, listener: ListenerT, payload: bytes) -> None:
        """Pongs answer the pings of a raw route; the engine's listener is not told."""

    def _internal_error(self) -> None:
        conn = self._conn
        conn.fail(CloseCode.INTERNAL_ERROR, "internal error")
        self._open = False
        self._pending = None  # as ``fail`` drops what it had queued
        self._mark_dirty()
        events = conn.events_received()
        if events:
            self._dispatch(events)

    def _listener_close(self, listener: ListenerT, code: int, reason: str) -> None:
        try:
            listener.on_close(code, reason)
        except Exception:
            logger.exception("on_close of websocket %s raised", self._peer)

    def _overflow(self) -> None:
        conn = self._conn
        peer_warnings.warning(
            "websocket buffer overflow",
            "websocket %s: more than %d bytes buffered, closing",
            self._peer,
            self._context.options.ws_max_buffered,
        )
        conn.fail(CloseCode.POLICY_VIOLATION, "too much data buffered")
        self._open = False
        self._pending = None
        events = conn.events_received()
        self._transport.write(b"".join(conn.data_to_send()))
        self._transport.close()
        self._arm_close_timer()
        if events:
            self._dispatch(events)

    def _arm_close_timer(self) -> None:
        if self._timer is None:
            context = self._context
            self._timer = context.loop.call_later(
                context.options.ws_close_timeout, self._close_timeout
            )

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def _close_timeout(self) -> None:
        self._timer = None
        self._pending = None
        self._open = False
        logger.info("websocket %s: close handshake timed out", self._peer)
        self._conn.abort(CloseCode.ABNORMAL, "close timeout")
        self._transport.abort()
        events = self._conn.events_received()
        if events:
            self._dispatch(events)

