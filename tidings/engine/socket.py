"""``EngineSocket``: one client connection, the asyncio side of a ``ServerSession``.

Every input is handed to the Sans-I/O session, then ``_pump`` carries out what
it asks for: WebSocket writes, releasing a held poll, events for the handler,
the next deadline. The socket knows its server only through a ``SocketContext``.

Two shortcuts skip the session on an open WebSocket, each gated by the session:

- Sending (``send``, ``send_prepared``: the broadcast hot path) writes straight to
  the transport. ``_pump`` keeps that transport in ``_fast`` while
  ``ServerSession.websocket_writable`` says the session would only pass the
  message on to it.
- Receiving (``receive_websocket``) hands a plain MESSAGE to the handler when
  ``ServerSession.take_message`` says it changes no state, with no event object.

A client that does not keep up: past a high-water mark, a droppable message (its
namespace's ``slow_consumer`` policy) sends what follows to a ``Backlog``, where it can
still be dropped or conflated, until the transport drains (see ``tidings.engine.backlog``).

``tests/engine/test_engine_fast_paths.py`` proves, by property, that sockets with
either shortcut, both or none make the same handler calls and put the same bytes
on the wire (the general path: the session, then ``_pump``). The tests of
``tidings.protocol.engineio`` hold ``take_message`` to ``receive_websocket``.
"""

from __future__ import annotations

import asyncio
import logging
from typing import ClassVar

from tidings.engine.backlog import Backlog, slow_warnings
from tidings.engine.context import CHECK_EVERY, WS_WRITABLE_HIGH_WATER, SocketContext
from tidings.engine.handshake import KeptRequest
from tidings.engine.io import HttpRequest, WebSocketListener, WebSocketTransport
from tidings.protocol.engineio.events import Closed, MessageReceived, Upgraded, UpgradeFailed
from tidings.protocol.engineio.requests import RequestError
from tidings.protocol.engineio.session import (
    BUFFER_LIMIT_EXCEEDED,
    ServerSession,
    ServerSessionState,
)
from tidings.protocol.prepared import PreparedMessage

__all__ = ["CHECK_EVERY", "IGNORED", "WS_WRITABLE_HIGH_WATER", "EngineSocket"]

logger = logging.getLogger("tidings.engineio")



class _Listener:
    """Routes one accepted WebSocket's events to its socket until detached."""

    __slots__ = ("_socket", "active")

    def __init__(self, socket: EngineSocket | None) -> None:
        self._socket = socket
        self.active = socket is not None

    def on_message(self, data: str | bytes) -> None:
        if self.active and self._socket is not None:
            self._socket.receive_websocket(data)

    def on_close(self, code: int, reason: str) -> None:
        if self.active and self._socket is not None:
            self.active = False
            self._socket.websocket_closed(code)


#: For WebSockets the engine closed at once: their later events mean nothing.
IGNORED: WebSocketListener = _Listener(None)


