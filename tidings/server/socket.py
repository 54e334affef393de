"""The server side of one client's connection to one namespace."""

from __future__ import annotations

import asyncio
import logging
import time
import types
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from typing import TYPE_CHECKING, Any, cast

from tidings.adapters.base import AckCallback, LocalConnection
from tidings.errors import AckTimeoutError, DisconnectedError
from tidings.handlers import Handler, Suspended, call_maybe_async, resume, run_inline
from tidings.history.base import LIVE
from tidings.ids import Room, Sid, new_sid
from tidings.protocol.socketio import RESERVED_EVENTS, Packet, PacketType, ack_args, ack_value
from tidings.server.handshake import Handshake
from tidings.server.hooks import HookMethods, WatchedConnection, notify, past_middleware
from tidings.server.namespace import Namespace
from tidings.server.outgoing import Ack, EmitMethods, HeldConnection, short_ack, write_packet
from tidings.server.session_data import SessionData
from tidings.server.socket_connection import SocketConnection
from tidings.server.socket_state import SocketState

if TYPE_CHECKING:
    from tidings.engine import EngineSocket
    from tidings.history.base import SessionRecord
    from tidings.server.context import ServerContext
    from tidings.server.journal import Journal

logger = logging.getLogger("tidings.server")

Job = Callable[[], Coroutine[Any, Any, None]]


class Socket(HookMethods, EmitMethods):
    """Handed to every handler. Cheap while idle: no task, no timer, no room set of its own."""

    nsp: Namespace

    __slots__ = (
        "id", "nsp", "connection", "_writer", "state", "auth", "pid", "recovered", "_issued", "_data",
        "_acks", "_queue", "_saving", "_left_rooms",
    )

    def __init__(self, nsp: Namespace, connection: SocketConnection[Socket], auth: Any) -> None:
        self.id: Sid = new_sid()
        self.nsp = nsp
        self.connection = connection
        # Until the CONNECT reply is out, whatever is sent to this socket (its own emits and
        # broadcasts alike) waits here, so the client reads CONNECT first and then all in order.
        self._writer: LocalConnection = HeldConnection()
        self.state = SocketState.CONNECTING
        self.auth = auth
        self.pid: str | None = None
        """Private session id, with connection state recovery on."""
        self.recovered = False
        """Whether this connection restored an earlier session (and was sent what it missed)."""
        self._issued = time.time()
        self._data: dict[str, Any] | None = None
        self._acks: dict[int, AckCallback] | None = None
        self._queue: deque[Job] | None = None
        self._saving = False
        self._left_rooms: set[Room] | None = None
        self._hooks = None  # ``use``, ``on_any``...: see ``HookMethods``
        nsp.socket_arrived()

    # -- what handlers read ----------------------------------------------------------

    @property
    def conn(self) -> EngineSocket:
        """The Engine.IO connection under this socket (shared by its namespaces)."""
        return self.connection.conn

    @property
    def namespace(self) -> str:
        return self.nsp.name

    @property
    def server(self) -> ServerContext:
        return self.nsp.server

    @property
    def writer(self) -> LocalConnection:
        """Where this socket's packets go (adapters write broadcasts here)."""
        hooks = self._hooks
        if hooks is not None and hooks.outgoing:
            return WatchedConnection(self._writer, self, hooks.outgoing)
        return self._writer

    @property
    def connected(self) -> bool:
        return self.state is SocketState.CONNECTED

    @property
    def busy(self) -> bool:
        """A handler of this socket is running or waiting (not followed with concurrent_events)."""
        return self._queue is not None

    @property
    def data(self) -> dict[str, Any]:
        """Free-form per-socket storage for the application."""
        if self._data is None:
            self._data = SessionData(self._session_changed)
        return self._data

    @property
    def rooms(self) -> set[Room]:
        """Its rooms; after it left, the rooms it had (as disconnect handlers expect)."""
        left = self._left_rooms
        return set(left) if left is not None else self.nsp.adapter.socket_rooms(self.id)

    @property
    def handshake(self) -> Handshake:
        return Handshake.of(self.connection.conn.request, self.auth, self._issued)

    @property
    def transport(self) -> str:
        return self.connection.conn.transport_name

    # -- rooms -------------------------------------------------------------------------

    def join(self, rooms: str | Iterable[str]) -> None:
        names = (rooms,) if isinstance(rooms, str) else rooms
        self.nsp.adapter.add_all(self.id, [Room(r) for r in names])
        self._session_changed()

    def leave(self, room: str) -> None:
        self.nsp.adapter.delete(self.id, Room(room))
        self._session_changed()

    def _session_changed(self) -> None:
        """Keep the stored session current, so a crash loses no room or data."""
        if self.pid is None or self._saving or self.state is not SocketState.CONNECTED:
            return
        self._saving = True
        self.nsp.server.spawn(self._save_session())

    async def _save_session(self) -> None:
        journal = self.nsp.journal
        await asyncio.sleep(0)  # one write for every join/leave of this turn
        self._saving = False
        if journal is not None and self.state is SocketState.CONNECTED:
            await journal.update(self.session_record(journal, LIVE))

    def session_record(self, journal: Journal, at: float | None = None) -> SessionRecord:
        """This socket's session as stored for recovery (needs a pid): disconnected ``at``
        (now by default; ``LIVE`` while connected, so that a crash leaves it behind)."""
        assert self.pid is not None
        return journal.session_record(
            self.pid, self.id, self.nsp.name, self.rooms, self._data,
            time.time() if at is None else at,
        )

    # -- sending -----------------------------------------------------------------------

    async def emit(
        self, event: str, *args: Any, volatile: bool = False, compress: bool = True
    ) -> None:
        """Send an event to this client. Never blocks: it is queued on the connection.

        ``volatile``: dropped if the client cannot take it at once, never stored for
        recovery (``socket.volatile.emit`` in Node). ``compress=False``: never
        compressed, even over permessage-deflate (``socket.compress(false)``)."""
        if event in RESERVED_EVENTS:
            raise ValueError(f"{event!r} is a reserved event name")
        if volatile and not self._writer.writable:
            return
        self.nsp.notify_outgoing(self, event, args)
        packet = Packet(PacketType.EVENT, self.nsp.name, [event, *args])
        journal = self.nsp.journal
        if journal is not None and journal.recovery is not None and not volatile:
            # Stored before it is sent; its offset travels as the last argument.
            sequencer = journal.sequencer(self.nsp.name, self.nsp.adapter)
            packet = await journal.record(packet, (self.id,), (), sequencer)
            turn = sequencer.turn(int(packet.data[-1]))
            if turn is not None:
                await turn
        self.send_packet(packet, compress)

    async def emit_with_ack(
        self, event: str, *args: Any, timeout: float | None = None, compress: bool = True
    ) -> Any:
        """Send an event and wait for the client's acknowledgement.

        One ack argument is returned as is, several as a tuple, none as None.
        """
        if event in RESERVED_EVENTS:
            raise ValueError(f"{event!r} is a reserved event name")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[list[Any]] = loop.create_future()

        def on_ack(_sid: Sid, reply: list[Any] | None) -> None:
            if future.done():
                return
            if reply is None:
                future.set_exception(DisconnectedError("socket disconnected before acknowledging"))
            else:
                future.set_result(reply)

        ack_id = self.nsp.next_ack_id()
        self.expect_ack(ack_id, on_ack)
        self.nsp.notify_outgoing(self, event, args)
        self.send_packet(Packet(PacketType.EVENT, self.nsp.name, [event, *args], ack_id), compress)
        try:
            if timeout is None:
                reply = await future
            else:
                reply = await asyncio.wait_for(future, timeout)
        except TimeoutError:
            if self._acks is not None:
                self._acks.pop(ack_id, None)
            raise AckTimeoutError() from None
        return ack_value(reply)

    def send_packet(self, packet: Packet, compress: bool = True) -> None:
        """Write ``packet`` to this client unless it left (called by its connection too)."""
        if self.state is SocketState.DISCONNECTED or self.state is SocketState.REFUSED:
            return
        hooks = self._hooks
        if hooks is not None and hooks.outgoing and packet.type is PacketType.EVENT:
            # Its own emits, with the recovery offset if any, as Node's listeners see them.
            notify(hooks.outgoing, self.server, self, packet.data[0], packet.data[1:])
        nsp = self.nsp
        write_packet(self._writer, packet, nsp.parser, compress, nsp.slow_consumer)

    def expect_ack(self, ack_id: int, callback: AckCallback) -> None:
        """Call ``callback`` with the client's ack of ``ack_id``, or None if it leaves first."""
        if self._acks is None:
            self._acks = {}
        self._acks[ack_id] = callback

    # -- leaving -------------------------------------------------------------------------

    async def disconnect(self, close: bool = False) -> None:
        """Disconnect from this namespace; with ``close``, drop the whole connection."""
        if self.state is not SocketState.CONNECTED:
            return
        if close:
            self.connection.disconnect()
            return
        self.send_packet(Packet(PacketType.DISCONNECT, self.nsp.name))
        self.handle_close("server namespace disconnect")

    # -- driven by its connection (``server.connection``) ------------------------------

    def accept(self, missed: list[Packet]) -> None:
        """Middleware and the connect handler accepted the client: the CONNECT reply now, in
        a write of its own, and what the handler emitted on the next turn, as Node paces them
        (a client reading at once then reads the reply alone, as the conformance suite needs)."""
        self.state = SocketState.CONNECTED
        conn = self.connection.conn
        reply: dict[str, Any] = {"sid": self.id} if self.pid is None else {"sid": self.id, "pid": self.pid}
        parser = self.nsp.parser
        write_packet(conn, Packet(PacketType.CONNECT, self.nsp.name, reply), parser)
        for packet in missed:
            write_packet(conn, packet, parser)
        conn.flush()
        cast(HeldConnection, self._writer).accepted(conn)  # (volatile emits now ask ``conn``)
        # Until then new sends still wait, in order behind what was held.
        asyncio.get_running_loop().call_soon(self.go_live)

    def go_live(self) -> None:
        held = self._writer
        if isinstance(held, HeldConnection):
            self._writer = self.connection.conn
            held.release_to(self._writer)  # even if it left since: its DISCONNECT waits here

    def refuse(self) -> None:
        """The connect flow refused the client (the connection sends CONNECT_ERROR)."""
        was_there = self.state is SocketState.CONNECTING
        self.state = SocketState.REFUSED
        self.nsp.sockets.pop(self.id, None)
        self.nsp.adapter.delete_all(self.id)
        if was_there:
            self.nsp.socket_gone()

    def handle_event(self, packet: Packet) -> None:
        """An EVENT from the client: run its handler, in order with this socket's others."""
        data = packet.data
        event: str = data[0]
        args = data[1:]
        nsp = self.nsp
        if nsp.any_listeners:
            for listener in nsp.any_listeners:
                try:
                    listener.call(self, event, args)
                except Exception:
                    logger.exception("sid=%s any-listener failed on %r", self.id, event)
        if self._queue is not None and self.state is SocketState.CONNECTING:
            # Queued behind the connect flow, whose middleware and handler may yet add hooks
            # (``socket.use``): they apply to it, as in Node, where no event comes before.
            early = list(data)
            self._schedule(lambda: self._run_checked(early, packet.id, True))
            return
        hooks = self._hooks
        if hooks is not None:
            if hooks.incoming:
                notify(hooks.incoming, nsp.server, self, event, args)
            if hooks.middlewares:
                checked = list(data)
                self._schedule(lambda: self._run_checked(checked, packet.id, False))
                return
        handler = nsp.handlers.get(event)
        if handler is None:
            catch_all = nsp.handlers.get("*")
            if catch_all is None:
                return
            handler, args = catch_all, [event, *args]
        if handler.takes_ack:
            ack = Ack(self, packet.id)
            self._schedule(lambda: self._run_event(handler, event, args, packet.id, ack))
            return
        if handler.inline and self._queue is None:
            # Fast path: a plain function, or a coroutine that cannot suspend, runs here.
            self._run_sync(handler, event, args, packet.id)
            return
        self._schedule(lambda: self._run_event(handler, event, args, packet.id))

    def _run_sync(self, handler: Handler, event: str, args: list[Any], ack_id: int | None) -> None:
        try:
            result = handler.call(self, *args)
            if handler.is_coroutine:
                result = run_inline(result)
        except Exception:
            logger.exception("sid=%s handler for %r failed", self.id, event)
            return
        if isinstance(result, Suspended):  # misjudged by the inline check: finish it in a task
            awaitable: Any = resume(result)
            self._schedule(lambda: self._finish_ack(awaitable, event, ack_id))
            return
        if isinstance(result, types.CoroutineType):  # an async callable not seen as one
            self._schedule(lambda: self._finish_ack(result, event, ack_id))
            return
        if ack_id is not None:
            self.send_ack(ack_id, ack_args(result), event)

    async def _finish_ack(self, awaitable: Any, event: str, ack_id: int | None) -> None:
        try:
            result = await awaitable
        except Exception:
            logger.exception("sid=%s handler for %r failed", self.id, event)
            return
        if ack_id is not None:
            self.send_ack(ack_id, ack_args(result), event)

    async def _run_checked(self, data: list[Any], ack_id: int | None, early: bool) -> None:
        """An event past ``socket.use`` middleware: its handler, or ``error`` if rejected.
        ``early``: it came while connecting, and the socket's own listeners hear of it now."""
        if self.state is SocketState.REFUSED:
            return
        hooks = self._hooks
        if early and hooks is not None and hooks.incoming:
            notify(hooks.incoming, self.server, self, data[0], data[1:])
        middlewares = hooks.middlewares if hooks is not None else []
        found = await past_middleware(middlewares, self, self.nsp.handlers, data)
        if found is not None:
            handler, event, args, rejected = found
            ack_id = None if rejected else ack_id
            await self._run_event(handler, event, args, ack_id, Ack(self, ack_id) if handler.takes_ack else None)

    async def _run_event(
        self, handler: Handler, event: str, args: list[Any], ack_id: int | None,
        ack: Ack | None = None,
    ) -> None:
        # Events that arrived before a disconnect still run (as in Node); a refused client's don't.
        if self.state is SocketState.REFUSED:
            return
        try:
            result = await call_maybe_async(handler, self, *args, ack=ack)
        except Exception:
            logger.exception("sid=%s handler for %r failed", self.id, event)
            return
        if ack is None and ack_id is not None:  # a handler holding ``ack`` answers itself
            self.send_ack(ack_id, ack_args(result), event)

    def send_ack(self, ack_id: int, data: list[Any], event: str | None = None) -> None:
        """Acknowledge the client's event ``ack_id`` with ``data`` (called by ``Ack`` too);
        ``event`` names the handler in the error when the reply cannot be encoded."""
        nsp = self.nsp
        if nsp.name == "/" and self.state is SocketState.CONNECTED:
            text = short_ack(ack_id, data, nsp.parser)
            if text is not None:
                self._writer.send(text)
                return
        try:
            self.send_packet(Packet(PacketType.ACK, nsp.name, data, ack_id))
        except (TypeError, ValueError) as exc:
            # This one ack fails; the client's later events are handled as usual.
            logger.error("sid=%s could not encode the ack %s returned by %s: %s", self.id, ack_id,
                         "an ack callback" if event is None else f"the handler of {event!r}", exc)

    def handle_ack(self, packet: Packet) -> None:
        """An ACK from the client for one of this socket's emits."""
        if self._acks is None or packet.id is None:
            return
        callback = self._acks.pop(packet.id, None)
        if callback is None:
            logger.debug("sid=%s unexpected ack id %s", self.id, packet.id)
            return
        callback(self.id, list(packet.data))

    def _schedule(self, job: Job) -> None:
        """Run ``job`` after this socket's earlier jobs (or at once, if events run concurrently)."""
        server = self.nsp.server
        if self._queue is None and server.options.concurrent_events:
            server.spawn(job())
            return
        queue = self._queue
        if queue is None:
            self._queue = deque()
            server.spawn(self._drain(job), discard=False)
        else:
            queue.append(job)
            if len(queue) == server.options.max_pending_events:
                self.connection.hold(self, True)  # read no more until handlers catch up

    def start(self, connect_job: Job) -> None:
        """Run the connect flow; events that arrive meanwhile wait behind it in any mode."""
        self._queue = deque()
        self.nsp.server.spawn(self._drain(connect_job), discard=False)

    async def _drain(self, first: Job) -> None:
        low = self.nsp.server.options.max_pending_events >> 2
        job = first
        try:
            while True:
                try:
                    await job()
                except Exception:
                    # Jobs log their handlers' errors; anything else must not cost the next.
                    logger.exception("sid=%s event processing failed", self.id)
                queue = self._queue
                if not queue:
                    break
                job = queue.popleft()
                if len(queue) == low:
                    self.connection.hold(self, False)
        finally:
            self._queue = None
            self.connection.hold(self, False)
            # Spawned with discard=False: it leaves the server's set itself (no done callback).
            self.nsp.server.task_done(asyncio.current_task())

    def handle_close(self, reason: str) -> None:
        """The socket left (any cause). Runs the application's handlers after queued events."""
        if self.state is SocketState.DISCONNECTED or self.state is SocketState.REFUSED:
            return
        was_connected = self.state is SocketState.CONNECTED
        # A socket that never finished connecting runs none of the handlers queued behind it.
        self.state = SocketState.DISCONNECTED if was_connected else SocketState.REFUSED
        nsp = self.nsp
        nsp.sockets.pop(self.id, None)
        nsp.socket_gone()
        self.connection.forget(self)
        acks, self._acks = self._acks, None
        if acks:
            for callback in acks.values():
                callback(self.id, None)
        if not was_connected:
            nsp.adapter.delete_all(self.id)
            return
        logger.debug("sid=%s left %s: %s", self.id, nsp.name, reason)
        journal = nsp.journal
        if journal is not None and self.pid is not None:
            nsp.server.spawn(journal.keep_or_forget(self.session_record(journal), reason))
        # Leave the rooms now: no broadcast reaches it any more, and a recovered successor
        # with the same id may take them back before the handlers below have run.
        self._left_rooms = self.rooms
        nsp.adapter.delete_all(self.id)
        self._schedule(lambda: self._run_disconnect(reason))

    async def _run_disconnect(self, reason: str) -> None:
        for name in ("disconnecting", "disconnect"):
            handler = self.nsp.handlers.get(name)
            if handler is None:
                continue
            try:
                await call_maybe_async(handler, self, reason)
            except Exception:
                logger.exception("sid=%s %s handler failed", self.id, name)

    def __repr__(self) -> str:
        return f"<Socket {self.id} {self.nsp.name} {self.state.value}>"