class EngineSocket:
    """An Engine.IO connection as seen by the layer above (``sid``, ``send``, ``close``)."""

    __slots__ = (
        "__weakref__",
        "_backlog",
        "_context",
        "_core",
        "_dispatching",
        "_fast",
        "_held",
        "_listener",
        "_poll_waiter",
        "_post_waiter",
        "_release_pending",
        "_request",
        "_unchecked",
        "_ws",
        "heap_deadline",
        "sid",
    )

    #: False in a subclass sends everything through the session and ``_pump`` (the general
    #: path), never straight to the transport: how a test compares the two.
    write_direct: ClassVar[bool] = True

    def __init__(
        self, context: SocketContext[EngineSocket], request: HttpRequest, session: ServerSession
    ) -> None:
        self.sid: str = session.sid
        self._request = kept = KeptRequest(request, context.options.path, context.last_query_string)
        context.last_query_string = kept.query_string
        self._context = context
        self.heap_deadline: float | None = None
        self._core = session
        self._ws: WebSocketTransport | None = None
        # The WebSocket while the session lets messages go straight to it, else None.
        self._fast: WebSocketTransport | None = None
        # Fast sends since the transport was last asked how much it holds (a small int:
        # no object churn on the hot path). See ``send_prepared``.
        self._unchecked = 0
        self._listener: _Listener | None = None
        self._poll_waiter: asyncio.Future[tuple[str, bool]] | None = None
        # Reading is held (``hold_reading``): a POST waits on this before it is read.
        self._held = False
        self._post_waiter: asyncio.Future[None] | None = None
        self._release_pending = False
        self._dispatching = False
        self._backlog: Backlog | None = None  # held back from a client that does not keep up

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
        return self._core.state is ServerSessionState.CLOSED

    @property
    def buffered_amount(self) -> int:
        ws = self._fast
        if ws is not None:
            return ws.buffered_amount
        backlog = self._backlog
        if backlog is None:
            return self._core.buffered_bytes
        return self._transport_holds() + backlog.nbytes

    @property
    def writable(self) -> bool:
        """Whether a message sent now leaves at once (volatile emits skip the socket otherwise)."""
        ws = self._fast
        if ws is not None:
            return ws.buffered_amount < WS_WRITABLE_HIGH_WATER
        core = self._core
        return core.state is ServerSessionState.OPEN and core.poll_held and self._backlog is None

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
            if n < CHECK_EVERY and len(data) <= self._context.unchecked_size >> 2:  # 4 B/char
                self._unchecked = n + 1
            else:
                self._check_buffered(ws)
            return
        if self._backlog is not None:
            self._hold(data)
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
            if n < CHECK_EVERY and len(prepared.ws_frames) <= self._context.unchecked_size:
                self._unchecked = n + 1
            else:
                self._check_buffered(ws, prepared.droppable)
            return
        if self._backlog is not None:
            self._hold(prepared)
            return
        core = self._core
        if prepared.droppable and core.buffered_bytes > self._context.poll_high_water:
            self._backlog = Backlog(self.sid, self._context.slow_consumers)  # slow polls
            self._hold(prepared)
            return
        core.send_encoded(prepared.encoded, prepared.nbytes, prepared.compress)
        self._pump()

    def flush(self) -> None:
        """Hand what was sent so far to the kernel now, in a write of its own, rather than
        with the rest of the turn's sends (on a WebSocket; a poll takes what is queued)."""
        ws = self._fast
        if ws is not None:
            ws.flush()

    def close(self, reason: str = "forced close") -> None:
        """Close from the server; what is already queued is still delivered."""
        if self._backlog is not None:
            self._drain_backlog(everything=True)
        self._core.close(self._context.now(), reason)
        self._pump()

    def abort(self, reason: str, detail: str = "") -> None:
        """Close at once, dropping what is queued; called by ``EngineServer.shutdown``."""
        self._core.abort(reason, detail)
        self._pump()

    def hold_reading(self, held: bool) -> None:
        """Stop (True) or resume (False) reading what the client sends: the layer above
        has too much of its input still to handle. A WebSocket's transport stops reading,
        so TCP pushes back on this client alone; a polling POST is read, and answered,
        only once reading resumes."""
        if held is self._held:
            return
        self._held = held
        ws = self._ws
        if held:
            if ws is not None:
                ws.pause_reading()
            return
        if ws is not None:
            ws.resume_reading()
        self._release_post()

    @property
    def reading_held(self) -> bool:
        return self._held

    async def wait_readable(self) -> bool:
        """Wait until reading is no longer held (``hold_reading``); called by
        ``EngineServer.handle_http`` before a POST. False if another POST waits already
        (the client overlaps its data requests: Node refuses that too)."""
        if self._post_waiter is not None:
            return False
        waiter = self._post_waiter = asyncio.get_running_loop().create_future()
        try:
            await waiter
        finally:
            if self._post_waiter is waiter:
                self._post_waiter = None
        return True

    def _release_post(self) -> None:
        waiter = self._post_waiter
        if waiter is not None:
            self._post_waiter = None
            if not waiter.done():
                waiter.set_result(None)

    # -- driven by the server, its heap and the I/O layer ----------------------------------

    def start(self) -> None:
        """Write the opening packet and arm the first deadline; called by ``EngineServer``."""
        self._pump()

    def on_deadline(self, now: float) -> None:
        """A deadline of the session has come; called by the ``DeadlineHeap``."""
        self._core.handle_timer(now)
        self._pump()

    async def receive_poll(self) -> tuple[str, bool] | RequestError:
        """The body for a GET poll, once there is one, and whether it may be compressed;
        called by ``EngineServer.handle_http``."""
        core = self._core
        now = self._context.now
        result = core.receive_poll(now())
        if result is not None:
            self._pump()
            return result if isinstance(result, RequestError) else (result, core.poll_compressible)
        waiter: asyncio.Future[tuple[str, bool]] = asyncio.get_running_loop().create_future()
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
                core.poll_aborted(now())
            self._pump()
            raise

    def receive_post(self, body: bytes) -> RequestError | None:
        """A POST body of packets; called by ``EngineServer.handle_http``."""
        result = self._core.receive_post(body, self._context.now())
        self._pump()
        return result

    def release_poll(self) -> None:
        """Answer the held poll if it has something; called by ``EngineServer`` after
        ``SocketContext.release_soon``."""
        self._release_pending = False
        waiter = self._poll_waiter
        if waiter is None or waiter.done() or not self._core.poll_ready:
            return
        self._poll_waiter = None
        core = self._core
        waiter.set_result((core.take_poll_response(), core.poll_compressible))
        self._pump()

    def attach_websocket(self, transport: WebSocketTransport) -> WebSocketListener:
        """Carry a new session over ``transport``; called by ``EngineServer.open_websocket``."""
        self._ws = transport
        if self._held:
            transport.pause_reading()
        listener = self._listener = _Listener(self)
        return listener

    def start_upgrade(self, transport: WebSocketTransport) -> WebSocketListener | None:
        """Probe ``transport`` for an upgrade, or None if refused; called by
        ``EngineServer.open_websocket``."""
        if self._ws is not None or not self._core.start_upgrade(self._context.now()):
            return None
        listener = self.attach_websocket(transport)
        logger.debug("sid=%s upgrade started", self.sid)
        self._pump()
        return listener

    def receive_websocket(self, data: str | bytes) -> None:
        """One message of the attached WebSocket; called by its listener."""
        core = self._core
        now = self._context.now()
        if not self._dispatching:
            # A plain MESSAGE changes nothing the pump looks after: straight to the handler.
            message = core.take_message(data, now)
            if message is not None:
                try:
                    self._context.handler.message_received(self, message)
                except Exception:
                    logger.exception("sid=%s message handler failed", self.sid)
                return
        core.receive_websocket(data, now)
        self._pump()

    def websocket_closed(self, code: int) -> None:
        """The attached WebSocket is gone; called by its listener."""
        self._ws = None
        self._fast = None
        self._listener = None
        self._core.websocket_closed(self._context.now(), code)
        self._pump()

    # -- internals -------------------------------------------------------------------------

    def _check_buffered(self, ws: WebSocketTransport, droppable: bool = False) -> None:
        buffered = ws.buffered_amount
        self._unchecked = 0
        if buffered > self._context.max_buffered_bytes:
            self.abort("transport error", BUFFER_LIMIT_EXCEEDED)
        elif droppable and buffered > self._context.ws_high_water:
            # From now on messages wait here, where the policy can still act on them.
            self._backlog = Backlog(self.sid, self._context.slow_consumers)
            self._fast = None
            ws.watch_drain(self._transport_drained)

    def _transport_holds(self) -> int:
        """Bytes the transport (WebSocket) or the session (polling) holds, backlog aside."""
        ws = self._ws
        if ws is not None and self._core.websocket_writable:
            return ws.buffered_amount
        return self._core.buffered_bytes

    def _hold(self, item: str | bytes | PreparedMessage) -> None:
        """Queue ``item`` in the backlog; past the buffer limit, the policy makes room."""
        backlog = self._backlog
        assert backlog is not None
        backlog.append(item)
        room = self._context.max_buffered_bytes - self._transport_holds()
        if backlog.nbytes <= room:
            return
        backlog.make_room(room)
        if backlog.nbytes > room:
            slow_warnings.log(
                logging.WARNING, "disconnected", "sid=%s does not keep up: %d bytes wait, "
                "more than max_buffered_bytes allows, and none may be dropped: closing",
                self.sid, backlog.nbytes + self._transport_holds(),
            )
            self._backlog = None
            self.abort("transport error", BUFFER_LIMIT_EXCEEDED)

    def _transport_drained(self) -> None:
        """The WebSocket took what it held (``watch_drain``): hand it the next share."""
        if self._backlog is not None and not self.closed:
            self._pump()

    def _drain_backlog(self, everything: bool = False) -> None:
        """Move held messages to the transport while it has room (all of them when
        ``everything``: a close delivers what was sent before it); the backlog is gone
        once empty. Called by ``_pump``, so after a drain, a poll or an upgrade."""
        backlog = self._backlog
        assert backlog is not None
        core = self._core
        ws = self._ws
        if ws is not None and core.websocket_writable:
            if not backlog.feed_websocket(ws, self._context.ws_high_water, everything):
                ws.watch_drain(self._transport_drained)
                return
        elif (  # polling, or upgrading from it: the session buffers for the next poll
            core.state is ServerSessionState.OPEN or core.state is ServerSessionState.UPGRADING
        ) and not backlog.feed_session(core, self._context.poll_high_water, everything):
            return
        self._backlog = None  # emptied, or the session is closing and takes no more
        if backlog.dropped and not everything:
            logger.info("sid=%s caught up; %d message(s) were dropped meanwhile", self.sid,
                        backlog.dropped)

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
        if self._backlog is not None:
            if core.state is ServerSessionState.CLOSED:
                self._backlog = None
            else:
                self._drain_backlog()
        # Before any handler runs: whatever it sends sees the session as it is now.
        if (
            ws is not None and core.websocket_writable and self.write_direct
            and self._backlog is None
        ):
            self._fast = ws
        else:
            self._fast = None
        context = self._context
        if self._poll_waiter is not None and not self._release_pending and core.poll_ready:
            self._release_pending = True
            context.release_soon(self)
        if not self._dispatching:
            self._dispatch()
        context.schedule(self, core.next_deadline())

    def _dispatch(self) -> None:
        core = self._core
        context = self._context
        handler = context.handler
        self._dispatching = True
        try:
            while events := core.events_received():
                for event in events:
                    if type(event) is MessageReceived:
                        try:
                            handler.message_received(self, event.data)
                        except Exception:
                            logger.exception("sid=%s message handler failed", self.sid)
                    elif type(event) is Closed:
                        if event.detail == BUFFER_LIMIT_EXCEEDED:  # on any transport
                            context.slow_consumers.disconnected += 1
                        self._release_post()  # it is then refused: the session is gone
                        context.socket_closed(self, event)
                    elif type(event) is Upgraded:
                        logger.debug("sid=%s upgraded to %s", self.sid, event.transport)
                    elif type(event) is UpgradeFailed:
                        logger.debug("sid=%s upgrade abandoned: %s", self.sid, event.detail)
        finally:
            self._dispatching = False
